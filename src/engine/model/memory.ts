// How much GPU memory a model's weights take, and whether they fit an adapter, decided before
// anything is allocated. The engine uploads each canonical weight as its own buffer (shared and
// tied tensors as the transformer sees them), linear weights and embeddings in f16 or f32 and
// everything else in f32 (src/engine/transformer/model.ts).

import { isLinearWeight } from '../transformer/config.js';
import { blockQuantizedBytes, type QuantBits } from '../blockq.js';
import { ModelLoadError, formatBytes } from './errors.js';
import type { CanonicalWeight } from './recognize.js';

export type GpuWeightDType = 'f32' | 'f16';

export interface MemoryEstimate {
  /** Parameters as Hugging Face counts them (a tied LM head once). */
  parameters: number;
  /** Bytes of all weights on the GPU with linear weights in f32, or in f16. */
  bytes: Record<GpuWeightDType, number>;
  /** The largest single tensor that must fit one storage buffer binding (embedding and LM-head tables are split, so not counted). */
  largest: { name: string; shape: number[]; bytes: Record<GpuWeightDType, number> };
}

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** f16 tensors are packed two per u32 word, so an odd count rounds up. */
function tensorBytes(name: string, shape: readonly number[], dtype: GpuWeightDType): number {
  const n = elements(shape);
  return dtype === 'f16' && isLinearWeight(name) ? Math.ceil(n / 2) * 4 : n * 4;
}

/**
 * A weight as the estimate sees it: a block-quantized one (a QLoRA base, kept packed on the GPU:
 * codes plus f32 scale and zero point per block) takes the same bytes whichever float dtype the
 * other linear weights get.
 */
export type EstimatedWeight = Pick<CanonicalWeight, 'name' | 'shape'> & { quant?: { bits: QuantBits; blockSize: number } };

/**
 * The dtype a loaded model's linear weights are stored in ('q4+f16' for a 4-bit file with f16
 * tables), and the one the engine keeps the unquantized ones in on the GPU: f16 when all are f16
 * (block-quantized weights stay packed either way), else f32.
 */
export function weightDTypes(weights: Iterable<Pick<CanonicalWeight, 'name' | 'dtype' | 'quant'>>): { stored: string; gpu: GpuWeightDType } {
  const linear = [...weights].filter((w) => isLinearWeight(w.name));
  const floats = new Set(linear.filter((w) => !w.quant).map((w) => w.dtype));
  const quants = new Set(linear.filter((w) => w.quant).map((w) => w.dtype));
  const kinds = [...quants].sort().concat([...floats].sort());
  const stored = kinds.length === 0 ? 'f32' : kinds.join('+');
  return { stored, gpu: floats.size === 1 && floats.has('f16') ? 'f16' : 'f32' };
}

/** Tables the engine splits across buffers when one binding cannot hold them. */
const SPLIT_TABLES = new Set(['model.embed_tokens.weight', 'lm_head.weight', 'transformer.wte.weight']);

export function estimateMemory(weights: Iterable<EstimatedWeight>): MemoryEstimate {
  let parameters = 0;
  const bytes = { f32: 0, f16: 0 };
  let largest: MemoryEstimate['largest'] = { name: '', shape: [], bytes: { f32: 0, f16: 0 } };
  for (const w of weights) {
    parameters += elements(w.shape);
    const packed = w.quant ? blockQuantizedBytes(w.quant.bits, w.quant.blockSize, w.shape[0]!, w.shape[1]!) : null;
    const b = packed !== null ? { f32: packed, f16: packed } : { f32: tensorBytes(w.name, w.shape, 'f32'), f16: tensorBytes(w.name, w.shape, 'f16') };
    bytes.f32 += b.f32;
    bytes.f16 += b.f16;
    // The embedding and LM-head tables are split by rows across buffers when larger than one
    // binding (transformer/model.ts splitTable); a block-quantized one is not.
    const splittable = !w.quant && SPLIT_TABLES.has(w.name);
    if (!splittable && b.f32 > largest.bytes.f32) largest = { name: w.name, shape: w.shape.slice(), bytes: b };
  }
  return { parameters, bytes, largest };
}

/** The adapter limits that matter (GPUSupportedLimits has them under these names). */
export interface AdapterLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface FitOptions {
  dtype?: GpuWeightDType;
  /** Bytes the caller needs besides the weights (activations, KV cache, LoRA and optimizer state). */
  extraBytes?: number;
}

export interface FitReport {
  ok: boolean;
  dtype: GpuWeightDType;
  /** Weights plus extraBytes. */
  neededBytes: number;
  budgetBytes: number;
  largestTensorBytes: number;
  /** min(maxStorageBufferBindingSize, maxBufferSize): the most one tensor may take. */
  maxTensorBytes: number;
  /** Each reason it does not fit, as a sentence; empty when ok. */
  problems: string[];
}

/** Whether the weights fit `budgetBytes` of GPU memory and the adapter's per-buffer limits. */
export function checkFits(est: MemoryEstimate, limits: AdapterLimits, budgetBytes: number, options: FitOptions = {}): FitReport {
  const dtype = options.dtype ?? 'f16';
  const extra = options.extraBytes ?? 0;
  const needed = est.bytes[dtype] + extra;
  const largest = est.largest.bytes[dtype];
  const maxTensor = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const problems: string[] = [];
  if (needed > budgetBytes) {
    const other = dtype === 'f32' && est.bytes.f16 + extra <= budgetBytes ? ` (with f16 weights it would need ${formatBytes(est.bytes.f16 + extra)}, which fits)` : '';
    problems.push(
      `needs ${formatBytes(needed)} of GPU memory (${formatBytes(est.bytes[dtype])} of ${dtype} weights${extra ? ` + ${formatBytes(extra)} working memory` : ''}), ` +
        `but ${formatBytes(budgetBytes)} is available${other}`,
    );
  }
  if (largest > maxTensor) {
    const which = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    problems.push(`its largest tensor ${est.largest.name} [${est.largest.shape.join(', ')}] needs ${formatBytes(largest)} in one buffer, but this adapter allows ${formatBytes(maxTensor)} (${which})`);
  }
  return { ok: problems.length === 0, dtype, neededBytes: needed, budgetBytes, largestTensorBytes: largest, maxTensorBytes: maxTensor, problems };
}

/** Throws 'model-too-large' with every reason, or returns the report. */
export function assertFits(est: MemoryEstimate, limits: AdapterLimits, budgetBytes: number, options: FitOptions = {}): FitReport {
  const r = checkFits(est, limits, budgetBytes, options);
  if (!r.ok) {
    throw new ModelLoadError('model-too-large', `model too large for this GPU: it ${r.problems.join('; and ')}`, {
      neededBytes: r.neededBytes, budgetBytes: r.budgetBytes, largestTensorBytes: r.largestTensorBytes, maxTensorBytes: r.maxTensorBytes, dtype: r.dtype,
    });
  }
  return r;
}
