// Graph tracing: finds the pieces of a decoder in an ONNX graph by how nodes consume tensors, not
// by what the exporter named them.
//
//   linears     MatMul / Gemm with a weight (an initializer or Constant, possibly through
//               Transpose / Cast), with the bias of a following Add; com.microsoft Attention's
//               packed q|k|v weight; biases folded into FastGelu / BiasGelu / Skip*LayerNorm are
//               given back to the linear that produced their input
//   norms       LayerNormalization, SimplifiedLayerNormalization, com.microsoft
//               (Skip)(Simplified)LayerNormalization, EmbedLayerNormalization, and the decomposed
//               forms: RMSNorm  w · x / sqrt(mean(x²) + eps)   (Pow|Mul, ReduceMean, Add, Sqrt,
//               Div|Reciprocal·Mul, Mul) and LayerNorm  w · (x − mean) / sqrt(var + eps) + b
//   embeddings  Gather rows of a 2-D weight by a non-constant index tensor
//   attention   MultiHeadAttention, GroupQueryAttention, Attention, or a Softmax between two
//               activation × activation MatMuls
//
// Then one pass in graph order gives every tensor a place: the latest norm it descends from and
// how many linears lie between (`depth`). A decoder layer is two norms: linears at depth 0 after
// the first norm are q, k, v; at depth 1, o; after the second, gate/up (or c_fc) then down (or
// c_proj); after the final norm, the LM head. Weights shared by several nodes (de-duplicated by
// the exporter) are simply found more than once.
//
// Norms that sit inside a branch (their input is a linear's output) do not start a place of their
// own: q/k norms (Qwen3, Gemma 3, OLMo 2: they feed the attention's query or key) and post-norms
// (Gemma's post_attention / post_feedforward_layernorm on a branch output before the residual
// add). Only when a graph has no other norm in its layers (OLMo 2 normalizes branch outputs only)
// do its post-norms start places (recognize.ts calls assignPlaces with the norms that do).

