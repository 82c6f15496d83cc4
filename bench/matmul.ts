// The benchmark page (bench/index.html), driven by scripts/bench.mjs: for each shape, our WGSL
// matmul, onnxruntime-web's Gemm/MatMul on its webgpu and wasm execution providers, and the plain
// TypeScript loop, all in this one page on this one adapter. The runner calls
// `window.runMatmulBench(config)` and reads back a `PageReport`.
import type * as Ort from 'onnxruntime-web';
import { createBrowserEngine } from '../src/engine/browser.js';
import {
  benchOurs,
  benchTsLoop,
  describeResult,
  errorResult,
  flopOf,
  measure,
  okResult,
  operands,
  spotCheck,
  type AdapterInfo,
  type Method,
  type MethodResult,
  type Shape,
  type ShapeResult,
  type TimingOptions,
} from './core.js';
import { measureCeiling, type Ceiling } from './peak.js';
import { variantList } from './variant-list.js';

type OrtModule = typeof Ort;
type OnnxOp = 'gemm' | 'matmul';

export interface PageConfig {
  shapes: Shape[];
  methods: Method[];
  timing: TimingOptions;
  /** onnxruntime-web wasm threads (needs a cross-origin isolated page beyond 1). */
  threads: number;
  /**
   * Which onnxruntime-web build runs the webgpu EP: 'webgpu' = `onnxruntime-web/webgpu` (the
   * native C++ WebGPU EP compiled to wasm), 'jsep' = `onnxruntime-web/all` (the older JavaScript EP).
   */
  ortWebgpu: 'webgpu' | 'jsep';
  /** onnxruntime-web's verbose log (node placement, kernels) on the console. */
  verbose: boolean;
  /** Forward variants of our matmul to time besides `ours` (names, or ['all']). */
  variants?: string[];
}

export interface PageReport {
  userAgent: string;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  /** The adapter our engine got. */
  adapter: AdapterInfo;
  /** The adapter behind onnxruntime-web's webgpu device (null when its columns did not run). */
  ortAdapter: AdapterInfo | null;
  ort: { version: string; webgpuBundle: string; wasmBundle: string; wasmThreads: number };
  /** The adapter's measured FMA and bandwidth peaks, on our engine's device (bench/peak.ts). */
  ceiling: Ceiling;
  results: ShapeResult[];
}

const log = (msg: string) => console.log(`[bench] ${msg}`);

