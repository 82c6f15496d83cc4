#!/usr/bin/env node
// npm run bench [-- options]: three suites in one headless Chromium page on one adapter.
//   matmul:  GFLOP/s of our WGSL matmul beside onnxruntime-web (webgpu and wasm execution
//            providers) and a plain TypeScript loop;
//   forward: tokens/s of a whole forward pass of the demo model (ids → logits) on our engine
//            beside onnxruntime-web's webgpu and wasm EPs running the same .onnx file;
//   train:   DPO training tokens/s (LoRA, reference log-probs cached), step / forward ratio,
//            peak GPU memory against the theoretical minimum (also in Node: --node).
// Serves bench/ with Vite's JS API (an inline config, not vite.config.ts), drives Debian's
// Chromium through playwright-core, prints a table per suite and writes
// bench-results/<suite>-<date>.json. What is measured and how: BENCHMARKS.md.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromiumArgs, chromiumPath } from './chromium.mjs';
import { parseShapes, parseBatches, parseTrainShapes, DEFAULT_SHAPES, QUICK_SHAPES, LARGE_SHAPES, DEFAULT_BATCHES, LARGE_BATCHES } from '../bench/shapes.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const METHODS = ['ours', 'ort-webgpu-gemm', 'ort-webgpu-matmul', 'ort-wasm-gemm', 'ort-wasm-matmul', 'ts-loop'];
const NODE_METHODS = ['ours', 'ts-loop'];
const FORWARD_METHODS = ['ours', 'ort-webgpu', 'ort-wasm'];
const SUITES = ['matmul', 'forward', 'train', 'generate'];
const DEMO_MODEL = join(root, 'public/models/demo-fortunes');
// The fixtures every engineer tests against (../shared/fixtures/models), for the forward suite.
const FIXTURE_MODELS = ['tiny-random-llama-fp16', 'tiny-random-gpt2'].map((n) => join(root, '../shared/fixtures/models', n));

const HELP = `npm run bench -- [options]
  --suite S         matmul, forward, train, generate or all (default all: the first three)
 matmul:
  --shapes LIST     MxCxOC,... or a named list:
                    default: ${DEFAULT_SHAPES}
                    quick:   ${QUICK_SHAPES}
                    large:   ${LARGE_SHAPES}
                    model:   the linear layers of --model (config.json), M = the tokens of
                             the first --train-batches shape (2·B·T)
  --methods LIST    subset of ${METHODS.join(',')} (default: all)
  --iters N         iterations per timed repetition (default: enough for --target-ms)
  --reps N          timed repetitions, median reported (default 3)
  --warmup N        untimed iterations first (default 2)
  --target-ms MS    time per repetition when --iters is not given (default 400)
  --cpu-max-gflop G TS loop only where 2·M·C·OC <= G GFLOP (default 0.3)
  --variants LIST   also time these forward variants of our matmul (src/engine/tuning/variants.ts),
                    e.g. tiled8,f16 or all (every one the adapter can run); subgroup only at M <= 16
 forward:
  --model DIR       model folder for train (default public/models/demo-fortunes, the demo model);
                    for forward, the same as --models DIR
  --models LIST     forward: model folders, comma-separated; "demo" is the demo model, "fixtures"
                    the shared fixtures (tiny-random-llama-fp16, tiny-random-gpt2) (default demo,fixtures)
  --batches LIST    BxT,... or a named list:
                    default: ${DEFAULT_BATCHES}
                    large:   ${LARGE_BATCHES}
  --forward-methods LIST  subset of ${FORWARD_METHODS.join(',')} (default: all)
 train (DPO, LoRA, reference log-probs cached):
  --train-batches L pairs x tokens per sequence, BxT,... (default 4x32)
  --lora-r R        LoRA rank (default 8)
  --targets T       LoRA target modules, comma-separated or all-linear (default all-linear)
  --gradient-checkpointing  train suite: recompute activations in the backward (gradient_checkpointing)
 generate (greedy, KV cache: new tokens/s; ours against onnxruntime-web's own cache loop):
  --gen-models LIST model folders, comma-separated, "demo" the demo model (default demo); e.g.
                    demo,bench-results/models/smollm2-135m-shape (bench/make_smollm2_shape.py)
  --gen-batches L   rows generated together, comma-separated (default 1,4,16)
  --gen-prompt P    prompt tokens per row (default 16)
  --gen-tokens N    new tokens per row (default 16)
  --gen-methods L   subset of ours,ort-webgpu,ort-wasm (default all); runs: --warmup (at most 1), --reps
 all suites:
  --threads N       onnxruntime-web wasm threads (default min(4, cores))
  --ort-webgpu B    webgpu: onnxruntime-web/webgpu (native WebGPU EP, default);
                    jsep: onnxruntime-web/all (the JavaScript WebGPU EP)
  --node            ours (and the TS loop) in Node through Dawn, no browser
  --chromium-arg A  extra Chromium flag, repeatable (GPU hosts: see BENCHMARKS.md)
  --verbose, -v     every page console line, onnxruntime-web's verbose log (node placement)
  --out FILE        JSON path, one suite only (default bench-results/<suite>-<date>.json)
  --timeout-s S     give up after S seconds (default 1800)`;

