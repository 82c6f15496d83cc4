// The real-shapes benchmark (issue 12; BENCHMARKS.md "Real shapes"): for each precision variant of
// a model folder (bench/make-variants.ts writes onnx/model_fp16.onnx and onnx/model_q4.onnx beside
// the f32 model.onnx), all in this one Node process on one adapter (Dawn; set VK_ICD_FILENAMES):
//   load:    loadModel (read, parse, recognise) then TransformerModel.create and a sync (upload to
//            the GPU); then the first forward, which compiles the pipelines;
//   forward: tokens/s of ids → logits for every position: ours (bench/forward-core.ts), and
//            onnxruntime-web on the same file, its webgpu EP (on the same adapter: navigator.gpu
//            is a second Dawn instance) and its wasm EP; ours checked against ORT wasm's logits;
//   train:   DPO with LoRA, reference log-probs cached (bench/train-core.ts: tokens/s, step /
//            forward, peak pool bytes against the minimum, the Trainer's estimate);
// then the peer: bench/torch_lora_dpo.py, a PyTorch CPU LoRA-DPO step at the same shape.
//
//   VK_ICD_FILENAMES=... npx tsx bench/real-shapes.ts --model DIR [--dtypes fp32,fp16,q4]
//     [--forward 1x64] [--train 1x64] [--reps 1] [--warmup 0] [--train-warmup 1] [--threads 2]
//     [--forward-methods ours,ort-webgpu,ort-wasm] [--no-train] [--no-torch] [--torch-steps 2] [--out FILE]
// Prints a markdown table and writes bench-results/real-shapes-<date>.json.
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Ort from 'onnxruntime-web';
import { createNodeEngine } from '../src/engine/node.js';
import type { Engine } from '../src/engine/gpu/engine.js';
import type { OnnxDtype } from '../src/engine/model/layout.js';
import { loadModel, type LoadedModel } from '../src/engine/model/load.js';
import { referenceFeeds } from '../src/engine/model/ort-reference.js';
import { nodeDirSource } from '../src/engine/model/source-node.js';
import { TransformerModel } from '../src/engine/transformer/model.js';
import { fromF16Array } from '../src/engine/f16.js';
import { measure, type TimingOptions } from './core.js';
import { BENCH_LOAD_OPTIONS, LOGITS_TOL, batchIds, benchOursForward, forwardError, forwardOk, maxAbsDiff, modelSummary, pickRows, sampleRows, type BatchShape, type ForwardResult } from './forward-core.js';
import { benchTrainShape, describeTrain, trainError, type TrainResult } from './train-core.js';

