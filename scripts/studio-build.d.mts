import type { PreviewServer } from 'vite';

export function buildStudioAt(root: string, outDir: string): Promise<void>;
export function previewStudio(root: string, outDir: string): Promise<{ server: PreviewServer; origin: string }>;