const { values: opt } = parseArgs({
  options: {
    suite: { type: 'string', default: 'all' },
    shapes: { type: 'string', default: 'default' },
    batches: { type: 'string', default: 'default' },
    model: { type: 'string' },
    models: { type: 'string', default: 'demo,fixtures' },
    'train-batches': { type: 'string', default: '4x32' },
    'lora-r': { type: 'string', default: '8' },
    targets: { type: 'string', default: 'all-linear' },
    'gradient-checkpointing': { type: 'boolean', default: false },
    'forward-methods': { type: 'string' },
    'gen-models': { type: 'string', default: 'demo' },
    'gen-batches': { type: 'string', default: '1,4,16' },
    'gen-prompt': { type: 'string', default: '16' },
    'gen-tokens': { type: 'string', default: '16' },
    'gen-methods': { type: 'string' },
    methods: { type: 'string' },
    variants: { type: 'string' },
    iters: { type: 'string' },
    reps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    'target-ms': { type: 'string', default: '400' },
    'cpu-max-gflop': { type: 'string', default: '0.3' },
    threads: { type: 'string' },
    'ort-webgpu': { type: 'string', default: 'webgpu' },
    node: { type: 'boolean', default: false },
    'chromium-arg': { type: 'string', multiple: true, default: [] },
    verbose: { type: 'boolean', short: 'v', default: false },
    out: { type: 'string' },
    'timeout-s': { type: 'string', default: '1800' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(HELP);
  process.exit(0);
}

/** The matmuls of a training step's forward on --model: q, k/v, o, MLP up and down, LM head. */
function modelShapes() {
  const dir = resolve(opt.model ?? DEMO_MODEL);
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const need = ['hidden_size', 'intermediate_size', 'num_attention_heads', 'vocab_size'];
  const missing = need.filter((k) => !Number.isInteger(c[k]));
  if (missing.length) throw new Error(`--shapes model: ${join(dir, 'config.json')} has no integer ${missing.join(', ')}`);
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const kv = (c.num_key_value_heads ?? c.num_attention_heads) * headDim;
  const [first] = parseTrainShapes(opt['train-batches']);
  const M = 2 * first.B * first.T;
  const list = [
    [c.hidden_size, c.num_attention_heads * headDim],
    [c.hidden_size, kv],
    [c.hidden_size, c.intermediate_size],
    [c.intermediate_size, c.hidden_size],
    [c.hidden_size, c.vocab_size],
  ];
  return [...new Set(list.map(([C, OC]) => `${M}x${C}x${OC}`))].flatMap((x) => parseShapes(x));
}

function int(name, text, min = 1) {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} ${text}: want an integer >= ${min}`);
  return v;
}

const suites = opt.suite === 'all' ? SUITES.filter((x) => x !== 'generate') : [opt.suite];
if (!suites.every((x) => SUITES.includes(x))) throw new Error(`--suite ${opt.suite}: matmul, forward, train, generate or all`);
if (opt.node && suites.includes('generate')) throw new Error('--suite generate runs in the browser only (it compares with onnxruntime-web)');
if (opt.out && suites.length > 1) throw new Error('--out names one JSON file: give --suite matmul, forward or train with it');
const shapes = opt.shapes === 'model' ? modelShapes() : parseShapes(opt.shapes);
const batches = parseBatches(opt.batches);
const modelDir = resolve(opt.model ?? DEMO_MODEL);
const forwardModels = (opt.model ? [opt.model] : opt.models.split(','))
  .map((m) => m.trim())
  .flatMap((m) => (m === 'demo' ? [DEMO_MODEL] : m === 'fixtures' ? FIXTURE_MODELS : [resolve(m)]));
for (const d of forwardModels) {
  if (!statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--models: ${d} is not a folder`);
}
const genModels = opt['gen-models'].split(',').map((m) => m.trim()).map((m) => (m === 'demo' ? DEMO_MODEL : resolve(m)));
for (const d of genModels) {
  if (!statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--gen-models: ${d} is not a folder`);
}
const genBatches = opt['gen-batches'].split(',').map((b) => int('gen-batches', b.trim()));
const genMethods = opt['gen-methods'] ? opt['gen-methods'].split(',').map((m) => m.trim()) : ['ours', 'ort-webgpu', 'ort-wasm'];
for (const m of genMethods) if (!['ours', 'ort-webgpu', 'ort-wasm'].includes(m)) throw new Error(`--gen-methods: "${m}" is not one of ours, ort-webgpu, ort-wasm`);
// The page serves these at /__bench/models/<index>/: the train model first, then forward's, then generate's.
const servedModels = [modelDir, ...forwardModels, ...genModels];
const trainTargets = opt.targets === 'all-linear' ? 'all-linear' : opt.targets.split(',').map((t) => t.trim());
const trainSettings = { loraR: int('lora-r', opt['lora-r']), targets: trainTargets, gradientCheckpointing: opt['gradient-checkpointing'] };
const forwardAllowed = opt.node ? ['ours'] : FORWARD_METHODS;
const forwardMethods = opt['forward-methods'] ? opt['forward-methods'].split(',').map((m) => m.trim()) : forwardAllowed;
for (const m of forwardMethods) {
  if (!forwardAllowed.includes(m)) throw new Error(`--forward-methods: "${m}" is not one of ${forwardAllowed.join(', ')}${opt.node ? ' (--node)' : ''}`);
}
const allowed = opt.node ? NODE_METHODS : METHODS;
const methods = opt.methods ? opt.methods.split(',').map((m) => m.trim()) : allowed;
const variants = opt.variants ? opt.variants.split(',').map((v) => v.trim()).filter(Boolean) : [];
for (const m of methods) {
  if (!allowed.includes(m)) throw new Error(`--methods: "${m}" is not one of ${allowed.join(', ')}${opt.node ? ' (--node)' : ''}`);
}
if (!['webgpu', 'jsep'].includes(opt['ort-webgpu'])) throw new Error(`--ort-webgpu ${opt['ort-webgpu']}: webgpu or jsep`);
function positive(name, text) {
  const v = Number(text);
  if (!(v > 0)) throw new Error(`--${name} ${text}: want a positive number`);
  return v;
}

const timing = {
  warmup: int('warmup', opt.warmup, 0),
  reps: int('reps', opt.reps),
  iters: opt.iters === undefined ? undefined : int('iters', opt.iters),
  targetMs: positive('target-ms', opt['target-ms']),
  maxIters: 1000,
  cpuMaxFlop: positive('cpu-max-gflop', opt['cpu-max-gflop']) * 1e9,
};
// A step takes seconds on a software adapter: one step per repetition, at most one warm-up step.
const trainTiming = { ...timing, warmup: Math.min(timing.warmup, 1) };
const threads = opt.threads ? int('threads', opt.threads) : Math.min(4, availableParallelism());
const started = new Date();
const outFile = (suite) => resolve(opt.out ?? join(root, 'bench-results', `${suite}-${started.toISOString().slice(0, 19).replace(/:/g, '-')}.json`));
const log = (msg) => process.stderr.write(`${msg}\n`);

function withTimeout(promise, seconds, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${seconds} s (--timeout-s)`)), seconds * 1000);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// ---- the page's server ----

