// From a traced graph (graph.ts) and whatever config files the folder has, the canonical model:
// architecture, TransformerConfig (src/engine/transformer/config.ts) and a map from Hugging Face
// module names to the stored tensors behind them.
//
// Dimensions come from the weights themselves (the graph is what runs); counts and constants the
// weights cannot tell (heads, rope theta, eps, token ids) come from config.json, then
// genai_config.json, then the graph's attributes (num_heads, scale, epsilon, interleaved, the
// rotary cos/sin caches). Where a config states a value the graph contradicts, the graph wins and
// a warning says so.
//
// GPT-2 naming follows src/engine/transformer/config.ts: the packed c_attn (Conv1D, [in, 3C]) is
// split into attn.{q,k,v}_proj.{weight,bias} with weights [C, C] in [out, in] layout, and every
// Conv1D weight (attn.c_proj, mlp.c_fc, mlp.c_proj) is given in [out, in] layout too. Packed
// q|k|v projections of llama exports (GroupQueryAttention) are split the same way.

import type { NormPlacement, QkNorm, TransformerConfig } from '../transformer/config.js';
import { architectureFromHf, expectedWeightShapes, LLAMA_ARCH_TYPES, validateConfig } from '../transformer/config.js';
import type { RopeScaling } from '../kernels/rope.js';
import { f16BitsToF32, f32ToF16Bits } from '../f16.js';
import { ModelLoadError, type ModelWarning } from './errors.js';
import type { GraphIndex, LinearOp, NormOp } from './graph.js';
import { decodeFloats, type OnnxNode, type OnnxTensor } from './onnx.js';
import type { QuantSpec } from './quantized.js';

/** As stored; q4 / q8: block-quantized (MatMulNBits, GatherBlockQuantized; `quant` says how). */
export type WeightDType = 'f32' | 'f16' | 'bf16' | 'q4' | 'q8';

export interface CanonicalWeight {
  /** Hugging Face module path, e.g. model.layers.0.self_attn.q_proj.weight. */
  name: string;
  /** Shape in Hugging Face layout ([out, in] for a linear weight). */
  shape: number[];
  /** As stored in the file. */
  dtype: WeightDType;
  /** The initializer (or Constant output) holding it, as the exporter named it. */
  source: string;
  tensor: OnnxTensor;
  /** The stored tensor is the transpose of the HF layout ([in, out], as MatMul and Conv1D keep it). */
  transposed: boolean;
  /** Rows [start, start + count) of the HF-layout tensor (one part of a packed q|k|v). */
  rows?: { start: number; count: number };
  /** Other canonical names that read the same stored tensor (exporters de-duplicate equal tensors). */
  sharedWith: string[];
  /**
   * Added to every stored value to give Hugging Face's (norm weights only): -1 where the exporter
   * folded Gemma's 1 + w into the stored tensor. Absent = 0.
   */
  addend?: number;
  /** Index of the graph node that reads it as this weight (a linear's MatMul / Gemm), when it is one. */
  reader?: number;
  /** Block-quantized (`tensor` is its packed data): the op, bits, block size, scales and zero points. */
  quant?: QuantSpec;
}

/** The model family, by llama.cpp's architecture name where it has one (gguf). */
export type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3' | 'phi3' | 'olmo2' | 'gpt2';
export type ConfigField = keyof TransformerConfig;
export type Provenance = 'config.json' | 'genai_config.json' | 'generation_config.json' | 'graph' | 'default';

export interface ConfigFiles {
  config?: Record<string, unknown>;
  genai?: Record<string, unknown>;
  generation?: Record<string, unknown>;
}

export interface GraphSummary {
  file: string;
  producer: string;
  opsets: Record<string, number>;
  nodes: number;
  /** How many nodes of each op ("com.microsoft.MultiHeadAttention": 2). */
  ops: Record<string, number>;
  inputs: { name: string; dtype: string; shape: (number | string | null)[] | null }[];
  outputs: { name: string; dtype: string; shape: (number | string | null)[] | null }[];
  /** How norms and attention were expressed: fused com.microsoft ops or standard ops. */
  style: { norm: string; attention: string };
}

export interface Recognition {
  arch: 'llama' | 'gpt2';
  /** The declared (or inferred) model family. */
  family: Family;
  config: TransformerConfig;
  weights: Map<string, CanonicalWeight>;
  provenance: Partial<Record<ConfigField, Provenance>>;
  warnings: ModelWarning[];
  graph: GraphSummary;
}

const FAMILIES: Record<string, Family> = {
  llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3', gemma2: 'gemma2', gemma3_text: 'gemma3', gemma3: 'gemma3',
  phi3: 'phi3', olmo2: 'olmo2', gpt2: 'gpt2',
  LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2', Qwen3ForCausalLM: 'qwen3',
  Gemma2ForCausalLM: 'gemma2', Gemma3ForCausalLM: 'gemma3', Gemma3ForConditionalGeneration: 'gemma3', Phi3ForCausalLM: 'phi3',
  Olmo2ForCausalLM: 'olmo2', GPT2LMHeadModel: 'gpt2',
};

/** Families whose graph does not tell everything (soft-caps, windows, norm offsets): config.json is needed. */
const NEEDS_CONFIG = new Set<Family>(['gemma2', 'gemma3', 'qwen3', 'phi3', 'olmo2']);

const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function weightDType(t: OnnxTensor, name: string): WeightDType {
  switch (t.dtype) {
    case 'float32': return 'f32';
    case 'float16': return 'f16';
    case 'bfloat16': return 'bf16';
    default:
      throw new ModelLoadError('unsupported-dtype', `weight "${t.name}" (${name}) is ${t.dtype}; weights must be float32, float16 or bfloat16`, { tensor: t.name, dtype: t.dtype });
  }
}

/** Rope theta from inverse frequencies f_i = θ^(−2i/R); rounded to 3 significant digits. */
export function thetaFromInvFreq(f: ArrayLike<number>, R: number): number | null {
  let num_ = 0, den = 0;
  for (let i = 1; i < f.length; i++) {
    const fi = f[i]!;
    if (!(fi > 0)) return null;
    const e = (2 * i) / R;
    num_ += e * Math.log(fi);
    den += e * e;
  }
  if (den === 0) return null;
  return Number(Math.exp(-num_ / den).toPrecision(3));
}

/**
 * Inverse frequencies read back from rotary cos/sin caches (maxPos, R/2): the angle at a position
 * far enough along for precision but short of π.
 */
export function invFreqFromCaches(cos: Float32Array, sin: Float32Array, rows: number, half: number): Float64Array {
  const f = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const f1 = Math.atan2(sin[half + i]!, cos[half + i]!);
    const p = f1 > 0 ? Math.max(1, Math.min(rows - 1, Math.floor(2.5 / f1))) : 1;
    f[i] = Math.atan2(sin[p * half + i]!, cos[p * half + i]!) / p;
  }
  return f;
}

interface Sources {
  hf: Record<string, unknown>;
  genai: Record<string, unknown>;
  genaiDecoder: Record<string, unknown>;
  gen: Record<string, unknown>;
}

