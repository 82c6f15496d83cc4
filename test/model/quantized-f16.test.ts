// q4f16 bases (issue 12): the file most people download for the browser (onnx-community's
// onnx/model_q4f16.onnx) is a whole float16 graph (f16 initializers, activations, norms,
// attention) whose linear layers are com.microsoft.MatMulNBits with T = float16 (A, scales and Y
// in halves) and whose embedding is a GatherBlockQuantized with f16 scales. We make one the way
// transformers.js does (quantize the f32 tiny-llama, then onnxconverter-common's float16
// conversion: test/support/quantize-onnx.ts `float16`), load it with our loader, keep its weights
// packed on the GPU and compare our logits with onnxruntime-web's wasm EP on the same file.
// Also: the Cast pattern of a PyTorch half export (RMSNorm statistics and softmax in float32
// between Casts), and the onnxruntime-genai builder's form (the shared fp16 Llama, fused
// SkipSimplifiedLayerNormalization / RotaryEmbedding / MultiHeadAttention, f16 past and logits)
// with its f16 MatMuls quantized in place: MatMulNBits T = float16 from float16 weights.
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { float16Onnx, inlineExternalData, quantizeOnnx, type QuantizeOnnxOptions } from '../support/quantize-onnx.js';
import { LLAMA_FP16, TINY_GPT2, TINY_LLAMA, TINY_QWEN2, decodeModel, encodeModel, fileBytes, maxLogitDiff, onnx, paddedBatch, variant } from './helpers.js';
import { ortLogits, ourLogits } from './logit-sides.js';

ort.env.wasm.numThreads = 1;

const F32 = fileBytes(`${TINY_LLAMA}/model.onnx`);
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

/**
 * Tolerance on max |ours − onnxruntime|, relative to the largest logit. Both sides read the same
 * codes and the same half scales, but onnxruntime keeps every activation of this graph in
 * float16 (embedding rows, norms, q/k/v, the rope angles and tables it computes from
 * position_ids, attention, MLP, logits; MatMulNBits dequantizes (code − zero) · scale in halves
 * too) where we keep activations in f32. Each rounding adds up to u = 2⁻¹¹ ≈ 4.9e-4 of relative
 * error; a logit is reached through about 20 rounded values with weights of order one (2 blocks of
 * ~8 ops, final norm, LM head), so the difference is bounded by about 20·u·max|logit| (the bound
 * parity.test.ts uses for the genai fp16 Llama). With logits ≈ 3.5 here that is 0.034; a 4-bit
 * code read in the wrong order or a scale read in the wrong dtype moves logits by whole units
 * (tests below).
 */
const REL_TOL = 20 * 2 ** -11;

const load = (bytes: Uint8Array) => loadModel(variant(TINY_LLAMA, { 'model.onnx': bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });

/** The file as onnx-community ships it: no float32 left anywhere but where asked. */
function expectHalfGraph(bytes: Uint8Array, logits: 'float16' | 'float32') {
  const m = decodeModel(bytes);
  const g = m.graph!;
  const inits = new Map(g.initializer!.map((t) => [t.name!, t]));
  expect(g.initializer!.filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT).map((t) => t.name)).toEqual([]);
  const nbits = g.node!.filter((n) => n.opType === 'MatMulNBits');
  for (const n of nbits) expect(inits.get(n.input![2]!)!.dataType, n.name!).toBe(FLOAT16);
  for (const n of g.node!.filter((x) => x.opType === 'GatherBlockQuantized')) expect(inits.get(n.input![2]!)!.dataType).toBe(FLOAT16);
  expect(g.output!.find((o) => o.name === 'logits')!.type!.tensorType!.elemType).toBe(logits === 'float16' ? FLOAT16 : onnx.TensorProto.DataType.FLOAT);
  return nbits.length;
}

/** Cast(to = float) nodes: the logits' with keep_io_types; 5 RMSNorms and 2 softmaxes with float32 islands. */
const castsToFloat = (bytes: Uint8Array) => decodeModel(bytes).graph!.node!.filter((n) => n.opType === 'Cast' && Number(n.attribute!.find((a) => a.name === 'to')!.i) === onnx.TensorProto.DataType.FLOAT).length;

const CASES: { name: string; o: QuantizeOnnxOptions; logits: 'float16' | 'float32'; casts: number }[] = [
  { name: 'q4f16, block 32, zero points, int4 embedding (f16 scales), f16 logits', o: { bits: 4, blockSize: 32, zeroPoints: true, embedding: 'int4', float16: true }, logits: 'float16', casts: 0 },
  { name: 'q4f16, block 16, symmetric, f16 embedding table (plain Gather), f16 logits', o: { bits: 4, blockSize: 16, zeroPoints: false, embedding: null, float16: true }, logits: 'float16', casts: 0 },
  { name: 'q4f16 with keep_io_types (float32 logits behind a Cast, transformers.js), block 32, uint4 embedding', o: { bits: 4, blockSize: 32, zeroPoints: true, embedding: 'uint4', float16: { keepIoTypes: true } }, logits: 'float32', casts: 1 },
  { name: 'q4f16 with RMSNorm statistics and softmax in float32 between Casts (a torch half export), block 32, int4 embedding', o: { bits: 4, blockSize: 32, zeroPoints: true, embedding: 'int4', float16: { float32Islands: true } }, logits: 'float16', casts: 7 },
];