/** Serves /__bench/model/<op>/<M>x<C>x<OC>.onnx, built on request with the seeded weight. */
function benchModels(matmulModel) {
  const cache = new Map();
  return {
    name: 'prefstudio:bench-models',
    configureServer(server) {
      server.middlewares.use('/__bench/model', (req, res) => {
        const m = /^\/(gemm|matmul)\/(\d+)x(\d+)x(\d+)\.onnx$/.exec(req.url ?? '');
        if (!m) {
          res.statusCode = 404;
          res.end('no such model');
          return;
        }
        const key = m.slice(1).join(':');
        if (!cache.has(key)) cache.set(key, matmulModel(m[1], Number(m[2]), Number(m[3]), Number(m[4])));
        res.setHeader('Content-Type', 'application/octet-stream');
        res.end(Buffer.from(cache.get(key)));
      });
    },
  };
}

/** The model folder's files, relative paths (two levels: the transformers.js layout has onnx/). */
function listFiles(dir, rel = '') {
  return readdirSync(join(dir, rel)).flatMap((name) => {
    const p = rel ? `${rel}/${name}` : name;
    return statSync(join(dir, p)).isDirectory() ? (rel ? [] : listFiles(dir, p)) : [p];
  });
}

/** Serves model folder i of `dirs` at /__bench/models/<i>/ (GET and HEAD). */
function benchModelFolders(dirs) {
  const files = dirs.map((d) => new Set(listFiles(d)));
  return {
    name: 'prefstudio:bench-model-folder',
    configureServer(server) {
      server.middlewares.use('/__bench/models', (req, res) => {
        const m = /^\/(\d+)\/(.*)$/.exec(decodeURIComponent((req.url ?? '').split('?')[0]));
        const i = m ? Number(m[1]) : -1;
        const dir = dirs[i];
        const path = m?.[2] ?? '';
        if (!dir || !files[i].has(path)) {
          res.statusCode = 404;
          res.end('no such file');
          return;
        }
        const bytes = readFileSync(join(dir, path));
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', String(bytes.length));
        res.end(req.method === 'HEAD' ? undefined : bytes);
      });
    },
  };
}

