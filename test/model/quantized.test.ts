// Quantized bases (issue 12, QLoRA): files written by our TypeScript quantizer
// (test/support/quantize-onnx.ts, onnxruntime's MatMulNBits / GatherBlockQuantized spec) from the
// f32 tiny-llama fixture, loaded with their weights kept packed on the GPU; our logits against
// onnxruntime-web's wasm EP on the same file. A file whose 4-bit codes are packed high nibble
// first (what a reader with the wrong packing order sees) moves our logits far past the
// tolerance, so the comparison would catch a packing-order mistake.
import * as ort from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { quantizeOnnx, type QuantizeOnnxOptions } from '../support/quantize-onnx.js';
import { isModelLoadError } from '../../src/engine/model/errors.js';
import { dequantize } from '../../src/engine/blockq.js';
import { toF16Array } from '../../src/engine/f16.js';
import type { OnnxTensor } from '../../src/engine/model/onnx.js';
import { toBlockQuantized, type QuantSpec } from '../../src/engine/model/quantized.js';
import { TINY_LLAMA, decodeModel, encodeModel, maxLogitDiff, onnx, paddedBatch, variant } from './helpers.js';
import { ortLogits, ourLogits } from './logit-sides.js';

ort.env.wasm.numThreads = 1;

const F32 = new Uint8Array(readFileSync(join(TINY_LLAMA, 'model.onnx')));

/**
 * Both sides dequantize the same codes to the same f32 weights ((code − zero) · scale, one
 * rounding) and compute in f32, so they differ by summation order only, as the f32 parity test
 * (1e-4); observed ≤ 1e-5.
 */
const TOL = 1e-4;

async function load(o: QuantizeOnnxOptions): Promise<LoadedModel> {
  return loadModel(variant(TINY_LLAMA, { 'model.onnx': quantizeOnnx(F32, o).bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });
}

// K = 32 (q/k/v/gate/up) and 48 (down): blocks of 32 leave a padded last block in down_proj.
const CASES: (QuantizeOnnxOptions & { name: string })[] = [
  { name: '4-bit, block 16, zero points, int4 embedding', bits: 4, blockSize: 16, zeroPoints: true, embedding: 'int4' },
  { name: '4-bit, block 32, default zero point, int4 embedding', bits: 4, blockSize: 32, zeroPoints: false, embedding: 'int4' },
  { name: '4-bit, block 32, zero points, uint4 embedding', bits: 4, blockSize: 32, zeroPoints: true, embedding: 'uint4' },
  { name: '8-bit, block 16, zero points, uint8 embedding', bits: 8, blockSize: 16, zeroPoints: true, embedding: 'uint8' },
  { name: '8-bit, block 32, default zero point, f32 embedding', bits: 8, blockSize: 32, zeroPoints: false, embedding: null },
  { name: 'QDQ int8 per column (DequantizeLinear, default zero point 0)', bits: 8, blockSize: 32, zeroPoints: false, qdq: 'int8' },
  { name: 'QDQ uint8 per column with zero points', bits: 8, blockSize: 32, zeroPoints: true, qdq: 'uint8' },
];

describe('quantized bases: our logits equal onnxruntime-web (wasm) on the same file', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('$name', async (c) => {
    const loaded = await load(c);
    const q = [...loaded.weights.values()].filter((w) => w.quant);
    // Every linear layer (7 per layer, 2 layers, and the LM head) and, when asked, the embedding.
    expect(q.length).toBe(15 + (c.embedding ? 1 : 0));
    expect(loaded.weights.get('model.layers.0.mlp.down_proj.weight')!.dtype).toBe(c.bits === 4 ? 'q4' : 'q8');
    const b = paddedBatch(loaded.config.vocabSize, 5);
    const ours = await ourLogits(loaded, b);
    const want = await ortLogits(loaded, b);
    const { diff, scale } = maxLogitDiff(ours, want, loaded.config.vocabSize, b.mask);
    console.log(`${c.name}: max |ours - ort| ${diff.toExponential(2)}, max |logit| ${scale.toFixed(3)}`);
    expect(scale).toBeGreaterThan(0.05);
    expect(diff).toBeLessThanOrEqual(TOL);
  }, 120_000);

  it.each(['int8', 'uint8'] as const)('MatMulInteger with DynamicQuantizeLinear (%s weights): weights read exactly, activations left unquantized', async (qdq) => {
    const dyn = await load({ bits: 8, blockSize: 32, zeroPoints: true, qdq, dynamic: true });
    const same = await load({ bits: 8, blockSize: 32, zeroPoints: true, qdq });
    expect([...dyn.weights.values()].filter((w) => w.quant).length).toBe(15);
    const b = paddedBatch(dyn.config.vocabSize, 5);
    const ours = await ourLogits(dyn, b);
    // The same int8 weights behind DequantizeLinear: onnxruntime computes exactly what we do.
    const exact = await ortLogits(same, b);
    const e = maxLogitDiff(ours, exact, dyn.config.vocabSize, b.mask);
    expect(e.diff).toBeLessThanOrEqual(TOL);
    // onnxruntime on the MatMulInteger file also rounds each activation to 8 bits (per tensor):
    // a step of (max − min) / 255 of each linear's input, about 1% of its range, through two
    // layers: bounded by 5% of the largest logit here, far from a misread weight (test above).
    const dynamic = await ortLogits(dyn, b);
    const d = maxLogitDiff(ours, dynamic, dyn.config.vocabSize, b.mask);
    console.log(`MatMulInteger ${qdq}: max |ours - ort(QDQ)| ${e.diff.toExponential(2)}, max |ours - ort(MatMulInteger)| ${d.diff.toExponential(2)} of max |logit| ${d.scale.toFixed(3)}`);
    expect(d.diff).toBeLessThanOrEqual(0.05 * d.scale);
  }, 120_000);

  it('a wrong packing order (high nibble first) is caught by the comparison', async () => {
    const o: QuantizeOnnxOptions = { bits: 4, blockSize: 16, zeroPoints: true, embedding: 'int4' };
    const right = await load(o);
    const b = paddedBatch(right.config.vocabSize, 5);
    const want = await ortLogits(right, b);
    // Our engine reading the same codes in the other order = our engine on the swapped file.
    const swapped = await load({ ...o, swapNibbles: true });
    const wrong = await ourLogits(swapped, b);
    const { diff } = maxLogitDiff(wrong, want, right.config.vocabSize, b.mask);
    console.log(`swapped nibbles: max |ours - ort| ${diff.toExponential(2)}`);
    expect(diff).toBeGreaterThan(100 * TOL);
  }, 120_000);
});

