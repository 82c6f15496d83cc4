// The LoRA passes and the LM head's log-softmax, today's kernels against their variants
// (src/engine/tuning/variants.ts: lora_xa / lora_dyb "subgroup", lora_grad "thin",
// logprobs_forward "subgroup"), in Node through Dawn on whatever adapter VK_ICD_FILENAMES gives
// (lavapipe: .cache/lavapipe/icd.json):
//   VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json npx tsx bench/lora-logprobs.ts [--reps N, default 7] [--only demo|smollm2]
// Shapes: the demo model (hidden 128, intermediate 384, vocabulary 2048) at the train suite's
// default batch (4 pairs x 32 tokens: 256 rows), and SmolLM2-135M (hidden 576, intermediate 1536,
// vocabulary 49152) at 64 and 512 rows; LoRA ranks 8 and 16 on a hidden- and an intermediate-wide
// side (xa: x (M, C)·Aᵀ; g: dY (M, OC)·B; dA (R, C); dB (OC, R)). Each repetition runs every
// variant in turn (order alternating) with one sync per call; prints the median and the range of
// ms per call, the variant's time over the safe kernel's, and the largest difference between them.
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/engine/node.js';
import { loraDyB, loraGrad, loraXa } from '../src/engine/kernels/lora.js';
import { logprobsForward } from '../src/engine/kernels/logprobs.js';
import { applicableVariants, type TunedKernel } from '../src/engine/tuning/variants.js';
import type { Tensor } from '../src/engine/gpu/tensor.js';

const { values: o } = parseArgs({ options: { reps: { type: 'string', default: '7' }, only: { type: 'string' } } });
const reps = Number(o.reps);

const MODELS = [
  { name: 'demo', hidden: 128, intermediate: 384, vocab: 2048, rows: [256] },
  { name: 'smollm2', hidden: 576, intermediate: 1536, vocab: 49152, rows: [64, 512] },
].filter((m) => !o.only || m.name === o.only);
const RANKS = [8, 16];

function randn(n: number, seed: number, spread = 3.4): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = ((x >>> 0) / 2 ** 32 - 0.5) * spread;
  }
  return a;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Call {
  kernel: TunedKernel;
  label: string;
  inputs: Tensor[];
  /** Queues one call of `variant` writing `out`. */
  run: (variant: string, out: Tensor) => void;
  outSize: number;
}

const engine = await createNodeEngine();
const t = (n: number, seed: number, spread?: number) => engine.fromArray(randn(n, seed, spread), [n]);
try {
  const r = engine.report;
  console.log(`adapter: ${r.vendor} / ${r.architecture} / ${r.description}; subgroups=${r.features.subgroups}; ${reps} repetitions`);
  for (const m of MODELS) {
    for (const M of m.rows) {
      const calls: Call[] = [];
      for (const R of RANKS) {
        for (const W of [m.hidden, m.intermediate]) {
          const x = t(M * W, 1), a = t(R * W, 2), g = t(M * R, 3);
          calls.push(
            { kernel: 'lora_xa', label: `xa M=${M} C=${W} R=${R}`, inputs: [x, a], outSize: M * R,
              run: (variant, out) => loraXa(engine, out, x, a, M, W, R, { scale: 2, dropout: { p: 0.1, seed: 7 }, variant }) },
            { kernel: 'lora_dyb', label: `g M=${M} OC=${W} R=${R}`, inputs: [], outSize: M * R,
              run: (variant, out) => loraDyB(engine, out, x, a, M, W, R, { scale: 2, variant }) },
            { kernel: 'lora_grad', label: `dA M=${M} R=${R} C=${W}`, inputs: [g], outSize: R * W,
              run: (variant, out) => loraGrad(engine, out, g, x, M, R, W, { accumulate: false, dropout: { p: 0.1, seed: 7 }, variant }) },
            { kernel: 'lora_grad', label: `dB M=${M} OC=${W} R=${R}`, inputs: [], outSize: W * R,
              run: (variant, out) => loraGrad(engine, out, x, g, M, W, R, { accumulate: false, variant }) },
          );
        }
      }
      const logits = t(M * m.vocab, 4, 16);
      const targets = engine.fromArray(Int32Array.from({ length: M }, (_, i) => (i * 7919) % m.vocab), [M], 'i32');
      const extra = [engine.tensor([M], 'f32'), engine.tensor([M], 'f32'), engine.tensor([M], 'f32')];
      calls.push({ kernel: 'logprobs_forward', label: `logprobs rows=${M} V=${m.vocab}`, inputs: [logits, targets, ...extra], outSize: M,
        run: (variant, out) => logprobsForward(engine, out, extra[0]!, extra[1]!, extra[2]!, logits, targets, M, m.vocab, undefined, { variant }) });

      for (const c of calls) {
        const variants = applicableVariants(c.kernel, r).map((v) => v.name);
        const outs = variants.map(() => engine.tensor([c.outSize], 'f32'));
        variants.forEach((v, i) => c.run(v, outs[i]!));
        await engine.sync(); // compiles
        const times = variants.map(() => [] as number[]);
        for (let rep = 0; rep < reps; rep++) {
          const order = variants.map((_, i) => i);
          if (rep % 2) order.reverse();
          for (const i of order) {
            const t0 = performance.now();
            c.run(variants[i]!, outs[i]!);
            await engine.sync();
            times[i]!.push(performance.now() - t0);
          }
        }
        const res = await Promise.all(outs.map((x) => engine.readF32(x)));
        const safe = median(times[0]!);
        const parts = variants.map((v, i) => {
          const ts = times[i]!;
          let diff = 0;
          res[i]!.forEach((y, j) => (diff = Math.max(diff, Math.abs(y - res[0]![j]!))));
          const ratio = i === 0 ? '' : ` = ${(median(ts) / safe).toFixed(2)}x safe, max |diff| ${diff.toExponential(1)}`;
          return `${v} ${median(ts).toFixed(2)} ms [${Math.min(...ts).toFixed(2)}-${Math.max(...ts).toFixed(2)}]${ratio}`;
        });
        console.log(`${m.name} ${c.label}: ${parts.join('; ')}`);
        engine.release(...outs);
      }
      const seen = new Set<Tensor>();
      for (const c of calls) for (const x of c.inputs) if (!seen.has(x)) (seen.add(x), engine.release(x));
    }
  }
} finally {
  engine.destroy();
}