async function startServer() {
  const { createServer } = await import('vite');
  const { matmulModel } = await import('../bench/onnx-model.mjs');
  const server = await createServer({
    configFile: false,
    root,
    // Its own pre-bundle cache, apart from the app's dev server.
    cacheDir: join(root, 'node_modules/.vite-bench'),
    logLevel: 'warn',
    clearScreen: false,
    plugins: [benchModels(matmulModel), benchModelFolders(servedModels)],
    // onnxruntime-web finds its .wasm/.mjs next to itself (import.meta.url): serve it as is.
    optimizeDeps: { entries: ['bench/index.html'], exclude: ['onnxruntime-web'] },
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      // Cross-origin isolation: SharedArrayBuffer, so onnxruntime-web's wasm EP can use threads.
      headers: {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
      },
    },
  });
  await server.listen();
  const address = server.httpServer.address();
  return { server, url: `http://127.0.0.1:${address.port}` };
}

async function runBrowser() {
  const { chromium } = await import('playwright-core');
  const { server, url } = await startServer();
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [...chromiumArgs(), ...opt['chromium-arg']],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith('[bench]') || opt.verbose) log(text);
      else if (msg.type() === 'error' || msg.type() === 'warning') log(`[page ${msg.type()}] ${text}`);
    });
    page.on('pageerror', (e) => log(`[page error] ${e.message}`));
    await page.goto(`${url}/bench/index.html`);
    await page.waitForFunction(() => window.runMatmulBench !== undefined && window.runForwardBench !== undefined && window.runTrainBench !== undefined && window.runGenerateBench !== undefined, null, { timeout: 120_000 });
    const common = { timing, threads, ortWebgpu: opt['ort-webgpu'], verbose: opt.verbose };
    const deadline = Date.now() + positive('timeout-s', opt['timeout-s']) * 1000;
    const left = () => Math.max(1, (deadline - Date.now()) / 1000);
    const reports = {};
    if (suites.includes('matmul')) {
      const config = { ...common, shapes, methods, variants };
      reports.matmul = await withTimeout(page.evaluate((cfg) => window.runMatmulBench(cfg), config), left(), 'benchmark page (matmul)');
    }
    if (suites.includes('forward')) {
      reports.forward = [];
      for (const [i, dir] of forwardModels.entries()) {
        const config = { ...common, shapes: batches, methods: forwardMethods, modelUrl: `/__bench/models/${i + 1}/`, modelFiles: listFiles(dir), modelName: modelLabel(dir) };
        reports.forward.push(await withTimeout(page.evaluate((cfg) => window.runForwardBench(cfg), config), left(), `benchmark page (forward, ${modelLabel(dir)})`));
      }
    }
    if (suites.includes('train')) {
      const config = { shapes: parseTrainShapes(opt['train-batches']), settings: trainSettings, timing: trainTiming, modelUrl: '/__bench/models/0/', modelFiles: listFiles(modelDir), modelName: modelLabel(modelDir) };
      reports.train = await withTimeout(page.evaluate((cfg) => window.runTrainBench(cfg), config), left(), 'benchmark page (train)');
    }
    if (suites.includes('generate')) {
      reports.generate = [];
      for (const [i, dir] of genModels.entries()) {
        const config = { ...common, batches: genBatches, promptTokens: int('gen-prompt', opt['gen-prompt']), newTokens: int('gen-tokens', opt['gen-tokens']), methods: genMethods, warmup: Math.min(timing.warmup, 1), reps: timing.reps, modelUrl: `/__bench/models/${1 + forwardModels.length + i}/`, modelFiles: listFiles(dir), modelName: modelLabel(dir) };
        reports.generate.push(await withTimeout(page.evaluate((cfg) => window.runGenerateBench(cfg), config), left(), `benchmark page (generate, ${modelLabel(dir)})`));
      }
    }
    const browserName = `Chromium ${browser.version()}`;
    const tag = (r) => ({ mode: 'browser', browser: browserName, ...r });
    return Object.fromEntries(Object.entries(reports).map(([k, r]) => [k, Array.isArray(r) ? r.map(tag) : tag(r)]));
  } finally {
    // Closing a browser whose GPU process hangs can hang too; Playwright kills it when we exit.
    await withTimeout(browser.close(), 15, 'closing Chromium').catch((e) => log(e.message));
    await server.close();
  }
}

