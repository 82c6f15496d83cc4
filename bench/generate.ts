// The generation benchmark in the page (bench/index.html), driven by scripts/bench.mjs
// (`--suite generate`): new tokens/s of greedy generation with a KV cache, B rows of P prompt
// tokens each generating N tokens, on our engine (src/engine/transformer/generate.ts: the
// on-policy loop's generation path) and on onnxruntime-web running the same model.onnx with the
// graph's own cache (past_key_values.N.* in, present.N.* out, fed back each step), webgpu EP
// (the cache left on its device) and wasm EP. All in this one page on this one adapter.
// The runner calls `window.runGenerateBench(config)`.
import type * as Ort from 'onnxruntime-web';
import { createBrowserEngine } from '../src/engine/browser.js';
import { loadModel, type LoadedModel } from '../src/engine/model/load.js';
import type { ValueInfo } from '../src/engine/model/onnx.js';
import { urlSource } from '../src/engine/model/source.js';
import { generate } from '../src/engine/transformer/generate.js';
import { TransformerModel } from '../src/engine/transformer/model.js';
import { argmax } from '../src/engine/transformer/sampling.js';
import type { AdapterInfo } from './core.js';
import { BENCH_LOAD_OPTIONS, modelSummary, type ForwardReport } from './forward-core.js';

type OrtModule = typeof Ort;

export const GENERATE_METHODS = ['ours', 'ort-webgpu', 'ort-wasm'] as const;
export type GenerateMethod = (typeof GENERATE_METHODS)[number];

export interface GeneratePageConfig {
  modelUrl: string;
  modelFiles: string[];
  modelName: string;
  /** Rows generated together. */
  batches: number[];
  /** Prompt tokens per row (seeded random ids) and new tokens per row. */
  promptTokens: number;
  newTokens: number;
  methods: GenerateMethod[];
  /** Untimed runs first, then timed runs (the median is reported). */
  warmup: number;
  reps: number;
  threads: number;
  ortWebgpu: 'webgpu' | 'jsep';
  verbose: boolean;
}

export type GenerateResult =
  | { status: 'ok'; msPerRun: number; samplesMs: number[]; tokensPerS: number; firstTokenMs: number; rowsAgreeing: number | null }
  | { status: 'skipped'; reason: string }
  | { status: 'error'; message: string };

export interface GenerateBatchResult {
  B: number;
  methods: Partial<Record<GenerateMethod, GenerateResult>>;
}

export interface GeneratePageReport {
  userAgent: string;
  crossOriginIsolated: boolean;
  adapter: ForwardReport['adapter'];
  ortAdapter: AdapterInfo | null;
  ort: { version: string; webgpuBundle: string; wasmBundle: string; wasmThreads: number };
  model: ForwardReport['model'];
  promptTokens: number;
  newTokens: number;
  results: GenerateBatchResult[];
}

const log = (msg: string) => console.log(`[bench] ${msg}`);

/** B prompts of P ids in [3, V), the same for every method (seeded LCG). */
function prompts(B: number, P: number, V: number): number[][] {
  let s = 0x9e3779b9 ^ (B * 7919 + P);
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  return Array.from({ length: B }, () => Array.from({ length: P }, () => 3 + Math.floor(next() * (V - 3))));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(warmup: number, reps: number, once: () => Promise<{ tokens: number[][]; firstMs: number }>): Promise<{ ms: number[]; firstMs: number[]; tokens: number[][] }> {
  let tokens: number[][] = [];
  for (let i = 0; i < warmup; i++) tokens = (await once()).tokens;
  const ms: number[] = [];
  const firstMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = await once();
    ms.push(performance.now() - t0);
    firstMs.push(r.firstMs);
    tokens = r.tokens;
  }
  return { ms, firstMs, tokens };
}

function intTensor(ort: OrtModule, info: ValueInfo | undefined, values: number[], dims: number[]): Ort.Tensor {
  if (info?.dtype === 'int32') return new ort.Tensor('int32', Int32Array.from(values), dims);
  return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
}

const presentName = (past: string) => past.replace(/^past_key_values\./, 'present.').replace(/^past_/, 'present_');

/**
 * Greedy generation with onnxruntime and the graph's own KV cache: one run over the prompts
 * (prefill), then one run per new token with the presents fed back as the pasts. Only the logits
 * come back to the CPU (the webgpu EP keeps the presents on its device).
 */
