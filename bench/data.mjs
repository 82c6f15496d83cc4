// Benchmark operands, generated the same way in Node (the ONNX models' weights) and in the page
// (our kernel's weights and the inputs), so every method multiplies the same numbers.

/** Mulberry32: small, fast, seeded (the same generator as test/support/numeric.ts). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-1, 1). */
export function uniform(n, seed) {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

/** Seeds per shape, so a model file and the page agree without passing arrays around. */
export function seeds(M, C, OC) {
  const base = (M * 73856093) ^ (C * 19349663) ^ (OC * 83492791);
  return { inp: (base ^ 0x1234) >>> 0, weight: (base ^ 0xbeef) >>> 0 };
}

// inp (M, C)
export function benchInput(M, C, OC) {
  return uniform(M * C, seeds(M, C, OC).inp);
}

// weight (OC, C), the layout our kernel reads (a linear layer's W, as PyTorch stores it)
export function benchWeight(M, C, OC) {
  return uniform(OC * C, seeds(M, C, OC).weight);
}
