#!/usr/bin/env node
// npm run bench [-- options]: GFLOP/s of our WGSL matmul beside onnxruntime-web (webgpu and wasm
// execution providers) and a plain TypeScript loop, in one headless Chromium page on one adapter.
// Serves bench/ with Vite's JS API (an inline config, not vite.config.ts), drives Debian's
// Chromium through playwright-core, prints a table and writes bench-results/matmul-<date>.json.
// What is measured and how: BENCHMARKS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromiumArgs, chromiumPath } from './chromium.mjs';
import { parseShapes, DEFAULT_SHAPES, QUICK_SHAPES, LARGE_SHAPES } from '../bench/shapes.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const METHODS = ['ours', 'ort-webgpu-gemm', 'ort-webgpu-matmul', 'ort-wasm-gemm', 'ort-wasm-matmul', 'ts-loop'];
const NODE_METHODS = ['ours', 'ts-loop'];

const HELP = `npm run bench -- [options]
  --shapes LIST     MxCxOC,... or a named list:
                    default: ${DEFAULT_SHAPES}
                    quick:   ${QUICK_SHAPES}
                    large:   ${LARGE_SHAPES}
  --methods LIST    subset of ${METHODS.join(',')} (default: all)
  --iters N         iterations per timed repetition (default: enough for --target-ms)
  --reps N          timed repetitions, median reported (default 3)
  --warmup N        untimed iterations first (default 2)
  --target-ms MS    time per repetition when --iters is not given (default 400)
  --cpu-max-gflop G TS loop only where 2·M·C·OC <= G GFLOP (default 0.3)
  --threads N       onnxruntime-web wasm threads (default min(4, cores))
  --ort-webgpu B    webgpu: onnxruntime-web/webgpu (native WebGPU EP, default);
                    jsep: onnxruntime-web/all (the JavaScript WebGPU EP)
  --node            our kernel (and the TS loop) in Node through Dawn, no browser
  --chromium-arg A  extra Chromium flag, repeatable (GPU hosts: see BENCHMARKS.md)
  --verbose, -v     every page console line, onnxruntime-web's verbose log (node placement)
  --out FILE        JSON path (default bench-results/matmul-<date>.json)
  --timeout-s S     give up after S seconds (default 1800)`;

const { values: opt } = parseArgs({
  options: {
    shapes: { type: 'string', default: 'default' },
    methods: { type: 'string' },
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

function int(name, text, min = 1) {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} ${text}: want an integer >= ${min}`);
  return v;
}

const shapes = parseShapes(opt.shapes);
const allowed = opt.node ? NODE_METHODS : METHODS;
const methods = opt.methods ? opt.methods.split(',').map((m) => m.trim()) : allowed;
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
const threads = opt.threads ? int('threads', opt.threads) : Math.min(4, availableParallelism());
const started = new Date();
const outFile = resolve(opt.out ?? join(root, 'bench-results', `matmul-${started.toISOString().slice(0, 19).replace(/:/g, '-')}.json`));
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
    plugins: [benchModels(matmulModel)],
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
    await page.waitForFunction(() => window.runMatmulBench !== undefined, null, { timeout: 120_000 });
    const config = { shapes, methods, timing, threads, ortWebgpu: opt['ort-webgpu'], verbose: opt.verbose };
    const report = await withTimeout(
      page.evaluate((cfg) => window.runMatmulBench(cfg), config),
      positive('timeout-s', opt['timeout-s']),
      'benchmark page',
    );
    return { mode: 'browser', browser: `Chromium ${browser.version()}`, ...report };
  } finally {
    // Closing a browser whose GPU process hangs can hang too; Playwright kills it when we exit.
    await withTimeout(browser.close(), 15, 'closing Chromium').catch((e) => log(e.message));
    await server.close();
  }
}

async function runNode() {
  const { register } = await import('tsx/esm/api');
  register();
  const { runNode: run } = await import('../bench/node.ts');
  const report = await withTimeout(run({ shapes, methods, timing }, log), positive('timeout-s', opt['timeout-s']), 'node benchmark');
  return { mode: 'node', runtime: `Node ${process.version}, Dawn (webgpu package)`, ...report };
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

function adapterLine(a) {
  if (!a) return 'none';
  return `vendor "${a.vendor}", architecture "${a.architecture}", description "${a.description}"` +
    (a.isFallbackAdapter ? ' (fallback/software adapter)' : '');
}

// ---- main ----

const report = await (opt.node ? runNode() : runBrowser()).catch((e) => {
  log(`benchmark failed: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});
const json = {
  benchmark: 'matmul',
  date: started.toISOString(),
  ...report,
  host: { platform: platform(), arch: arch(), cores: availableParallelism(), cpu: cpus()[0]?.model ?? '' },
  flops: '2·M·C·OC per product (no bias); GFLOP/s = flops / median ms per product / 1e6',
  config: { shapes, methods, timing, threads: opt.node ? undefined : threads },
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);

const { lines, notes } = table(report);
console.log('');
console.log(`matmul GFLOP/s, out (M, OC) = inp (M, C) · weight (OC, C)ᵀ, fp32, higher is better`);
console.log(`${report.mode === 'node' ? report.runtime : `${report.browser}, cross-origin isolated: ${report.crossOriginIsolated}`}`);
console.log(`adapter (ours): ${adapterLine(report.adapter)}`);
if (report.mode === 'browser') {
  console.log(`adapter (ORT):  ${adapterLine(report.ortAdapter)}`);
  console.log(`onnxruntime-web ${report.ort.version}: webgpu EP from ${report.ort.webgpuBundle}, wasm EP from ${report.ort.wasmBundle} with ${report.ort.wasmThreads} thread(s)`);
}
const adapter = report.adapter;
if (adapter.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${adapter.architecture} ${adapter.description}`)) {
  console.log('NOTE: software adapter: these figures check that everything runs, they say little about GPU speed.');
}
console.log('');
for (const l of lines) console.log(l);
for (const n of notes) console.log(`  ${n}`);
console.log('');
console.log(`written ${outFile}`);
// Dawn (--node) or a stuck browser could keep the event loop alive.
process.exit(0);