async function ortGenerate(ort: OrtModule, session: Ort.InferenceSession, model: LoadedModel, ids: number[][], N: number): Promise<{ tokens: number[][]; firstMs: number }> {
  const inputs = model.onnx.inputs;
  const info = (re: RegExp) => inputs.find((i) => re.test(i.name));
  const pasts = inputs.filter((i) => /^past/.test(i.name));
  if (!pasts.length || !pasts.every((p) => session.outputNames.includes(presentName(p.name)))) throw new Error('the graph has no KV cache inputs/outputs');
  const B = ids.length;
  const P = ids[0]!.length;
  const V = model.config.vocabSize;
  const logitsName = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
  let cache: Record<string, Ort.Tensor> = {};
  for (const p of pasts) {
    const dims = (p.shape ?? []).map((d) => (typeof d === 'number' ? d : d && /batch/.test(d) ? B : 0));
    cache[p.name] = new ort.Tensor('float32', new Float32Array(0), dims);
  }
  const tokens: number[][] = ids.map(() => []);
  let next = ids;
  let fed = 0;
  let firstMs = 0;
  const t0 = performance.now();
  for (let s = 0; s < N; s++) {
    const T = next[0]!.length;
    const feeds: Record<string, Ort.Tensor> = { ...cache };
    const idsInfo = info(/input_ids/);
    feeds[idsInfo!.name] = intTensor(ort, idsInfo, next.flat(), [B, T]);
    const mask = info(/attention_mask/);
    if (mask) feeds[mask.name] = intTensor(ort, mask, new Array<number>(B * (fed + T)).fill(1), [B, fed + T]);
    const pos = info(/position_ids/);
    if (pos) feeds[pos.name] = intTensor(ort, pos, Array.from({ length: B * T }, (_, i) => fed + (i % T)), [B, T]);
    const out = await session.run(feeds);
    const logits = (await out[logitsName]!.getData()) as Float32Array;
    for (let b = 0; b < B; b++) tokens[b]!.push(argmax(logits.subarray(((b + 1) * T - 1) * V, (b + 1) * T * V)));
    out[logitsName]!.dispose();
    for (const t of Object.values(cache)) if (t.location === 'gpu-buffer') t.dispose();
    cache = Object.fromEntries(pasts.map((p) => [p.name, out[presentName(p.name)]!]));
    fed += T;
    next = tokens.map((t) => [t.at(-1)!]);
    if (s === 0) firstMs = performance.now() - t0;
  }
  for (const t of Object.values(cache)) if (t.location === 'gpu-buffer') t.dispose();
  return { tokens, firstMs };
}

function describe(info: GPUAdapterInfo | undefined): AdapterInfo {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
  };
}

