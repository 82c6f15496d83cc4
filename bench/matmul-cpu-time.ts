// The forward matmul's variants against the f32 FMA ceiling (shaders/peak_fma.wgsl), timed
// interleaved, by two clocks, in Node on Linux (lavapipe: .cache/lavapipe/icd.json):
//   VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json npx tsx bench/matmul-cpu-time.ts \
//     [--shapes 256x128x384,...] [--variants safe,tiled8,shuffle] [--rounds 8] [--target-ms 30]
// Each round times the ceiling kernel (one dispatch) and then each variant (enough back-to-back
// dispatches to last about --target-ms, one wait at the end) in turn. Per kernel it prints:
// - wall: the best round's milliseconds per dispatch (what bench/core.ts measures);
// - cpu: the fewest CPU milliseconds per dispatch the process's threads other than the JavaScript
//   main thread spent (Linux /proc/self/task/*/schedstat: time on a CPU, not time waiting for
//   one). A CPU adapter runs the kernel on those threads (lavapipe: one per core); the main thread
//   is left out because Dawn's Node binding polls for completion there the whole time.
// On a shared machine the wall clock gives each dispatch the CPU share the scheduler happened to
// grant it, and that share depends on the dispatch's length (BENCHMARKS.md, "Why lavapipe was
// far from its peak"); CPU time does not, so its % of the ceiling is the kernel's own.
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/engine/node.js';
import { matmulForward } from '../src/engine/kernels/matmul.js';
import { flopOf, operands } from './core.js';
import { dispatchFmaPeak, fmaPeakFlop, fmaPeakOutput } from './peak.js';

const { values: o } = parseArgs({
  options: {
    shapes: { type: 'string', default: '256x128x128,256x128x384,256x384x128,256x128x2048,256x576x576,256x576x192,256x576x1536,256x1536x576' },
    variants: { type: 'string', default: 'safe,tiled8,shuffle' },
    rounds: { type: 'string', default: '8' },
    'target-ms': { type: 'string', default: '30' },
    'peak-iters': { type: 'string', default: '32' },
  },
});
const rounds = Number(o.rounds);
const targetMs = Number(o['target-ms']);
const variants = o.variants.split(',');
const shapes = o.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number, number]);

/** CPU milliseconds so far of every thread of this process but the main one. */
function workerCpuMs(): number {
  let ms = 0;
  for (const task of readdirSync('/proc/self/task')) {
    if (task === String(process.pid)) continue;
    try {
      ms += Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ms;
}

interface Best { wall: number; cpu: number }

const engine = await createNodeEngine();
/** Runs `dispatches` (which records n dispatches), waits, and returns wall and CPU ms per dispatch. */
async function timed(n: number, dispatches: () => void): Promise<Best> {
  const cpu0 = workerCpuMs();
  const t0 = performance.now();
  dispatches();
  await engine.sync();
  return { wall: (performance.now() - t0) / n, cpu: (workerCpuMs() - cpu0) / n };
}
const keepBest = (b: Best | undefined, t: Best): Best => ({ wall: Math.min(b?.wall ?? Infinity, t.wall), cpu: Math.min(b?.cpu ?? Infinity, t.cpu) });

try {
  const r = engine.report;
  console.log(`adapter: ${r.vendor} / ${r.description}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const peakIters = Number(o['peak-iters']);
  const peakOut = fmaPeakOutput(engine);
  const peak = () => dispatchFmaPeak(engine, peakOut, false, peakIters);
  await timed(1, peak); // compile
  const peakFlop = fmaPeakFlop(peakIters);
  console.log('| M x C x OC | f32 FMA peak wall GFLOP/s | peak CPU GFLOP/cpu-s | ' + variants.map((v) => `${v} wall GFLOP/s (% peak) | ${v} GFLOP/cpu-s (% peak)`).join(' | ') + ' |');
  console.log('|---|---:|---:|' + variants.map(() => '---:|---:|').join(''));
  for (const [M, C, OC] of shapes) {
    const values = operands({ M, C, OC });
    const inp = engine.fromArray(values.inp, [M, C]);
    const weight = engine.fromArray(values.weight, [OC, C]);
    const out = engine.tensor([M, OC]);
    const step = (variant: string) => matmulForward(engine, out, inp, weight, null, M, C, OC, { variant });
    const count: Record<string, number> = {};
    for (const v of variants) {
      await timed(1, () => step(v)); // compile
      count[v] = Math.max(1, Math.round(targetMs / (await timed(1, () => step(v))).wall));
    }
    const best: Record<string, Best> = {};
    for (let round = 0; round < rounds; round++) {
      best.peak = keepBest(best.peak, await timed(1, peak));
      for (const v of variants) {
        const n = count[v]!;
        best[v] = keepBest(best[v], await timed(n, () => { for (let i = 0; i < n; i++) step(v); }));
      }
    }
    const flop = flopOf({ M, C, OC });
    const peakWall = peakFlop / best.peak!.wall / 1e6;
    const peakCpu = peakFlop / best.peak!.cpu / 1e6;
    const cells = variants.map((v) => {
      const wall = flop / best[v]!.wall / 1e6;
      const cpu = flop / best[v]!.cpu / 1e6;
      return `${wall.toFixed(2)} (${((100 * wall) / peakWall).toFixed(1)}%) | ${cpu.toFixed(2)} (${((100 * cpu) / peakCpu).toFixed(1)}%)`;
    });
    console.log(`| ${M} x ${C} x ${OC} | ${peakWall.toFixed(1)} | ${peakCpu.toFixed(1)} | ${cells.join(' | ')} |`);
    engine.release(inp, weight, out);
  }
  engine.release(peakOut);
  console.log(`load average at the end ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
} finally {
  engine.destroy();
}
