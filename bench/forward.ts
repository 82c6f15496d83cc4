// The forward benchmark in the page (bench/index.html), driven by scripts/bench.mjs: tokens/s of a
// whole forward pass (ids → logits for every position) of the demo model on our engine, on
// onnxruntime-web's webgpu EP and on its wasm EP, all in this one page on this one adapter.
// The runner calls `window.runForwardBench(config)`.
import type * as Ort from 'onnxruntime-web';
import { createBrowserEngine } from '../src/engine/browser.js';
import { loadModel, type LoadedModel } from '../src/engine/model/load.js';
import { referenceFeeds } from '../src/engine/model/ort-reference.js';
import { urlSource } from '../src/engine/model/source.js';
import { TransformerModel } from '../src/engine/transformer/model.js';
import { measure, type AdapterInfo, type TimingOptions } from './core.js';
import {
  BENCH_LOAD_OPTIONS,
  batchIds,
  benchOursForward,
  describeForward,
  forwardError,
  forwardOk,
  maxAbsDiff,
  modelSummary,
  pickRows,
  sampleRows,
  type BatchShape,
  type ForwardMethod,
  type ForwardReport,
  type ForwardResult,
  type ForwardShapeResult,
} from './forward-core.js';

type OrtModule = typeof Ort;

export interface ForwardPageConfig {
  /** URL of the model folder (served by the runner) and the files in it. */
  modelUrl: string;
  modelFiles: string[];
  modelName: string;
  shapes: BatchShape[];
  methods: ForwardMethod[];
  timing: TimingOptions;
  threads: number;
  ortWebgpu: 'webgpu' | 'jsep';
  verbose: boolean;
}

export interface ForwardPageReport extends ForwardReport {
  userAgent: string;
  crossOriginIsolated: boolean;
  ortAdapter: AdapterInfo | null;
  ort: { version: string; webgpuBundle: string; wasmBundle: string; wasmThreads: number };
}

const log = (msg: string) => console.log(`[bench] ${msg}`);

function logitsName(session: Ort.InferenceSession): string {
  return session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
}

/**
 * onnxruntime-web's webgpu EP: ids, mask and positions from the CPU (as ours are uploaded), every
 * output left on its device (`preferredOutputLocation: 'gpu-buffer'`) and disposed after the run.
 * The empty KV cache the graph wants is fed too (the demo model is exported with past inputs).
 */
async function benchOrtWebgpu(ort: OrtModule, session: Ort.InferenceSession, model: LoadedModel, shape: BatchShape, o: TimingOptions, reference: Float32Array): Promise<ForwardResult> {
  const V = model.config.vocabSize;
  const feeds = referenceFeeds(ort, model, { B: shape.B, T: shape.T, ids: batchIds(shape, V) });
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const first = await session.run(feeds);
  const logits = (await first[logitsName(session)]!.getData()) as Float32Array;
  for (const t of Object.values(first)) t.dispose();
  const t = await measure(
    async () => {
      const out = await session.run(feeds);
      for (const x of Object.values(out)) x.dispose();
    },
    () => device.queue.onSubmittedWorkDone(),
    o,
  );
  return forwardOk(shape, t, maxAbsDiff(pickRows(logits, sampleRows(shape), V), reference));
}

/** onnxruntime-web's wasm EP (CPU, SIMD, `threads` threads): logits come back in the JS heap. */
async function benchOrtWasm(ort: OrtModule, session: Ort.InferenceSession, model: LoadedModel, shape: BatchShape, o: TimingOptions, reference: Float32Array): Promise<ForwardResult> {
  const V = model.config.vocabSize;
  const feeds = referenceFeeds(ort, model, { B: shape.B, T: shape.T, ids: batchIds(shape, V) });
  const name = logitsName(session);
  let logits: Float32Array | undefined;
  const t = await measure(async () => {
    logits = (await session.run(feeds, [name]))[name]!.data as Float32Array;
  }, async () => {}, o);
  return forwardOk(shape, t, maxAbsDiff(pickRows(logits!, sampleRows(shape), V), reference));
}

function describe(info: GPUAdapterInfo | undefined): AdapterInfo {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
  };
}