async function run(config: GeneratePageConfig): Promise<GeneratePageReport> {
  const want = new Set(config.methods);
  const engine = await createBrowserEngine();
  log(`our adapter: ${engine.report.vendor} / ${engine.report.architecture} / ${engine.report.description}`);
  const loaded = await loadModel(urlSource(config.modelUrl, { files: config.modelFiles }), BENCH_LOAD_OPTIONS);
  const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  const V = loaded.config.vocabSize;
  log(`model ${config.modelName}: ${loaded.arch}, ${loaded.parameterCount} parameters, V ${V}`);

  const webgpuBundle = config.ortWebgpu === 'jsep' ? 'onnxruntime-web/all' : 'onnxruntime-web/webgpu';
  const ortGpu: OrtModule = config.ortWebgpu === 'jsep' ? await import('onnxruntime-web/all') : await import('onnxruntime-web/webgpu');
  const ortWasm: OrtModule = await import('onnxruntime-web/wasm');
  for (const ort of [ortGpu, ortWasm]) {
    ort.env.wasm.numThreads = config.threads;
    ort.env.logLevel = config.verbose ? 'verbose' : 'warning';
  }
  const presents = loaded.onnx.outputs.map((o) => o.name).filter((n) => /^present/.test(n));
  const gpuSession = want.has('ort-webgpu')
    ? await ortGpu.InferenceSession.create(loaded.onnx.modelBytes, {
        executionProviders: ['webgpu'],
        externalData: loaded.externalData(),
        logSeverityLevel: config.verbose ? 0 : 2,
        // The cache stays on ORT's device between steps; the logits come back to choose the token.
        preferredOutputLocation: Object.fromEntries([...presents.map((n) => [n, 'gpu-buffer'] as const), ['logits', 'cpu'] as const]),
      }).catch((e: Error) => e)
    : null;
  const wasmSession = want.has('ort-wasm') ? await ortWasm.InferenceSession.create(loaded.onnx.modelBytes, { executionProviders: ['wasm'], externalData: loaded.externalData(), logSeverityLevel: config.verbose ? 0 : 2 }) : null;
  let ortAdapter: AdapterInfo | null = null;
  if (gpuSession && !(gpuSession instanceof Error)) ortAdapter = describe(((await ortGpu.env.webgpu.device) as GPUDevice).adapterInfo);

  const N = config.newTokens;
  const results: GenerateBatchResult[] = [];
  try {
    for (const B of config.batches) {
      const row: GenerateBatchResult = { B, methods: {} };
      results.push(row);
      const ids = prompts(B, config.promptTokens, V);
      let ours: number[][] | null = null;
      const steps: [GenerateMethod, () => Promise<{ ms: number[]; firstMs: number[]; tokens: number[][] }>][] = [
        ['ours', () =>
          timed(config.warmup, config.reps, async () => {
            let firstMs = 0;
            const t0 = performance.now();
            const r = await generate(model, ids, { maxNewTokens: N, temperature: 0, eosIds: [], onToken: (e) => void (e.index === 0 && e.row === 0 && (firstMs = performance.now() - t0)) });
            return { tokens: r.map((x) => x.tokens), firstMs };
          })],
        ['ort-webgpu', async () => {
          if (gpuSession instanceof Error) throw gpuSession;
          return timed(config.warmup, config.reps, () => ortGenerate(ortGpu, gpuSession!, loaded, ids, N));
        }],
        ['ort-wasm', () => timed(config.warmup, config.reps, () => ortGenerate(ortWasm, wasmSession!, loaded, ids, N))],
      ];
      for (const [method, bench] of steps) {
        if (!want.has(method)) continue;
        let r: GenerateResult;
        try {
          const t = await bench();
          if (method === 'ours') ours = t.tokens;
          const ms = median(t.ms);
          r = { status: 'ok', msPerRun: ms, samplesMs: t.ms, tokensPerS: (B * N) / (ms / 1000), firstTokenMs: median(t.firstMs), rowsAgreeing: method === 'ours' || !ours ? null : t.tokens.filter((x, b) => JSON.stringify(x) === JSON.stringify(ours![b])).length };
        } catch (e) {
          r = { status: 'error', message: e instanceof Error ? e.message : String(e) };
        }
        row.methods[method] = r;
        log(`B ${B} ${method}: ${r.status === 'ok' ? `${r.tokensPerS.toFixed(1)} new tokens/s (${r.msPerRun.toFixed(0)} ms per run, first token ${r.firstTokenMs.toFixed(0)} ms${r.rowsAgreeing !== null ? `, ${r.rowsAgreeing}/${B} rows the same tokens as ours` : ''})` : `error ${r.message}`}`);
      }
    }
  } finally {
    if (wasmSession) await wasmSession.release();
    if (gpuSession && !(gpuSession instanceof Error)) await gpuSession.release();
    model.destroy();
  }
  const report: GeneratePageReport = {
    userAgent: navigator.userAgent,
    crossOriginIsolated,
    adapter: { vendor: engine.report.vendor, architecture: engine.report.architecture, description: engine.report.description, isFallbackAdapter: engine.report.isFallbackAdapter, features: engine.report.features },
    ortAdapter,
    ort: { version: ortGpu.env.versions.web ?? '?', webgpuBundle, wasmBundle: 'onnxruntime-web/wasm', wasmThreads: config.threads },
    model: modelSummary(config.modelName, loaded),
    promptTokens: config.promptTokens,
    newTokens: N,
    results,
  };
  engine.destroy();
  return report;
}

declare global {
  interface Window {
    runGenerateBench?: (config: GeneratePageConfig) => Promise<GeneratePageReport>;
  }
}

window.runGenerateBench = run;
