// Shape lists for the benchmarks. Matmul: (M, C, OC) with M = B·T rows, C input channels, OC output
// channels (our kernel computes out (M, OC) = inp (M, C) · weight (OC, C)ᵀ).

/**
 * The default: a small attention projection, a GPT-2-small QKV (C 256 → 3·256) and MLP up
 * projection (768 → 3072), and squares; about two minutes on a 2-core software adapter.
 */
export const DEFAULT_SHAPES = '128x64x64,256x256x768,512x512x512,512x768x3072,1024x1024x1024';

/** `--shapes quick`: the three smaller shapes (about half a minute on a software adapter). */
export const QUICK_SHAPES = '128x64x64,256x256x768,512x512x512';

/** `--shapes large`: bigger products, for real GPUs (minutes per shape on a software adapter). */
export const LARGE_SHAPES = '1024x1024x1024,2048x768x3072,2048x2048x2048,4096x4096x4096';

/** "128x64x64,256x256x768" or a named list (default, quick, large) → [{ M, C, OC }, ...] */
export function parseShapes(text) {
  const named = { default: DEFAULT_SHAPES, all: DEFAULT_SHAPES, quick: QUICK_SHAPES, large: LARGE_SHAPES };
  const list = named[text] ?? text;
  return list.split(',').filter(Boolean).map((s) => {
    const dims = s.trim().split(/[x×,]/).map(Number);
    if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`bad shape "${s}": want MxCxOC, e.g. 256x256x768`);
    }
    const [M, C, OC] = dims;
    return { M, C, OC };
  });
}

// Batch shapes for the forward benchmark: B rows of T tokens (the demo model has 256 positions).

/** The default: one short and one long sequence, and a small training-sized batch (about 3 min on a 2-core software adapter). */
export const DEFAULT_BATCHES = '1x32,1x128,8x64';

/** `--batches large`: bigger batches, for real GPUs. */
export const LARGE_BATCHES = '1x256,8x256,32x256';

/** "1x32,8x128" or a named list (default, large) → [{ B, T }, ...] */
export function parseBatches(text) {
  const named = { default: DEFAULT_BATCHES, large: LARGE_BATCHES };
  const list = named[text] ?? text;
  return list.split(',').filter(Boolean).map((s) => {
    const dims = s.trim().split(/[x×]/).map(Number);
    if (dims.length !== 2 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`bad batch "${s}": want BxT, e.g. 8x128`);
    }
    const [B, T] = dims;
    return { B, T };
  });
}

/** Training shapes: "4x32,8x64" → [{ B, T }, ...], B preference pairs of T tokens per sequence. */
export function parseTrainShapes(text) {
  return text.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new Error(`--train-batches: "${s}" is not BxT (pairs x tokens)`);
    return { B: Number(m[1]), T: Number(m[2]) };
  });
}
