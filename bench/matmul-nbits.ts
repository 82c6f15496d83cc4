// The block-quantized matmul forward (QLoRA base, onnxruntime's MatMulNBits layout) in Node: each
// variant of matmul_nbits_forward (src/engine/tuning/variants.ts) forced in turn, and
// onnxruntime-web's webgpu EP running one MatMulNBits node over the same codes on the same
// adapter (--ort), at given shapes. Every result is spot-checked against the dequantized weight.
//
//   VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json npx tsx bench/matmul-nbits.ts --help
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import type * as Ort from 'onnxruntime-web';
import { createNodeEngine } from '../src/engine/node.js';
import type { Engine } from '../src/engine/gpu/engine.js';
import { dequantize, type BlockQuantized, type QuantBits } from '../src/engine/blockq.js';
import { matmulNBitsForward, releaseQuantTensor, uploadBlockQuantized } from '../src/engine/kernels/matmul-nbits.js';
import { applicableVariants } from '../src/engine/tuning/variants.js';
import { quantizeOnnx } from '../test/support/quantize-onnx.js';
import { flopOf, measure, spotCheck, type Shape, type TimingOptions } from './core.js';
import { benchInput, benchWeight } from './data.mjs';
import { matmulModel } from './onnx-model.mjs';

const HELP = `npx tsx bench/matmul-nbits.ts [options]: the 4/8-bit matmul forward, per variant
  --shapes LIST     MxKxN,... (default: SmolLM2-135M's layers at M = 1, 64, 512:
                    K x N = 576x576, 576x192, 576x1536, 1536x576)
  --variants LIST   matmul_nbits_forward variants to time (default: every applicable one)
  --bits 4|8        code width (default 4)
  --block N         block size along K (default 32, as transformers.js's q4 exports)
  --ort             also onnxruntime-web's webgpu EP on one MatMulNBits node (same codes)
  --reps N          timed repetitions per method (default 5); median and spread reported
  --target-ms MS    each repetition runs enough products to last about this long (default 200)
  --out FILE        write the results as JSON
Lavapipe: VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json`;

type OrtModule = typeof Ort;

