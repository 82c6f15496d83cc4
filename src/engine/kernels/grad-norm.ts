import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { ceilDiv } from './grid.js';

// Global gradient norm and clip factor on the GPU (shaders/grad_norm.wgsl; CPU twin
// src/engine/cpu/grad-norm.ts): one partial-sums dispatch per gradient tensor, then one
// single-workgroup reduction that writes norm and scale = min(1, maxNorm / (norm + 1e-6)).
// The scale stays on the GPU for adamwUpdate's gradScale. A flat gradient buffer (llm.c's
// layout) costs two dispatches in all; many small tensors (LoRA) one dispatch each.

const WG = 256;
/** Elements one workgroup sums before more workgroups are launched (16 per thread). */
const ELEMS_PER_GROUP = WG * 16;
/** Workgroups per tensor; past this each thread strides over more elements. */
const MAX_GROUPS = 1024;

export interface GradNormOptions {
  /** Cap on workgroups per tensor (tests force the grid-stride loop with a small cap). */
  maxGroups?: number;
}

/** maxNorm = Infinity: no clipping (scale 1), the norm is still computed. */
export function gradNorm(
  engine: Engine,
  normOut: Tensor, // (1)
  scaleOut: Tensor, // (1)
  grads: readonly Tensor[],
  maxNorm: number,
  options: GradNormOptions = {},
): void {
  if (!(maxNorm >= 0)) throw new Error(`gradNorm: maxNorm ${maxNorm} must be >= 0 (Infinity = no clipping)`);
  for (const [what, t] of [['normOut', normOut], ['scaleOut', scaleOut]] as const) {
    if (t.size !== 1 || t.dtype !== 'f32') throw new Error(`gradNorm: ${what} (${t.label}) must be one f32`);
  }
  for (const g of grads) if (g.dtype !== 'f32') throw new Error(`gradNorm: ${g.label} is ${g.dtype}, expected f32`);
  const cap = options.maxGroups ?? MAX_GROUPS;
  const groups = grads.map((g) => Math.min(cap, ceilDiv(g.size, ELEMS_PER_GROUP)));
  const P = groups.reduce((a, b) => a + b, 0);
  const partials = engine.tensor([Math.max(P, 1)], 'f32', 'gradNorm.partials'); // (P)
  const clip = Number.isFinite(maxNorm) ? 1 : 0;
  const fixed = { P, maxNorm: clip ? maxNorm : 0, clip };
  let offset = 0;
  grads.forEach((grad, i) => {
    const G = groups[i]!;
    engine.dispatch({ shader: 'grad_norm' }, { partials, grad }, { N: grad.size, offset, ...fixed }, [G]);
    offset += G;
  });
  engine.dispatch(
    { shader: 'grad_norm', entry: 'finish' },
    { partials, norm: normOut, clipScale: scaleOut },
    { N: 0, offset: 0, ...fixed },
    [1],
  );
  engine.release(partials);
}
