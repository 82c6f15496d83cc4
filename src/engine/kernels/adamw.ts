import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { adamwScalars, type AdamWStep } from '../cpu/adamw.js';
import { grid1d } from './grid.js';

// One torch.optim.AdamW step over a flat f32 parameter tensor (shaders/adamw_update.wgsl; CPU
// twin src/engine/cpu/adamw.ts). The gradient is first multiplied by gradScale[0], a 1-element
// GPU tensor (gradNorm's clip scale), so clipping needs no readback; null means 1.

export { TORCH_ADAMW_DEFAULTS, adamwBiasCorrections, adamwScalars, type AdamWHyper, type AdamWStep } from '../cpu/adamw.js';

function check(what: string, t: Tensor, size: number): void {
  if (t.size !== size) throw new Error(`adamw: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== 'f32') throw new Error(`adamw: ${what} (${t.label}) is ${t.dtype}, expected f32`);
}

export function adamwUpdate(
  engine: Engine,
  param: Tensor, // (N)
  grad: Tensor, // (N)
  m: Tensor, // (N) first moment, zeros before step 1
  v: Tensor, // (N) second moment, zeros before step 1
  gradScale: Tensor | null, // (1)
  N: number,
  opts: AdamWStep,
): void {
  check('param', param, N);
  check('grad', grad, N);
  check('m', m, N);
  check('v', v, N);
  if (gradScale) check('gradScale', gradScale, 1);
  const buffers = new Set([param.buffer, grad.buffer, m.buffer, v.buffer]);
  if (buffers.size !== 4) throw new Error('adamw: param, grad, m and v must be distinct buffers');
  const uniforms = { N, ...adamwScalars(opts), zeroGrad: opts.zeroGrad ? 1 : 0 };
  engine.dispatch(
    { shader: 'adamw_update', entry: gradScale ? 'main' : 'main_unscaled' },
    gradScale ? { param, grad, m, v, gradScale } : { param, grad, m, v },
    uniforms,
    grid1d(N, 256),
  );
}