describe('quantized bases: bad input is refused naming the file, the node and what is wrong', () => {
  type Model = ReturnType<typeof decodeModel>;
  /** A 4-bit file (block 16, zero points, int4 embedding) edited before loading. */
  const edited = (edit: (m: Model) => void) => {
    const m = decodeModel(quantizeOnnx(F32, { bits: 4, blockSize: 16, zeroPoints: true, embedding: 'int4' }).bytes);
    edit(m);
    return variant(TINY_LLAMA, { 'model.onnx': encodeModel(m) });
  };
  const nbits = (m: Model) => m.graph!.node!.find((n) => n.opType === 'MatMulNBits' && /down_proj/.test(n.name ?? ''))!;
  const gbq = (m: Model) => m.graph!.node!.find((n) => n.opType === 'GatherBlockQuantized')!;
  const setInt = (n: ReturnType<typeof nbits>, name: string, i: number) => {
    const a = n.attribute!.find((x) => x.name === name);
    if (a) a.i = i;
    else n.attribute!.push({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  };
  const refused = async (src: ReturnType<typeof variant>, ...parts: (string | RegExp)[]) => {
    const e = await loadModel(src, { acknowledge: ['tokenizer-vocab-mismatch'] }).then(() => null, (x: unknown) => x);
    expect(isModelLoadError(e, 'quantized'), String(e)).toBe(true);
    for (const p of [/^model\.onnx: node "\/layers\.\d\/mlp\/down_proj\/MatMul"|^model\.onnx: node "\/embed_tokens\/Gather"/, ...parts]) expect((e as Error).message).toMatch(p);
  };

  it('an unsupported attribute value: bits = 2, weight_prepacked = 1, an attribute the spec lacks', async () => {
    await refused(edited((m) => setInt(nbits(m), 'bits', 2)), 'bits = 2', '4- and 8-bit');
    await refused(edited((m) => setInt(nbits(m), 'weight_prepacked', 1)), 'weight_prepacked = 1');
    await refused(edited((m) => setInt(nbits(m), 'transB', 0)), 'the attribute transB');
    await refused(edited((m) => setInt(gbq(m), 'quantize_axis', 0)), 'quantize_axis = 0');
    await refused(edited((m) => setInt(gbq(m), 'gather_axis', 1)), 'gather_axis = 1');
  });

  it('block sizes: not a power of two or under 16 (the spec forbids), over 256 (this engine), B not matching', async () => {
    // The spec allows a block size that does not divide K (the last block padded): down_proj's
    // K = 48 in blocks of 32 loads and matches onnxruntime above. These do not:
    await refused(edited((m) => setInt(nbits(m), 'block_size', 24)), 'block_size 24', 'power of two, at least 16');
    await refused(edited((m) => setInt(nbits(m), 'block_size', 8)), 'block_size 8');
    await refused(edited((m) => setInt(nbits(m), 'block_size', 512)), 'block_size 512', '16 to 256');
    // block_size 32 with B laid out for 16: K = 48 needs 2 blocks of 16 bytes, B has 3 of 8.
    await refused(edited((m) => setInt(nbits(m), 'block_size', 32)), /B ".*" of shape \[32, 3, 8\]/, 'need [32, 2, 16]');
    await refused(edited((m) => setInt(gbq(m), 'block_size', 48)), 'block_size 48');
  });

  it('scales and zero points of the wrong length', async () => {
    const shorten = (name: RegExp, by: number) => (m: Model) => {
      const t = m.graph!.initializer!.find((x) => name.test(x.name ?? ''))!;
      const dims = t.dims!.map(Number);
      dims[dims.length - 1]! -= by;
      const per = t.dataType === 1 ? 4 : 1;
      t.dims = dims;
      t.rawData = t.rawData!.slice(0, (dims.reduce((a, b) => a * b, 1) * per));
    };
    await refused(edited(shorten(/MatMul_529_MatMulNBits_scales/, 1)), /has 64 scales \(".*_scales", \[32, 2\]\)/, '32 rows of 3 blocks need 96');
    await refused(edited(shorten(/MatMul_529_MatMulNBits_zero_points/, 1)), /zero points/, 'packed 32 rows of 3 blocks need 64');
    await refused(edited(shorten(/GatherBlockQuantized_scales/, 1)), /scales/, 'need [264, 2]');
  });
});

describe('quantized tensors as the spec lays them out', () => {
  const node = { index: 0, name: 'n', opType: 'MatMulNBits', domain: 'com.microsoft', inputs: [], outputs: [], attrs: new Map() };
  const t = (name: string, dtype: OnnxTensor['dtype'], dims: number[], bytes: Uint8Array): OnnxTensor => ({ name, dtype, dims, bytes });
  const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  it('MatMulNBits: f16 scales (q4f16), unpacked float zero points, flat scales, rows of a packed projection', () => {
    // N = 3 rows, K = 20 in blocks of 16 (2 blocks, the last padded), 4 bits: blob 8 bytes.
    const codes = new Uint8Array(3 * 2 * 8).map((_, i) => (i * 37 + 11) & 0xff);
    const scales = Float32Array.of(0.5, 0.25, 1, 2, 0.125, 4);
    const zps = Float32Array.of(8, 7, 1, 15, 0, 3);
    const spec: QuantSpec = {
      op: 'MatMulNBits', node, bits: 4, blockSize: 16, rows: 3, cols: 20, signed: false,
      data: t('B', 'uint8', [3, 2, 8], codes),
      scales: t('s', 'float16', [6], u8(toF16Array(scales))),
      zeroPoints: t('z', 'float16', [3, 2], u8(toF16Array(zps))),
    };
    const q = toBlockQuantized(spec, (x) => x.bytes!);
    expect(Array.from(q.scales)).toEqual(Array.from(scales));
    expect(Array.from(q.zeros)).toEqual(Array.from(zps));
    expect(q.codes).toEqual(codes);
    // Rows 1..2 only (the k and v of a packed q|k|v): their blocks, scales and zero points.
    const part = toBlockQuantized(spec, (x) => x.bytes!, { start: 1, count: 2 });
    expect(part.codes).toEqual(codes.subarray(16));
    expect(Array.from(part.scales)).toEqual([1, 2, 0.125, 4]);
    // Packed uint8 zero points: two 4-bit ones per byte, low nibble first, each row padded to whole bytes.
    const packed = toBlockQuantized({ ...spec, zeroPoints: t('zp', 'uint8', [3, 1], Uint8Array.of(0x78, 0xf1, 0x30)) }, (x) => x.bytes!);
    expect(Array.from(packed.zeros)).toEqual([8, 7, 1, 15, 0, 3]);
    // No zero points: 2^(bits - 1).
    expect(Array.from(toBlockQuantized({ ...spec, zeroPoints: null }, (x) => x.bytes!).zeros)).toEqual([8, 8, 8, 8, 8, 8]);
  });

  it('GatherBlockQuantized: int4 codes and zero points shifted to unsigned, the default zero point 0 for int4', () => {
    // V = 2 rows of C = 16 (one block): int4 values -8..7 packed two per byte over the flat tensor.
    const vals = Array.from({ length: 32 }, (_, i) => (i % 16) - 8);
    const packed = new Uint8Array(16);
    vals.forEach((v, i) => (packed[i >> 1]! |= (v & 0xf) << ((i & 1) * 4)));
    const spec: QuantSpec = {
      op: 'GatherBlockQuantized', node: { ...node, opType: 'GatherBlockQuantized' }, bits: 4, blockSize: 16, rows: 2, cols: 16, signed: true,
      data: t('d', 'int4', [2, 16], packed), scales: t('s', 'float32', [2, 1], u8(Float32Array.of(0.5, 2))), zeroPoints: null,
    };
    const w = dequantize(toBlockQuantized(spec, (x) => x.bytes!));
    expect(Array.from(w)).toEqual(vals.map((v, i) => v * (i < 16 ? 0.5 : 2)));
  });
});