const { values: o } = parseArgs({
  options: {
    shapes: { type: 'string' },
    variants: { type: 'string' },
    bits: { type: 'string', default: '4' },
    block: { type: 'string', default: '32' },
    ort: { type: 'boolean', default: false },
    reps: { type: 'string', default: '5' },
    'target-ms': { type: 'string', default: '200' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}

const bits = Number(o.bits) as QuantBits;
if (bits !== 4 && bits !== 8) throw new Error(`--bits ${o.bits}: 4 or 8`);
const blockSize = Number(o.block);
if (![16, 32, 64, 128, 256].includes(blockSize)) throw new Error(`--block ${o.block}: 16, 32, 64, 128 or 256`);
const reps = Number(o.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps ${o.reps}: a whole number from 1`);
const targetMs = Number(o['target-ms']);
if (!(targetMs > 0)) throw new Error(`--target-ms ${o['target-ms']}: a positive number`);
const timing: TimingOptions = { warmup: 1, reps, targetMs, maxIters: 200, cpuMaxFlop: 0 };

const DEFAULT_SHAPES = [1, 64, 512].flatMap((M) => [[576, 576], [576, 192], [576, 1536], [1536, 576]].map(([K, N]) => `${M}x${K}x${N}`));
const shapes: Shape[] = (o.shapes?.split(',') ?? DEFAULT_SHAPES).map((s) => {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(s.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1 || Number(m[3]) < 1) throw new Error(`--shapes: "${s}" is not MxKxN (e.g. 64x576x1536)`);
  return { M: Number(m[1]), C: Number(m[2]), OC: Number(m[3]) };
});

interface Row {
  method: string;
  ms: number; // median per product
  minMs: number;
  maxMs: number;
  gflops: number;
  maxAbsErr: number;
  errTol: number;
}

const log = (l: string) => process.stderr.write(l + '\n');

/** The shape's weight, quantized by the ONNX quantizer (the codes ORT's node and our kernel read), and its MatMulNBits model. */
function quantized({ M, C, OC }: Shape): { q: BlockQuantized; model: Uint8Array } {
  const w = benchWeight(M, C, OC);
  const { bytes, weights } = quantizeOnnx(matmulModel('matmul', M, C, OC, w), { bits, blockSize, zeroPoints: false });
  const q = [...weights.values()][0];
  if (!q) throw new Error('the quantizer left the weight unquantized');
  return { q, model: bytes };
}

function row(method: string, shape: Shape, t: Awaited<ReturnType<typeof measure>>, check: ReturnType<typeof spotCheck>): Row {
  if (!(check.maxAbsErr <= check.errTol)) throw new Error(`${method}: max error ${check.maxAbsErr} above ${check.errTol}`);
  return {
    method, ms: t.msPerIter, minMs: t.minMsPerIter, maxMs: Math.max(...t.samplesMs),
    gflops: flopOf(shape) / (t.msPerIter * 1e6), maxAbsErr: check.maxAbsErr, errTol: check.errTol,
  };
}

async function benchOurs(engine: Engine, shape: Shape, q: BlockQuantized, dq: Float32Array, variant: string): Promise<Row> {
  const { M, C, OC } = shape;
  const inp = benchInput(M, C, OC);
  const w = uploadBlockQuantized(engine, q, 'bench.w');
  const inpT = engine.fromArray(inp, [M * C], 'f32', 'bench.inp');
  const outT = engine.tensor([M * OC], 'f32', 'bench.out');
  try {
    const t = await measure(() => matmulNBitsForward(engine, outT, inpT, w, null, M, { variant }), () => engine.sync(), timing);
    return row(variant, shape, t, spotCheck(await engine.readF32(outT), inp, dq, shape));
  } finally {
    releaseQuantTensor(engine, w);
    engine.release(inpT, outT);
  }
}

async function readBuffer(device: GPUDevice, buf: GPUBuffer, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

/** ORT's webgpu EP, input and output bound as GPU buffers (bench/matmul.ts's benchOrtWebgpu). */
async function benchOrt(ort: OrtModule, shape: Shape, model: Uint8Array, dq: Float32Array): Promise<Row> {
  const { M, C, OC } = shape;
  const inp = benchInput(M, C, OC);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['webgpu'], preferredOutputLocation: 'gpu-buffer', logSeverityLevel: 3 });
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const inpBuf = device.createBuffer({ size: inp.byteLength, usage });
  const outBuf = device.createBuffer({ size: M * OC * 4, usage });
  device.queue.writeBuffer(inpBuf, 0, inp);
  try {
    const feeds = { [session.inputNames[0]!]: ort.Tensor.fromGpuBuffer(inpBuf, { dataType: 'float32', dims: [M, C] }) };
    const fetches = { [session.outputNames[0]!]: ort.Tensor.fromGpuBuffer(outBuf, { dataType: 'float32', dims: [M, OC] }) };
    const t = await measure(() => session.run(feeds, fetches), () => device.queue.onSubmittedWorkDone(), timing);
    return row('ort-webgpu', shape, t, spotCheck(await readBuffer(device, outBuf, M * OC * 4), inp, dq, shape));
  } finally {
    await session.release();
    inpBuf.destroy();
    outBuf.destroy();
  }
}

/** onnxruntime-web/webgpu in Node on a Dawn instance of its own (as bench/real-shapes.ts sets it up). */
async function loadOrt(): Promise<OrtModule> {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const queue = (globals as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const writeBuffer = queue.writeBuffer;
  queue.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource, dataOffset?: number, size?: number) {
    const copy = ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer ? (data as Uint8Array).slice() : data;
    return writeBuffer.call(this, buffer, offset, copy as BufferSource, dataOffset, size);
  } as GPUQueue['writeBuffer'];
  if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
    Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu: create([]) }, configurable: true });
  }
  const ort = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
  ort.env.wasm.numThreads = 1;
  return ort;
}

const engine = await createNodeEngine();
const r = engine.report;
const variants = o.variants?.split(',').map((v) => v.trim()) ?? applicableVariants('matmul_nbits_forward', r).map((v) => v.name);
const ort = o.ort ? await loadOrt() : null;
const started = new Date();
log(`adapter: ${r.vendor} / ${r.architecture} / ${r.description}; ${bits} bits, blocks of ${blockSize}; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const results: { shape: Shape; rows: (Row | { method: string; error: string })[] }[] = [];
try {
  for (const shape of shapes) {
    const { q, model } = quantized(shape);
    const dq = dequantize(q);
    const rows: (Row | { method: string; error: string })[] = [];
    const methods = [...variants, ...(ort ? ['ort-webgpu'] : [])];
    for (const m of methods) {
      try {
        const res = m === 'ort-webgpu' ? await benchOrt(ort!, shape, model, dq) : await benchOurs(engine, shape, q, dq, m);
        rows.push(res);
        log(`${shape.M}x${shape.C}x${shape.OC} ${m}: ${res.ms.toFixed(3)} ms [${res.minMs.toFixed(3)}-${res.maxMs.toFixed(3)}] ${res.gflops.toFixed(2)} GFLOP/s (max err ${res.maxAbsErr.toExponential(1)})`);
      } catch (e) {
        rows.push({ method: m, error: e instanceof Error ? e.message : String(e) });
        log(`${shape.M}x${shape.C}x${shape.OC} ${m}: ERROR ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    results.push({ shape, rows });
  }
} finally {
  engine.destroy();
}

// A markdown table: ms per product, median [min-max] of the repetitions.
const methods = [...variants, ...(ort ? ['ort-webgpu'] : [])];
const cell = (x: Row | { method: string; error: string } | undefined) => (!x ? '-' : 'error' in x ? 'error' : `${x.ms.toFixed(3)} [${x.minMs.toFixed(3)}-${x.maxMs.toFixed(3)}]`);
process.stdout.write(`| M x K x N | ${methods.join(' | ')} |\n|---|${methods.map(() => '---:').join('|')}|\n`);
for (const { shape, rows } of results) {
  process.stdout.write(`| ${shape.M} x ${shape.C} x ${shape.OC} | ${methods.map((m) => cell(rows.find((x) => x.method === m))).join(' | ')} |\n`);
}
log(`load at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
if (o.out) {
  const file = resolve(o.out);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ benchmark: 'matmul-nbits', date: started.toISOString(), adapter: { vendor: r.vendor, architecture: r.architecture, description: r.description }, bits, blockSize, timing, results }, null, 1) + '\n');
}
process.exit(0);
