// CPU twin of shaders/adamw_update.wgsl: one torch.optim.AdamW step over a flat tensor, in
// float64 arithmetic (the arrays may be Float32Array, like the GPU state, or Float64Array),
// in PyTorch's order of operations: param·decay - stepSize · m / (sqrt(v) / sqrt(bc2) + eps).

export type FloatArray = Float32Array | Float64Array;

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWStep extends AdamWHyper {
  /** 1-based step count t of this update (the bias corrections use it). */
  step: number;
  /** Clear the gradient after the update (default false). */
  zeroGrad?: boolean;
}

/** torch.optim.AdamW's defaults. */
export const TORCH_ADAMW_DEFAULTS: AdamWHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 };

/** bc1 = 1 - β1^t, bc2 = 1 - β2^t, in float64. */
export function adamwBiasCorrections(beta1: number, beta2: number, step: number): { bc1: number; bc2: number } {
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamw: step ${step} must be an integer >= 1`);
  return { bc1: 1 - beta1 ** step, bc2: 1 - beta2 ** step };
}

/** The kernel's scalars, computed in float64 like PyTorch's Python-side arithmetic. */
export function adamwScalars(opts: AdamWStep) {
  const { bc1, bc2 } = adamwBiasCorrections(opts.beta1, opts.beta2, opts.step);
  return {
    beta1: opts.beta1,
    beta2: opts.beta2,
    oneMinusBeta1: 1 - opts.beta1,
    oneMinusBeta2: 1 - opts.beta2,
    eps: opts.eps,
    decay: 1 - opts.lr * opts.weightDecay,
    stepSize: opts.lr / bc1,
    bc2Sqrt: Math.sqrt(bc2),
  };
}

export function adamwUpdateCpu(
  param: FloatArray, // (N)
  grad: FloatArray, // (N)
  m: FloatArray, // (N)
  v: FloatArray, // (N)
  gradScale: number,
  N: number,
  opts: AdamWStep,
): void {
  const s = adamwScalars(opts);
  for (let i = 0; i < N; i++) {
    const g = grad[i]! * gradScale;
    const mi = s.beta1 * m[i]! + s.oneMinusBeta1 * g;
    const vi = s.beta2 * v[i]! + s.oneMinusBeta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i]! * s.decay - (s.stepSize * mi) / (Math.sqrt(vi) / s.bc2Sqrt + s.eps);
    if (opts.zeroGrad) grad[i] = 0;
  }
}
