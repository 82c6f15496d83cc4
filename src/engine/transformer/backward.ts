// The transformer's backward pass for LoRA training: the base is frozen, so only activation
// gradients flow (no dweight for base weights, no embedding backward) and the only parameter
// gradients are the adapter's, accumulated into its grad tensors.
//
// Per block, in reverse (forward in model.ts; dres is the residual stream's gradient, updated in
// place from d(block output) to d(block input)):
//   [dmlpOut = postMlpNorm'(dres)]                    'sandwich' / 'post' norms
//   dfcAct = dmlpOut · Wdown (+ LoRA)                 fused dinp matmul (kernels/matmul.ts)
//   dgate, dup = swiglu'/geglu'(...)   |  dfc = gelu'(...)
//   dln2 = dup · Wup + dgate · Wgate (+ LoRA)
//   dres += norm2'(dln2)                              residual2 = x + attention branch
//                                                     ('post': no norm2, dres += dln2)
//   [dattnOut = postAttnNorm'(dres)]
//   datt = dattnOut · Wo (+ LoRA)
//   dq, dk, dv = attention'(datt); dq, dk = rope'(dq, dk); [dq, dk = qkNorm'(dq, dk)]
//   dln1 = dq · Wq + dk · Wk + dv · Wv (+ LoRA)
//   dres += norm1'(dln1)                              now d(block input) ('post': dres += dln1)
// For each LoRA module on a linear layer with input x and output gradients dY (one per part;
// GPT-2's c_attn has three): g = s · Σ_parts dY·B  (M, R), then g·A joins the dinp matmul of the
// module's last part (masked by the forward's dropout), dB += dYᵀ·xa per part, dA += gᵀ·dropout(x).

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { attentionBackward } from '../kernels/attention.js';
import { geluBackward } from '../kernels/gelu.js';
import { layernormBackward } from '../kernels/layernorm.js';
import { loraDyB, loraGrad } from '../kernels/lora.js';
import { matmulBackward } from '../kernels/matmul.js';
import { rmsnormBackward } from '../kernels/rmsnorm.js';
import { ropeBackward } from '../kernels/rope.js';
import { swigluBackward } from '../kernels/swiglu.js';
import { LoraPart, type LoraAdapter, type LoraModule } from '../lora/adapter.js';
import { releaseLayer, type Activations, type BatchTensors, type LayerActivations, type LinearWeights, type NormWeights, type TransformerModel } from './model.js';

/** What the LoRA terms of a backward need from their forward. */
export interface LoraBackwardState {
  adapter: LoraAdapter;
  /** xa of every module, saved by the forward (adapter.saving). */
  saved: ReadonlyMap<LoraModule, Tensor>;
  /** The forward's dropout seed (null: no dropout). */
  dropoutSeed: number | null;
  /** Gradients += (default) or = (the first micro-batch of a step, instead of zeroing). */
  accumulate: boolean;
}

/** One linear layer whose input gradient is wanted: dY (M, OC) of its output. */
export interface LinearGrad {
  lw: LinearWeights;
  dout: Tensor;
}

/**
 * dinp (M, C) = Σ_i dout_i (M, OC_i) · W_i (OC_i, C) plus the LoRA terms: the input gradient of
 * the linear layers that read the same input `inp` (q, k, v; gate, up); and their adapters'
 * gradients. dinp is assigned (accumulateDinp false) or added to.
 */
