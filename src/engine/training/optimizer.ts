// AdamW over the LoRA parameters on the GPU, as transformers' Trainer steps torch.optim.AdamW:
// clip_grad_norm_ over all parameters together (global norm; the clip factor stays on the GPU
// and scales the gradient inside the AdamW kernel), then one update per tensor that also clears
// the gradient for the next accumulation. The moments are fp32 tensors beside the parameters;
// state() and restore() move them to and from the host for checkpoints.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { adamwUpdate } from '../kernels/adamw.js';
import { gradNorm } from '../kernels/grad-norm.js';

/** A trainable tensor and its gradient (the LoRA adapter's params()). */
export interface TrainableParam {
  name: string;
  shape: readonly number[];
  value: Tensor;
  grad: Tensor;
}

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** null, 0 or Infinity: no clipping (the norm is still computed). */
  maxGradNorm: number | null;
}

export interface OptimizerState {
  /** Updates taken (AdamW's t). */
  steps: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

export class LoraAdamW {
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  private readonly norm: Tensor;
  private readonly scale: Tensor;
  private readonly valueNormOut: Tensor;
  private readonly valueScale: Tensor;
  /** Updates taken so far. */
  steps = 0;

  constructor(
    private readonly engine: Engine,
    readonly params: readonly TrainableParam[],
    readonly settings: AdamWSettings,
  ) {
    this.m = params.map((p) => engine.zeros([p.value.size], 'f32', `adamw.m:${p.name}`));
    this.v = params.map((p) => engine.zeros([p.value.size], 'f32', `adamw.v:${p.name}`));
    this.norm = engine.tensor([1], 'f32', 'adamw.gradNorm');
    this.scale = engine.tensor([1], 'f32', 'adamw.clipScale');
    this.valueNormOut = engine.tensor([1], 'f32', 'adamw.valueNorm');
    this.valueScale = engine.tensor([1], 'f32', 'adamw.valueScale');
  }

  /** Clears every gradient (before the first accumulation; step() clears them after). */
  zeroGrad(): void {
    for (const p of this.params) this.engine.upload(p.grad, new Float32Array(p.grad.size));
  }

  /**
   * One optimizer step at learning rate `lr` over the accumulated gradients, which it clears.
   * Returns the global gradient norm before clipping (read back: TRL logs grad_norm).
   */
  async step(lr: number): Promise<number> {
    const norm = await this.clipNorm();
    this.update(lr);
    return norm;
  }

  /**
   * The first half of step(): the global gradient norm before clipping (read back) and the clip
   * factor (kept on the GPU for update()). The caller may look at the norm before updating.
   */
  async clipNorm(): Promise<number> {
    const s = this.settings;
    const maxNorm = s.maxGradNorm && s.maxGradNorm > 0 ? s.maxGradNorm : Infinity;
    gradNorm(this.engine, this.norm, this.scale, this.params.map((p) => p.grad), maxNorm);
    return (await this.engine.readF32(this.norm))[0]!;
  }

  /** The second half of step(): AdamW with the clip factor of clipNorm(); clears the gradients. */
  update(lr: number): void {
    const s = this.settings;
    this.steps += 1;
    this.params.forEach((p, i) => {
      adamwUpdate(this.engine, p.value, p.grad, this.m[i]!, this.v[i]!, this.scale, p.value.size, {
        lr,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.eps,
        weightDecay: s.weightDecay,
        step: this.steps,
        zeroGrad: true,
      });
    });
  }

  /** The global norm of the parameters themselves (NaN or Infinity when one is not finite). */
  async valueNorm(): Promise<number> {
    gradNorm(this.engine, this.valueNormOut, this.valueScale, this.params.map((p) => p.value), Infinity);
    return (await this.engine.readF32(this.valueNormOut))[0]!;
  }

  async state(): Promise<OptimizerState> {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const [i, p] of this.params.entries()) {
      m[p.name] = await this.engine.readF32(this.m[i]!);
      v[p.name] = await this.engine.readF32(this.v[i]!);
    }
    return { steps: this.steps, m, v };
  }

  restore(state: OptimizerState): void {
    this.params.forEach((p, i) => {
      const m = state.m[p.name];
      const v = state.v[p.name];
      if (!m || !v) throw new Error(`checkpoint has no optimizer state for ${p.name}`);
      this.engine.upload(this.m[i]!, m);
      this.engine.upload(this.v[i]!, v);
    });
    this.steps = state.steps;
  }

  destroy(): void {
    this.engine.release(...this.m, ...this.v, this.norm, this.scale, this.valueNormOut, this.valueScale);
  }
}
