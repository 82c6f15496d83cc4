import type { Engine } from '../gpu/engine.js';
import type { ShaderConstants } from '../gpu/shader-source.js';
import type { Tensor } from '../gpu/tensor.js';
import { ceilDiv } from './grid.js';

// Linear layers: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias (OC), M = B·T rows
// (shaders/matmul_{forward,backward}.wgsl; CPU twin src/engine/cpu/matmul.ts).

export interface MatmulOptions {
  /** Independent products out[b] = inp[b] · weight[b]ᵀ (default 1); one workgroup layer each. */
  batch?: number;
  /** Elements between batches of inp (and dinp) (default M·C). */
  inpStride?: number;
  /** Elements between batches of weight (and dweight); 0 = one shared weight (default 0). */
  weightStride?: number;
  /** Elements between batches of out (and dout) (default M·OC). */
  outStride?: number;
  /** Forward: out += instead of =. Backward: dinp += instead of =. */
  accumulate?: boolean;
  /**
   * f16 weights: read them as native `f16` (needs shader-f16) or as packed u32 words. Default:
   * native where the device has shader-f16.
   */
  nativeF16?: boolean;
}

/** Output tile edge of one workgroup (TILE in the WGSL). */
const TILE = 64;

interface Layout {
  batch: number;
  inpStride: number;
  weightStride: number;
  outStride: number;
  accumulate: boolean;
}