/** The first stated value among sources, with where it came from. */
function first(...c: [Provenance, number | undefined][]): [number, Provenance] | undefined {
  for (const [p, v] of c) if (v !== undefined) return [v, p];
  return undefined;
}

export async function recognize(ix: GraphIndex, files: ConfigFiles, bytesOf: (t: OnnxTensor) => Promise<Uint8Array>): Promise<Recognition> {
  const g = ix.g;
  const warnings: ModelWarning[] = [];
  const warn = (code: string, message: string) => warnings.push({ code, message });
  const provenance: Partial<Record<ConfigField, Provenance>> = {};
  const s: Sources = {
    hf: files.config ?? {},
    genai: obj(files.genai?.model) ?? {},
    genaiDecoder: obj(obj(files.genai?.model)?.decoder) ?? {},
    gen: files.generation ?? {},
  };

  // ---- family ----
  const archs = Array.isArray(s.hf.architectures) ? (s.hf.architectures as unknown[]) : [];
  const declared = [s.hf.model_type, obj(s.hf.model)?.type, s.genai.type, archs[0]].find((v): v is string => typeof v === 'string');
  if (declared !== undefined && !FAMILIES[declared]) {
    throw new ModelLoadError('unknown-architecture', `unknown architecture "${declared}" (from ${s.hf.model_type ? 'config.json model_type' : s.genai.type ? 'genai_config.json model.type' : 'config.json'}): supported are ${Object.keys(LLAMA_ARCH_TYPES).join(', ')} (llama-arch decoders) and gpt2`, { architecture: declared });
  }

  // ---- structure ----
  // Norms that start a place (graph.ts): two per layer and a final one. q/k norms and post-norms
  // sit inside branches; with pre-norms too ('sandwich': Gemma) or alone ('post': OLMo 2).
  const norms = ix.streamNorms();
  const qkNormOps = ix.qkNorms();
  const postNormOps = ix.postNorms();
  if (norms.length < 3 || norms.length % 2 === 0) {
    throw ix.unrecognised(`found ${norms.length} normalization layer(s) on the residual stream${ix.norms.length !== norms.length ? ` (and ${ix.norms.length - norms.length} inside branches)` : ''}; a decoder of L layers has 2L + 1 (two per layer and a final one)`);
  }
  const L = (norms.length - 1) / 2;
  const postSet = new Set(postNormOps);
  const placement: NormPlacement = postNormOps.length === 0 ? 'pre' : norms.some((n) => postSet.has(n)) ? 'post' : 'sandwich';
  /** Norm indices (in `norms`) before layer l's attention and MLP linears ('post': the previous layer's post-norms, -1 for the embedding). */
  const attnAt = (l: number) => (placement === 'post' ? 2 * l - 1 : 2 * l);
  const mlpAt = (l: number) => (placement === 'post' ? 2 * l : 2 * l + 1);
  const kinds = new Set(ix.norms.map((n) => n.kind));
  if (kinds.size !== 1) throw ix.unrecognised('mixes RMSNorm and LayerNorm');
  const arch: 'llama' | 'gpt2' = kinds.has('rms') ? 'llama' : 'gpt2';
  const family: Family = declared ? FAMILIES[declared]! : arch;
  if ((family === 'gpt2') !== (arch === 'gpt2')) {
    throw new ModelLoadError('unknown-architecture', `the config declares ${declared}, but the graph uses ${arch === 'llama' ? 'RMSNorm (a llama-style decoder)' : 'LayerNorm (a gpt2-style decoder)'}`, { architecture: declared });
  }
  if (!declared) warn('no-config', `no config.json or genai_config.json model type: architecture ${arch} inferred from the graph`);
  if (NEEDS_CONFIG.has(family) && !s.hf.model_type) {
    throw new ModelLoadError('config-invalid', `${family} needs its config.json (model_type, and what the graph does not tell: soft-caps, sliding windows, norm offsets, rope per layer); the folder has none`, { architecture: family });
  }
  if (arch === 'llama' && !NEEDS_CONFIG.has(family) && (placement !== 'pre' || qkNormOps.length > 0)) {
    const what = [placement !== 'pre' ? `${placement === 'post' ? 'post-norms only' : 'norms before and after each branch'} (${placement === 'post' ? 'OLMo 2' : 'Gemma'}-like)` : '', qkNormOps.length ? 'q/k norms (Qwen3 / Gemma 3 / OLMo 2-like)' : ''].filter(Boolean).join(' and ');
    throw new ModelLoadError('unknown-architecture', `the graph has ${what}, which a ${declared ?? 'llama'} decoder does not; a config.json with the model's model_type (${[...NEEDS_CONFIG].join(', ')}) is needed to run it`, { architecture: declared ?? 'unknown' });
  }

  // ---- embeddings ----
  const embedNorm = norms[0]!.embed;
  const fromInput = (t: string) => {
    for (let hops = 0; hops < 8; hops++) {
      if (ix.graphInputs.has(t)) return t;
      const p = ix.producer.get(t)?.node;
      if (!p || !['Cast', 'Reshape', 'Flatten', 'Unsqueeze', 'Squeeze', 'Identity'].includes(p.opType)) return null;
      t = p.inputs[0]!;
    }
    return null;
  };
  let tokenTable: OnnxTensor | undefined = embedNorm?.word;
  let posTable: OnnxTensor | null = embedNorm?.position ?? null;
  let tokenQuant: QuantSpec | undefined;
  if (!tokenTable) {
    const byIds = ix.embeddings.filter((e) => /input_ids|^ids$|tokens/.test(fromInput(e.indices) ?? ''));
    const tok = byIds[0] ?? [...ix.embeddings].sort((a, b) => b.table.dims[0]! - a.table.dims[0]!)[0];
    if (!tok) throw ix.unrecognised('no token embedding: no Gather reads rows of a 2-D weight by the input ids');
    tokenTable = tok.table;
    tokenQuant = tok.quant;
    if (arch === 'gpt2') {
      const pos = ix.embeddings.find((e) => e.table !== tokenTable && e.table.dims[1] === tokenTable!.dims[1]);
      posTable = pos?.table ?? null;
    }
  }
  const [V, C] = (tokenQuant ? [tokenQuant.rows, tokenQuant.cols] : tokenTable.dims) as [number, number];
  if (arch === 'gpt2' && !posTable) throw ix.unrecognised('gpt2: no position embedding table (wpe) found');

  // ---- linears by place ----
  const at = (norm: number, depth: number) => ix.linears.filter((l) => l.place.norm === norm && l.place.depth === depth);
  const placed = new Set<LinearOp>();
  const take = (ls: LinearOp[]) => {
    ls.forEach((l) => placed.add(l));
    return ls;
  };
  const describe = (l: LinearOp) => `${l.node.opType} "${l.node.name || `#${l.node.index}`}" (weight "${l.weight.name}" [${l.weight.dims.join(', ')}])`;
  const one = (ls: LinearOp[], what: string, layer: number): LinearOp => {
    if (ls.length !== 1) throw ix.unrecognised(`layer ${layer}: expected one ${what} projection, found ${ls.length}${ls.length ? `: ${ls.map(describe).join(', ')}` : ''}`);
    return ls[0]!;
  };

  interface LayerLinears {
    q: LinearOp; k: LinearOp; v: LinearOp; packed: boolean;
    o: LinearOp; gate: LinearOp | null; up: LinearOp; down: LinearOp;
    /** gate and up are one linear (Phi-3's gate_up_proj: [gate | up] rows). */
    packedMlp: boolean;
    /** The gate's activation as the graph computes it (llama arch). */
    gateAct: 'silu' | 'gelu_tanh' | 'gelu' | null;
  }
  const layers: LayerLinears[] = [];
  for (let l = 0; l < L; l++) {
    const n1 = attnAt(l), n2 = mlpAt(l);
    const attnIn = take(at(n1, 0));
    let q: LinearOp, k: LinearOp, v: LinearOp;
    let packed = false;
    const core = ix.cores.find((c) => c.place.norm === n1);
    const fed = (t: string) => (t ? ix.linearsFeeding(t).filter((x) => attnIn.includes(x)) : []);
    if (attnIn.length === 1) {
      q = k = v = attnIn[0]!;
      packed = true;
    } else if (core && core.k) {
      const [qs, ks, vs] = [fed(core.q), fed(core.k), fed(core.v)];
      if (qs.length !== 1 || ks.length !== 1 || vs.length !== 1 || new Set([qs[0], ks[0], vs[0]]).size !== 3) {
        throw ix.unrecognised(`layer ${l}: cannot tell q, k and v apart at ${core.node.opType} "${core.node.name}" (query from ${qs.length}, key from ${ks.length}, value from ${vs.length} projections)`);
      }
      [q, k, v] = [qs[0]!, ks[0]!, vs[0]!];
    } else if (attnIn.length === 3) {
      [q, k, v] = attnIn as [LinearOp, LinearOp, LinearOp];
      warn('qkv-by-order', `layer ${l}: no attention op found to trace; q, k, v taken in graph order`);
    } else {
      throw ix.unrecognised(`layer ${l}: expected q, k, v projections after norm ${n1}, found ${attnIn.length}${attnIn.length ? `: ${attnIn.map(describe).join(', ')}` : ''}`);
    }
    const o = one(take(at(n1, 1)), 'attention output (o_proj / c_proj)', l);
    const mlpIn = take(at(n2, 0));
    const down = one(take(at(n2, 1)), 'MLP output (down_proj / c_proj)', l);
    let gate: LinearOp | null = null, up: LinearOp;
    let packedMlp = false;
    let gateAct: LayerLinears['gateAct'] = null;
    if (arch === 'llama') {
      if (mlpIn.length === 1) {
        // Phi-3's gate_up_proj: one linear of 2I outputs, gate rows first (HF: gate, up = chunk(2)).
        if (family !== 'phi3') throw ix.unrecognised(`layer ${l}: one MLP input projection (${describe(mlpIn[0]!)}); a packed gate_up projection is only known for phi3 (config.json model_type)`);
        if (mlpIn[0]!.outFeatures % 2 !== 0) throw ix.unrecognised(`layer ${l}: the packed gate_up projection has an odd number of outputs (${mlpIn[0]!.outFeatures})`);
        gate = up = mlpIn[0]!;
        packedMlp = true;
        gateAct = ix.gateActivation(mlpIn[0]!.out, down.x);
      } else if (mlpIn.length !== 2) {
        throw ix.unrecognised(`layer ${l}: expected gate and up projections, found ${mlpIn.length}`);
      } else {
        const split = ix.splitGate(mlpIn[0]!, mlpIn[1]!, down.x);
        if (split) {
          ({ gate, up } = split);
          gateAct = ix.gateActivation(gate.out, down.x);
        } else {
          [gate, up] = mlpIn as [LinearOp, LinearOp];
          warn('gate-by-order', `layer ${l}: cannot tell which MLP projection is the gate (no product of one with the other's activation before down_proj); gate and up taken in graph order`);
        }
      }
    } else up = one(mlpIn, 'MLP input (c_fc)', l);
    layers.push({ q, k, v, packed, o, gate, up, down, packedMlp, gateAct });
  }
  const headLin = take(at(2 * L, 0));
  const head = one(headLin, 'LM head', L);
  const stray = ix.linears.filter((x) => !placed.has(x));
  if (stray.length > 0) {
    const x = stray[0]!;
    throw ix.unrecognised(`${stray.length} linear layer(s) where a ${arch} decoder has none, e.g. ${describe(x)} after norm ${x.place.norm} at depth ${x.place.depth}`);
  }
  const l0 = layers[0]!;

  // ---- dimensions and counts ----
  const I = l0.packedMlp ? l0.up.outFeatures / 2 : l0.up.outFeatures;
  const readHf = (llamaKey: string, gptKey: string) => num(s.hf[arch === 'gpt2' ? gptKey : llamaKey]) ?? num(s.hf[llamaKey]);
  const stated: [string, number | undefined, number][] = [
    ['hidden size', readHf('hidden_size', 'n_embd') ?? num(s.genaiDecoder.hidden_size), C],
    ['layers', readHf('num_hidden_layers', 'n_layer') ?? num(s.genaiDecoder.num_hidden_layers), L],
    ['vocab size', num(s.hf.vocab_size) ?? num(s.genai.vocab_size), V],
    ['intermediate size', arch === 'gpt2' ? num(s.hf.n_inner) : num(s.hf.intermediate_size), I],
  ];
  for (const [what, said, is] of stated) {
    if (said !== undefined && said !== is) warn('config-disagrees', `the config says ${what} ${said}, the graph's weights say ${is}; using ${is}`);
  }
  if (head.outFeatures !== V) throw ix.unrecognised(`the LM head has ${head.outFeatures} outputs but the token embedding has ${V} rows`);

  // Heads: config, or attributes of the fused attention ops, or the score scale.
  const coreNode = ix.cores.find((c) => c.place.norm === attnAt(0))?.node;
  const attrNum = (n: OnnxNode | undefined, k: string) => (n && typeof n.attrs.get(k) === 'number' && (n.attrs.get(k) as number) > 0 ? (n.attrs.get(k) as number) : undefined);
  const qkvOut = l0.packed ? l0.q.outFeatures : null;
  const scores = coreNode ? scoresOf(ix, coreNode) : {};
  const graphScale = coreNode ? attrNum(coreNode, 'scale') ?? scores.scale : undefined;
  const graphHeads = attrNum(coreNode, 'num_heads');
  const graphKv = attrNum(coreNode, 'kv_num_heads') ?? (coreNode?.opType === 'MultiHeadAttention' || coreNode?.opType === 'Attention' ? graphHeads : undefined);
  const cfgHeads = first(['config.json', readHf('num_attention_heads', 'n_head')], ['genai_config.json', num(s.genaiDecoder.num_attention_heads)]);
  const cfgKv = first(['config.json', arch === 'gpt2' ? undefined : num(s.hf.num_key_value_heads)], ['genai_config.json', num(s.genaiDecoder.num_key_value_heads)]);
  const cfgHs = first(['config.json', num(s.hf.head_dim)], ['genai_config.json', num(s.genaiDecoder.head_size)]);
  let NH: number, NKV: number, HS: number;
  {
    let heads = cfgHeads;
    if (graphHeads !== undefined && heads && heads[0] !== graphHeads) {
      warn('config-disagrees', `the config says ${heads[0]} attention heads, ${coreNode!.opType} says num_heads = ${graphHeads}; using ${graphHeads}`);
      heads = [graphHeads, 'graph'];
    }
    heads ??= graphHeads !== undefined ? [graphHeads, 'graph'] : undefined;
    const fromScale = graphScale ? Math.round(1 / (graphScale * graphScale)) : undefined;
    let hs = cfgHs;
    const qOut = qkvOut === null ? l0.q.outFeatures : undefined;
    if (heads) {
      NH = heads[0];
      provenance.heads = heads[1];
      if (!hs) {
        if (qOut !== undefined) hs = [qOut / NH, 'graph'];
        else if (fromScale) hs = [fromScale, 'graph'];
        else hs = [C / NH, 'default'];
      }
      HS = hs[0];
    } else if (hs || fromScale) {
      HS = hs ? hs[0] : fromScale!;
      if (qOut === undefined) throw new ModelLoadError('config-invalid', 'cannot tell the number of attention heads: no config.json num_attention_heads, and the packed q|k|v projection does not say', {});
      NH = qOut / HS;
      provenance.heads = 'graph';
      hs = hs ?? [HS, 'graph'];
    } else {
      throw new ModelLoadError('config-invalid', `cannot tell the number of attention heads: config.json has no num_attention_heads${arch === 'gpt2' ? ' / n_head' : ''} and the graph's attention carries no num_heads or scale`, {});
    }
    provenance.headDim = hs[1];
    if (arch === 'gpt2') NKV = NH;
    else if (qkvOut !== null) {
      const kv = graphKv ?? cfgKv?.[0];
      NKV = kv ?? (qkvOut / HS - NH) / 2;
      provenance.kvHeads = graphKv !== undefined ? 'graph' : cfgKv?.[1] ?? 'graph';
    } else {
      NKV = l0.k.outFeatures / HS;
      provenance.kvHeads = 'graph';
      if (cfgKv && cfgKv[0] !== NKV) warn('config-disagrees', `the config says ${cfgKv[0]} key/value heads, k_proj's ${l0.k.outFeatures} outputs make ${NKV}; using ${NKV}`);
    }
    // Gemma scales by query_pre_attn_scalar^-0.5, checked below against its config instead.
    if (fromScale && fromScale !== HS && family !== 'gemma2' && family !== 'gemma3') warn('config-disagrees', `the attention scale ${graphScale} implies head size ${fromScale}, not ${HS}`);
  }
  for (const [what, v, field] of [['heads', NH, 'heads'], ['kv heads', NKV, 'kvHeads'], ['head size', HS, 'headDim']] as const) {
    // Say which file the bad count came from, so the user knows what to fix.
    const from = provenance[field] ?? 'graph';
    if (!Number.isInteger(v) || v <= 0) throw new ModelLoadError('config-invalid', `attention ${what} come out as ${v} (from ${from}; q/k/v widths ${l0.q.outFeatures}/${l0.k.outFeatures}/${l0.v.outFeatures}, hidden ${C}); the config's head counts do not fit the weights`, { field, source: from });
  }
  const QD = NH * HS, KVD = NKV * HS;
  if (l0.packed) {
    const want = arch === 'gpt2' ? 3 * C : QD + 2 * KVD;
    if (qkvOut !== want) throw ix.unrecognised(`packed q|k|v projection has ${qkvOut} outputs, ${NH} heads and ${NKV} kv heads of ${HS} need ${want}`);
  }

  // ---- what the family adds to Llama (config.json), checked against the graph ----
  const modelType = family === 'gemma3' ? String(s.hf.model_type ?? 'gemma3_text') : family;
  let features: ReturnType<typeof architectureFromHf> | null = null;
  if (arch === 'llama') {
    try {
      features = architectureFromHf(modelType, s.hf, L, C, HS);
    } catch (e) {
      throw new ModelLoadError('unknown-architecture', (e as Error).message, { architecture: modelType });
    }
    const f = features.fields;
    const graphQk: QkNorm = qkNormOps.length === 0 ? 'none' : qkNormOps.every((n) => n.weight.dims[0] === HS) ? 'head' : 'proj';
    const wantPlacement = f.normPlacement ?? 'pre', wantQk = f.qkNorm ?? 'none';
    if (wantPlacement !== placement) {
      throw ix.unrecognised(`config.json says ${modelType}, whose norms are '${wantPlacement}' (${wantPlacement === 'pre' ? 'before each branch' : wantPlacement === 'sandwich' ? 'before and after each branch' : 'after each branch only'}), but the graph's are '${placement}'`);
    }
    if (wantQk !== graphQk || (graphQk !== 'none' && qkNormOps.length !== 2 * L)) {
      throw ix.unrecognised(`config.json says ${modelType}, whose q/k norms are '${wantQk}', but the graph has ${qkNormOps.length} q/k norm(s)${qkNormOps.length ? ` of ${qkNormOps[0]!.weight.dims[0]} values` : ''} for ${L} layers`);
    }
    const gateActs = new Set(layers.map((x) => x.gateAct));
    if (gateActs.has('gelu')) throw new ModelLoadError('unknown-architecture', 'the gated MLP computes an exact (erf) GELU; only silu (SwiGLU) and the tanh GELU (GeGLU) are supported', { architecture: modelType });
    const graphAct = gateActs.size === 1 && !gateActs.has(null) ? [...gateActs][0] as 'silu' | 'gelu_tanh' : null;
    if (graphAct && graphAct !== f.activation) {
      warn('config-disagrees', `config.json (${modelType}) gates the MLP with ${f.activation}, the graph computes ${graphAct}; using ${graphAct}`);
      f.activation = graphAct;
    }
    provenance.activation = graphAct ? 'graph' : 'config.json';
    // The attention's score scale and soft-cap, where the graph shows them.
    if (f.attentionScale !== undefined && graphScale !== undefined && Math.abs(graphScale - f.attentionScale) > 1e-4 * f.attentionScale) {
      warn('config-disagrees', `config.json's query_pre_attn_scalar gives an attention scale of ${f.attentionScale}, the graph multiplies by ${graphScale}; using ${graphScale}`);
      f.attentionScale = graphScale;
    }
    const capCfg = f.attnSoftcap ?? 0, capGraph = scores.softcap ?? 0;
    if (coreNode?.opType === 'Softmax' && Math.abs(capCfg - capGraph) > 1e-4 * Math.max(capCfg, capGraph)) {
      warn('config-disagrees', `config.json's attn_logit_softcapping is ${capCfg || 'none'}, the graph caps the scores at ${capGraph || 'none'}; using ${capGraph || 'none'}`);
      f.attnSoftcap = capGraph;
    }
    // The token rows' scale (Gemma's sqrt(hidden), rounded to the table's dtype as HF does).
    if (f.embedScale !== undefined) f.embedScale = roundTo(Math.sqrt(C), tokenQuant ? tokenQuant.scales.dtype : tokenTable.dtype);
    const embedGraph = embedScaleOf(ix, tokenTable);
    if ((embedGraph ?? 1) !== (f.embedScale ?? 1) && Math.abs((embedGraph ?? 1) - (f.embedScale ?? 1)) > 1e-6 * (embedGraph ?? 1)) {
      warn('config-disagrees', `config.json (${modelType}) scales the token embedding by ${f.embedScale ?? 1}, the graph by ${embedGraph ?? 1}; using ${embedGraph ?? 1}`);
      f.embedScale = embedGraph ?? undefined;
    }
  }

  // ---- rope ----
  const rot = ix.g.nodes.find((n) => n.opType === 'RotaryEmbedding');
  const gqa = coreNode?.opType === 'GroupQueryAttention' ? coreNode : undefined;
  let ropeTheta = 10000, rotaryDim = HS, ropeInterleaved = false;
  let ropeScaling: RopeScaling | null = null;
  if (arch === 'llama') {
    const rp = obj(s.hf.rope_scaling) ?? obj(s.hf.rope_parameters);
    ropeScaling = features?.rope.scaling ?? null;
    const partial = num(s.hf.partial_rotary_factor) ?? features?.rope.partialRotaryFactor;
    const cosName = rot ? (rot.domain === '' ? rot.inputs[1] : rot.inputs[2]) : gqa?.inputs[7];
    const sinName = rot ? (rot.domain === '' ? rot.inputs[2] : rot.inputs[3]) : gqa?.inputs[8];
    const cosT = cosName ? ix.constOf(cosName) : undefined;
    const sinT = sinName ? ix.constOf(sinName) : undefined;
    const rotAttr = attrNum(rot, 'rotary_embedding_dim');
    if (rotAttr) [rotaryDim, provenance.rotaryDim] = [rotAttr, 'graph'];
    else if (cosT?.dims.length === 2) [rotaryDim, provenance.rotaryDim] = [2 * cosT.dims[1]!, 'graph'];
    else if (partial !== undefined) [rotaryDim, provenance.rotaryDim] = [Math.floor(HS * partial), 'config.json'];
    else provenance.rotaryDim = 'default';
    const inter = rot ? rot.attrs.get('interleaved') : gqa?.attrs.get('rotary_interleaved');
    if (typeof inter === 'number') [ropeInterleaved, provenance.ropeInterleaved] = [inter === 1, 'graph'];
    const thetaCfg = num(s.hf.rope_theta) ?? num(rp?.rope_theta) ?? num(obj(obj(s.hf.rope_parameters)?.full_attention)?.rope_theta);
    let graphTheta: number | null = null;
    let graphFreq: Float64Array | null = null;
    if (cosT && sinT && cosT.dims.length === 2) {
      const [rows, half] = cosT.dims as [number, number];
      graphFreq = invFreqFromCaches(decodeFloats(cosT.dtype, await bytesOf(cosT)), decodeFloats(sinT.dtype, await bytesOf(sinT)), rows, half);
    } else {
      // A constant inverse-frequency vector (R/2 values from 1 down), as plain exports keep it.
      for (const c of [...ix.g.initializers.values(), ...ix.g.constants.values()]) {
        if (c.dims.length !== 1 || c.dims[0] !== rotaryDim / 2 || !['float32', 'float16'].includes(c.dtype)) continue;
        const f = decodeFloats(c.dtype, await bytesOf(c));
        if (Math.abs(f[0]! - 1) < 1e-6 && f.every((x, i) => i === 0 || (x < f[i - 1]! && x > 0))) {
          graphFreq = Float64Array.from(f);
          break;
        }
      }
    }
    // Gemma 3 keeps two tables (local and global layers): the config's two bases are taken as they are.
    if (features?.fields.localRope) graphFreq = null;
    if (graphFreq) {
      graphTheta = thetaFromInvFreq(graphFreq, rotaryDim);
      const plain = graphTheta !== null && Array.from(graphFreq).every((f, i) => Math.abs(f - graphTheta! ** (-(2 * i) / rotaryDim)) <= 2e-3 * f + 1e-7);
      if (!plain && !ropeScaling) warn('rope-scaled', `the graph's rotary frequencies do not follow theta^(-2i/${rotaryDim}) for any theta (rope scaling baked in?); set rope_scaling in config.json`);
    }
    if (thetaCfg !== undefined) {
      [ropeTheta, provenance.ropeTheta] = [thetaCfg, 'config.json'];
      if (graphTheta !== null && !ropeScaling && Math.abs(graphTheta - thetaCfg) > 0.01 * thetaCfg) warn('config-disagrees', `config.json says rope_theta ${thetaCfg}, the graph's rotary tables say ${graphTheta}`);
    } else if (graphTheta !== null) [ropeTheta, provenance.ropeTheta] = [graphTheta, 'graph'];
    else {
      provenance.ropeTheta = 'default';
      warn('rope-theta-default', 'no rope_theta in the config and no rotary table in the graph: assuming 10000');
    }
  }

  // ---- eps ----
  const cfgEps = arch === 'gpt2' ? num(s.hf.layer_norm_epsilon) : num(s.hf.rms_norm_eps);
  const graphEps = norms[0]!.eps;
  let normEps: number;
  if (graphEps !== null) {
    const close = cfgEps !== undefined && Math.abs(cfgEps - graphEps) <= 1e-3 * cfgEps;
    if (cfgEps !== undefined && !close) warn('config-disagrees', `config.json says eps ${cfgEps}, the graph's norms use ${graphEps}; using ${graphEps}`);
    // The graph holds eps as float32: the config's decimal is the same number, written exactly.
    [normEps, provenance.normEps] = close ? [cfgEps!, 'config.json'] : [Number(graphEps.toPrecision(6)), 'graph'];
  } else if (cfgEps !== undefined) [normEps, provenance.normEps] = [cfgEps, 'config.json'];
  else [normEps, provenance.normEps] = [arch === 'gpt2' ? 1e-5 : 1e-6, 'default'];

  // ---- activation ----
  let activation: TransformerConfig['activation'] = features?.fields.activation ?? 'silu';
  if (arch === 'gpt2') {
    const mlpOps = new Set(ix.g.nodes.filter((n) => ix.places.get(n.outputs[0]!)?.norm === 1 && ix.places.get(n.outputs[0]!)?.depth === 1).map((n) => (n.opType === 'Gelu' && n.attrs.get('approximate') === 'tanh' ? 'GeluTanh' : n.opType)));
    const fromGraph = mlpOps.has('FastGelu') || mlpOps.has('Tanh') || mlpOps.has('GeluTanh') ? 'gelu_tanh' : mlpOps.has('Gelu') || mlpOps.has('BiasGelu') || mlpOps.has('Erf') ? 'gelu' : null;
    const cfgAct = typeof s.hf.activation_function === 'string' ? s.hf.activation_function : undefined;
    const fromCfg = cfgAct === undefined ? null : ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'].includes(cfgAct) ? 'gelu_tanh' : cfgAct === 'gelu' ? 'gelu' : 'other';
    if (fromGraph) {
      activation = fromGraph;
      provenance.activation = 'graph';
      if (fromCfg && fromCfg !== fromGraph) warn('config-disagrees', `config.json says activation ${cfgAct}, the graph computes ${fromGraph}`);
    } else if (fromCfg === 'other') {
      throw new ModelLoadError('unknown-architecture', `gpt2 activation "${cfgAct}" is not supported (gelu_new, gelu_pytorch_tanh or gelu)`, { activation: cfgAct });
    } else [activation, provenance.activation] = [fromCfg ?? 'gelu_tanh', fromCfg ? 'config.json' : 'default'];
  }

  // ---- biases the engine does not carry ----
  if (arch === 'llama') {
    const extra = layers.flatMap((x, l) => [[`layer ${l} o_proj`, x.o], [`layer ${l} gate_proj`, x.gate], [`layer ${l} up_proj`, x.up], [`layer ${l} down_proj`, x.down]] as const);
    for (const [what, lin] of [...extra, ['lm_head', head] as const]) {
      if (lin?.bias) throw new ModelLoadError('unknown-architecture', `${what} has a bias ("${lin.bias.name}"); llama-family models here carry biases on q, k and v only`, { tensor: lin.bias.name });
    }
  }
  const qkvBias = arch === 'llama' && layers.some((x) => x.q.bias || x.k.bias || x.v.bias);
  if (qkvBias && layers.some((x) => !x.q.bias || !x.k.bias || !x.v.bias)) throw ix.unrecognised('q/k/v biases on some projections but not all');

  // ---- the final logit soft-cap (Gemma 2), where the graph shows it ----
  if (features) {
    const capCfg = features.fields.finalSoftcap ?? 0, capGraph = finalCapOf(ix, head.out) ?? 0;
    if (Math.abs(capCfg - capGraph) > 1e-4 * Math.max(capCfg, capGraph)) {
      warn('config-disagrees', `config.json's final_logit_softcapping is ${capCfg || 'none'}, the graph caps the logits at ${capGraph || 'none'}; using ${capGraph || 'none'}`);
      features.fields.finalSoftcap = capGraph;
    }
  }

  // ---- tied LM head ----
  // A quantized head and table are told apart (their layouts differ even for equal values).
  const anyQuant = head.quant !== undefined || tokenQuant !== undefined;
  let tied = !anyQuant && head.weight === tokenTable && head.storedInOut === false;
  if (!tied && !anyQuant && head.weight !== tokenTable && head.weight.dtype === tokenTable.dtype) {
    tied = await sameMatrix(head, tokenTable, await bytesOf(head.weight), await bytesOf(tokenTable));
  }
  const cfgTied = typeof s.hf.tie_word_embeddings === 'boolean' ? s.hf.tie_word_embeddings : undefined;
  // GPT-2 ties them, but a quantized file keeps its own quantized head (and the merged export of
  // one its own dequantized head): such a head is kept apart, as for llama.
  if (cfgTied === true && !tied) {
    warn('config-disagrees', anyQuant
      ? `config.json says tie_word_embeddings; this quantized file stores the LM head ("${head.weight.name}") apart from the embedding ("${tokenTable.name}"), so it is kept as a separate lm_head`
      : `config.json says tie_word_embeddings, but the LM head ("${head.weight.name}") differs from the embedding; kept as a separate lm_head`);
  }
  provenance.tiedEmbeddings = 'graph';

  // ---- positions and token ids ----
  let maxPositions: number;
  if (arch === 'gpt2') {
    maxPositions = posTable!.dims[0]!;
    provenance.maxPositions = 'graph';
    const said = num(s.hf.n_positions);
    if (said !== undefined && said !== maxPositions) warn('config-disagrees', `config.json says n_positions ${said}, wpe has ${maxPositions} rows`);
  } else {
    const cosRows = rot ? ix.constOf(rot.domain === '' ? rot.inputs[1]! : rot.inputs[2]!)?.dims[0] : gqa?.inputs[7] ? ix.constOf(gqa.inputs[7])?.dims[0] : undefined;
    const mp = first(['config.json', num(s.hf.max_position_embeddings)], ['genai_config.json', num(s.genai.context_length)], ['graph', cosRows]);
    if (mp) [maxPositions, provenance.maxPositions] = mp;
    else {
      [maxPositions, provenance.maxPositions] = [2048, 'default'];
      warn('max-positions-default', 'no max_position_embeddings in the config: assuming 2048');
    }
  }
  const ids = (v: unknown): number[] | undefined => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : undefined);
  const tokenId = (key: 'bos_token_id' | 'eos_token_id' | 'pad_token_id'): [number[] | undefined, Provenance | undefined] => {
    for (const [p, src] of [['generation_config.json', s.gen], ['config.json', s.hf], ['genai_config.json', s.genai]] as const) {
      const v = ids(src[key]);
      if (v !== undefined) return [v, p];
    }
    return [undefined, undefined];
  };
  const inVocab = (key: string, list: number[] | undefined) => {
    const ok = (list ?? []).filter((x) => Number.isInteger(x) && x >= 0 && x < V);
    const bad = (list ?? []).filter((x) => !ok.includes(x));
    if (bad.length && !(bad.length === 1 && bad[0] === -1)) warn('token-id-out-of-vocab', `${key} ${bad.join(', ')} is outside the model's vocabulary of ${V}; ignored`);
    return ok;
  };
  const [bos, bosP] = tokenId('bos_token_id');
  const [eos, eosP] = tokenId('eos_token_id');
  const [pad, padP] = tokenId('pad_token_id');
  if (bosP) provenance.bosId = bosP;
  if (eosP) provenance.eosIds = eosP;
  if (padP) provenance.padId = padP;

  const { activation: _a, qkvBias: _b, ...variant } = features?.fields ?? {};
  const config: TransformerConfig = {
    arch, vocabSize: V, hidden: C, layers: L, heads: NH, kvHeads: NKV, headDim: HS, intermediate: I, maxPositions,
    normEps, ropeTheta, ropeScaling, ropeInterleaved, rotaryDim, tiedEmbeddings: tied, qkvBias,
    activation, bosId: inVocab('bos_token_id', bos)[0] ?? null, eosIds: inVocab('eos_token_id', eos), padId: inVocab('pad_token_id', pad)[0] ?? null,
    ...variant,
  };
  for (const k of ['vocabSize', 'hidden', 'layers', 'intermediate'] as const) provenance[k] = 'graph';
  try {
    validateConfig(config);
  } catch (e) {
    // "transformer config: maxPositions = 0.5 ...": add the file the value came from.
    const msg = (e as Error).message;
    const field = /^transformer config: (\w+)/.exec(msg)?.[1] as ConfigField | undefined;
    const from = field ? provenance[field] : undefined;
    throw new ModelLoadError('config-invalid', from ? `${msg} (from ${from})` : msg, { ...(field ? { field } : {}), ...(from ? { source: from } : {}) });
  }

  // ---- canonical weights ----
  const weights = new Map<string, CanonicalWeight>();
  const put = (name: string, tensor: OnnxTensor, shape: number[], transposed: boolean, rows?: { start: number; count: number }, quant?: QuantSpec) => {
    const dtype: WeightDType = quant ? (quant.bits === 4 ? 'q4' : 'q8') : weightDType(tensor, name);
    weights.set(name, { name, shape, dtype, source: tensor.name, tensor, transposed, ...(rows ? { rows } : {}), sharedWith: [], ...(quant ? { quant } : {}) });
  };
  const putLinear = (prefix: string, lin: LinearOp, rows?: { start: number; count: number }, withBias = true) => {
    const out = rows ? rows.count : lin.outFeatures;
    put(`${prefix}.weight`, lin.weight, [out, lin.inFeatures], lin.storedInOut, rows, lin.quant);
    weights.get(`${prefix}.weight`)!.reader = lin.node.index;
    if (withBias) {
      const b = lin.bias ?? zeros(`${lin.node.name || lin.weight.name}:bias`, lin.outFeatures, lin.quant ? 'float32' : lin.weight.dtype);
      put(`${prefix}.bias`, b, [out], false, rows);
    }
  };
  // Hugging Face's norm weight is the stored one plus what the graph adds, less what the family's
  // RMSNorm adds itself (Gemma's 1 + w folded into one tensor by the exporter: stored - 1).
  const hfOffset = config.normWeightOffset ?? 0;
  const putNorm = (prefix: string, n: NormOp, withBias: boolean, dim = C) => {
    if (n.weight.dims[0] !== dim) throw ix.unrecognised(`${prefix} ("${n.weight.name}") has ${n.weight.dims[0]} values, ${dim} expected`);
    put(`${prefix}.weight`, n.weight, [dim], false);
    const addend = n.weightOffset - hfOffset;
    if (addend !== 0) weights.get(`${prefix}.weight`)!.addend = addend;
    if (withBias) put(`${prefix}.bias`, n.bias ?? zeros(`${n.node.name}:bias`, dim, n.weight.dtype), [dim], false);
  };
  /** The branch norm whose input is `lin`'s output (a post-norm, or a q/k norm). */
  const normAfter = (list: NormOp[], lin: LinearOp, what: string, l: number): NormOp => {
    const found = list.filter((n) => ix.linearBehind(n.inp) === lin);
    if (found.length !== 1) throw ix.unrecognised(`layer ${l}: expected one ${what} after ${describe(lin)}, found ${found.length}`);
    return found[0]!;
  };
  const gateRows = (x: LayerLinears) => (x.packedMlp ? { gate: { start: 0, count: I }, up: { start: I, count: I } } : { gate: undefined, up: undefined });
  const parts = (x: LayerLinears) => (x.packed
    ? { q: { start: 0, count: QD }, k: { start: QD, count: KVD }, v: { start: QD + KVD, count: KVD } }
    : { q: undefined, k: undefined, v: undefined });
  if (arch === 'llama') {
    put('model.embed_tokens.weight', tokenTable, [V, C], false, undefined, tokenQuant);
    layers.forEach((x, l) => {
      const p = `model.layers.${l}.`;
      const r = parts(x);
      const g = gateRows(x);
      // HF names by placement: Llama's post_attention_layernorm is the pre-MLP norm, Gemma's and
      // OLMo 2's the norm on the attention output.
      if (placement === 'pre') {
        putNorm(`${p}input_layernorm`, norms[attnAt(l)]!, false);
        putNorm(`${p}post_attention_layernorm`, norms[mlpAt(l)]!, false);
      } else if (placement === 'sandwich') {
        putNorm(`${p}input_layernorm`, norms[attnAt(l)]!, false);
        putNorm(`${p}post_attention_layernorm`, normAfter(postNormOps, x.o, 'post-attention norm', l), false);
        putNorm(`${p}pre_feedforward_layernorm`, norms[mlpAt(l)]!, false);
        putNorm(`${p}post_feedforward_layernorm`, normAfter(postNormOps, x.down, 'post-feedforward norm', l), false);
      } else {
        putNorm(`${p}post_attention_layernorm`, normAfter(postNormOps, x.o, 'post-attention norm', l), false);
        putNorm(`${p}post_feedforward_layernorm`, normAfter(postNormOps, x.down, 'post-feedforward norm', l), false);
      }
      if (config.qkNorm && config.qkNorm !== 'none') {
        const head = config.qkNorm === 'head';
        putNorm(`${p}self_attn.q_norm`, normAfter(qkNormOps, x.q, 'q_norm', l), false, head ? HS : QD);
        putNorm(`${p}self_attn.k_norm`, normAfter(qkNormOps, x.k, 'k_norm', l), false, head ? HS : KVD);
      }
      putLinear(`${p}self_attn.q_proj`, x.q, r.q, qkvBias);
      putLinear(`${p}self_attn.k_proj`, x.k, r.k, qkvBias);
      putLinear(`${p}self_attn.v_proj`, x.v, r.v, qkvBias);
      putLinear(`${p}self_attn.o_proj`, x.o, undefined, false);
      putLinear(`${p}mlp.gate_proj`, x.gate!, g.gate, false);
      putLinear(`${p}mlp.up_proj`, x.up, g.up, false);
      putLinear(`${p}mlp.down_proj`, x.down, undefined, false);
    });
    putNorm('model.norm', norms[2 * L]!, false);
    if (!tied) putLinear('lm_head', head, undefined, false);
  } else {
    put('transformer.wte.weight', tokenTable, [V, C], false, undefined, tokenQuant);
    put('transformer.wpe.weight', posTable!, [maxPositions, C], false);
    layers.forEach((x, l) => {
      const p = `transformer.h.${l}.`;
      const r = parts(x);
      putNorm(`${p}ln_1`, norms[2 * l]!, true);
      putLinear(`${p}attn.q_proj`, x.q, r.q);
      putLinear(`${p}attn.k_proj`, x.k, r.k);
      putLinear(`${p}attn.v_proj`, x.v, r.v);
      putLinear(`${p}attn.c_proj`, x.o);
      putNorm(`${p}ln_2`, norms[2 * l + 1]!, true);
      putLinear(`${p}mlp.c_fc`, x.up);
      putLinear(`${p}mlp.c_proj`, x.down);
    });
    putNorm('transformer.ln_f', norms[2 * L]!, true);
    if (!tied) putLinear('lm_head', head, undefined, false);
  }
  // Shared stored tensors (whole-tensor sharing; the parts of a packed q|k|v are not "shared").
  const bySource = new Map<OnnxTensor, CanonicalWeight[]>();
  for (const w of weights.values()) {
    if (w.rows) continue;
    const list = bySource.get(w.tensor) ?? [];
    list.push(w);
    bySource.set(w.tensor, list);
  }
  for (const list of bySource.values()) if (list.length > 1) for (const w of list) w.sharedWith = list.filter((x) => x !== w).map((x) => x.name);
  const expected = expectedWeightShapes(config);
  for (const [name, shape] of expected) {
    const w = weights.get(name);
    if (!w) throw ix.unrecognised(`no weight found for ${name}`);
    if (w.shape.join() !== shape.join()) throw ix.unrecognised(`${name} ("${w.source}") has shape [${w.shape.join(', ')}], the config needs [${shape.join(', ')}]`);
  }

  // ---- summary ----
  const ops: Record<string, number> = {};
  for (const n of g.nodes) {
    const k = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    ops[k] = (ops[k] ?? 0) + 1;
  }
  const graph: GraphSummary = {
    file: g.file,
    producer: g.producer,
    opsets: Object.fromEntries(g.opsets),
    nodes: g.nodes.length,
    ops,
    inputs: g.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: i.shape })),
    outputs: g.outputs.map((o) => ({ name: o.name, dtype: o.dtype, shape: o.shape })),
    style: { norm: norms[1]!.op, attention: coreNode ? `${coreNode.domain ? `${coreNode.domain}.` : ''}${coreNode.opType}` : 'none found' },
  };
  return { arch, family, config, weights, provenance, warnings, graph };
}