async function modelBytes(op: OnnxOp, { M, C, OC }: Shape): Promise<Uint8Array> {
  // Served by scripts/bench.mjs from bench/onnx-model.mjs with the same seeded weight.
  const res = await fetch(`/__bench/model/${op}/${M}x${C}x${OC}.onnx`);
  if (!res.ok) throw new Error(`model ${op} ${M}x${C}x${OC}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function describe(info: GPUAdapterInfo | undefined): AdapterInfo {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
  };
}

async function readBuffer(device: GPUDevice, buffer: GPUBuffer, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

/**
 * onnxruntime-web on its webgpu EP with the input and the output in GPU buffers on ORT's own
 * device (Tensor.fromGpuBuffer, output bound in advance), so each run is the kernel plus ORT's
 * per-run host work, with no upload or download.
 */
async function benchOrtWebgpu(ort: OrtModule, op: OnnxOp, shape: Shape, o: TimingOptions): Promise<MethodResult> {
  const { M, C, OC } = shape;
  const { inp, weight } = operands(shape);
  const session = await ort.InferenceSession.create(await modelBytes(op, shape), {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
    logSeverityLevel: ort.env.logLevel === 'verbose' ? 0 : 2,
  });
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const inpBuf = device.createBuffer({ size: inp.byteLength, usage, label: 'bench.ort.A' }); // (M, C)
  const outBuf = device.createBuffer({ size: M * OC * 4, usage, label: 'bench.ort.Y' }); // (M, OC)
  device.queue.writeBuffer(inpBuf, 0, inp);
  try {
    const feeds = { A: ort.Tensor.fromGpuBuffer(inpBuf, { dataType: 'float32', dims: [M, C] }) };
    const fetches = { Y: ort.Tensor.fromGpuBuffer(outBuf, { dataType: 'float32', dims: [M, OC] }) };
    const t = await measure(
      () => session.run(feeds, fetches),
      () => device.queue.onSubmittedWorkDone(),
      o,
    );
    return okResult(shape, t, spotCheck(await readBuffer(device, outBuf, M * OC * 4), inp, weight, shape));
  } finally {
    await session.release();
    inpBuf.destroy();
    outBuf.destroy();
  }
}

/**
 * onnxruntime-web on its wasm EP (CPU, SIMD, `threads` threads). Each run copies A into the wasm
 * heap and Y out of it, as any caller's would: onnxruntime-web 1.30 accepts a pre-allocated CPU
 * output but never writes the result into it (it binds only GPU outputs), so none is given.
 */
async function benchOrtWasm(ort: OrtModule, op: OnnxOp, shape: Shape, o: TimingOptions): Promise<MethodResult> {
  const { M, C } = shape;
  const { inp, weight } = operands(shape);
  const session = await ort.InferenceSession.create(await modelBytes(op, shape), {
    executionProviders: ['wasm'],
    logSeverityLevel: ort.env.logLevel === 'verbose' ? 0 : 2,
  });
  try {
    const feeds = { A: new ort.Tensor('float32', inp, [M, C]) };
    let out: Float32Array | undefined; // (M, OC)
    const t = await measure(async () => {
      out = (await session.run(feeds)).Y!.data as Float32Array;
    }, async () => {}, o);
    return okResult(shape, t, spotCheck(out!, inp, weight, shape));
  } finally {
    await session.release();
  }
}

async function run(config: PageConfig): Promise<PageReport> {
  const want = new Set(config.methods);
  const engine = await createBrowserEngine();
  log(`our adapter: ${engine.report.vendor} / ${engine.report.architecture} / ${engine.report.description}`);

  // Two separate onnxruntime-web instances: the webgpu build for the webgpu EP, and for the wasm
  // EP the plain wasm build, the one a CPU-only page loads (the webgpu build is a different wasm).
  const webgpuBundle = config.ortWebgpu === 'jsep' ? 'onnxruntime-web/all' : 'onnxruntime-web/webgpu';
  const ortGpu: OrtModule = config.ortWebgpu === 'jsep'
    ? await import('onnxruntime-web/all')
    : await import('onnxruntime-web/webgpu');
  const ortWasm: OrtModule = await import('onnxruntime-web/wasm');
  for (const ort of [ortGpu, ortWasm]) {
    ort.env.wasm.numThreads = config.threads;
    ort.env.logLevel = config.verbose ? 'verbose' : 'warning';
  }

  const ceiling = await measureCeiling(engine, config.timing, (m) => console.log(m));
  const variants = variantList(engine, config.variants);
  const results: ShapeResult[] = [];
  let ortAdapter: AdapterInfo | null = null;
  for (const shape of config.shapes) {
    const row: ShapeResult = { ...shape, flop: flopOf(shape), methods: {} };
    results.push(row);
    const steps: [Method, () => Promise<MethodResult>][] = [
      ['ours', () => benchOurs(engine, shape, config.timing)],
      ['ort-webgpu-gemm', () => benchOrtWebgpu(ortGpu, 'gemm', shape, config.timing)],
      ['ort-webgpu-matmul', () => benchOrtWebgpu(ortGpu, 'matmul', shape, config.timing)],
      ['ort-wasm-gemm', () => benchOrtWasm(ortWasm, 'gemm', shape, config.timing)],
      ['ort-wasm-matmul', () => benchOrtWasm(ortWasm, 'matmul', shape, config.timing)],
      ['ts-loop', () => benchTsLoop(shape, config.timing)],
    ];
    for (const [method, bench] of steps) {
      if (!want.has(method)) continue;
      const r = await bench().catch(errorResult);
      row.methods[method] = r;
      if (method.startsWith('ort-webgpu') && !ortAdapter && r.status === 'ok') {
        ortAdapter = describe(((await ortGpu.env.webgpu.device) as GPUDevice).adapterInfo);
      }
      log(describeResult(shape, method, r));
    }
    for (const v of variants) {
      if (v === 'subgroup' && shape.M > 16) continue; // a decoding layout: timed only for few rows
      (row.variants ??= {})[v] = await benchOurs(engine, shape, config.timing, v).catch(errorResult);
      log(`${describeResult(shape, 'ours', row.variants[v]!)} [variant ${v}]`);
    }
  }
  const report: PageReport = {
    userAgent: navigator.userAgent,
    crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
    adapter: {
      vendor: engine.report.vendor,
      architecture: engine.report.architecture,
      description: engine.report.description,
      isFallbackAdapter: engine.report.isFallbackAdapter,
      features: engine.report.features,
    },
    ortAdapter,
    ceiling,
    ort: { version: ortGpu.env.versions.web ?? '?', webgpuBundle, wasmBundle: 'onnxruntime-web/wasm', wasmThreads: config.threads },
    results,
  };
  engine.destroy();
  return report;
}

declare global {
  interface Window {
    runMatmulBench?: (config: PageConfig) => Promise<PageReport>;
  }
}

window.runMatmulBench = run;
document.getElementById('status')!.textContent = 'ready';
