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

import type { TransformerConfig } from '../transformer/config.js';
import { expectedWeightShapes, validateConfig } from '../transformer/config.js';
import type { RopeScaling } from '../kernels/rope.js';
import { ModelLoadError, type ModelWarning } from './errors.js';
import type { GraphIndex, LinearOp, NormOp } from './graph.js';
import { decodeFloats, type OnnxNode, type OnnxTensor } from './onnx.js';

export type WeightDType = 'f32' | 'f16' | 'bf16';

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
}

export type Family = 'llama' | 'mistral' | 'qwen2' | 'gpt2';
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
  llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', gpt2: 'gpt2',
  LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2', GPT2LMHeadModel: 'gpt2',
};

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
    throw new ModelLoadError('unknown-architecture', `unknown architecture "${declared}" (from ${s.hf.model_type ? 'config.json model_type' : s.genai.type ? 'genai_config.json model.type' : 'config.json'}): supported are llama, mistral, qwen2 (Llama-shaped decoders) and gpt2`, { architecture: declared });
  }

  // ---- structure ----
  const norms = ix.norms;
  if (norms.length < 3 || norms.length % 2 === 0) {
    throw ix.unrecognised(`found ${norms.length} normalization layer(s); a decoder of L layers has 2L + 1 (two per layer and a final one)`);
  }
  const L = (norms.length - 1) / 2;
  const kinds = new Set(norms.map((n) => n.kind));
  if (kinds.size !== 1) throw ix.unrecognised('mixes RMSNorm and LayerNorm');
  const arch: 'llama' | 'gpt2' = kinds.has('rms') ? 'llama' : 'gpt2';
  const family: Family = declared ? FAMILIES[declared]! : arch;
  if ((family === 'gpt2') !== (arch === 'gpt2')) {
    throw new ModelLoadError('unknown-architecture', `the config declares ${declared}, but the graph uses ${arch === 'llama' ? 'RMSNorm (a llama-style decoder)' : 'LayerNorm (a gpt2-style decoder)'}`, { architecture: declared });
  }
  if (!declared) warn('no-config', `no config.json or genai_config.json model type: architecture ${arch} inferred from the graph`);

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
  if (!tokenTable) {
    const byIds = ix.embeddings.filter((e) => /input_ids|^ids$|tokens/.test(fromInput(e.indices) ?? ''));
    const tok = byIds[0] ?? [...ix.embeddings].sort((a, b) => b.table.dims[0]! - a.table.dims[0]!)[0];
    if (!tok) throw ix.unrecognised('no token embedding: no Gather reads rows of a 2-D weight by the input ids');
    tokenTable = tok.table;
    if (arch === 'gpt2') {
      const pos = ix.embeddings.find((e) => e.table !== tokenTable && e.table.dims[1] === tokenTable!.dims[1]);
      posTable = pos?.table ?? null;
    }
  }
  const [V, C] = tokenTable.dims as [number, number];
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
  }
  const layers: LayerLinears[] = [];
  for (let l = 0; l < L; l++) {
    const n1 = 2 * l, n2 = 2 * l + 1;
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
    if (arch === 'llama') {
      if (mlpIn.length === 1) throw ix.unrecognised(`layer ${l}: one MLP input projection (${describe(mlpIn[0]!)}); a packed gate_up projection is not supported`);
      if (mlpIn.length !== 2) throw ix.unrecognised(`layer ${l}: expected gate and up projections, found ${mlpIn.length}`);
      const sig = mlpIn.filter((x) => ix.feedsOp(x.out, ['Sigmoid']));
      if (sig.length === 1) {
        gate = sig[0]!;
        up = mlpIn.find((x) => x !== gate)!;
      } else {
        const act = mlpIn.some((x) => ix.feedsOp(x.out, ['Gelu', 'FastGelu', 'Erf', 'Tanh', 'BiasGelu']));
        if (act) throw new ModelLoadError('unknown-architecture', `layer ${l}: gated MLP with a GELU activation (Gemma-style); only SiLU-gated llama MLPs are supported`, {});
        [gate, up] = mlpIn as [LinearOp, LinearOp];
        warn('gate-by-order', `layer ${l}: no Sigmoid after either MLP projection; gate and up taken in graph order`);
      }
    } else up = one(mlpIn, 'MLP input (c_fc)', l);
    layers.push({ q, k, v, packed, o, gate, up, down });
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
  const I = l0.up.outFeatures;
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
  const coreNode = ix.cores.find((c) => c.place.norm === 0)?.node;
  const attrNum = (n: OnnxNode | undefined, k: string) => (n && typeof n.attrs.get(k) === 'number' && (n.attrs.get(k) as number) > 0 ? (n.attrs.get(k) as number) : undefined);
  const qkvOut = l0.packed ? l0.q.outFeatures : null;
  const graphScale = coreNode ? attrNum(coreNode, 'scale') ?? scaleOf(ix, coreNode) : undefined;
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
    if (fromScale && fromScale !== HS) warn('config-disagrees', `the attention scale ${graphScale} implies head size ${fromScale}, not ${HS}`);
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

  // ---- rope ----
  const rot = ix.g.nodes.find((n) => n.opType === 'RotaryEmbedding');
  const gqa = coreNode?.opType === 'GroupQueryAttention' ? coreNode : undefined;
  let ropeTheta = 10000, rotaryDim = HS, ropeInterleaved = false;
  let ropeScaling: RopeScaling | null = null;
  if (arch === 'llama') {
    const rp = obj(s.hf.rope_scaling) ?? obj(s.hf.rope_parameters);
    const type = rp ? String(rp.rope_type ?? rp.type ?? 'default') : 'default';
    if (rp && type !== 'default') ropeScaling = rp as RopeScaling;
    const partial = num(s.hf.partial_rotary_factor) ?? num(rp?.partial_rotary_factor);
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
    const thetaCfg = num(s.hf.rope_theta) ?? num(rp?.rope_theta);
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
  let activation: TransformerConfig['activation'] = 'silu';
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

  // ---- tied LM head ----
  let tied = head.weight === tokenTable && head.storedInOut === false;
  if (!tied && head.weight !== tokenTable && head.weight.dtype === tokenTable.dtype) {
    tied = await sameMatrix(head, tokenTable, await bytesOf(head.weight), await bytesOf(tokenTable));
  }
  const cfgTied = typeof s.hf.tie_word_embeddings === 'boolean' ? s.hf.tie_word_embeddings : undefined;
  if (arch === 'gpt2' && !tied) throw ix.unrecognised(`gpt2: the LM head ("${head.weight.name}") differs from the token embedding ("${tokenTable.name}"); gpt2 ties them`);
  if (cfgTied === true && !tied) warn('config-disagrees', `config.json says tie_word_embeddings, but the LM head ("${head.weight.name}") differs from the embedding; kept as a separate lm_head`);
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

  const config: TransformerConfig = {
    arch, vocabSize: V, hidden: C, layers: L, heads: NH, kvHeads: NKV, headDim: HS, intermediate: I, maxPositions,
    normEps, ropeTheta, ropeScaling, ropeInterleaved, rotaryDim, tiedEmbeddings: tied, qkvBias,
    activation, bosId: inVocab('bos_token_id', bos)[0] ?? null, eosIds: inVocab('eos_token_id', eos), padId: inVocab('pad_token_id', pad)[0] ?? null,
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
  if (family === 'mistral' && typeof s.hf.sliding_window === 'number' && s.hf.sliding_window < maxPositions) {
    warn('sliding-window', `mistral sliding_window ${s.hf.sliding_window} is not applied: attention sees every earlier token (exact up to ${s.hf.sliding_window} tokens)`);
  }

  // ---- canonical weights ----
  const weights = new Map<string, CanonicalWeight>();
  const put = (name: string, tensor: OnnxTensor, shape: number[], transposed: boolean, rows?: { start: number; count: number }) => {
    weights.set(name, { name, shape, dtype: weightDType(tensor, name), source: tensor.name, tensor, transposed, ...(rows ? { rows } : {}), sharedWith: [] });
  };
  const putLinear = (prefix: string, lin: LinearOp, rows?: { start: number; count: number }, withBias = true) => {
    const out = rows ? rows.count : lin.outFeatures;
    put(`${prefix}.weight`, lin.weight, [out, lin.inFeatures], lin.storedInOut, rows);
    if (withBias) {
      const b = lin.bias ?? zeros(`${lin.node.name || lin.weight.name}:bias`, lin.outFeatures, lin.weight.dtype);
      put(`${prefix}.bias`, b, [out], false, rows);
    }
  };
  const putNorm = (prefix: string, n: NormOp, withBias: boolean) => {
    put(`${prefix}.weight`, n.weight, [C], false);
    if (withBias) put(`${prefix}.bias`, n.bias ?? zeros(`${n.node.name}:bias`, C, n.weight.dtype), [C], false);
  };
  const parts = (x: LayerLinears) => (x.packed
    ? { q: { start: 0, count: QD }, k: { start: QD, count: KVD }, v: { start: QD + KVD, count: KVD } }
    : { q: undefined, k: undefined, v: undefined });
  if (arch === 'llama') {
    put('model.embed_tokens.weight', tokenTable, [V, C], false);
    layers.forEach((x, l) => {
      const p = `model.layers.${l}.`;
      const r = parts(x);
      putNorm(`${p}input_layernorm`, norms[2 * l]!, false);
      putLinear(`${p}self_attn.q_proj`, x.q, r.q, qkvBias);
      putLinear(`${p}self_attn.k_proj`, x.k, r.k, qkvBias);
      putLinear(`${p}self_attn.v_proj`, x.v, r.v, qkvBias);
      putLinear(`${p}self_attn.o_proj`, x.o, undefined, false);
      putNorm(`${p}post_attention_layernorm`, norms[2 * l + 1]!, false);
      putLinear(`${p}mlp.gate_proj`, x.gate!, undefined, false);
      putLinear(`${p}mlp.up_proj`, x.up, undefined, false);
      putLinear(`${p}mlp.down_proj`, x.down, undefined, false);
    });
    putNorm('model.norm', norms[2 * L]!, false);
    if (!tied) putLinear('lm_head', head, undefined, false);
  } else {
    put('transformer.wte.weight', tokenTable, [V, C], false);
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

/** The score scale of a decomposed attention: Div or Mul by a scalar between the scores and Softmax. */
function scaleOf(ix: GraphIndex, softmax: OnnxNode): number | undefined {
  if (softmax.opType !== 'Softmax') return undefined;
  let t = softmax.inputs[0]!;
  for (let hops = 0; hops < 8; hops++) {
    const n = ix.producer.get(t)?.node;
    if (!n || n.opType === 'MatMul') return undefined;
    if (n.opType === 'Div' || n.opType === 'Mul') {
      const c = ix.isConst(n.inputs[1]!) ? n.inputs[1]! : ix.isConst(n.inputs[0]!) ? n.inputs[0]! : null;
      const v = c ? ix.constFloats(c) : null;
      if (v && v.length === 1 && v[0]! > 0) return n.opType === 'Div' ? 1 / v[0]! : v[0]!;
    }
    t = n.inputs.find((x) => x && !ix.isConst(x) && !ix.graphInputs.has(x)) ?? '';
    if (!t) return undefined;
  }
  return undefined;
}