async function run(config: ForwardPageConfig): Promise<ForwardPageReport> {
  const want = new Set(config.methods);
  const engine = await createBrowserEngine();
  log(`our adapter: ${engine.report.vendor} / ${engine.report.architecture} / ${engine.report.description}`);
  // The same loader as the studio: a Hub-style folder by URL.
  const loaded = await loadModel(urlSource(config.modelUrl, { files: config.modelFiles }), BENCH_LOAD_OPTIONS);
  const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  log(`model ${config.modelName}: ${loaded.arch}, ${loaded.parameterCount} parameters, V ${loaded.config.vocabSize}`);

  const webgpuBundle = config.ortWebgpu === 'jsep' ? 'onnxruntime-web/all' : 'onnxruntime-web/webgpu';
  const ortGpu: OrtModule = config.ortWebgpu === 'jsep' ? await import('onnxruntime-web/all') : await import('onnxruntime-web/webgpu');
  const ortWasm: OrtModule = await import('onnxruntime-web/wasm');
  for (const ort of [ortGpu, ortWasm]) {
    ort.env.wasm.numThreads = config.threads;
    ort.env.logLevel = config.verbose ? 'verbose' : 'warning';
  }
  const sessionOptions = (ep: string): Ort.InferenceSession.SessionOptions => ({
    executionProviders: [ep],
    externalData: loaded.externalData(),
    logSeverityLevel: config.verbose ? 0 : 2,
    ...(ep === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
  });
  // The wasm session is the reference every column is checked against, so it always exists.
  const wasmSession = await ortWasm.InferenceSession.create(loaded.onnx.modelBytes, sessionOptions('wasm'));
  const gpuSession = want.has('ort-webgpu') ? await ortGpu.InferenceSession.create(loaded.onnx.modelBytes, sessionOptions('webgpu')).catch((e: Error) => e) : null;
  let ortAdapter: AdapterInfo | null = null;
  if (gpuSession && !(gpuSession instanceof Error)) ortAdapter = describe(((await ortGpu.env.webgpu.device) as GPUDevice).adapterInfo);

  const results: ForwardShapeResult[] = [];
  try {
    for (const shape of config.shapes) {
      const row: ForwardShapeResult = { ...shape, methods: {} };
      results.push(row);
      const V = loaded.config.vocabSize;
      const feeds = referenceFeeds(ortWasm, loaded, { B: shape.B, T: shape.T, ids: batchIds(shape, V) });
      const name = logitsName(wasmSession);
      const reference = pickRows((await wasmSession.run(feeds, [name]))[name]!.data as Float32Array, sampleRows(shape), V);
      const steps: [ForwardMethod, () => Promise<ForwardResult>][] = [
        ['ours', async () => (await benchOursForward(engine, model, shape, config.timing, reference)).result],
        ['ort-webgpu', async () => {
          if (gpuSession instanceof Error) throw gpuSession;
          // ORT's webgpu EP runs fp16 weights only with shader-f16 (SwiftShader has none); say so
          // instead of its shader-generation error.
          const device = (await ortGpu.env.webgpu.device) as GPUDevice;
          if (modelSummary(config.modelName, loaded).dtype.includes('f16') && !device.features.has('shader-f16')) {
            return { status: 'skipped', reason: "fp16 model and ORT's device has no shader-f16" };
          }
          return benchOrtWebgpu(ortGpu, gpuSession!, loaded, shape, config.timing, reference);
        }],
        ['ort-wasm', () => benchOrtWasm(ortWasm, wasmSession, loaded, shape, config.timing, reference)],
      ];
      for (const [method, bench] of steps) {
        if (!want.has(method)) continue;
        const r = await bench().catch(forwardError);
        row.methods[method] = r;
        log(describeForward(shape, method, r));
      }
    }
  } finally {
    await wasmSession.release();
    if (gpuSession && !(gpuSession instanceof Error)) await gpuSession.release();
    model.destroy();
  }
  const report: ForwardPageReport = {
    userAgent: navigator.userAgent,
    crossOriginIsolated,
    adapter: {
      vendor: engine.report.vendor,
      architecture: engine.report.architecture,
      description: engine.report.description,
      isFallbackAdapter: engine.report.isFallbackAdapter,
      features: engine.report.features,
    },
    ortAdapter,
    ort: { version: ortGpu.env.versions.web ?? '?', webgpuBundle, wasmBundle: 'onnxruntime-web/wasm', wasmThreads: config.threads },
    model: modelSummary(config.modelName, loaded),
    results,
  };
  engine.destroy();
  return report;
}

declare global {
  interface Window {
    runForwardBench?: (config: ForwardPageConfig) => Promise<ForwardPageReport>;
  }
}

window.runForwardBench = run;
