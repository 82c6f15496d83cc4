import type { Engine } from '../gpu/engine.js';
import type { ShaderConstants } from '../gpu/shader-source.js';
import type { Tensor } from '../gpu/tensor.js';
import { ceilDiv } from './grid.js';
import { dropoutParams, type LoraDropout } from './lora.js';
import type { KernelVariant, TunedKernel } from '../tuning/variants.js';
import { variantToDispatch } from '../tuning/choices.js';
import { isQuantTensor, matmulNBitsBackward, matmulNBitsForward, type QuantTensor } from './matmul-nbits.js';

// Linear layers: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias (OC), M = B·T rows
// (shaders/matmul_{forward,backward}.wgsl; CPU twin src/engine/cpu/matmul.ts).
// A LoRA term rides in the same tiles (see the WGSL): forward + xa · Bᵀ, dinp + dropout'(g · A),
// with xa and g from the small kernels of src/engine/kernels/lora.ts.
// Each product (forward, dinp, dweight) has variants (src/engine/tuning/variants.ts): the same
// bindings and Params in another WGSL file; which one runs is engine.choices' answer for the
// shape (measured by the tuner, or forced), or the options' variant for one call.

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

/** Forward LoRA term: out += xa (M, R) · b[bOffset ..] (OC, R)ᵀ. */
export interface MatmulLoraForward {
  xa: Tensor; // (M, R) = s · dropout(inp) · Aᵀ (loraXa)
  b: Tensor; // (≥ bOffset / R + OC, R) f32
  R: number;
  /** First element of this layer's rows in b (GPT-2 c_attn parts); default 0. */
  bOffset?: number;
}

/** dinp LoRA term: dinp += dropout'(g (M, R) · a (R, C)), with the forward's dropout mask. */
export interface MatmulLoraDinp {
  g: Tensor; // (M, R) = s · dout · B (loraDyB)
  a: Tensor; // (R, C) f32
  R: number;
  dropout?: LoraDropout | null;
}

export interface MatmulForwardOptions extends MatmulOptions {
  lora?: MatmulLoraForward | null;
  /** This variant of matmul_forward for this call (tests, the tuner); default: engine.choices. */
  variant?: string;
  /** With a block-quantized weight: this variant of matmul_nbits_forward; default: engine.choices. */
  nbitsVariant?: string;
}

export interface MatmulBackwardOptions extends MatmulOptions {
  /** Added to dinp only. */
  lora?: MatmulLoraDinp | null;
  /** This variant of matmul_dinp / matmul_dweight for this call; default: engine.choices. */
  dinpVariant?: string;
  dweightVariant?: string;
}

/**
 * The variant to dispatch: the call's, else the engine's choice for the shape class of (M, K, N),
 * M the activation rows (tokens) of the product, so that the class buckets the batch size.
 */
function pickVariant(engine: Engine, kernel: TunedKernel, name: string | undefined, M: number, K: number, N: number): KernelVariant {
  return variantToDispatch(engine, kernel, name, M, K, N, 'matmul');
}

function kernelOf(v: KernelVariant, constants: ShaderConstants) {
  return { shader: v.shader, entry: v.entry, constants };
}

function checkLoraR(R: number, batch: number): void {
  if (!Number.isInteger(R) || R < 1) throw new Error(`matmul: LoRA rank R = ${R} must be a positive integer`);
  if (batch !== 1) throw new Error(`matmul: a LoRA term needs batch = 1 (got ${batch})`);
}

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

/** A block-quantized weight takes one product with default strides: its own kernels (matmul-nbits.ts). */
function checkQuantUse(w: QuantTensor, C: number, OC: number, o: MatmulOptions): void {
  if (w.cols !== C || w.rows !== OC) throw new Error(`matmul: the quantized weight ${w.label} is [${w.rows}, ${w.cols}], needs [${OC}, ${C}]`);
  if ((o.batch ?? 1) !== 1 || o.inpStride !== undefined || o.outStride !== undefined || o.weightStride) {
    throw new Error(`matmul: the quantized weight ${w.label} takes one product (no batch or strides)`);
  }
}

// out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias (OC), per batch; weight f32, f16, or
// block-quantized (QLoRA base: shaders/matmul_nbits_forward.wgsl).
export function matmulForward(
  engine: Engine,
  out: Tensor,
  inp: Tensor,
  weight: Tensor | QuantTensor,
  bias: Tensor | null,
  M: number,
  C: number,
  OC: number,
  options: MatmulForwardOptions = {},
): void {
  if (isQuantTensor(weight)) {
    checkQuantUse(weight, C, OC, options);
    matmulNBitsForward(engine, out, inp, weight, bias, M, { accumulate: options.accumulate, lora: options.lora, variant: options.nbitsVariant });
    return;
  }
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
  const lora = options.lora ?? null;
  if (lora) {
    checkLoraR(lora.R, l.batch);
    const bOffset = lora.bOffset ?? 0;
    checkF32(lora.xa, 'lora.xa');
    checkF32(lora.b, 'lora.b');
    checkSize(lora.xa, 'lora.xa', 0, M, lora.R, 1);
    if (!Number.isInteger(bOffset) || bOffset < 0 || lora.b.size < bOffset + OC * lora.R) {
      throw new Error(`matmul: lora.b (${lora.b.label}) holds ${lora.b.size} values, needs ${bOffset} + ${OC}·${lora.R}`);
    }
  }
  // Quads run along C in both inputs.
  const vec4 = allMultiplesOf4(C, l.inpStride, l.weightStride, inp.size, weight.size);
  const v = pickVariant(engine, 'matmul_forward', options.variant, M, C, OC);
  engine.dispatch(
    kernelOf(v, constants(engine, weight, vec4, options)),
    // The kernel always declares bias and the LoRA operands; absent ones are stood in for by inp
    // (has_bias = 0, lora_r = 0: never read).
    { out, inp, weight, bias: bias ?? inp, lora_xa: lora?.xa ?? inp, lora_b: lora?.b ?? inp },
    {
      M, C, OC,
      inp_stride: l.inpStride,
      weight_stride: l.weightStride,
      out_stride: l.outStride,
      has_bias: bias ? 1 : 0,
      accumulate: l.accumulate ? 1 : 0,
      lora_r: lora?.R ?? 0,
      lora_b_offset: lora?.bOffset ?? 0,
    },
    [ceilDiv(OC, v.tile.cols), ceilDiv(M, v.tile.rows), l.batch],
  );
}