function layout(M: number, C: number, OC: number, o: MatmulOptions): Layout {
  const l = {
    batch: o.batch ?? 1,
    inpStride: o.inpStride ?? M * C,
    weightStride: o.weightStride ?? 0,
    outStride: o.outStride ?? M * OC,
    accumulate: o.accumulate ?? false,
  };
  for (const [k, v] of Object.entries({ M, C, OC, ...l, accumulate: 0 })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${k} = ${v} is not a non-negative integer`);
  }
  if (l.batch < 1) throw new Error(`matmul: batch = ${l.batch}`);
  return l;
}

function checkSize(t: Tensor, name: string, stride: number, rows: number, cols: number, batch: number): void {
  const need = (batch - 1) * stride + rows * cols;
  if (t.size < need) throw new Error(`matmul: ${name} (${t.label}) holds ${t.size} values, needs ${need}`);
}

function checkF32(t: Tensor, name: string): void {
  if (t.dtype !== 'f32') throw new Error(`matmul: ${name} (${t.label}) is ${t.dtype}, must be f32`);
}

/**
 * Placeholder values. `vec4`: the caller checked that every quad the kernel reads along memory
 * starts at a multiple of 4 (row lengths, strides and tensor sizes all multiples of 4).
 */
function constants(engine: Engine, weight: Tensor, vec4: boolean, o: MatmulOptions): ShaderConstants {
  if (weight.dtype !== 'f32' && weight.dtype !== 'f16') {
    throw new Error(`matmul: weight (${weight.label}) is ${weight.dtype}, must be f32 or f16`);
  }
  let kind = 0;
  let wt = vec4 ? 'vec4<f32>' : 'f32';
  if (weight.dtype === 'f16') {
    const native = o.nativeF16 ?? engine.hasF16;
    if (native && !engine.hasF16) throw new Error('matmul: nativeF16 asked for, but the device has no shader-f16');
    kind = native ? 2 : 1;
    wt = native ? (vec4 ? 'vec4<f16>' : 'f16') : 'u32';
  }
  return {
    ENABLE_F16: kind === 2 ? 'enable f16;' : '',
    VEC: vec4 ? 4 : 1,
    F32_T: vec4 ? 'vec4<f32>' : 'f32',
    W_KIND: kind,
    W_T: wt,
  };
}

const allMultiplesOf4 = (...n: number[]) => n.every((v) => v % 4 === 0);

// out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias (OC), per batch; weight f32 or f16.
export function matmulForward(
  engine: Engine,
  out: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  M: number,
  C: number,
  OC: number,
  options: MatmulOptions = {},
): void {
  const l = layout(M, C, OC, options);
  checkF32(out, 'out');
  checkF32(inp, 'inp');
  checkSize(out, 'out', l.outStride, M, OC, l.batch);
  checkSize(inp, 'inp', l.inpStride, M, C, l.batch);
  checkSize(weight, 'weight', l.weightStride, OC, C, l.batch);
  if (bias) {
    checkF32(bias, 'bias');
    if (bias.size < OC) throw new Error(`matmul: bias (${bias.label}) holds ${bias.size} values, needs ${OC}`);
  }
  // Quads run along C in both inputs.
  const vec4 = allMultiplesOf4(C, l.inpStride, l.weightStride, inp.size, weight.size);
  engine.dispatch(
    { shader: 'matmul_forward', constants: constants(engine, weight, vec4, options) },
    // The kernel always declares bias; without one, inp stands in (has_bias = 0, never read).
    { out, inp, weight, bias: bias ?? inp },
    {
      M, C, OC,
      inp_stride: l.inpStride,
      weight_stride: l.weightStride,
      out_stride: l.outStride,
      has_bias: bias ? 1 : 0,
      accumulate: l.accumulate ? 1 : 0,
    },
    [ceilDiv(OC, TILE), ceilDiv(M, TILE), l.batch],
  );
}

// dinp (M, C) = dout (M, OC) · weight (OC, C)       (+= with options.accumulate)
// dweight (OC, C) += doutᵀ · inp                      (f32; summed over batches if shared)
// dbias (OC) += Σ over batches and rows of dout
// A null gradient is skipped (frozen base weights want only dinp; LoRA adapters want dweight).
export function matmulBackward(
  engine: Engine,
  dinp: Tensor | null,
  dweight: Tensor | null,
  dbias: Tensor | null,
  dout: Tensor,
  inp: Tensor,
  weight: Tensor,
  M: number,
  C: number,
  OC: number,
  options: MatmulOptions = {},
): void {
  const l = layout(M, C, OC, options);
  checkF32(dout, 'dout');
  checkSize(dout, 'dout', l.outStride, M, OC, l.batch);
  // Quads run along OC in dout and along C in weight and inp.
  const vec4 = allMultiplesOf4(C, OC, l.inpStride, l.weightStride, l.outStride, dout.size, inp.size, weight.size);
  const kernel = (entry: string) => ({ shader: 'matmul_backward', entry, constants: constants(engine, weight, vec4, options) });
  const params = (nb: number) => ({
    M, C, OC,
    inp_stride: l.inpStride,
    weight_stride: l.weightStride,
    out_stride: l.outStride,
    nb,
    accumulate: l.accumulate ? 1 : 0,
  });

  if (dinp) {
    checkF32(dinp, 'dinp');
    checkSize(dinp, 'dinp', l.inpStride, M, C, l.batch);
    checkSize(weight, 'weight', l.weightStride, OC, C, l.batch);
    engine.dispatch(kernel('dinp_main'), { dinp, dout, weight }, params(1), [ceilDiv(C, TILE), ceilDiv(M, TILE), l.batch]);
  }
  if (dweight) {
    checkF32(dweight, 'dweight');
    checkF32(inp, 'inp');
    checkSize(inp, 'inp', l.inpStride, M, C, l.batch);
    checkSize(dweight, 'dweight', l.weightStride, OC, C, l.batch);
    // A shared weight reduces every batch in one workgroup; per-batch weights get a z each.
    const shared = l.weightStride === 0;
    engine.dispatch(
      kernel('dweight_main'),
      { dweight, dout, inp },
      params(shared ? l.batch : 1),
      [ceilDiv(C, TILE), ceilDiv(OC, TILE), shared ? 1 : l.batch],
    );
  }
  if (dbias) {
    checkF32(dbias, 'dbias');
    if (dbias.size < OC) throw new Error(`matmul: dbias (${dbias.label}) holds ${dbias.size} values, needs ${OC}`);
    engine.dispatch(kernel('dbias_main'), { dbias, dout }, params(l.batch), [ceilDiv(OC, 64)]);
  }
}