function modelLabel(dir) {
  if (dir === DEMO_MODEL) return 'demo-fortunes';
  return FIXTURE_MODELS.includes(dir) ? `fixtures/${dir.split('/').pop()}` : dir;
}

async function runNode() {
  const { register } = await import('tsx/esm/api');
  register();
  const { runNode: run, runNodeForward, runNodeTrain } = await import('../bench/node.ts');
  const runtime = `Node ${process.version}, Dawn (webgpu package)`;
  const reports = {};
  const limit = positive('timeout-s', opt['timeout-s']);
  if (suites.includes('matmul')) reports.matmul = { mode: 'node', runtime, ...(await withTimeout(run({ shapes, methods, timing, variants }, log), limit, 'node benchmark')) };
  if (suites.includes('train')) {
    const config = { modelDir, modelName: modelLabel(modelDir), shapes: parseTrainShapes(opt['train-batches']), settings: trainSettings, timing: trainTiming };
    reports.train = { mode: 'node', runtime, ...(await withTimeout(runNodeTrain(config, log), limit, 'node train benchmark')) };
  }
  if (suites.includes('forward')) {
    reports.forward = [];
    for (const dir of forwardModels) {
      const config = { modelDir: dir, modelName: modelLabel(dir), shapes: batches, timing };
      reports.forward.push({ mode: 'node', runtime, ...(await withTimeout(runNodeForward(config, log), limit, `node forward benchmark (${modelLabel(dir)})`)) });
    }
  }
  return reports;
}

// ---- the table ----

const LABELS = {
  ours: 'ours WGSL',
  'ort-webgpu-gemm': 'ORT webgpu Gemm',
  'ort-webgpu-matmul': 'ORT webgpu MatMul',
  'ort-wasm-gemm': 'ORT wasm Gemm',
  'ort-wasm-matmul': 'ORT wasm MatMul',
  'ts-loop': 'TS loop',
};

function cell(r) {
  if (!r) return '-';
  if (r.status === 'skipped') return 'skipped';
  if (r.status === 'error') return 'ERROR';
  const g = r.gflops >= 100 ? r.gflops.toFixed(0) : r.gflops >= 10 ? r.gflops.toFixed(1) : r.gflops.toFixed(2);
  // A product that disagrees with the float64 spot check is marked: its speed means nothing.
  return r.maxAbsErr <= r.errTol ? g : `${g} WRONG`;
}

function table(report) {
  const cols = methods;
  const ratio = cols.includes('ours') && cols.includes('ort-webgpu-gemm');
  const head = ['M x C x OC', ...cols.map((m) => LABELS[m]), ...(ratio ? ['ours / ORT webgpu Gemm'] : [])];
  const rows = report.results.map((r) => {
    const cells = [`${r.M} x ${r.C} x ${r.OC}`, ...cols.map((m) => cell(r.methods[m]))];
    if (ratio) {
      const a = r.methods.ours;
      const b = r.methods['ort-webgpu-gemm'];
      cells.push(a?.status === 'ok' && b?.status === 'ok' ? `${(a.gflops / b.gflops).toFixed(2)}x` : '-');
    }
    return cells;
  });
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((c) => `| ${c.join(' | ')} |`),
  ];
  const notes = [];
  for (const r of report.results) {
    for (const [m, res] of Object.entries(r.methods)) {
      if (res.status === 'error') notes.push(`${r.M}x${r.C}x${r.OC} ${m}: ERROR ${res.message}`);
      if (res.status === 'skipped') notes.push(`${r.M}x${r.C}x${r.OC} ${m}: skipped, ${res.reason}`);
      if (res.status === 'ok' && !(res.maxAbsErr <= res.errTol)) {
        notes.push(`${r.M}x${r.C}x${r.OC} ${m}: max abs error ${res.maxAbsErr} > ${res.errTol} in the spot check`);
      }
    }
  }
  return { lines, notes };
}

const FORWARD_LABELS = { ours: 'ours WGSL', 'ort-webgpu': 'ORT webgpu', 'ort-wasm': 'ORT wasm' };

