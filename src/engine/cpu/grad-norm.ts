// CPU twin of shaders/grad_norm.wgsl: the global L2 norm of a list of gradients in float64, and
// torch.nn.utils.clip_grad_norm_'s factor min(1, maxNorm / (norm + 1e-6)) (1 for maxNorm = inf).

export type FloatArray = Float32Array | Float64Array;

export function gradNormCpu(
  normOut: FloatArray, // (1)
  scaleOut: FloatArray, // (1)
  grads: readonly FloatArray[],
  maxNorm: number,
): void {
  let sumSq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sumSq += g[i]! * g[i]!;
  const norm = Math.sqrt(sumSq);
  normOut[0] = norm;
  scaleOut[0] = Number.isFinite(maxNorm) ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
}