describe('q4f16 bases: our logits equal onnxruntime-web (wasm, computing in float16) on the same file', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('$name', async ({ name, o, logits, casts }) => {
    const bytes = quantizeOnnx(F32, o).bytes;
    expect(castsToFloat(bytes)).toBe(casts);
    // Every linear layer (7 per layer, 2 layers, and the LM head) is a MatMulNBits with T = float16.
    expect(expectHalfGraph(bytes, logits)).toBe(15);
    const loaded = await load(bytes);
    expect(loaded.onnx.outputs.find((x) => x.name === 'logits')!.dtype).toBe(logits);
    const dtypes = new Map([...loaded.weights].map(([k, w]) => [k, w.dtype]));
    expect(dtypes.get('model.layers.1.mlp.down_proj.weight')).toBe('q4');
    expect(dtypes.get('lm_head.weight')).toBe('q4');
    expect(dtypes.get('model.embed_tokens.weight')).toBe(o.embedding ? 'q4' : 'f16');
    expect(dtypes.get('model.norm.weight')).toBe('f16');
    const b = paddedBatch(loaded.config.vocabSize, 11);
    const ours = await ourLogits(loaded, b, (m) => {
      // Kept packed on the GPU: 4-bit codes and (scale, zero) pairs, never dequantized to a float table.
      for (const l of m.weights.layers) for (const w of [l.q, l.k, l.v, l.o, l.gate!, l.up, l.down]) expect(w.weight).toMatchObject({ kind: 'blockq', bits: 4, blockSize: o.blockSize });
      expect(m.weights.lmHead.weight).toMatchObject({ kind: 'blockq', bits: 4 });
      if (o.embedding) expect(m.weights.tokenEmbedding).toMatchObject({ kind: 'blockq', bits: 4 });
      else expect(m.weights.tokenEmbedding).toMatchObject({ dtype: 'f16' });
    });
    const want = await ortLogits(loaded, b);
    const { diff, scale } = maxLogitDiff(ours, want, loaded.config.vocabSize, b.mask);
    console.log(`${name}: max |ours - ort| ${diff.toExponential(2)} = ${(diff / scale / 2 ** -11).toFixed(1)}·u·max|logit|, max |logit| ${scale.toFixed(3)} (tolerance ${(REL_TOL * scale).toExponential(2)})`);
    expect(scale).toBeGreaterThan(0.5);
    expect(diff).toBeLessThanOrEqual(REL_TOL * scale);
  }, 120_000);

  // Tied embeddings (config tie_word_embeddings): the torch export writes the head as its own
  // transposed initializer, so the quantized file has a MatMulNBits head apart from the f16
  // embedding table, and our loader keeps that head (GPT-2 included, which is otherwise always tied).
  // transformers.js quantizes MatMuls only, so the tables stay f16 here.
  it.each([
    { name: 'tiny-qwen2 (tied, q/k/v biases added in f16, external data)', dir: TINY_QWEN2, file: 'onnx/model.onnx', data: 'onnx/model.onnx_data', nbits: 15 },
    { name: 'tiny-gpt2 (tied wte, packed c_attn, LayerNorm, gelu)', dir: TINY_GPT2, file: 'model.onnx', data: null, nbits: 9 },
  ])('q4f16 of $name: its own quantized LM head, packed, matches', async ({ name, dir, file, data, nbits }) => {
    const f32 = data ? inlineExternalData(fileBytes(`${dir}/${file}`), fileBytes(`${dir}/${data}`)) : fileBytes(`${dir}/${file}`);
    const bytes = quantizeOnnx(f32, { bits: 4, blockSize: 16, zeroPoints: true, embedding: null, float16: true }).bytes;
    expect(expectHalfGraph(bytes, 'float16')).toBe(nbits);
    const loaded = await loadModel(variant(dir, { [file]: bytes, ...(data ? { [data]: undefined } : {}) }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    expect(loaded.config.tiedEmbeddings).toBe(false);
    expect(loaded.warnings.map((w) => w.message)).toContainEqual(expect.stringMatching(/tie_word_embeddings; this quantized file stores the LM head .* kept as a separate lm_head/));
    const matrices = [...loaded.weights].filter(([k, w]) => w.shape.length === 2 && !/embed_tokens|wte|wpe/.test(k));
    expect(matrices.length).toBeGreaterThanOrEqual(nbits); // a packed c_attn gives q, k and v
    for (const [k, w] of matrices) expect(w.dtype, k).toBe('q4');
    const b = paddedBatch(loaded.config.vocabSize, 11);
    const ours = await ourLogits(loaded, b, (m) => {
      for (const l of m.weights.layers) for (const w of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) if (w) expect(w.weight).toMatchObject({ kind: 'blockq', bits: 4, blockSize: 16 });
      expect(m.weights.lmHead.weight).toMatchObject({ kind: 'blockq', bits: 4 });
      expect(m.weights.tokenEmbedding).toMatchObject({ dtype: 'f16' });
    });
    const { diff, scale } = maxLogitDiff(ours, await ortLogits(loaded, b), loaded.config.vocabSize, b.mask);
    console.log(`${name} q4f16: max |ours - ort| ${diff.toExponential(2)} = ${(diff / scale / 2 ** -11).toFixed(1)}·u·max|logit|, max |logit| ${scale.toFixed(3)}`);
    expect(scale).toBeGreaterThan(0.5);
    expect(diff).toBeLessThanOrEqual(REL_TOL * scale);
  }, 120_000);

  it('fp16 (the same conversion, unquantized: model_fp16.onnx) matches too', async () => {
    const bytes = float16Onnx(F32);
    expect(expectHalfGraph(bytes, 'float16')).toBe(0);
    const loaded = await load(bytes);
    expect(loaded.weights.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('f16');
    const b = paddedBatch(loaded.config.vocabSize, 11);
    const { diff, scale } = maxLogitDiff(await ourLogits(loaded, b), await ortLogits(loaded, b), loaded.config.vocabSize, b.mask);
    console.log(`fp16: max |ours - ort| ${diff.toExponential(2)} = ${(diff / scale / 2 ** -11).toFixed(1)}·u·max|logit|, max |logit| ${scale.toFixed(3)}`);
    expect(scale).toBeGreaterThan(0.5);
    expect(diff).toBeLessThanOrEqual(REL_TOL * scale);
  }, 120_000);

  it('the genai builder\'s form: the shared fp16 Llama (fused ops, f16 past and logits) with MatMulNBits T = float16 from its f16 weights', async () => {
    const inlined = inlineExternalData(fileBytes(`${LLAMA_FP16}/model.onnx`), fileBytes(`${LLAMA_FP16}/model.onnx.data`));
    const bytes = quantizeOnnx(inlined, { bits: 4, blockSize: 16, zeroPoints: true, embedding: 'int4' }).bytes;
    expect(expectHalfGraph(bytes, 'float16')).toBe(15);
    const loaded = await loadModel(variant(LLAMA_FP16, { 'model.onnx': bytes, 'model.onnx.data': undefined }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    expect(loaded.weights.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('q4');
    expect(loaded.weights.get('model.embed_tokens.weight')!.dtype).toBe('q4');
    const b = paddedBatch(loaded.config.vocabSize, 11);
    const ours = await ourLogits(loaded, b, (m) => {
      expect(m.weights.layers[1]!.down.weight).toMatchObject({ kind: 'blockq', bits: 4, blockSize: 16 });
      expect(m.weights.tokenEmbedding).toMatchObject({ kind: 'blockq', bits: 4 });
    });
    const { diff, scale } = maxLogitDiff(ours, await ortLogits(loaded, b), loaded.config.vocabSize, b.mask);
    console.log(`genai form q4f16: max |ours - ort| ${diff.toExponential(2)} = ${(diff / scale / 2 ** -11).toFixed(1)}·u·max|logit|, max |logit| ${scale.toFixed(3)}`);
    expect(scale).toBeGreaterThan(0.05); // this random model's logits are small (≈ 0.4)
    expect(diff).toBeLessThanOrEqual(REL_TOL * scale);
  }, 120_000);

  it('a wrong packing order or the scales read in the wrong dtype would be caught', async () => {
    const o: QuantizeOnnxOptions = { bits: 4, blockSize: 32, zeroPoints: true, embedding: 'int4', float16: true };
    const bytes = quantizeOnnx(F32, o).bytes;
    const right = await load(bytes);
    const b = paddedBatch(right.config.vocabSize, 11);
    const want = await ortLogits(right, b);
    const tol = REL_TOL * maxLogitDiff(want, want, right.config.vocabSize, b.mask).scale;
    // Our engine reading the codes high nibble first = our engine on the swapped file.
    const swapped = await load(quantizeOnnx(F32, { ...o, swapNibbles: true }).bytes);
    const nibbles = maxLogitDiff(await ourLogits(swapped, b), want, right.config.vocabSize, b.mask).diff;
    // Our engine taking the half scales for the other 16-bit float (bfloat16) = the same bytes relabelled.
    const m = decodeModel(bytes);
    for (const t of m.graph!.initializer!) if (/_scales$/.test(t.name!)) t.dataType = onnx.TensorProto.DataType.BFLOAT16;
    const relabelled = await load(encodeModel(m));
    const scales = maxLogitDiff(await ourLogits(relabelled, b), want, right.config.vocabSize, b.mask).diff;
    console.log(`q4f16 misread: swapped nibbles ${nibbles.toExponential(2)}, scales as bfloat16 ${scales.toExponential(2)} (tolerance ${tol.toExponential(2)})`);
    expect(nibbles).toBeGreaterThan(10 * tol);
    expect(scales).toBeGreaterThan(10 * tol);
  }, 120_000);
});