export function linearsBackward(
  engine: Engine,
  dinp: Tensor,
  inp: Tensor,
  items: readonly LinearGrad[],
  M: number,
  lora: LoraBackwardState | null,
  accumulateDinp = false,
): void {
  // Group the LoRA parts by module; a module's parts must all be here (its g sums over them).
  const groups = new Map<LoraModule, { part: LoraPart; dout: Tensor }[]>();
  for (const it of items) {
    const part = it.lw.adapter;
    if (!lora || !(part instanceof LoraPart) || part.module.owner !== lora.adapter || !lora.adapter.enabled) continue;
    const list = groups.get(part.module) ?? [];
    list.push({ part, dout: it.dout });
    groups.set(part.module, list);
  }
  const gOf = new Map<LoraModule, Tensor>();
  const lastItem = new Map<LoraModule, LinearWeights>();
  for (const [mod, parts] of groups) {
    if (parts.length !== mod.parts.length) throw new Error(`lora backward: ${mod.path} needs all ${mod.parts.length} parts in one call, got ${parts.length}`);
    const g = engine.tensor([M, mod.R], 'f32', `lora.${mod.path}.g`);
    parts.forEach(({ part, dout }, i) => {
      loraDyB(engine, g, dout, mod.b, M, part.linear.outFeatures, mod.R, { scale: lora!.adapter.scale, bOffset: part.rowOffset * mod.R, accumulate: i > 0 });
    });
    gOf.set(mod, g);
    lastItem.set(mod, parts[parts.length - 1]!.part.linear);
  }
  items.forEach((it, i) => {
    const part = it.lw.adapter instanceof LoraPart ? it.lw.adapter : null;
    const g = part ? gOf.get(part.module) : undefined;
    const fused = g && lastItem.get(part!.module) === it.lw
      ? { g, a: part!.module.a, R: part!.module.R, dropout: part!.module.dropout(lora!.dropoutSeed) }
      : null;
    matmulBackward(engine, dinp, null, null, it.dout, inp, it.lw.weight, M, it.lw.inFeatures, it.lw.outFeatures, {
      accumulate: accumulateDinp || i > 0,
      lora: fused,
    });
  });
  for (const [mod, parts] of groups) {
    const xa = lora!.saved.get(mod);
    if (!xa) throw new Error(`lora backward: no saved forward for ${mod.path} (run the forward with adapter.saving set)`);
    const accumulate = lora!.accumulate;
    for (const { part, dout } of parts) {
      loraGrad(engine, mod.gradB, dout, xa, M, part.linear.outFeatures, mod.R, { outOffset: part.rowOffset * mod.R, accumulate });
    }
    loraGrad(engine, mod.gradA, gOf.get(mod)!, inp, M, mod.R, mod.inFeatures, { accumulate, dropout: mod.dropout(lora!.dropoutSeed) });
    engine.release(gOf.get(mod)!);
  }
}

/** dinp (+)= norm'(dout) for RMSNorm (llama; Gemma's 1 + w) or LayerNorm (gpt2) of C-wide rows; weights frozen. */
export function normBackward(
  model: TransformerModel,
  dinp: Tensor,
  dout: Tensor,
  inp: Tensor,
  w: NormWeights,
  mean: Tensor | null,
  rstd: Tensor,
  N: number,
  accumulate: boolean,
): void {
  const c = model.config;
  if (c.arch === 'gpt2') layernormBackward(model.engine, dinp, null, null, dout, inp, w.weight, mean!, rstd, N, c.hidden, { accumulate });
  else rmsnormBackward(model.engine, dinp, null, dout, inp, w.weight, rstd, N, c.hidden, { accumulate, weightOffset: c.normWeightOffset ?? 0 });
}

/**
 * Backward through every block, last to first. `dres` (B·T, C) holds d(last block output) on
 * entry and d(embeddings) on return (the embedding itself is frozen). Each block's activations
 * are released once its backward is recorded and acts.layers is emptied; acts.encoded and
 * acts.inputs stay for the caller to release (releaseActivations then frees just those).
 */
export function blocksBackward(model: TransformerModel, acts: Activations, dres: Tensor, lora: LoraBackwardState | null): void {
  for (let l = model.config.layers - 1; l >= 0; l--) {
    const a = acts.layers[l]!;
    const x = l === 0 ? acts.encoded : acts.layers[l - 1]!.residual3;
    blockBackward(model, l, a, x, acts.inputs, acts.B, acts.T, dres, lora);
    // Recorded: block l's activations (and its output, block l + 1's input) may be reused now.
    releaseLayer(model.engine, a);
  }
  acts.layers.length = 0;
}

/**
 * Block l's backward: dres (B·T, C) goes from d(block output) to d(block input x) in place.
 * `a` are the block's forward activations on input x (kept, or recomputed); they are read, not
 * released.
 */