function forwardCell(r) {
  if (!r) return '-';
  if (r.status === 'skipped') return 'skipped';
  if (r.status === 'error') return 'ERROR';
  const v = r.tokensPerSec >= 100 ? r.tokensPerSec.toFixed(0) : r.tokensPerSec.toFixed(1);
  // Logits that disagree with onnxruntime's wasm EP are marked: their speed means nothing.
  return r.maxAbsDiff === null || r.maxAbsDiff <= r.diffTol ? v : `${v} WRONG`;
}

function forwardTable(report) {
  const cols = forwardMethods;
  const ratio = cols.includes('ours') && cols.includes('ort-webgpu');
  const head = ['B x T', ...cols.map((m) => FORWARD_LABELS[m]), ...(ratio ? ['ours / ORT webgpu'] : [])];
  const rows = report.results.map((r) => {
    const cells = [`${r.B} x ${r.T}`, ...cols.map((m) => forwardCell(r.methods[m]))];
    if (ratio) {
      const a = r.methods.ours;
      const b = r.methods['ort-webgpu'];
      cells.push(a?.status === 'ok' && b?.status === 'ok' ? `${(a.tokensPerSec / b.tokensPerSec).toFixed(2)}x` : '-');
    }
    return cells;
  });
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((c) => `| ${c.join(' | ')} |`),
  ];
  const notes = [];
  for (const r of report.results) {
    for (const [m, res] of Object.entries(r.methods)) {
      if (res.status === 'error') notes.push(`${r.B}x${r.T} ${m}: ERROR ${res.message}`);
      if (res.status === 'skipped') notes.push(`${r.B}x${r.T} ${m}: skipped, ${res.reason}`);
      if (res.status === 'ok' && res.maxAbsDiff !== null && !(res.maxAbsDiff <= res.diffTol)) {
        notes.push(`${r.B}x${r.T} ${m}: logits differ from onnxruntime wasm by ${res.maxAbsDiff} > ${res.diffTol}`);
      }
    }
  }
  return { lines, notes };
}

const mib = (b) => (b / 2 ** 20).toFixed(2);

function trainTable(report) {
  const head = ['B x T (pairs x tokens)', 'tokens/step', 'train tokens/s', 'step ms', 'forward ms', 'step / forward', 'peak MiB', 'minimum MiB', 'peak / minimum'];
  const rows = report.results.map(({ B, T, result: r }) =>
    r.status === 'ok'
      ? [`${B} x ${T}`, r.tokens, r.tokensPerSec.toFixed(1), r.stepMs.toFixed(0), r.forwardMs.toFixed(0), `${r.stepOverForward.toFixed(2)}x`, mib(r.memory.peakBytes), mib(r.memory.minimumBytes), `${r.memory.ratio.toFixed(2)}x`]
      : [`${B} x ${T}`, 'ERROR', ...head.slice(2).map(() => '-')],
  );
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((c) => `| ${c.join(' | ')} |`),
  ];
  const notes = [];
  for (const { B, T, result: r } of report.results) {
    if (r.status !== 'ok') {
      notes.push(`${B}x${T}: ERROR ${r.message}`);
      continue;
    }
    const p = r.phases;
    const pct = (ms) => `${ms.toFixed(0)} ms (${((100 * ms) / p.totalMs).toFixed(0)}%)`;
    notes.push(`${B}x${T} one step by phase: policy forward ${pct(p.policyForwardMs)}, loss ${pct(p.lossMs)}, backward ${pct(p.backwardMs)}, optimizer ${pct(p.optimizerMs)}`);
    const m = r.memory.parts;
    notes.push(`${B}x${T} minimum = weights ${mib(m.weights)} MiB + adapter and AdamW state ${mib(m.adapter)} MiB (${r.loraParameters} LoRA parameters x 16 B) + saved activations ${mib(m.activations)} MiB; Trainer's estimate ${mib(r.memory.estimateBytes)} MiB`);
  }
  return { lines, notes };
}

// ---- the adapter's ceiling (bench/peak.ts) and each figure as a fraction of it ----

function peakText(p) {
  if (!p) return 'not measured';
  if (p.status === 'ok') return `${p.value >= 100 ? p.value.toFixed(0) : p.value.toFixed(2)} ${p.unit}`;
  return p.status === 'skipped' ? `skipped (${p.reason})` : `ERROR ${p.message}`;
}

function ceilingLines(c) {
  if (!c) return [];
  return [`adapter ceiling (measured in this run): f32 FMA ${peakText(c.fmaF32)}, f16 FMA ${peakText(c.fmaF16)}, memory bandwidth ${peakText(c.bandwidth)}`];
}

