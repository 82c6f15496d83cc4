// The matmul's three products (forward, dinp, dweight) side by side, each in every variant the
// adapter can run (src/engine/tuning/variants.ts), in Node through Dawn on whatever adapter
// VK_ICD_FILENAMES gives (lavapipe: .cache/lavapipe/icd.json):
//   VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json npx tsx bench/matmul-backward.ts \
//     [--shapes 256x576x576,...] [--reps 5] [--variants safe,tiled8,...]
// A shape is M x C x OC (the forward's out (M, OC) = inp (M, C) · weight (OC, C)ᵀ); dinp
// (M, C) = dout · weight and dweight (OC, C) += doutᵀ · inp are the same 2·M·C·OC flops. Prints the
// adapter's f32 FMA peak (bench/peak.ts), then per shape, product and variant: the first call
// (pipeline compilation + one run) in ms, the median ms of `reps` timed calls (variants
// alternating within each repetition, so a shared machine's load falls on all alike), GFLOP/s, %
// of the f32 FMA peak, and the largest difference from the safe kernel (max |diff| / (1 + max
// |safe|), the tuner's validation measure).
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/engine/node.js';
import { matmulBackward, matmulForward } from '../src/engine/kernels/matmul.js';
import { applicableVariants, type TunedKernel } from '../src/engine/tuning/variants.js';
import type { Tensor } from '../src/engine/gpu/tensor.js';
import { describePeak, measureCeiling } from './peak.js';

const { values: o } = parseArgs({
  options: {
    shapes: { type: 'string', default: '256x128x384,256x576x576,256x576x1536,256x1536x576' },
    reps: { type: 'string', default: '5' },
    variants: { type: 'string', default: 'all' },
    products: { type: 'string', default: 'forward,dinp,dweight' },
  },
});
const reps = Number(o.reps);
const shapes = o.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number, number]);
const products = o.products.split(',') as ('forward' | 'dinp' | 'dweight')[];
const KERNEL: Record<string, TunedKernel> = { forward: 'matmul_forward', dinp: 'matmul_dinp', dweight: 'matmul_dweight' };

function randn(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 3.4;
  }
  return a;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const engine = await createNodeEngine();
try {
  const r = engine.report;
  console.log(`adapter: ${r.vendor} / ${r.architecture} / ${r.description}; shader-f16 ${r.features.shaderF16}, subgroups ${r.features.subgroups}`);
  const ceiling = await measureCeiling(engine, { warmup: 1, reps: 3, targetMs: 300, maxIters: 1000, cpuMaxFlop: 0 }, console.log);
  const peak = ceiling.fmaF32.status === 'ok' ? ceiling.fmaF32.value : NaN;
  console.log(`f32 FMA peak: ${describePeak(ceiling.fmaF32)}`);
  console.log('| M x C x OC | product | variant | first call ms | ms | GFLOP/s | % f32 peak | diff vs safe |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  for (const [M, C, OC] of shapes) {
    const t = (n: number, seed: number) => engine.fromArray(randn(n, seed), [n]);
    const inp = t(M * C, 1), weight = t(OC * C, 2), dout = t(M * OC, 3);
    for (const product of products) {
      const kernel = KERNEL[product]!;
      const names = applicableVariants(kernel, engine.report).map((v) => v.name)
        .filter((n) => o.variants === 'all' || n === 'safe' || o.variants.split(',').includes(n));
      const runs = names.map((variant) => {
        const out = engine.zeros([product === 'forward' ? M * OC : product === 'dinp' ? M * C : OC * C]);
        const step = () => {
          if (product === 'forward') matmulForward(engine, out, inp, weight, null, M, C, OC, { variant });
          else if (product === 'dinp') matmulBackward(engine, out, null, null, dout, inp, weight, M, C, OC, { dinpVariant: variant });
          else matmulBackward(engine, null, out, null, dout, inp, weight, M, C, OC, { dweightVariant: variant });
        };
        return { variant, out, step, first: 0, ms: [] as number[] };
      });
      for (const x of runs) {
        const t0 = performance.now();
        x.step();
        await engine.sync();
        x.first = performance.now() - t0;
      }
      // Check against safe on one call's output (dweight accumulates: zero it first).
      const results: Float32Array[] = [];
      for (const x of runs) {
        engine.release(x.out);
        x.out = engine.zeros([x.out.size]);
        x.step();
        results.push(await engine.readF32(x.out));
      }
      for (let i = 0; i < reps; i++) {
        for (const x of i % 2 ? [...runs].reverse() : runs) {
          const t0 = performance.now();
          x.step();
          await engine.sync();
          x.ms.push(performance.now() - t0);
        }
      }
      const safe = results[0]!;
      const maxSafe = safe.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      runs.forEach((x, i) => {
        const res = results[i]!;
        let d = 0;
        for (let j = 0; j < safe.length; j++) d = Math.max(d, Math.abs(res[j]! - safe[j]!));
        const ms = median(x.ms);
        const gflops = (2 * M * C * OC) / (ms * 1e6);
        console.log(`| ${M} x ${C} x ${OC} | ${product} | ${x.variant} | ${x.first.toFixed(0)} | ${ms.toFixed(1)} | ${gflops.toFixed(2)} | ${((100 * gflops) / peak).toFixed(1)}% | ${(d / (1 + maxSafe)).toExponential(1)} |`);
        engine.release(x.out as Tensor);
      });
    }
    engine.release(inp, weight, dout);
  }
} finally {
  engine.destroy();
}
process.exit(0);