type OrtModule = typeof Ort;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    model: { type: 'string' },
    dtypes: { type: 'string', default: 'fp32,fp16,q4' },
    forward: { type: 'string', default: '1x64' },
    train: { type: 'string', default: '1x64' },
    reps: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '0' },
    'train-warmup': { type: 'string', default: '1' },
    threads: { type: 'string', default: String(Math.min(4, availableParallelism())) },
    'forward-methods': { type: 'string', default: 'ours,ort-webgpu,ort-wasm' },
    'lora-r': { type: 'string', default: '8' },
    'no-train': { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    'torch-steps': { type: 'string', default: '2' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const USAGE = 'usage: npx tsx bench/real-shapes.ts --model DIR [--dtypes fp32,fp16,q4] [--forward BxT] [--train BxT] [--reps N] [--warmup N] [--train-warmup N] [--threads N] [--forward-methods ours,ort-webgpu,ort-wasm] [--no-train] [--no-torch] [--torch-steps N] [--out FILE]';
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!opt.model) throw new Error(USAGE);
const modelDir = resolve(opt.model);
if (!statSync(modelDir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--model ${opt.model}: not a folder`);
const int = (name: string, text: string, min = 1) => {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} ${text}: want an integer >= ${min}`);
  return v;
};
const shapeOf = (name: string, text: string): BatchShape => {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--${name} ${text}: want BxT`);
  return { B: Number(m[1]), T: Number(m[2]) };
};
const dtypes = opt.dtypes.split(',').map((d) => d.trim()) as OnnxDtype[];
const fwdShape = shapeOf('forward', opt.forward);
const trainShape = shapeOf('train', opt.train);
const methods = new Set(opt['forward-methods'].split(',').map((m) => m.trim()));
for (const m of methods) if (!['ours', 'ort-webgpu', 'ort-wasm'].includes(m)) throw new Error(`--forward-methods: "${m}" is not ours, ort-webgpu or ort-wasm`);
const threads = int('threads', opt.threads);
const timing: TimingOptions = { warmup: int('warmup', opt.warmup, 0), reps: int('reps', opt.reps), iters: 1, targetMs: 0, maxIters: 1, cpuMaxFlop: 0 };
// The first step compiles the backward's pipelines (lavapipe: LLVM, seconds each): one warm-up step by default.
const trainTiming: TimingOptions = { ...timing, warmup: int('train-warmup', opt['train-warmup'], 0) };
const settings = { loraR: int('lora-r', opt['lora-r']), targets: 'all-linear' as const };
const started = new Date();
const log = (msg: string) => process.stderr.write(`[real-shapes ${new Date().toISOString().slice(11, 19)} load ${loadavg()[0]!.toFixed(1)}] ${msg}\n`);
const secs = (ms: number) => (ms / 1000).toFixed(1);

interface LoadFigures {
  file: string;
  fileBytes: number;
  /** loadModel: read, parse, recognise, weights on the host. */
  readMs: number;
  /** TransformerModel.create + sync: weights on the GPU. */
  uploadMs: number;
  /** The first forward at the forward shape: compiles the pipelines (lavapipe: LLVM). */
  firstForwardMs: number;
  gpuWeightBytes: number;
}

interface VariantResult {
  dtype: OnnxDtype;
  status: 'ok' | 'error';
  message?: string;
  model?: ReturnType<typeof modelSummary>;
  load?: LoadFigures;
  forward: Partial<Record<'ours' | 'ort-webgpu' | 'ort-wasm', OrtForward & { maxAbsLogit?: number; reference?: 'ort-wasm' | 'ort-webgpu' }>>;
  train?: TrainResult;
}

/** Logits (B, T, V) from an ORT session's output, as f32. */
async function logitsOf(t: Ort.Tensor): Promise<Float32Array> {
  const data = await t.getData();
  return t.type === 'float16' ? fromF16Array(data as Uint16Array) : (data as Float32Array);
}

/** The f16 file's logits are computed in f16 by ORT: allow 20 f16 ulps of the largest logit; f32 activations elsewhere. */
function tolFor(dtype: OnnxDtype, maxAbsLogit: number): number {
  return dtype === 'fp16' || dtype === 'q4f16' ? Math.max(LOGITS_TOL, 20 * 2 ** -11 * maxAbsLogit) : LOGITS_TOL;
}

type OrtForward = ForwardResult & { sessionCreateMs?: number; firstRunMs?: number };

/**
 * The external data files as ORT wants them: the ones the loader holds whole, and those it read
 * tensor by tensor (over 1 GiB: Qwen2.5-0.5B's f32 model.onnx_data) read here from disk in
 * pieces (Node's readFile stops at 2 GiB).
 */
function ortExternalData(loaded: LoadedModel): { path: string; data: Uint8Array }[] {
  const held = loaded.externalData();
  const dir = loaded.onnx.file.includes('/') ? loaded.onnx.file.slice(0, loaded.onnx.file.lastIndexOf('/') + 1) : '';
  const files = new Set(loaded.store.externalTensors().map((t) => t.external!.file));
  for (const file of files) {
    const path = file.startsWith(dir) ? file.slice(dir.length) : file;
    if (held.some((h) => h.path === path)) continue;
    const fd = openSync(join(modelDir, file), 'r');
    try {
      const data = new Uint8Array(fstatSync(fd).size);
      for (let at = 0; at < data.length; ) at += readSync(fd, data, at, Math.min(1 << 30, data.length - at), at);
      held.push({ path, data });
    } finally {
      closeSync(fd);
    }
  }
  return held;
}

async function ortForward(ort: OrtModule, ep: 'wasm' | 'webgpu', loaded: LoadedModel, shape: BatchShape, reference: Float32Array | null): Promise<{ result: OrtForward; sampled: Float32Array }> {
  const c0 = performance.now();
  const session = await ort.InferenceSession.create(loaded.onnx.modelBytes, {
    executionProviders: [ep],
    externalData: ortExternalData(loaded),
    logSeverityLevel: 3,
    ...(ep === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
  });
  const sessionCreateMs = performance.now() - c0;
  try {
    const V = loaded.config.vocabSize;
    const feeds = referenceFeeds(ort, loaded, { B: shape.B, T: shape.T, ids: batchIds(shape, V) });
    const name = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
    // The first run (kernel compilation, allocations) gives the logits to check; untimed.
    const f0 = performance.now();
    const first = await session.run(feeds);
    const sampled = pickRows(await logitsOf(first[name]!), sampleRows(shape), V);
    for (const t of Object.values(first)) t.dispose();
    const firstRunMs = performance.now() - f0;
    const device = ep === 'webgpu' ? ((await ort.env.webgpu.device) as GPUDevice) : null;
    const t = await measure(
      async () => {
        const out = await session.run(feeds);
        for (const x of Object.values(out)) x.dispose();
      },
      async () => {
        if (device) await device.queue.onSubmittedWorkDone();
      },
      timing,
    );
    return { result: { ...forwardOk(shape, t, reference ? maxAbsDiff(sampled, reference) : null), sessionCreateMs, firstRunMs }, sampled };
  } finally {
    await session.release();
  }
}

async function runVariant(dtype: OnnxDtype, ort: { wasm: OrtModule; webgpu: OrtModule | null }): Promise<VariantResult> {
  const res: VariantResult = { dtype, status: 'ok', forward: {} };
  let engine: Engine | null = null;
  let model: TransformerModel | null = null;
  try {
    engine = await createNodeEngine();
    const t0 = performance.now();
    const loaded = await loadModel(nodeDirSource(modelDir), { ...BENCH_LOAD_OPTIONS, dtype, tokenizer: false });
    const t1 = performance.now();
    model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
    await engine.sync();
    const t2 = performance.now();
    const gpuWeightBytes = engine.pool.stats.bytesAllocated;
    res.model = modelSummary(basename(modelDir), loaded);
    const file = loaded.layout.onnx;
    const st = statSync(join(modelDir, file));
    log(`${dtype}: ${file} (${(st.size / 2 ** 20).toFixed(0)} MiB, ${res.model.dtype}): read ${secs(t1 - t0)} s, upload ${secs(t2 - t1)} s, ${(gpuWeightBytes / 2 ** 20).toFixed(0)} MiB on the GPU`);

    // Ours first (its first forward compiles the pipelines), then the reference (ORT wasm), then ORT webgpu.
    const V = loaded.config.vocabSize;
    const t3 = performance.now();
    await model.logits({ B: fwdShape.B, T: fwdShape.T, ids: batchIds(fwdShape, V), mask: null });
    const firstForwardMs = performance.now() - t3;
    res.load = { file, fileBytes: st.size, readMs: t1 - t0, uploadMs: t2 - t1, firstForwardMs, gpuWeightBytes };
    log(`${dtype}: first forward ${fwdShape.B}x${fwdShape.T} (compiles pipelines) ${secs(firstForwardMs)} s`);

    let reference: Float32Array | null = null;
    let referenceName: 'ort-wasm' | 'ort-webgpu' = 'ort-wasm';
    let maxAbsLogit = 0;
    if (methods.has('ort-wasm')) {
      const r = await ortForward(ort.wasm, 'wasm', loaded, fwdShape, null).catch((e: unknown) => ({ result: forwardError(e), sampled: null }));
      if (r.sampled) {
        reference = r.sampled;
        maxAbsLogit = r.sampled.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      }
      res.forward['ort-wasm'] = r.result;
      log(`${dtype}: ORT wasm forward ${describe(r.result)}`);
    }
    // ORT webgpu; when ORT wasm gave no logits (it cannot open a 1.2 GiB inline f16 file:
    // std::bad_alloc), ORT webgpu runs first and its logits are the reference for ours.
    const webgpu = async (): Promise<void> => {
      if (!methods.has('ort-webgpu')) return;
      let r: ForwardResult;
      let sampled: Float32Array | null = null;
      if (!ort.webgpu) r = { status: 'skipped', reason: 'onnxruntime-web/webgpu did not load in Node' };
      else ({ result: r, sampled } = await ortForward(ort.webgpu, 'webgpu', loaded, fwdShape, reference).catch((e: unknown) => ({ result: forwardError(e), sampled: null })));
      if (!reference && sampled) {
        reference = sampled;
        referenceName = 'ort-webgpu';
        maxAbsLogit = sampled.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      }
      res.forward['ort-webgpu'] = r.status === 'ok' ? { ...r, diffTol: tolFor(dtype, maxAbsLogit), maxAbsLogit } : r;
      log(`${dtype}: ORT webgpu forward ${describe(res.forward['ort-webgpu'])}`);
    };
    const webgpuFirst = !reference;
    if (webgpuFirst) await webgpu();
    if (methods.has('ours')) {
      const r = await benchOursForward(engine, model, fwdShape, timing, reference).then((x) => x.result, forwardError);
      res.forward.ours = r.status === 'ok' ? { ...r, diffTol: tolFor(dtype, maxAbsLogit), maxAbsLogit, reference: referenceName } : r;
      log(`${dtype}: ours forward ${describe(res.forward.ours)}${reference ? ` (against ${referenceName})` : ''}`);
    }
    if (!webgpuFirst) await webgpu();
    if (!opt['no-train']) {
      res.train = await benchTrainShape(engine, model, trainShape, settings, trainTiming).catch(trainError);
      log(`${dtype}: ${describeTrain(trainShape, res.train)}`);
    }
  } catch (e) {
    res.status = 'error';
    res.message = e instanceof Error ? e.message : String(e);
    log(`${dtype}: ERROR ${res.message}`);
  } finally {
    model?.destroy();
    engine?.destroy();
  }
  return res;
}

function describe(r: ForwardResult | undefined): string {
  if (!r) return '-';
  if (r.status === 'skipped') return `skipped: ${r.reason}`;
  if (r.status === 'error') return `ERROR ${r.message}`;
  return `${r.tokensPerSec.toFixed(1)} tokens/s (${r.msPerIter.toFixed(0)} ms${r.maxAbsDiff === null ? '' : `, max |logit diff| from ORT wasm ${r.maxAbsDiff.toExponential(1)}`})`;
}

function torchPeer(): Record<string, unknown> {
  const args = [join(root, 'bench/torch_lora_dpo.py'), modelDir, '--batch', `${trainShape.B}x${trainShape.T}`, '--steps', opt['torch-steps'], '--warmup', '1', '--threads', String(Math.min(threads, availableParallelism())), '--lora-r', opt['lora-r']];
  log(`PyTorch peer: /usr/bin/python3 ${args.join(' ')}`);
  try {
    const out = execFileSync('/usr/bin/python3', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    return { status: 'ok', ...JSON.parse(out.trim().split('\n').pop()!) };
  } catch (e) {
    return { status: 'error', message: e instanceof Error ? e.message : String(e) };
  }
}

// ---- main ----

// onnxruntime-web in Node: the wasm EP from the package's Node build (`onnxruntime-web`, threads
// in worker_threads); the webgpu EP from onnxruntime-web/webgpu, which finds navigator.gpu, given
// here as a Dawn instance of its own (the same adapter as ours: VK_ICD_FILENAMES picks it for
// both). That browser bundle loads its threaded wasm by fetch(), which Node cannot do for a
// file: its CPU side runs on 1 thread (the shape ops it keeps on the CPU only).
const ortWasm = (await import('onnxruntime-web')) as unknown as OrtModule;
ortWasm.env.wasm.numThreads = threads;
let ortGpu: OrtModule | null = null;
if (methods.has('ort-webgpu')) {
  try {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    // ORT's wasm memory is a SharedArrayBuffer, and it writes buffers straight from views of it;
    // Dawn's Node binding refuses such a view ("Invalid argument"): give it a copy. Our engine
    // never passes shared memory, so its writes are untouched.
    const queue = (globals as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
    const writeBuffer = queue.writeBuffer;
    queue.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource, dataOffset?: number, size?: number) {
      const copy = ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer ? (data as Uint8Array).slice() : data;
      return writeBuffer.call(this, buffer, offset, copy as BufferSource, dataOffset, size);
    } as GPUQueue['writeBuffer'];
    if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
      Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu: create([]) }, configurable: true });
    }
    ortGpu = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
    ortGpu.env.wasm.numThreads = 1;
  } catch (e) {
    log(`onnxruntime-web/webgpu: ${e instanceof Error ? e.message : String(e)}`);
  }
}
const uptimeStart = execFileSync('uptime', { encoding: 'utf8' }).trim();
log(`start: ${uptimeStart}`);
const adapterEngine = await createNodeEngine();
const adapter = { ...adapterEngine.report };
adapterEngine.destroy();
log(`our adapter: ${adapter.vendor} / ${adapter.architecture} / ${adapter.description}`);

const variants: VariantResult[] = [];
for (const d of dtypes) variants.push(await runVariant(d, { wasm: ortWasm, webgpu: ortGpu }));
const torch = opt['no-torch'] ? null : torchPeer();
const uptimeEnd = execFileSync('uptime', { encoding: 'utf8' }).trim();
log(`end: ${uptimeEnd}`);

const file = resolve(opt.out ?? join(root, 'bench-results', `real-shapes-${started.toISOString().slice(0, 19).replace(/:/g, '-')}.json`));
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify({
  benchmark: 'real-shapes',
  date: started.toISOString(),
  model: modelDir,
  host: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? '', node: process.version, ortVersion: ortWasm.env.versions.web },
  adapter: { vendor: adapter.vendor, architecture: adapter.architecture, description: adapter.description, isFallbackAdapter: adapter.isFallbackAdapter, features: adapter.features },
  uptime: { start: uptimeStart, end: uptimeEnd },
  config: { dtypes, forward: fwdShape, train: trainShape, timing, trainTiming, threads, settings, methods: [...methods] },
  variants,
  torch,
}, null, 2)}\n`);

// ---- the table ----
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const tps = (r: ForwardResult | undefined) => {
  if (!r) return '-';
  if (r.status !== 'ok') return r.status === 'skipped' ? 'skipped' : 'ERROR';
  const v = r.tokensPerSec >= 100 ? r.tokensPerSec.toFixed(0) : r.tokensPerSec.toFixed(1);
  return r.maxAbsDiff !== null && !(r.maxAbsDiff <= r.diffTol) ? `${v} WRONG` : v;
};
console.log(`\nreal shapes: ${basename(modelDir)}, forward ${fwdShape.B}x${fwdShape.T}, DPO ${trainShape.B} pair(s) x ${trainShape.T} tokens, LoRA r ${settings.loraR} all-linear; reps ${timing.reps}, warm-up forwards ${timing.warmup} (after one untimed first run), warm-up steps ${trainTiming.warmup}`);
console.log(`adapter: ${adapter.vendor} / ${adapter.architecture} / ${adapter.description}; ORT wasm ${threads} thread(s)`);
console.log(`uptime at start: ${uptimeStart}\nuptime at end:   ${uptimeEnd}\n`);
const head = ['dtype', 'file MiB', 'read s', 'upload s', 'first fwd s', 'GPU weights MiB', 'fwd tok/s ours', 'ORT webgpu', 'ORT wasm', 'ours − ORT wasm (max abs logit)', 'train tok/s', 'step ms', 'fwd ms', 'step / fwd', 'peak MiB', 'min MiB', 'peak / min', 'estimate MiB'];
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
for (const v of variants) {
  if (v.status !== 'ok' || !v.load) {
    console.log(`| ${v.dtype} | ERROR: ${v.message} |`);
    continue;
  }
  const l = v.load;
  const o = v.forward.ours;
  const t = v.train;
  const diff = o?.status === 'ok' && o.maxAbsDiff !== null ? `${o.maxAbsDiff.toExponential(1)} (${(o.maxAbsLogit ?? 0).toFixed(2)})` : '-';
  const tr = t?.status === 'ok'
    ? [t.tokensPerSec.toFixed(2), t.stepMs.toFixed(0), t.forwardMs.toFixed(0), `${t.stepOverForward.toFixed(2)}x`, mib(t.memory.peakBytes), mib(t.memory.minimumBytes), `${t.memory.ratio.toFixed(2)}x`, mib(t.memory.estimateBytes)]
    : [t ? 'ERROR' : 'not run', '-', '-', '-', '-', '-', '-', '-'];
  console.log(`| ${v.dtype} (${v.model?.dtype}) | ${mib(l.fileBytes)} | ${secs(l.readMs)} | ${secs(l.uploadMs)} | ${secs(l.firstForwardMs)} | ${mib(l.gpuWeightBytes)} | ${tps(o)} | ${tps(v.forward['ort-webgpu'])} | ${tps(v.forward['ort-wasm'])} | ${diff} | ${tr.join(' | ')} |`);
}
if (torch) {
  const t = torch as Record<string, number | string>;
  if (t.status === 'ok') {
    console.log(`| PyTorch ${t.torch} CPU, ${t.threads} threads (f32) | - | - | - | - | - | - | - | - | - | ${Number(t.tokens_per_s).toFixed(2)} | ${Number(t.step_ms).toFixed(0)} | ${Number(t.forward_ms).toFixed(0)} | ${Number(t.step_over_forward).toFixed(2)}x | ${mib(Number(t.peak_rss_bytes))} (peak RSS) | - | - | - |`);
  } else console.log(`| PyTorch | ERROR: ${t.message} |`);
}
const notes: string[] = [];
for (const v of variants) {
  for (const [m, r] of Object.entries(v.forward)) {
    if (r?.status === 'error') notes.push(`${v.dtype} ${m}: ERROR ${r.message}`);
    if (r?.status === 'skipped') notes.push(`${v.dtype} ${m}: skipped, ${r.reason}`);
    if (r?.status === 'ok' && r.maxAbsDiff !== null) notes.push(`${v.dtype} ${m}: max |logit − ORT wasm| ${r.maxAbsDiff.toExponential(2)} (tolerance ${r.diffTol.toExponential(1)})`);
    const o = r as OrtForward | undefined;
    if (o?.status === 'ok' && o.sessionCreateMs !== undefined) notes.push(`${v.dtype} ${m}: session created in ${secs(o.sessionCreateMs)} s, first run ${secs(o.firstRunMs ?? NaN)} s`);
  }
  const t = v.train;
  if (t?.status === 'error') notes.push(`${v.dtype} train: ERROR ${t.message}`);
  if (t?.status === 'ok') {
    const p = t.phases;
    notes.push(`${v.dtype} train: step phases policy forward ${p.policyForwardMs.toFixed(0)} ms, loss ${p.lossMs.toFixed(0)}, backward ${p.backwardMs.toFixed(0)}, optimizer ${p.optimizerMs.toFixed(0)}; step samples ${t.stepSamplesMs.map((x) => x.toFixed(0)).join(', ')} ms; minimum = weights ${mib(t.memory.parts.weights)} + adapter ${mib(t.memory.parts.adapter)} + activations ${mib(t.memory.parts.activations)} MiB`);
  }
}
for (const n of notes) console.log(`  ${n}`);
console.log(`\nwritten ${file}`);
process.exit(0);