const pctOf = (gflops, peak) => (peak?.status === 'ok' ? `${((100 * gflops) / peak.value).toFixed(1)}%` : '-');

/** Every matmul column (and each timed variant) as a fraction of the measured f32 FMA peak. */
function fractionTable(report) {
  const peak = report.ceiling?.fmaF32;
  if (!peak || peak.status !== 'ok') return [];
  const vnames = [...new Set(report.results.flatMap((r) => Object.keys(r.variants ?? {})))];
  const cols = methods.filter((m) => m !== 'ts-loop');
  const head = ['M x C x OC', ...cols.map((m) => `${LABELS[m]} % peak`), ...vnames.map((v) => `ours ${v} GFLOP/s`), ...vnames.map((v) => `ours ${v} % peak`)];
  const ok = (r) => r?.status === 'ok' && r.maxAbsErr <= r.errTol;
  const rows = report.results.map((r) => [
    `${r.M} x ${r.C} x ${r.OC}`,
    ...cols.map((m) => (ok(r.methods[m]) ? pctOf(r.methods[m].gflops, peak) : '-')),
    ...vnames.map((v) => cell(r.variants?.[v])),
    ...vnames.map((v) => (ok(r.variants?.[v]) ? pctOf(r.variants[v].gflops, peak) : '-')),
  ]);
  return [
    '',
    `as a fraction of the adapter's measured f32 FMA peak (${peakText(peak)}), fp32 products:`,
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((c) => `| ${c.join(' | ')} |`),
  ];
}

/** Forward and train tokens/s as effective GFLOP/s (2·P flops per token forward, 4·P per trained token) against the peak. */
function tokenFractionNotes(results, parameters, flopsPerParam, rate) {
  const peak = reports.matmul?.ceiling?.fmaF32;
  if (!peak || peak.status !== 'ok') return [];
  return results.flatMap((r) => rate(r).map(([label, tps]) => {
    const g = (tps * flopsPerParam * parameters) / 1e9;
    return `${label}: ≈${g.toFixed(g >= 10 ? 1 : 3)} GFLOP/s (${flopsPerParam}·P flops per token) = ${pctOf(g, peak)} of the f32 FMA peak measured by the matmul suite`;
  }));
}

function adapterLine(a) {
  if (!a) return 'none';
  return `vendor "${a.vendor}", architecture "${a.architecture}", description "${a.description}"` +
    (a.isFallbackAdapter ? ' (fallback/software adapter)' : '');
}

// ---- main ----

const reports = await (opt.node ? runNode() : runBrowser()).catch((e) => {
  log(`benchmark failed: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});

function header(report) {
  console.log(`${report.mode === 'node' ? report.runtime : `${report.browser}, cross-origin isolated: ${report.crossOriginIsolated}`}`);
  console.log(`adapter (ours): ${adapterLine(report.adapter)}`);
  if (report.mode === 'browser' && report.ort) {
    console.log(`adapter (ORT):  ${adapterLine(report.ortAdapter)}`);
    console.log(`onnxruntime-web ${report.ort.version}: webgpu EP from ${report.ort.webgpuBundle}, wasm EP from ${report.ort.wasmBundle} with ${report.ort.wasmThreads} thread(s)`);
  }
  const adapter = report.adapter;
  if (adapter.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${adapter.architecture} ${adapter.description}`)) {
    console.log('NOTE: software adapter: these figures check that everything runs, they say little about GPU speed.');
  }
  console.log('');
}