/** A zero bias for an op that has none (LayerNormalization without B, a linear without bias). */
function zeros(name: string, n: number, dtype: OnnxTensor['dtype']): OnnxTensor {
  const size = dtype === 'float32' ? 4 : 2;
  return { name: `(zeros) ${name}`, dtype: dtype === 'float64' ? 'float32' : dtype, dims: [n], bytes: new Uint8Array(n * size) };
}

/** Whether the LM head's weight holds exactly the embedding table (in HF layout terms). */
async function sameMatrix(head: LinearOp, table: OnnxTensor, hb: Uint8Array, tb: Uint8Array): Promise<boolean> {
  const [V, C] = table.dims as [number, number];
  if (head.outFeatures !== V || head.inFeatures !== C || hb.byteLength !== tb.byteLength) return false;
  const size = table.dtype === 'float32' ? 4 : 2;
  if (!head.storedInOut) {
    for (let i = 0; i < hb.length; i++) if (hb[i] !== tb[i]) return false;
    return true;
  }
  // head stored [C, V]: head[c, v] == table[v, c], compared element by element as bytes.
  for (let v = 0; v < V; v++) {
    for (let c = 0; c < C; c++) {
      const a = (c * V + v) * size, b = (v * C + c) * size;
      for (let k = 0; k < size; k++) if (hb[a + k] !== tb[b + k]) return false;
    }
  }
  return true;
}

