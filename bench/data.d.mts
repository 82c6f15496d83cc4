export function rng(seed: number): () => number;
export function uniform(n: number, seed: number): Float32Array<ArrayBuffer>;
export function seeds(M: number, C: number, OC: number): { inp: number; weight: number };
/** inp (M, C) */
export function benchInput(M: number, C: number, OC: number): Float32Array<ArrayBuffer>;
/** weight (OC, C) */
export function benchWeight(M: number, C: number, OC: number): Float32Array<ArrayBuffer>;
