// Attention forward + backward, safe against flash (src/engine/tuning/variants.ts), in Node through
// Dawn on whatever adapter VK_ICD_FILENAMES gives (lavapipe: .cache/lavapipe/icd.json):
//   VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json npx tsx bench/attention.ts [--reps N, default 9]
// Shapes: the demo model's attention (4 heads, 2 kv heads, head size 32) over the train suite's
// default batch (4 pairs x 32 tokens = 8 sequences of 32), and SmolLM2-135M's (9 heads, 3 kv heads,
// head size 64) over B = 2 sequences of 256. Prints the median ms per call of each pass and the
// largest difference between the variants' outputs. Then decoding (one query row against a
// cache, SmolLM2-135M's heads): safe, flash and split keys, 30 calls (a model's layers) per step.
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/engine/node.js';
import { attentionBackward, attentionForward } from '../src/engine/kernels/attention.js';
import type { Tensor } from '../src/engine/gpu/tensor.js';

const { values: o } = parseArgs({ options: { reps: { type: 'string', default: '9' } } });
const reps = Number(o.reps);

const SHAPES = [
  { name: 'demo-fortunes (B=8, T=32)', B: 8, T: 32, NH: 4, NKV: 2, HS: 32 },
  { name: 'SmolLM2-135M (B=2, T=256)', B: 2, T: 256, NH: 9, NKV: 3, HS: 64 },
];

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

// Decoding: one query row per sequence against a cache of Tk keys (SmolLM2-135M's heads), the
// forward of all 30 layers' worth of calls per timed step; safe, flash and split keys.
const DECODING = [
  { B: 1, Tk: 256 },
  { B: 1, Tk: 1024 },
  { B: 8, Tk: 1024 },
];

async function decoding(): Promise<void> {
  const NH = 9, NKV = 3, HS = 64, LAYERS = 30;
  for (const { B, Tk } of DECODING) {
    const t = (n: number, seed: number) => engine.fromArray(randn(n, seed), [n]);
    const q = t(B * NH * HS, 5), k = t(B * Tk * NKV * HS, 6), v = t(B * Tk * NKV * HS, 7);
    const run = ['safe', 'flash', 'split'].map((variant) => {
      const out = engine.tensor([B * NH * HS], 'f32'), lse = engine.tensor([B * NH], 'f32');
      return { variant, out, lse, times: [] as number[], fwd: () => attentionForward(engine, out, lse, q, k, v, null, B, 1, Tk, NH, NKV, HS, { variant }) };
    });
    for (const x of run) x.fwd();
    await engine.sync(); // compiles
    for (let i = 0; i < reps; i++) {
      for (const x of i % 2 ? [...run].reverse() : run) {
        const t0 = performance.now();
        for (let l = 0; l < LAYERS; l++) x.fwd();
        await engine.sync();
        x.times.push(performance.now() - t0);
      }
    }
    const ref = await engine.readF32(run[0]!.out);
    for (const x of run) {
      const got = await engine.readF32(x.out);
      const diff = got.reduce((m, y, j) => Math.max(m, Math.abs(y - ref[j]!)), 0);
      console.log(`decoding B=${B} Tk=${Tk} (9 heads, 3 kv heads, HS 64) ${x.variant}: ${median(x.times).toFixed(1)} ms per ${LAYERS} calls (median of ${reps}), |out - safe| ${diff.toExponential(1)}`);
      engine.release(x.out, x.lse);
    }
    engine.release(q, k, v);
  }
}

const engine = await createNodeEngine();
try {
  const r = engine.report;
  console.log(`adapter: ${r.vendor} / ${r.architecture} / ${r.description}`);
  for (const s of SHAPES) {
    const { B, T, NH, NKV, HS } = s;
    const t = (n: number, seed: number) => engine.fromArray(randn(n, seed), [n]);
    const q = t(B * T * NH * HS, 1), k = t(B * T * NKV * HS, 2), v = t(B * T * NKV * HS, 3), dout = t(B * T * NH * HS, 4);
    const mask = engine.fromArray(new Uint32Array(B * T).fill(1), [B, T], 'u32');
    // Both variants in turn within each repetition (order alternating), so that a shared
    // machine's load falls on both alike.
    const variants = ['safe', 'flash'];
    const run = variants.map((variant) => {
      const out = engine.tensor([B * T * NH * HS], 'f32'), lse = engine.tensor([B * NH * T], 'f32');
      const dq = engine.tensor([B * T * NH * HS], 'f32'), dk = engine.tensor([B * T * NKV * HS], 'f32'), dv = engine.tensor([B * T * NKV * HS], 'f32');
      return {
        variant, tensors: [out, lse, dq, dk, dv], tf: [] as number[], tb: [] as number[],
        fwd: () => attentionForward(engine, out, lse, q, k, v, mask, B, T, T, NH, NKV, HS, { variant }),
        bwd: () => attentionBackward(engine, dq, dk, dv, dout, q, k, v, out, lse, mask, B, T, NH, NKV, HS, { variant }),
      };
    });
    for (const x of run) {
      x.fwd();
      x.bwd();
    }
    await engine.sync(); // compiles
    for (let i = 0; i < reps; i++) {
      for (const x of i % 2 ? [...run].reverse() : run) {
        const t0 = performance.now();
        x.fwd();
        await engine.sync();
        const t1 = performance.now();
        x.bwd();
        await engine.sync();
        x.tf.push(t1 - t0);
        x.tb.push(performance.now() - t1);
      }
    }
    const outputs: Record<string, Float32Array[]> = {};
    for (const x of run) {
      outputs[x.variant] = await Promise.all(x.tensors.map((t: Tensor) => engine.readF32(t)));
      const [f, b] = [median(x.tf), median(x.tb)];
      console.log(`${s.name} ${x.variant}: forward ${f.toFixed(1)} ms, backward ${b.toFixed(1)} ms, both ${(f + b).toFixed(1)} ms (median of ${reps})`);
      engine.release(...x.tensors);
    }
    let maxDiff = 0;
    outputs.safe!.forEach((a, i) => a.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - outputs.flash![i]![j]!)))));
    console.log(`${s.name}: largest |safe - flash| over out, lse, dq, dk, dv: ${maxDiff.toExponential(2)}`);
    engine.release(q, k, v, dout, mask);
  }
  await decoding();
} finally {
  engine.destroy();
}