/**
 * The score scale and soft-cap of a decomposed attention, from the scalar Mul / Div and Tanh
 * between the scores MatMul and the Softmax: s·x (scale), or cap·tanh(s·x / cap) (Gemma 2's
 * attn_logit_softcapping).
 */
function scoresOf(ix: GraphIndex, softmax: OnnxNode): { scale?: number; softcap?: number } {
  if (softmax.opType !== 'Softmax') return {};
  const steps: ({ op: 'mul'; v: number } | { op: 'tanh' })[] = [];
  const reachesMatMul = (t: string, budget: number): boolean => {
    const n = ix.producer.get(t)?.node;
    if (!n || budget <= 0) return false;
    return n.opType === 'MatMul' || n.inputs.some((x) => x && !ix.isConst(x) && reachesMatMul(x, budget - 1));
  };
  let t = softmax.inputs[0]!;
  for (let hops = 0; hops < 12; hops++) {
    const n = ix.producer.get(t)?.node;
    if (!n || n.opType === 'MatMul') break;
    if (n.opType === 'Div' || n.opType === 'Mul') {
      const c = ix.isConst(n.inputs[1]!) ? n.inputs[1]! : ix.isConst(n.inputs[0]!) ? n.inputs[0]! : null;
      const v = c ? ix.constFloats(c) : null;
      if (v && v.length === 1 && v[0]! > 0) steps.push({ op: 'mul', v: n.opType === 'Div' && c === n.inputs[1] ? 1 / v[0]! : v[0]! });
    } else if (n.opType === 'Tanh') steps.push({ op: 'tanh' });
    // Masks join through Add / Where: follow the operand the scores come through.
    const data = n.inputs.filter((x) => x && !ix.isConst(x) && !ix.graphInputs.has(x));
    t = data.find((x) => reachesMatMul(x, 6)) ?? data[0] ?? '';
    if (!t) break;
  }
  const product = (xs: typeof steps) => xs.reduce((p, x) => (x.op === 'mul' ? p * x.v : p), 1);
  const ti = steps.findIndex((x) => x.op === 'tanh');
  if (ti < 0) return steps.length ? { scale: product(steps) } : {};
  const cap = product(steps.slice(0, ti));
  return { scale: product(steps.slice(ti + 1)) * cap, softcap: cap };
}