export function blockBackward(
  model: TransformerModel,
  l: number,
  a: LayerActivations,
  x: Tensor,
  inputs: BatchTensors,
  B: number,
  T: number,
  dres: Tensor,
  lora: LoraBackwardState | null,
): void {
  const e = model.engine;
  const c = model.config;
  const N = B * T;
  const C = c.hidden, NH = c.heads, NKV = c.kvHeads, HS = c.headDim, I = c.intermediate;
  const w = model.weights.layers[l]!;
  const t = (shape: number[], name: string) => e.tensor(shape, 'f32', `bwd.L${l}.${name}`);

  // MLP branch. With a post-MLP norm, its backward gives the down projection's output gradient.
  let dmlpOut = dres;
  if (w.postMlp) {
    dmlpOut = t([N, C], 'dmlpOut');
    normBackward(model, dmlpOut, dres, a.mlpOut!, w.postMlp, null, a.mlpPostRstd!, N, false);
  }
  const dfcAct = t([N, I], 'dfcAct');
  linearsBackward(e, dfcAct, a.fcAct, [{ lw: w.down, dout: dmlpOut }], N, lora);
  if (dmlpOut !== dres) e.release(dmlpOut);
  const mlpIn = a.ln2 ?? a.residual2;
  // Without a pre-MLP norm ('post' norms) the MLP's input gradient goes straight into dres.
  const dln2 = w.ln2 ? t([N, C], 'dln2') : dres;
  if (w.gate) {
    const dgate = t([N, I], 'dgate');
    const dup = t([N, I], 'dup');
    swigluBackward(e, dgate, dup, dfcAct, a.fcGate!, a.fc, N, I, { activation: c.activation === 'gelu_tanh' ? 'gelu_tanh' : 'silu' });
    linearsBackward(e, dln2, mlpIn, [{ lw: w.up, dout: dup }, { lw: w.gate, dout: dgate }], N, lora, !w.ln2);
    e.release(dgate, dup);
  } else {
    const dfc = t([N, I], 'dfc');
    geluBackward(e, dfc, dfcAct, a.fc, N * I, c.activation === 'gelu' ? 'erf' : 'tanh');
    linearsBackward(e, dln2, mlpIn, [{ lw: w.up, dout: dfc }], N, lora, !w.ln2);
    e.release(dfc);
  }
  e.release(dfcAct);
  if (w.ln2) {
    normBackward(model, dres, dln2, a.residual2, w.ln2, a.ln2Mean, a.ln2Rstd!, N, true);
    e.release(dln2);
  }

  // Attention branch.
  let dattnOut = dres;
  if (w.postAttn) {
    dattnOut = t([N, C], 'dattnOut');
    normBackward(model, dattnOut, dres, a.attnOut!, w.postAttn, null, a.attnPostRstd!, N, false);
  }
  const datt = t([N, NH * HS], 'datt');
  linearsBackward(e, datt, a.att, [{ lw: w.o, dout: dattnOut }], N, lora);
  if (dattnOut !== dres) e.release(dattnOut);
  const dq = t([B, T, NH, HS], 'dq');
  const dk = t([B, T, NKV, HS], 'dk');
  const dv = t([B, T, NKV, HS], 'dv');
  attentionBackward(e, dq, dk, dv, datt, a.q, a.k, a.v, a.att, a.attLse, inputs.mask, B, T, NH, NKV, HS, model.attentionOptions(l));
  e.release(datt);
  const rope = model.rope(l);
  if (rope) {
    ropeBackward(e, dq, dq, inputs.positions, rope.invFreq, B, T, NH, HS, rope.options);
    ropeBackward(e, dk, dk, inputs.positions, rope.invFreq, B, T, NKV, HS, rope.options);
  }
  // q/k norms: back to the projections' outputs.
  let dqPre = dq, dkPre = dk;
  if (w.qNorm && w.kNorm) {
    dqPre = t([B, T, NH, HS], 'dqPre');
    dkPre = t([B, T, NKV, HS], 'dkPre');
    qkNormBackward(model, dqPre, dq, a.qPre!, w.qNorm, a.qRstd!, N, NH);
    qkNormBackward(model, dkPre, dk, a.kPre!, w.kNorm, a.kRstd!, N, NKV);
  }
  const attIn = a.ln1 ?? x;
  const dln1 = w.ln1 ? t([N, C], 'dln1') : dres;
  linearsBackward(e, dln1, attIn, [{ lw: w.q, dout: dqPre }, { lw: w.k, dout: dkPre }, { lw: w.v, dout: dv }], N, lora, !w.ln1);
  e.release(dq, dk, dv);
  if (dqPre !== dq) e.release(dqPre, dkPre);
  if (w.ln1) {
    normBackward(model, dres, dln1, x, w.ln1, a.ln1Mean, a.ln1Rstd!, N, true);
    e.release(dln1);
  }
}

/** dinp = qkNorm'(dout) for q or k (B·T, heads·HS): per head or over the projection (model.qkNormForward). */
function qkNormBackward(model: TransformerModel, dinp: Tensor, dout: Tensor, inp: Tensor, w: NormWeights, rstd: Tensor, N: number, heads: number): void {
  const c = model.config;
  const head = c.qkNorm === 'head';
  rmsnormBackward(model.engine, dinp, null, dout, inp, w.weight, rstd, head ? N * heads : N, head ? c.headDim : heads * c.headDim, { weightOffset: c.normWeightOffset ?? 0 });
}
