export const DEFAULT_SHAPES: string;
export const QUICK_SHAPES: string;
export const LARGE_SHAPES: string;
export function parseShapes(text: string): { M: number; C: number; OC: number }[];
export const DEFAULT_BATCHES: string;
export const LARGE_BATCHES: string;
export function parseBatches(text: string): { B: number; T: number }[];
export function parseTrainShapes(text: string): { B: number; T: number }[];
