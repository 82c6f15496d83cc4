// A reference model that is not the base: the base plus a weight update made of LoRA blocks,
//
//   ΔW_ref = Σ_j w_j · s_j · B_j A_j
//
// held as one LoRA adapter of rank Σ r_j at scale 1 (A blocks stacked as rows, B blocks side by
// side as columns with w_j·s_j folded in), so the engine's fused LoRA matmul computes the
// reference forward exactly. Two uses:
//
//   iterative DPO  round k's reference is round k-1's policy: one block, weight 1
//                  (referenceFromAdapter)
//   TR-DPO         TRL's sync_ref_model: every ref_model_sync_steps steps,
//                  π_ref ← α·π_θ + (1 - α)·π_ref (SyncRefModelCallback mixes every parameter);
//                  on the weights that differ from the base this is exactly
//                  ΔW_ref ← α·ΔW_θ + (1 - α)·ΔW_ref, a new block for the policy (weight α) in
//                  front of the old ones (weights times 1 - α) (mixReference). Blocks whose
//                  weight falls below 1e-6, and the oldest ones past the largest rank the layers
//                  can use, are dropped.
//
// Its fingerprint (SHA-256 of the blocks) goes into the reference cache key, so reference
// log-probs from another reference are never reused.

import type { LoraAdapter } from '../lora/adapter.js';
import { LoraAdapter as Lora, loraScale } from '../lora/adapter.js';
import type { TransformerModel } from '../transformer/model.js';
import { sha256Hex } from './ref-cache.js';

export interface ReferenceBlocks {
  /** Newest first: each block's rank and weight. */
  blocks: { rank: number; weight: number }[];
  /** Under PEFT names: lora_A (Σr, in) and lora_B (out, Σr), at scale 1. */
  tensors: Map<string, Float32Array>;
}

/** Blocks lighter than this are dropped at a sync. */
export const MIN_BLOCK_WEIGHT = 1e-6;

export function referenceRank(ref: Pick<ReferenceBlocks, 'blocks'>): number {
  return ref.blocks.reduce((a, b) => a + b.rank, 0);
}

const isA = (name: string) => name.endsWith('.lora_A.weight');

/**
 * One adapter as a reference (weight 1): its tensors by PEFT name, its rank and its LoRA scale
 * (lora_alpha / r, or / √r with rsLoRA), folded into B.
 */
export function referenceFromAdapter(tensors: ReadonlyMap<string, Float32Array>, r: number, scale: number): ReferenceBlocks {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of tensors) out.set(name, isA(name) ? t.slice() : t.map((x) => x * scale));
  return { blocks: [{ rank: r, weight: 1 }], tensors: out };
}

/** Columns from..from+count of B (out, r): (out, count), times `factor`. */
function columns(b: Float32Array, r: number, from: number, count: number, factor: number): Float32Array {
  const rows = b.length / r;
  const out = new Float32Array(rows * count);
  for (let o = 0; o < rows; o++) for (let c = 0; c < count; c++) out[o * count + c] = b[o * r + from + c]! * factor;
  return out;
}

/** A block to assemble: its rank and weight, where its rows of A and columns of B are, and the factor on B. */
interface Part {
  rank: number;
  weight: number;
  source: ReadonlyMap<string, Float32Array>;
  /** The rank of the tensors in `source` and the block's offset in them. */
  sourceRank: number;
  offset: number;
  factor: number;
}

/**
 * TR-DPO's sync: α·policy + (1 - α)·reference (null: the base, no update), as blocks (see the
 * file header); null when nothing is left (the base). `maxRank` bounds the result's rank (the
 * oldest blocks go first).
 */
export function mixReference(ref: ReferenceBlocks | null, policy: ReadonlyMap<string, Float32Array>, r: number, scale: number, alpha: number, maxRank: number): ReferenceBlocks | null {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`ref_model_mixup_alpha ${alpha} must be in [0, 1]`);
  const parts: Part[] = [{ rank: r, weight: alpha, source: policy, sourceRank: r, offset: 0, factor: alpha * scale }];
  let offset = 0;
  const oldRank = ref ? referenceRank(ref) : 0;
  for (const b of ref?.blocks ?? []) {
    parts.push({ rank: b.rank, weight: b.weight * (1 - alpha), source: ref!.tensors, sourceRank: oldRank, offset, factor: 1 - alpha });
    offset += b.rank;
  }
  // Newest first: keep each block that weighs enough while the rank fits.
  const kept: Part[] = [];
  let rank = 0;
  for (const p of parts) {
    if (p.weight < MIN_BLOCK_WEIGHT || rank + p.rank > maxRank) continue;
    kept.push(p);
    rank += p.rank;
  }
  if (kept.length === 0) return null;
  const tensors = new Map<string, Float32Array>();
  for (const name of policy.keys()) {
    for (const p of kept) if (!p.source.has(name)) throw new Error(`the reference has no tensor ${name}: it was made for other target modules`);
    if (isA(name)) {
      const C = policy.get(name)!.length / r;
      const a = new Float32Array(rank * C);
      let row = 0;
      for (const p of kept) {
        a.set(p.source.get(name)!.subarray(p.offset * C, (p.offset + p.rank) * C), row * C);
        row += p.rank;
      }
      tensors.set(name, a);
    } else {
      const OC = policy.get(name)!.length / r;
      const b = new Float32Array(OC * rank);
      let col = 0;
      for (const p of kept) {
        const cols = columns(p.source.get(name)!, p.sourceRank, p.offset, p.rank, p.factor);
        for (let o = 0; o < OC; o++) b.set(cols.subarray(o * p.rank, (o + 1) * p.rank), o * rank + col);
        col += p.rank;
      }
      tensors.set(name, b);
    }
  }
  return { blocks: kept.map((p) => ({ rank: p.rank, weight: p.weight })), tensors };
}

/** Identifies a reference for the reference cache: its blocks and values. */
export async function referenceFingerprint(ref: ReferenceBlocks): Promise<string> {
  const names = [...ref.tensors.keys()].sort();
  const parts: string[] = [JSON.stringify(ref.blocks)];
  for (const n of names) {
    const t = ref.tensors.get(n)!;
    parts.push(`${n}:${await sha256Hex(new Uint8Array(t.buffer, t.byteOffset, t.byteLength))}`);
  }
  return sha256Hex(parts.join('|'));
}

/**
 * The reference as a LoRA adapter on `model` (rank Σr, alpha = rank: scale 1), on the same target
 * modules as `like`, detached: attach it only while the reference scores. Every other adapter must
 * be detached while it is created.
 */
export function createReferenceAdapter(model: TransformerModel, ref: ReferenceBlocks, like: Pick<LoraAdapter, 'config'>): LoraAdapter {
  const R = referenceRank(ref);
  const ad = Lora.create(model, { r: R, alpha: R, targetModules: like.config.targetModules, seed: 0 });
  try {
    if (loraScale(ad.config) !== 1) throw new Error('reference adapter: scale must be 1');
    ad.load(ref.tensors);
  } catch (e) {
    ad.destroy();
    throw e;
  }
  ad.detach();
  return ad;
}
