export const DEFAULT_SHAPES: string;
export const QUICK_SHAPES: string;
export const LARGE_SHAPES: string;
export function parseShapes(text: string): { M: number; C: number; OC: number }[];