// dinp (M, C) = dout (M, OC) · weight (OC, C)       (+= with options.accumulate)
// dweight (OC, C) += doutᵀ · inp                      (f32; summed over batches if shared)
// dbias (OC) += Σ over batches and rows of dout
// dinp += dropout'(g · a) with options.lora (the LoRA path's input gradient, fused)
// A null gradient is skipped (frozen base weights want only dinp).
export function matmulBackward(
  engine: Engine,
  dinp: Tensor | null,
  dweight: Tensor | null,
  dbias: Tensor | null,
  dout: Tensor,
  inp: Tensor,
  weight: Tensor | QuantTensor,
  M: number,
  C: number,
  OC: number,
  options: MatmulBackwardOptions = {},
): void {
  if (isQuantTensor(weight)) {
    // A quantized base is frozen: only the input gradient (shaders/matmul_nbits_backward.wgsl).
    if (dweight || dbias) throw new Error(`matmul: the quantized weight ${weight.label} is frozen; no dweight or dbias`);
    checkQuantUse(weight, C, OC, options);
    if (dinp) matmulNBitsBackward(engine, dinp, dout, weight, M, { accumulate: options.accumulate, lora: options.lora });
    return;
  }
  const l = layout(M, C, OC, options);
  checkF32(dout, 'dout');
  checkSize(dout, 'dout', l.outStride, M, OC, l.batch);
  // Quads run along OC in dout and along C in weight and inp.
  const vec4 = allMultiplesOf4(C, OC, l.inpStride, l.weightStride, l.outStride, dout.size, inp.size, weight.size);
  const consts = constants(engine, weight, vec4, options);
  const params = (nb: number) => ({
    M, C, OC,
    inp_stride: l.inpStride,
    weight_stride: l.weightStride,
    out_stride: l.outStride,
    nb,
    accumulate: l.accumulate ? 1 : 0,
    lora_r: 0,
    ...dropoutParams(null),
  });

  const lora = options.lora ?? null;
  if (lora && !dinp) throw new Error('matmul: a LoRA dinp term was given without dinp');
  if (dinp) {
    checkF32(dinp, 'dinp');
    checkSize(dinp, 'dinp', l.inpStride, M, C, l.batch);
    checkSize(weight, 'weight', l.weightStride, OC, C, l.batch);
    let loraParams = {};
    if (lora) {
      checkLoraR(lora.R, l.batch);
      checkF32(lora.g, 'lora.g');
      checkF32(lora.a, 'lora.a');
      checkSize(lora.g, 'lora.g', 0, M, lora.R, 1);
      checkSize(lora.a, 'lora.a', 0, lora.R, C, 1);
      loraParams = { lora_r: lora.R, ...dropoutParams(lora.dropout ?? null) };
    }
    const v = pickVariant(engine, 'matmul_dinp', options.dinpVariant, M, OC, C);
    engine.dispatch(
      kernelOf(v, consts),
      // Absent LoRA operands are stood in for by dout (lora_r = 0: never read).
      { dinp, dout, weight, lora_g: lora?.g ?? dout, lora_a: lora?.a ?? dout },
      { ...params(1), ...loraParams },
      [ceilDiv(C, v.tile.cols), ceilDiv(M, v.tile.rows), l.batch],
    );
  }
  if (dweight) {
    checkF32(dweight, 'dweight');
    checkF32(inp, 'inp');
    checkSize(inp, 'inp', l.inpStride, M, C, l.batch);
    checkSize(dweight, 'dweight', l.weightStride, OC, C, l.batch);
    // A shared weight reduces every batch in one workgroup; per-batch weights get a z each.
    const shared = l.weightStride === 0;
    const v = pickVariant(engine, 'matmul_dweight', options.dweightVariant, M, OC, C);
    engine.dispatch(
      kernelOf(v, consts),
      { dweight, dout, inp },
      params(shared ? l.batch : 1),
      [ceilDiv(C, v.tile.cols), ceilDiv(OC, v.tile.rows), shared ? 1 : l.batch],
    );
  }
  if (dbias) {
    checkF32(dbias, 'dbias');
    if (dbias.size < OC) throw new Error(`matmul: dbias (${dbias.label}) holds ${dbias.size} values, needs ${OC}`);
    engine.dispatch({ shader: 'matmul_backward', entry: 'dbias_main', constants: consts }, { dbias, dout }, params(l.batch), [ceilDiv(OC, 64)]);
  }
}