import { ModelLoadError } from './errors.js';
import { decodeFloats, decodeInts, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx.js';
import { dequantizeLinearSpec, gatherBlockQuantizedSpec, matMulIntegerSpec, matMulNBitsSpec, type QuantSpec } from './quantized.js';

// ---- which operators we know ----

/** Standard-domain ops a decoder export uses around its weights (shape plumbing, masks, math). */
const STANDARD_OPS = new Set([
  'Abs', 'Add', 'And', 'ArgMax', 'Cast', 'CastLike', 'Ceil', 'Clip', 'Concat', 'Constant', 'ConstantOfShape', 'Cos', 'CumSum',
  'Div', 'Dropout', 'Einsum', 'Equal', 'Erf', 'Exp', 'Expand', 'Flatten', 'Floor', 'Gather', 'GatherElements', 'GatherND',
  'Gelu', 'Gemm', 'Greater', 'GreaterOrEqual', 'Identity', 'IsInf', 'IsNaN', 'LayerNormalization', 'Less', 'LessOrEqual',
  'Log', 'LogSoftmax', 'MatMul', 'Max', 'Mean', 'Min', 'Mod', 'Mul', 'Neg', 'NonZero', 'Not', 'Or', 'Pow', 'Range',
  'Reciprocal', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceSum', 'Relu', 'Reshape', 'Round', 'ScatterElements',
  'ScatterND', 'Shape', 'Sigmoid', 'Sign', 'SimplifiedLayerNormalization', 'Sin', 'Size', 'Slice', 'Softmax', 'Split',
  'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tanh', 'Tile', 'TopK', 'Transpose', 'Trilu', 'Unsqueeze', 'Where', 'Xor',
  'RMSNormalization', 'RotaryEmbedding', 'Attention',
]);

/** com.microsoft fused ops we can read the weights and facts of. */
const MICROSOFT_OPS = new Set([
  'MultiHeadAttention', 'GroupQueryAttention', 'Attention', 'RotaryEmbedding', 'SkipSimplifiedLayerNormalization',
  'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'LayerNormalization', 'EmbedLayerNormalization', 'FastGelu',
  'BiasGelu', 'Gelu', 'BiasAdd', 'FusedMatMul',
  // Quantized linears and embeddings, kept packed (QLoRA bases): src/engine/model/quantized.ts.
  'MatMulNBits', 'GatherBlockQuantized',
]);

/** com.microsoft quantized ops the engine reads (checked in quantized.ts rather than refused here). */
const READ_QUANTIZED = new Set(['MatMulNBits', 'GatherBlockQuantized']);

/** Ops that mean quantized weights. */
const QUANTIZED_OPS = new Set([
  'DequantizeLinear', 'QuantizeLinear', 'DynamicQuantizeLinear', 'MatMulInteger', 'QLinearMatMul', 'MatMulNBits',
  'MatMulBnb4', 'MatMulFpQ4', 'GatherBlockQuantized', 'QAttention', 'QGemm', 'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat', 'QOrderedMatMul', 'QOrderedAttention',
]);

const SUBGRAPH_OPS = new Set(['If', 'Loop', 'Scan']);

/** Ops whose output is a shape or size, not data: a data-flow walk stops at them. */
const SHAPE_OPS = new Set(['Shape', 'Size', 'ConstantOfShape', 'Range']);
/** Ops whose data is input 0, the other inputs being shapes, indices or axes. */
const DATA_FIRST_OPS = new Set(['Reshape', 'Expand', 'Slice', 'Tile', 'Unsqueeze', 'Squeeze', 'Gather', 'Split', 'Transpose', 'Cast', 'Identity', 'Flatten']);

const opLabel = (n: OnnxNode) => `${n.domain ? `${n.domain}.` : ''}${n.opType}`;
const nodeLabel = (n: OnnxNode) => `"${n.name || `#${n.index}`}"`;

export const QUANTIZED_ADVICE =
  'this engine reads 4- and 8-bit block-quantized weights (com.microsoft MatMulNBits and GatherBlockQuantized: ' +
  'onnx/model_q4.onnx, model_q4f16.onnx), int8 weights behind a DequantizeLinear or read by MatMulInteger after a ' +
  'DynamicQuantizeLinear (model_int8.onnx, model_uint8.onnx), not this form. Use one of those, or the fp32 or fp16 export instead ' +
  '(model.onnx or onnx/model_fp16.onnx from the same repository), or export one with ' +
  '`optimum-cli export onnx --model <model-id> --dtype fp32 <dir>` (or --dtype fp16)';

/**
 * A DequantizeLinear of a constant whose every reader is a MatMul's weight (a QDQ export's
 * int8 linear): read as a quantized linear (quantized.ts), not refused.
 */
function isWeightDequantize(g: OnnxGraph, n: OnnxNode, readers: Map<string, { node: OnnxNode; slot: number }[]>): boolean {
  if (n.opType !== 'DequantizeLinear' || n.domain !== '' || !(g.initializers.has(n.inputs[0] ?? '') || g.constants.has(n.inputs[0] ?? ''))) return false;
  const rs = readers.get(n.outputs[0] ?? '') ?? [];
  return rs.length > 0 && rs.every((r) => r.node.opType === 'MatMul' && r.node.domain === '' && r.slot === 1);
}

type Readers = Map<string, { node: OnnxNode; slot: number }[]>;

/**
 * onnxruntime's quantize_dynamic linear: (x_q, x_scale, x_zp) = DynamicQuantizeLinear(x);
 * y = Cast(MatMulInteger(x_q, w, x_zp, w_zp)) · Mul(x_scale, w_scale). Its parts, or null.
 */
export function integerLinear(n: OnnxNode, producer: (t: string) => OnnxNode | undefined, readers: Readers, isConst: (t: string) => boolean):
  { dynamic: OnnxNode; x: string; out: string; wScale: string; cast: OnnxNode; mul: OnnxNode; scaleMul: OnnxNode } | null {
  if (n.opType !== 'MatMulInteger' || n.domain !== '') return null;
  const d = producer(n.inputs[0] ?? '');
  if (!d || d.opType !== 'DynamicQuantizeLinear' || d.domain !== '' || (n.inputs[2] && n.inputs[2] !== d.outputs[2]) || !isConst(n.inputs[1] ?? '')) return null;
  const cs = readers.get(n.outputs[0] ?? '') ?? [];
  const cast = cs.length === 1 ? cs[0]!.node : undefined;
  if (!cast || cast.opType !== 'Cast') return null;
  const ms = readers.get(cast.outputs[0] ?? '') ?? [];
  const mul = ms.length === 1 ? ms[0]!.node : undefined;
  if (!mul || mul.opType !== 'Mul') return null;
  const scaleMul = producer(mul.inputs[0] === cast.outputs[0] ? mul.inputs[1]! : mul.inputs[0]!);
  if (!scaleMul || scaleMul.opType !== 'Mul') return null;
  const [a, b] = scaleMul.inputs as [string, string];
  const wScale = a === d.outputs[1] ? b : b === d.outputs[1] ? a : null;
  if (!wScale || !isConst(wScale)) return null;
  return { dynamic: d, x: d.inputs[0]!, out: mul.outputs[0]!, wScale, cast, mul, scaleMul };
}

/** Throws on quantized, subgraph-carrying or unknown operators, naming the first node of each. */
export function checkOps(g: OnnxGraph): void {
  const readers = new Map<string, { node: OnnxNode; slot: number }[]>();
  for (const n of g.nodes) {
    n.inputs.forEach((t, slot) => {
      if (!t) return;
      const list = readers.get(t) ?? [];
      list.push({ node: n, slot });
      readers.set(t, list);
    });
  }
  // The MatMulInteger linears (and their DynamicQuantizeLinear) are read, not refused.
  const producer = new Map<string, OnnxNode>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const isConst = (t: string) => g.initializers.has(t) || g.constants.has(t);
  const integer = new Set<OnnxNode>();
  for (const n of g.nodes) {
    const c = integerLinear(n, (t) => producer.get(t), readers, isConst);
    if (c) integer.add(n).add(c.dynamic);
  }
  for (const n of g.nodes) {
    const ms = n.domain === 'com.microsoft';
    if (isWeightDequantize(g, n, readers) || integer.has(n)) continue;
    if (QUANTIZED_OPS.has(n.opType) && !(ms && READ_QUANTIZED.has(n.opType))) {
      throw new ModelLoadError('quantized', `${g.file} is a quantized export (node ${nodeLabel(n)} is ${opLabel(n)}): ${QUANTIZED_ADVICE}`, { file: g.file, op: opLabel(n), node: n.name });
    }
    if (SUBGRAPH_OPS.has(n.opType) && n.domain === '') {
      throw new ModelLoadError('unknown-op', `${g.file}: node ${nodeLabel(n)} is ${n.opType}, whose subgraphs this loader does not trace` +
        (/merged/.test(g.file) ? ' (decoder_model_merged.onnx switches its KV-cache branch with If: load decoder_model.onnx or model.onnx instead)' : ''), { file: g.file, op: n.opType, node: n.name });
    }
    const known = n.domain === '' || n.domain === 'ai.onnx' ? STANDARD_OPS.has(n.opType) : ms ? MICROSOFT_OPS.has(n.opType) : false;
    if (!known) {
      throw new ModelLoadError('unknown-op', `${g.file}: node ${nodeLabel(n)} uses the operator ${opLabel(n)}, which this loader does not recognise ` +
        '(it reads llama and gpt2 decoders built from standard ONNX ops and the com.microsoft fused attention, rotary, norm and gelu ops)', { file: g.file, op: opLabel(n), node: n.name });
    }
  }
}

// ---- the index ----

export interface Place {
  /** Index of the latest norm the tensor descends from; -1 before the first. */
  norm: number;
  /** Linears between that norm's output and the tensor. */
  depth: number;
}

export interface LinearOp {
  node: OnnxNode;
  /** attention: com.microsoft Attention's packed q|k|v projection. */
  kind: 'matmul' | 'gemm' | 'attention';
  /** Activation input. */
  x: string;
  weight: OnnxTensor;
  /** The stored weight is [in, out] (x · W, as MatMul and HF Conv1D), else [out, in] (nn.Linear). */
  storedInOut: boolean;
  inFeatures: number;
  outFeatures: number;
  bias: OnnxTensor | null;
  /** Output tensor, after the bias Add when there is one. */
  out: string;
  place: Place;
  /** MatMulNBits: the weight is block-quantized (`weight` is its packed B). */
  quant?: QuantSpec;
}

export interface NormOp {
  kind: 'rms' | 'layer';
  /** 'decomposed' or the fused op's name. */
  op: string;
  /** The node producing the normalized output. */
  node: OnnxNode;
  out: string;
  /** The normalized input tensor ('' for fused Skip* and EmbedLayerNormalization: a residual sum). */
  inp: string;
  weight: OnnxTensor;
  /** A scalar the graph adds to the weight before the product (Gemma's 1 + w unfolded); 0 when none. */
  weightOffset: number;
  bias: OnnxTensor | null;
  eps: number | null;
  /** EmbedLayerNormalization: the embedding tables it gathers from. */
  embed?: { word: OnnxTensor; position: OnnxTensor | null };
}

export interface EmbeddingOp {
  node: OnnxNode;
  table: OnnxTensor;
  indices: string;
  /** GatherBlockQuantized: the table is block-quantized (`table` is its data). */
  quant?: QuantSpec;
}

export interface AttentionCore {
  node: OnnxNode;
  /** The tensors feeding query, key and value (key/value '' when packed into query). */
  q: string;
  k: string;
  v: string;
  place: Place;
}

export class GraphIndex {
  readonly producer = new Map<string, { node: OnnxNode; slot: number }>();
  readonly consumers = new Map<string, { node: OnnxNode; slot: number }[]>();
  readonly graphInputs: Set<string>;
  readonly linears: LinearOp[] = [];
  readonly norms: NormOp[] = [];
  readonly embeddings: EmbeddingOp[] = [];
  readonly cores: AttentionCore[] = [];
  readonly places = new Map<string, Place>();
  private readonly linearByOut = new Map<string, LinearOp>();

  /**
   * `smallBytes` gives the bytes of small constants (eps, scales, rope frequencies) even when an
   * exporter put them in external data; by default only embedded bytes are seen.
   */
  constructor(
    readonly g: OnnxGraph,
    private readonly smallBytes: (t: OnnxTensor) => Uint8Array | undefined = (t) => t.bytes,
  ) {
    this.graphInputs = new Set(g.inputs.map((i) => i.name));
    const defined = new Set<string>([...this.graphInputs, ...g.initializers.keys(), '']);
    for (const n of g.nodes) {
      n.inputs.forEach((t, slot) => {
        if (!defined.has(t)) {
          throw new ModelLoadError('onnx-invalid', `${g.file}: node ${nodeLabel(n)} (${opLabel(n)}) reads "${t}", which no earlier node, initializer or graph input defines; the file is corrupt or truncated`, { file: g.file, node: n.name, tensor: t });
        }
        if (!t) return;
        const list = this.consumers.get(t) ?? [];
        list.push({ node: n, slot });
        this.consumers.set(t, list);
      });
      n.outputs.forEach((t, slot) => {
        if (!t) return;
        defined.add(t);
        this.producer.set(t, { node: n, slot });
      });
    }
    for (const o of g.outputs) {
      if (!defined.has(o.name)) throw new ModelLoadError('onnx-invalid', `${g.file}: graph output "${o.name}" is produced by no node`, { file: g.file, tensor: o.name });
    }
    this.findLinears();
    this.findNorms();
    this.findEmbeddings();
    this.findCores();
    this.assignPlaces(this.streamNorms());
  }

  constOf(t: string): OnnxTensor | undefined {
    return this.g.initializers.get(t) ?? this.g.constants.get(t);
  }

  isConst(t: string): boolean {
    return this.constOf(t) !== undefined || (this.producer.get(t)?.node.opType === 'Constant');
  }

  /** A constant's float values (small tensors: eps, scales); null when not a float constant. */
  constFloats(t: string): Float32Array | null {
    const c = this.constOf(t);
    if (!c) return null;
    const b = this.smallBytes(c);
    if (!b) return null;
    if (c.dtype === 'float32' || c.dtype === 'float16' || c.dtype === 'bfloat16' || c.dtype === 'float64') return decodeFloats(c.dtype, b);
    if (c.dtype.startsWith('int') || c.dtype.startsWith('uint')) return Float32Array.from(decodeInts(c.dtype, b));
    return null;
  }

  /** Follows Cast / Identity producers back. */
  skipCasts(t: string): string {
    for (;;) {
      const p = this.producer.get(t);
      if (!p || !['Cast', 'Identity', 'CastLike'].includes(p.node.opType)) return t;
      t = p.node.inputs[0]!;
    }
  }

  private producerOp(t: string): OnnxNode | undefined {
    return this.producer.get(this.skipCasts(t))?.node;
  }

  /**
   * The float constant behind a weight input, through Transpose / Cast / Identity; `transposed`
   * counts 2-D transposes (odd = the node sees the stored tensor transposed).
   */
  resolveWeight(t: string): { tensor: OnnxTensor; transposed: boolean } | null {
    let transposed = false;
    for (let hops = 0; hops < 8; hops++) {
      const c = this.constOf(t);
      if (c) return ['float32', 'float16', 'bfloat16', 'float64'].includes(c.dtype) ? { tensor: c, transposed } : null;
      const p = this.producer.get(t)?.node;
      if (!p) return null;
      if (p.opType === 'Transpose') {
        const perm = p.attrs.get('perm');
        if (Array.isArray(perm) && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0)) return null;
        transposed = !transposed;
      } else if (!['Cast', 'Identity', 'CastLike'].includes(p.opType)) return null;
      t = p.inputs[0]!;
    }
    return null;
  }

  private soleConsumer(t: string): OnnxNode | undefined {
    const c = this.consumers.get(t);
    return c && c.length === 1 ? c[0]!.node : undefined;
  }

  /** A following Add of a 1-D constant of length n (a bias), if the tensor feeds only that. */
  private biasAdd(t: string, n: number): { bias: OnnxTensor; out: string } | null {
    const add = this.soleConsumer(t);
    if (!add || add.opType !== 'Add' || add.domain !== '') return null;
    const other = add.inputs[0] === t ? add.inputs[1]! : add.inputs[0]!;
    const w = this.resolveWeight(other);
    if (!w || w.tensor.dims.length !== 1 || w.tensor.dims[0] !== n) return null;
    return { bias: w.tensor, out: add.outputs[0]! };
  }

  private addLinear(l: LinearOp): void {
    this.linears.push(l);
    this.linearByOut.set(l.out, l);
    this.linearByOut.set(l.node.outputs[0]!, l);
  }

  private findLinears(): void {
    for (const n of this.g.nodes) {
      const dql = n.opType === 'MatMul' && n.domain === '' ? this.producer.get(n.inputs[1] ?? '')?.node : undefined;
      const int = integerLinear(n, (t) => this.producer.get(t)?.node, this.consumers, (t) => this.isConst(t));
      if (int) {
        // An int8 dynamic-quantized linear: read as x · dequantize(w) (quantized.ts).
        const q = matMulIntegerSpec(this.g, n, int.wScale, (t) => this.constOf(t));
        let bias: OnnxTensor | null = null;
        let out = int.out;
        const ba = this.biasAdd(out, q.rows);
        if (ba) ({ bias, out } = ba);
        this.addLinear({ node: n, kind: 'matmul', x: int.x, weight: q.data, storedInOut: true, inFeatures: q.cols, outFeatures: q.rows, bias, out, place: { norm: -1, depth: 0 }, quant: q });
      } else if (dql && dql.opType === 'DequantizeLinear' && dql.domain === '' && !this.isConst(n.inputs[0] ?? '')) {
        // A QDQ int8 weight: x · dequantize(w), w [K, N].
        const q = dequantizeLinearSpec(this.g, dql, (t) => this.constOf(t));
        let bias: OnnxTensor | null = null;
        let out = n.outputs[0]!;
        const ba = this.biasAdd(out, q.rows);
        if (ba) ({ bias, out } = ba);
        this.addLinear({ node: n, kind: 'matmul', x: n.inputs[0]!, weight: q.data, storedInOut: true, inFeatures: q.cols, outFeatures: q.rows, bias, out, place: { norm: -1, depth: 0 }, quant: q });
      } else if (n.opType === 'MatMul' || n.opType === 'Gemm') {
        const w = this.resolveWeight(n.inputs[1] ?? '');
        if (!w || w.tensor.dims.length !== 2 || this.isConst(n.inputs[0] ?? '')) continue;
        let inOut = !w.transposed; // MatMul: x · B, B seen as [in, out]
        if (n.opType === 'Gemm') {
          if (n.attrs.get('transA')) throw this.unrecognised(`Gemm ${nodeLabel(n)} transposes its activation (transA = 1)`);
          const alpha = n.attrs.get('alpha') ?? 1, beta = n.attrs.get('beta') ?? 1;
          if (alpha !== 1 || beta !== 1) throw this.unrecognised(`Gemm ${nodeLabel(n)} scales by alpha ${String(alpha)} / beta ${String(beta)}`);
          if (n.attrs.get('transB')) inOut = !inOut;
        }
        const [a, b] = w.tensor.dims as [number, number];
        const inFeatures = inOut ? a : b, outFeatures = inOut ? b : a;
        let bias: OnnxTensor | null = null;
        let out = n.outputs[0]!;
        if (n.opType === 'Gemm' && n.inputs[2]) {
          bias = this.resolveWeight(n.inputs[2])?.tensor ?? null;
          if (!bias) throw this.unrecognised(`Gemm ${nodeLabel(n)} has a bias that is not a constant`);
        } else {
          const ba = this.biasAdd(out, outFeatures);
          if (ba) ({ bias, out } = ba);
        }
        this.addLinear({ node: n, kind: n.opType === 'Gemm' ? 'gemm' : 'matmul', x: n.inputs[0]!, weight: w.tensor, storedInOut: inOut, inFeatures, outFeatures, bias, out, place: { norm: -1, depth: 0 } });
      } else if (n.opType === 'MatMulNBits' && n.domain === 'com.microsoft') {
        const q = matMulNBitsSpec(this.g, n, (t) => this.constOf(t));
        let bias: OnnxTensor | null = null;
        let out = n.outputs[0]!;
        if (n.inputs[5]) {
          bias = this.resolveWeight(n.inputs[5])?.tensor ?? null;
          if (!bias || bias.dims.join() !== String(q.rows)) throw this.unrecognised(`MatMulNBits ${nodeLabel(n)} has a bias that is not a constant of ${q.rows} values`);
        } else {
          const ba = this.biasAdd(out, q.rows);
          if (ba) ({ bias, out } = ba);
        }
        this.addLinear({ node: n, kind: 'matmul', x: n.inputs[0]!, weight: q.data, storedInOut: false, inFeatures: q.cols, outFeatures: q.rows, bias, out, place: { norm: -1, depth: 0 }, quant: q });
      } else if (n.opType === 'Attention' && n.domain === 'com.microsoft') {
        const w = this.resolveWeight(n.inputs[1] ?? '');
        if (!w || w.tensor.dims.length !== 2) throw this.unrecognised(`Attention ${nodeLabel(n)} has no constant q|k|v weight`);
        const b = n.inputs[2] ? this.resolveWeight(n.inputs[2])?.tensor ?? null : null;
        const [a, c] = w.tensor.dims as [number, number];
        this.addLinear({ node: n, kind: 'attention', x: n.inputs[0]!, weight: w.tensor, storedInOut: !w.transposed, inFeatures: w.transposed ? c : a, outFeatures: w.transposed ? a : c, bias: b, out: n.outputs[0]!, place: { norm: -1, depth: 0 } });
      }
    }
    // Biases fused into the next op: FastGelu(x, bias), BiasGelu(x, bias), BiasAdd(x, bias, skip).
    for (const n of this.g.nodes) {
      if (n.domain !== 'com.microsoft' || !['FastGelu', 'BiasGelu', 'BiasAdd'].includes(n.opType) || !n.inputs[1]) continue;
      this.giveBias(n, [n.inputs[0]!], n.inputs[1]);
    }
  }

  /** Attaches a fused op's bias to the linear producing one of `from`. */
  private giveBias(n: OnnxNode, from: string[], biasInput: string): void {
    const bias = this.resolveWeight(biasInput)?.tensor;
    if (!bias) return;
    for (const t of from) {
      const l = this.linearByOut.get(this.skipCasts(t));
      if (l && !l.bias && bias.dims[0] === l.outFeatures) {
        l.bias = bias;
        return;
      }
    }
    throw this.unrecognised(`${opLabel(n)} ${nodeLabel(n)} adds a bias "${bias.name}" but no linear layer feeds it`);
  }

  private findNorms(): void {
    const fusedEps = (n: OnnxNode) => (typeof n.attrs.get('epsilon') === 'number' ? (n.attrs.get('epsilon') as number) : null);
    const w = (t: string | undefined, n: OnnxNode, what: string, rank = 1): OnnxTensor => {
      const r = t ? this.resolveWeight(t) : null;
      if (!r || r.transposed || r.tensor.dims.length !== rank) throw this.unrecognised(`${opLabel(n)} ${nodeLabel(n)}: its ${what} is not a ${rank}-D constant`);
      return r.tensor;
    };
    const opt = (t: string | undefined) => (t ? this.resolveWeight(t)?.tensor ?? null : null);
    for (const n of this.g.nodes) {
      const ms = n.domain === 'com.microsoft' || n.domain === '';
      if (!ms) continue;
      switch (n.opType) {
        case 'LayerNormalization': {
          // A decoder's activations are (B, T, C): the last axis is -1 or 2.
          const axis = n.attrs.get('axis') ?? -1;
          if (axis !== -1 && axis !== 2) throw this.unrecognised(`LayerNormalization ${nodeLabel(n)} normalizes axis ${String(axis)}, not the last`);
          this.norms.push({ kind: 'layer', op: n.opType, node: n, out: n.outputs[0]!, inp: n.inputs[0]!, weight: w(n.inputs[1], n, 'scale'), weightOffset: 0, bias: opt(n.inputs[2]), eps: fusedEps(n) ?? 1e-5 });
          break;
        }
        case 'SimplifiedLayerNormalization':
        case 'RMSNormalization':
          this.norms.push({ kind: 'rms', op: n.opType, node: n, out: n.outputs[0]!, inp: n.inputs[0]!, weight: w(n.inputs[1], n, 'scale'), weightOffset: 0, bias: null, eps: fusedEps(n) ?? 1e-5 });
          break;
        case 'SkipLayerNormalization':
        case 'SkipSimplifiedLayerNormalization': {
          const simplified = n.opType === 'SkipSimplifiedLayerNormalization';
          // The normalized value is inputs[0] + inputs[1]: a residual stream, never one branch's output.
          this.norms.push({ kind: simplified ? 'rms' : 'layer', op: n.opType, node: n, out: n.outputs[0]!, inp: '', weight: w(n.inputs[2], n, 'gamma'), weightOffset: 0, bias: simplified ? null : opt(n.inputs[3]), eps: fusedEps(n) ?? 1e-12 });
          const biasIn = n.inputs[simplified ? 3 : 4];
          if (biasIn) this.giveBias(n, [n.inputs[0]!, n.inputs[1]!], biasIn);
          break;
        }
        case 'EmbedLayerNormalization': {
          if (n.inputs[4]) {
            const seg = this.resolveWeight(n.inputs[4]);
            if (seg) throw this.unrecognised(`EmbedLayerNormalization ${nodeLabel(n)} adds segment embeddings (a BERT-style encoder, not a decoder)`);
          }
          this.norms.push({
            kind: 'layer', op: n.opType, node: n, out: n.outputs[0]!, inp: '', weight: w(n.inputs[5], n, 'gamma'), weightOffset: 0, bias: opt(n.inputs[6]), eps: fusedEps(n) ?? 1e-12,
            embed: { word: w(n.inputs[2], n, 'word embedding', 2), position: opt(n.inputs[3]) },
          });
          break;
        }
        case 'Mul': {
          const d = this.decomposedNorm(n);
          if (d) this.norms.push(d);
          break;
        }
      }
    }
    this.norms.sort((a, b) => a.node.index - b.node.index);
  }

  /**
   * Mul(w, Y) where Y = data / sqrt(mean(data²) + eps) (or data · 1/sqrt(...)), data = x (RMSNorm)
   * or x − mean(x) (LayerNorm, then + b). w may be Add(c, w') of a scalar constant c and a 1-D
   * constant w' (Gemma's 1 + w, when the exporter did not fold it): the weight is w', offset c.
   */
  private decomposedNorm(mul: OnnxNode): NormOp | null {
    for (const slot of [0, 1]) {
      const off = this.offsetWeight(mul.inputs[slot]!);
      const wr = off?.weight ?? this.resolveWeight(mul.inputs[slot]!);
      const y = mul.inputs[1 - slot]!;
      if (!wr || wr.transposed || wr.tensor.dims.length !== 1 || wr.tensor.dims[0]! < 2 || this.isConst(y)) continue;
      const core = this.normCore(y);
      if (!core) continue;
      const C = wr.tensor.dims[0]!;
      let out = mul.outputs[0]!;
      let node = mul;
      let bias: OnnxTensor | null = null;
      if (core.kind === 'layer') {
        const ba = this.biasAdd(out, C);
        if (ba) {
          bias = ba.bias;
          out = ba.out;
          node = this.producer.get(out)!.node;
        }
      }
      return { kind: core.kind, op: 'decomposed', node, out, inp: core.data, weight: wr.tensor, weightOffset: off?.offset ?? 0, bias, eps: core.eps };
    }
    return null;
  }

  /** Add(scalar constant c, 1-D constant w) (either order): the weight w and the offset c. */
  private offsetWeight(t: string): { weight: { tensor: OnnxTensor; transposed: boolean }; offset: number } | null {
    const add = this.producer.get(this.skipCasts(t))?.node;
    if (!add || add.opType !== 'Add' || add.domain !== '') return null;
    for (const [a, b] of [[add.inputs[0]!, add.inputs[1]!], [add.inputs[1]!, add.inputs[0]!]] as const) {
      const c = this.constFloats(a);
      const w = this.resolveWeight(b);
      if (c && c.length === 1 && w && w.tensor.dims.length === 1) return { weight: w, offset: c[0]! };
    }
    return null;
  }

  private normCore(y: string): { kind: 'rms' | 'layer'; eps: number | null; data: string } | null {
    const n = this.producerOp(y);
    if (!n || n.domain !== '') return null;
    const tries: [string, string][] = n.opType === 'Div' ? [[n.inputs[0]!, n.inputs[1]!]] : n.opType === 'Mul' ? [[n.inputs[0]!, n.inputs[1]!], [n.inputs[1]!, n.inputs[0]!]] : [];
    for (const [data, scale] of tries) {
      const s = this.normScale(scale, n.opType === 'Mul');
      if (!s || this.skipCasts(s.squared) !== this.skipCasts(data)) continue;
      // data = x − ReduceMean(x) makes it a LayerNorm.
      const sub = this.producerOp(data);
      if (sub?.opType === 'Sub') {
        const mean = this.producerOp(sub.inputs[1]!);
        if (mean?.opType === 'ReduceMean' && this.skipCasts(mean.inputs[0]!) === this.skipCasts(sub.inputs[0]!)) return { kind: 'layer', eps: s.eps, data: sub.inputs[0]! };
      }
      return { kind: 'rms', eps: s.eps, data };
    }
    return null;
  }

  /** sqrt(ReduceMean(z²) + eps), or its reciprocal when `reciprocal`; returns z and eps. */
  private normScale(t: string, reciprocal: boolean): { squared: string; eps: number | null } | null {
    let eps: number | null = null;
    let inverted = false;
    for (let hops = 0; hops < 10; hops++) {
      const n = this.producer.get(t)?.node;
      if (!n || n.domain !== '') return null;
      switch (n.opType) {
        case 'Cast': case 'Identity': t = n.inputs[0]!; break;
        case 'Sqrt': t = n.inputs[0]!; break;
        case 'Reciprocal': inverted = !inverted; t = n.inputs[0]!; break;
        case 'Div':
          if (!this.isConst(n.inputs[0]!)) return null;
          inverted = !inverted;
          t = n.inputs[1]!;
          break;
        case 'Add': {
          const [a, b] = n.inputs as [string, string];
          const c = this.isConst(a) ? a : this.isConst(b) ? b : null;
          if (!c) return null;
          const v = this.constFloats(c);
          if (v && v.length === 1) eps = v[0]!;
          t = c === a ? b : a;
          break;
        }
        case 'ReduceMean': {
          const sq = this.producerOp(n.inputs[0]!);
          if (!sq) return null;
          let z: string | null = null;
          if (sq.opType === 'Pow') {
            const e = this.constFloats(sq.inputs[1]!);
            if (e && e.length === 1 && e[0] === 2) z = sq.inputs[0]!;
          } else if (sq.opType === 'Mul' && this.skipCasts(sq.inputs[0]!) === this.skipCasts(sq.inputs[1]!)) z = sq.inputs[0]!;
          if (!z || inverted !== reciprocal) return null;
          return { squared: z, eps };
        }
        default:
          return null;
      }
    }
    return null;
  }

  private findEmbeddings(): void {
    for (const n of this.g.nodes) {
      if (n.opType === 'GatherBlockQuantized' && n.domain === 'com.microsoft') {
        if (this.isConst(n.inputs[1]!)) continue;
        const q = gatherBlockQuantizedSpec(this.g, n, (t) => this.constOf(t));
        this.embeddings.push({ node: n, table: q.data, indices: n.inputs[1]!, quant: q });
        continue;
      }
      if (n.opType !== 'Gather' || n.domain !== '') continue;
      const axis = n.attrs.get('axis') ?? 0;
      const w = this.resolveWeight(n.inputs[0]!);
      if (!w || w.transposed || w.tensor.dims.length !== 2 || axis !== 0 || this.isConst(n.inputs[1]!)) continue;
      this.embeddings.push({ node: n, table: w.tensor, indices: n.inputs[1]! });
    }
  }

  private findCores(): void {
    for (const n of this.g.nodes) {
      const qkvCore = (n.domain === 'com.microsoft' && (n.opType === 'MultiHeadAttention' || n.opType === 'GroupQueryAttention')) || (n.domain === '' && n.opType === 'Attention');
      if (qkvCore) {
        this.cores.push({ node: n, q: n.inputs[0] ?? '', k: n.inputs[1] ?? '', v: n.inputs[2] ?? '', place: { norm: -1, depth: 0 } });
      } else if (n.domain === 'com.microsoft' && n.opType === 'Attention') {
        this.cores.push({ node: n, q: n.inputs[0]!, k: '', v: '', place: { norm: -1, depth: 0 } });
      } else if (n.opType === 'Softmax' && n.domain === '') {
        const scores = this.walkBack(n.inputs[0]!, (m) => m.opType === 'MatMul' && !this.isConst(m.inputs[0]!) && !this.isConst(m.inputs[1]!) && !this.resolveWeight(m.inputs[1]!));
        const values = this.walkForward(n.outputs[0]!, (m) => m.opType === 'MatMul');
        if (!scores || !values) continue;
        this.cores.push({ node: n, q: scores.inputs[0]!, k: scores.inputs[1]!, v: values.inputs[1]!, place: { norm: -1, depth: 0 } });
      }
    }
  }

  /** The first producer upstream (through single-path elementwise plumbing) matching `ok`. */
  private walkBack(t: string, ok: (n: OnnxNode) => boolean): OnnxNode | null {
    for (let hops = 0; hops < 12; hops++) {
      const n = this.producer.get(t)?.node;
      if (!n) return null;
      if (ok(n)) return n;
      const data = n.inputs.filter((x) => x && !this.isConst(x) && !this.graphInputs.has(x));
      // Masks join through Add / Where: follow the operand that carries scores (has a producer MatMul upstream).
      const next = data.find((x) => this.walkBackExists(x, ok, 12 - hops)) ?? data[0];
      if (!next) return null;
      t = next;
    }
    return null;
  }

  private walkBackExists(t: string, ok: (n: OnnxNode) => boolean, budget: number): boolean {
    if (budget <= 0) return false;
    const n = this.producer.get(t)?.node;
    if (!n) return false;
    if (ok(n)) return true;
    return n.inputs.some((x) => x && !this.isConst(x) && this.walkBackExists(x, ok, budget - 1));
  }

  private walkForward(t: string, ok: (n: OnnxNode) => boolean): OnnxNode | null {
    for (let hops = 0; hops < 6; hops++) {
      const c = this.consumers.get(t);
      if (!c || c.length === 0) return null;
      const hit = c.find((x) => ok(x.node));
      if (hit) return hit.node;
      if (c.length !== 1) return null;
      t = c[0]!.node.outputs[0]!;
    }
    return null;
  }

  // ---- norms in branches ----

  /** The linear whose output `t` is, through Cast / Identity / Reshape / Transpose / Squeeze. */
  linearBehind(t: string): LinearOp | undefined {
    for (let hops = 0; hops < 8 && t; hops++) {
      const l = this.linearByOut.get(t);
      if (l) return l;
      const p = this.producer.get(t)?.node;
      if (!p || !['Cast', 'Identity', 'CastLike', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze'].includes(p.opType)) return undefined;
      t = p.inputs[0]!;
    }
    return undefined;
  }

  /** Norms whose input is a linear's output: q/k norms and post-norms (no place of their own). */
  branchNorms(): NormOp[] {
    return this.norms.filter((n) => this.linearBehind(n.inp) !== undefined);
  }

  private qkCache: NormOp[] | null = null;

  /** Branch norms that feed an attention's query or key (q_norm / k_norm). */
  qkNorms(): NormOp[] {
    if (this.qkCache) return this.qkCache;
    const branch = new Set(this.branchNorms());
    const found = new Set<NormOp>();
    const byOut = new Map([...branch].map((n) => [n.out, n]));
    for (const core of this.cores) {
      const stack = [core.q, core.k].filter(Boolean);
      const seen = new Set<string>();
      while (stack.length > 0 && seen.size < 4000) {
        const t = stack.pop()!;
        if (seen.has(t)) continue;
        seen.add(t);
        const n = byOut.get(t);
        if (n) {
          found.add(n);
          continue;
        }
        if (this.linearByOut.has(t) || this.isConst(t) || this.graphInputs.has(t)) continue;
        const p = this.producer.get(t)?.node;
        if (!p || SHAPE_OPS.has(p.opType)) continue;
        // Reshape / Expand / Slice / ... carry their data in input 0; the rest are shapes and
        // indices, which may be computed from earlier layers' activations (Shape of x).
        stack.push(...(DATA_FIRST_OPS.has(p.opType) ? [p.inputs[0]!] : p.inputs).filter((i) => i && !this.isConst(i)));
      }
    }
    this.qkCache = this.norms.filter((n) => found.has(n));
    return this.qkCache;
  }

  /** Branch norms that are not q/k norms: post-norms of a branch output. */
  postNorms(): NormOp[] {
    const qk = new Set(this.qkNorms());
    return this.branchNorms().filter((n) => !qk.has(n));
  }

  /**
   * The norms that start places: every norm outside a branch; and when that leaves only the final
   * norm (OLMo 2: post-norms only), the post-norms too.
   */
  streamNorms(): NormOp[] {
    const branch = new Set(this.branchNorms());
    const stream = this.norms.filter((n) => !branch.has(n));
    if (stream.length > 1 || branch.size === 0) return stream;
    const post = new Set(this.postNorms());
    return this.norms.filter((n) => !branch.has(n) || post.has(n));
  }

  /**
   * One pass in graph order: each tensor's latest norm among `resetting` (its index there) and
   * linear depth. Other norms pass their input's place on.
   */
  assignPlaces(resetting: readonly NormOp[] = this.norms): void {
    this.places.clear();
    const normByNode = new Map<OnnxNode, number>();
    resetting.forEach((n, i) => normByNode.set(n.node, i));
    const linByNode = new Map<OnnxNode, LinearOp>();
    for (const l of this.linears) linByNode.set(l.node, l);
    const none: Place = { norm: -1, depth: 0 };
    const get = (t: string) => this.places.get(t) ?? none;
    const later = (a: Place, b: Place) => (b.norm > a.norm || (b.norm === a.norm && b.depth > a.depth) ? b : a);
    for (const n of this.g.nodes) {
      let p = none;
      for (const t of n.inputs) if (t && !this.isConst(t)) p = later(p, get(t));
      const lin = linByNode.get(n);
      if (lin) {
        lin.place = get(lin.x);
        p = { norm: lin.place.norm, depth: lin.place.depth + 1 };
      }
      for (const t of n.outputs) if (t) this.places.set(t, p);
      const ni = normByNode.get(n);
      if (ni !== undefined) this.places.set(resetting[ni]!.out, { norm: ni, depth: 0 });
    }
    for (const c of this.cores) c.place = get(c.node.outputs[0]!);
  }

  /**
   * The linear layers whose outputs reach `t` without passing another linear or a norm (q/k norms
   * are passed through: q_proj feeds the attention through q_norm).
   */
  linearsFeeding(t: string): LinearOp[] {
    const found = new Set<LinearOp>();
    const seen = new Set<string>();
    const qk = new Map(this.qkNorms().map((n) => [n.out, n]));
    const normOuts = new Set(this.norms.filter((n) => !qk.has(n.out)).map((n) => n.out));
    const stack = [t];
    while (stack.length > 0 && seen.size < 2000) {
      const x = stack.pop()!;
      if (!x || seen.has(x)) continue;
      seen.add(x);
      const l = this.linearByOut.get(x);
      if (l) {
        found.add(l);
        continue;
      }
      if (normOuts.has(x) || this.isConst(x) || this.graphInputs.has(x)) continue;
      const p = this.producer.get(x);
      if (p) stack.push(...p.node.inputs.filter((i) => i && !this.isConst(i)));
    }
    return [...found].sort((a, b) => a.node.index - b.node.index);
  }

  // ---- gated MLPs ----

  /** The product that joins a gated MLP's two branches: the Mul behind down_proj's input. */
  private gateProduct(downX: string): OnnxNode | undefined {
    let t = downX;
    for (let hops = 0; hops < 6; hops++) {
      const p = this.producer.get(t)?.node;
      if (!p) return undefined;
      if (p.opType === 'Mul' && p.domain === '') return p;
      if (!['Cast', 'Identity', 'CastLike', 'Reshape'].includes(p.opType)) return undefined;
      t = p.inputs[0]!;
    }
    return undefined;
  }

  /**
   * Gate and up of two MLP projections: up is the one whose output is a direct factor of the
   * product behind down_proj, gate the other (its activation is the other factor). Null when the
   * graph does not show it.
   */
  splitGate(a: LinearOp, b: LinearOp, downX: string): { gate: LinearOp; up: LinearOp } | null {
    const mul = this.gateProduct(downX);
    if (!mul) return null;
    const direct = mul.inputs.map((t) => this.linearBehind(t));
    if (direct.includes(a) && !direct.includes(b)) return { gate: b, up: a };
    if (direct.includes(b) && !direct.includes(a)) return { gate: a, up: b };
    return null;
  }

  /**
   * The activation on the gate side of the product behind down_proj, from the ops between the
   * projection and the product: Sigmoid (silu), Tanh / FastGelu / Gelu with approximate = tanh
   * (gelu_tanh), Erf / exact Gelu (gelu); null when none is found.
   */
  gateActivation(gateOut: string, downX: string): 'silu' | 'gelu_tanh' | 'gelu' | null {
    const mul = this.gateProduct(downX);
    if (!mul) return null;
    const ops = new Set<string>();
    const stack = [...mul.inputs];
    const seen = new Set<string>();
    while (stack.length > 0 && seen.size < 200) {
      const t = stack.pop()!;
      if (!t || seen.has(t) || t === gateOut || this.linearByOut.has(t) || this.isConst(t)) continue;
      seen.add(t);
      const p = this.producer.get(t)?.node;
      if (!p) continue;
      ops.add(p.opType === 'Gelu' && p.attrs.get('approximate') === 'tanh' ? 'GeluTanh' : p.opType);
      stack.push(...p.inputs);
    }
    if (ops.has('Sigmoid')) return 'silu';
    if (ops.has('Tanh') || ops.has('FastGelu') || ops.has('GeluTanh')) return 'gelu_tanh';
    if (ops.has('Erf') || ops.has('Gelu')) return 'gelu';
    return null;
  }

  /** Whether `t` flows into a node of op `op` within a few hops. */
  feedsOp(t: string, ops: string[], hops = 3): boolean {
    if (hops === 0) return false;
    for (const c of this.consumers.get(t) ?? []) {
      if (ops.includes(c.node.opType)) return true;
      if (['Cast', 'Identity', 'Reshape'].includes(c.node.opType) && this.feedsOp(c.node.outputs[0]!, ops, hops - 1)) return true;
    }
    return false;
  }

  unrecognised(what: string): ModelLoadError {
    return new ModelLoadError('unrecognised-graph', `${this.g.file}: ${what}`, { file: this.g.file });
  }
}