const host = { platform: platform(), arch: arch(), cores: availableParallelism(), cpu: cpus()[0]?.model ?? '' };
for (const suite of suites) {
  const report = reports[suite];
  const file = outFile(suite);
  let json;
  let printed;
  if (suite === 'matmul') {
    json = {
      benchmark: 'matmul',
      date: started.toISOString(),
      ...report,
      host,
      flops: '2·M·C·OC per product (no bias); GFLOP/s = flops / median ms per product / 1e6',
      config: { shapes, methods, timing, threads: opt.node ? undefined : threads },
    };
    printed = table(report);
    printed.lines.push(...fractionTable(report));
    printed.notes.unshift(...ceilingLines(report.ceiling));
    console.log('');
    console.log(`matmul GFLOP/s, out (M, OC) = inp (M, C) · weight (OC, C)ᵀ, fp32, higher is better`);
  } else if (suite === 'train') {
    json = {
      benchmark: 'train',
      date: started.toISOString(),
      ...report,
      host,
      tokensPerSec: '2·B·T tokens per DPO step (B pairs, each sequence T tokens, no padding) / median seconds per optimizer step, reference log-probs cached',
      stepOverForward: 'median step time / median time of a forward with the adapter to summed log-probs over the same 2·B sequences',
      memory: 'peak pool bytes during one step (pool trimmed first) against weights + 16 B per LoRA parameter + the activations the backward keeps',
      config: { trainBatches: opt['train-batches'], timing, model: modelLabel(modelDir) },
    };
    printed = trainTable(report);
    printed.notes.push(...tokenFractionNotes(report.results, report.model.parameters, 4, ({ B, T, result }) => (result.status === 'ok' ? [[`${B}x${T} train`, result.tokensPerSec]] : [])));
    const m = report.model;
    const t = report.settings;
    console.log('');
    console.log(`DPO training, model ${m.name} (${m.arch}, ${m.parameters.toLocaleString('en-US')} parameters), LoRA r ${t.loraR} on ${t.targets}, reference log-probs cached`);
  } else if (suite === 'generate') {
    json = {
      benchmark: 'generate',
      date: started.toISOString(),
      host,
      tokensPerSec: 'B rows x N new tokens / median seconds per generation (prefill of B x P prompt tokens and N steps, greedy, KV cache; each side reads the logits it chooses from back to the CPU)',
      config: { batches: genBatches, promptTokens: Number(opt['gen-prompt']), newTokens: Number(opt['gen-tokens']), methods: genMethods, reps: timing.reps, threads, models: genModels.map(modelLabel) },
      runs: report,
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
    for (const run of report) {
      const m = run.model;
      console.log('');
      console.log(`generation, new tokens/s, model ${m.name} (${m.arch}, ${m.parameters.toLocaleString('en-US')} parameters, ${m.dtype}, V ${m.vocab}, ${m.layers} layers, hidden ${m.hidden}), ${run.promptTokens} prompt + ${run.newTokens} new tokens per row, greedy, higher is better`);
      header(run);
      const cell = (r) => (!r ? '-' : r.status === 'ok' ? r.tokensPerS.toFixed(1) : r.status === 'skipped' ? 'skipped' : 'error');
      console.log('| B | ours | ORT webgpu | ORT wasm | ours / ORT webgpu | rows as ours (webgpu, wasm) |');
      console.log('|---:|---:|---:|---:|---:|---|');
      for (const row of run.results) {
        const o = row.methods.ours;
        const g = row.methods['ort-webgpu'];
        const w = row.methods['ort-wasm'];
        const ratio = o?.status === 'ok' && g?.status === 'ok' ? `${(o.tokensPerS / g.tokensPerS).toFixed(2)}x` : '-';
        console.log(`| ${row.B} | ${cell(o)} | ${cell(g)} | ${cell(w)} | ${ratio} | ${g?.status === 'ok' ? g.rowsAgreeing : '-'}, ${w?.status === 'ok' ? w.rowsAgreeing : '-'} of ${row.B} |`);
        for (const [k, r] of Object.entries(row.methods)) if (r.status === 'error') console.log(`  B ${row.B} ${k}: ${r.message}`);
      }
    }
    console.log('');
    console.log(`written ${file}`);
    continue;
  } else {
    // One run per model (the demo model, the fixtures), each with its own adapter and results.
    json = {
      benchmark: 'forward',
      date: started.toISOString(),
      host,
      tokensPerSec: 'B·T tokens per forward (ids → logits (B, T, V) at every position) / median seconds per forward',
      config: { batches, methods: forwardMethods, timing, threads: opt.node ? undefined : threads, models: forwardModels.map(modelLabel) },
      runs: report,
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
    for (const run of report) {
      const m = run.model;
      console.log('');
      console.log(`forward tokens/s, model ${m.name} (${m.arch}, ${m.parameters.toLocaleString('en-US')} parameters, ${m.dtype}, V ${m.vocab}, ${m.layers} layers, hidden ${m.hidden}), higher is better`);
      header(run);
      printed = forwardTable(run);
      printed.notes.push(...tokenFractionNotes(run.results, m.parameters, 2, (r) =>
        Object.entries(r.methods).filter(([, x]) => x.status === 'ok').map(([k, x]) => [`${r.B}x${r.T} ${k}`, x.tokensPerSec])));
      for (const l of printed.lines) console.log(l);
      for (const n of printed.notes) console.log(`  ${n}`);
    }
    console.log('');
    console.log(`written ${file}`);
    continue;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  header(report);
  for (const l of printed.lines) console.log(l);
  for (const n of printed.notes) console.log(`  ${n}`);
  console.log('');
  console.log(`written ${file}`);
}
// Dawn (--node) or a stuck browser could keep the event loop alive.
process.exit(0);