/** The scalar the token embedding's rows are multiplied by right after the gather (Gemma), if any. */
function embedScaleOf(ix: GraphIndex, table: OnnxTensor): number | undefined {
  const gather = ix.embeddings.find((e) => e.table === table)?.node;
  if (!gather) return undefined;
  let t = gather.outputs[0]!;
  for (let hops = 0; hops < 3; hops++) {
    const cs = ix.consumers.get(t) ?? [];
    if (cs.length !== 1) return undefined;
    const n = cs[0]!.node;
    if (n.opType === 'Cast' || n.opType === 'Identity') {
      t = n.outputs[0]!;
      continue;
    }
    if (n.opType !== 'Mul') return undefined;
    const other = n.inputs[0] === t ? n.inputs[1]! : n.inputs[0]!;
    const v = ix.constFloats(other);
    return v && v.length === 1 ? v[0]! : undefined;
  }
  return undefined;
}

/** c of logits -> c·tanh(logits / c) right after the LM head (Gemma 2's final_logit_softcapping). */
function finalCapOf(ix: GraphIndex, headOut: string): number | undefined {
  const only = (t: string) => {
    const cs = ix.consumers.get(t) ?? [];
    return cs.length === 1 ? cs[0]!.node : undefined;
  };
  const scalar = (n: OnnxNode, t: string) => {
    const other = n.inputs[0] === t ? n.inputs[1]! : n.inputs[0]!;
    const v = ix.constFloats(other);
    return v && v.length === 1 ? v[0]! : undefined;
  };
  const first = only(headOut);
  if (!first || (first.opType !== 'Div' && first.opType !== 'Mul')) return undefined;
  const inner = scalar(first, headOut);
  const tanh = only(first.outputs[0]!);
  if (inner === undefined || tanh?.opType !== 'Tanh') return undefined;
  const last = only(tanh.outputs[0]!);
  const cap = last && last.opType === 'Mul' ? scalar(last, tanh.outputs[0]!) : undefined;
  if (cap === undefined) return undefined;
  const innerCap = first.opType === 'Div' ? inner : 1 / inner;
  return Math.abs(innerCap - cap) <= 1e-4 * cap ? cap : undefined;
}

/** x rounded to a weight dtype (HF casts Gemma's sqrt(hidden) to the embedding's dtype). */
function roundTo(x: number, dtype: OnnxTensor['dtype']): number {
  if (dtype === 'float16') return f16BitsToF32(f32ToF16Bits(x));
  if (dtype === 'bfloat16') {
    const b = new Uint32Array(Float32Array.of(x).buffer)[0]!;
    return new Float32Array(Uint32Array.of(((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16).buffer)[0]!;
  }
  return Math.fround(x);
}
