// KTO: TRL 1.x semantics (`trl/trainer/kto_trainer.py`, loss_type "kto"), as written down in
// /work/shared/docs/preference-losses.md. The KL estimate is an input (detached): the caller's
// policy / reference log-probs of completions rotated by one within the batch.
import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { ktoKlEstimate, ktoLossBackward, ktoLossForward } from '../../src/engine/kernels/kto-loss.js';
import { ktoKlEstimateCpu, ktoLossBackwardCpu, ktoLossForwardCpu } from '../../src/engine/cpu/kto-loss.js';
import { KTO_NSTATS, type KtoParams } from '../../src/engine/losses/terms.js';
import { expectClose, finiteDifferences, rng } from '../support/numeric.js';

const SIZES = [1, 7, 64, 257];
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

interface KtoBatch {
  B: number;
  policy: Float32Array; // (B)
  ref: Float32Array; // (B)
  labels: Int32Array; // (B)
  policyKL: Float32Array; // (B) rotated completions
  refKL: Float32Array; // (B)
}

/** Sums like pairBatch's; labels ~ 60% desirable, both classes present from B = 2. */
function ktoBatch(B: number, seed: number): KtoBatch {
  const r = rng(seed);
  const b: KtoBatch = {
    B,
    policy: new Float32Array(B), ref: new Float32Array(B), labels: new Int32Array(B),
    policyKL: new Float32Array(B), refKL: new Float32Array(B),
  };
  for (let i = 0; i < B; i++) {
    const n = 1 + Math.floor(r() * 48);
    b.policy[i] = -n * (0.05 + 2.95 * r());
    b.ref[i] = b.policy[i]! + (0.3 + 0.1 * n) * (r() - 0.5) * 8;
    b.labels[i] = r() < 0.6 ? 1 : 0;
    const m = 1 + Math.floor(r() * 48);
    b.refKL[i] = -m * (0.5 + 3 * r());
    // Policy drifted a little above the reference on average: a positive KL.
    b.policyKL[i] = b.refKL[i]! + (r() - 0.3) * 4;
  }
  if (B >= 2) (b.labels[0] = 1), (b.labels[1] = 0);
  return b;
}

const PARAMS: [string, KtoParams][] = [
  ['default weights', { beta: 0.1, desirableWeight: 1, undesirableWeight: 1 }],
  ['beta 0.5, weights 1 / 1.33', { beta: 0.5, desirableWeight: 1, undesirableWeight: 1.33 }],
];

function cpuRun(b: KtoBatch, p: KtoParams, dloss: number) {
  const kl = new Float64Array(1);
  ktoKlEstimateCpu(kl, f64(b.policyKL), f64(b.refKL), b.B);
  const losses = new Float64Array(b.B), stats = new Float64Array(KTO_NSTATS), d = new Float64Array(b.B);
  ktoLossForwardCpu(losses, stats, f64(b.policy), f64(b.ref), b.labels, kl, p, b.B);
  ktoLossBackwardCpu(d, dloss, f64(b.policy), f64(b.ref), b.labels, kl, p, b.B);
  return { kl, losses, stats, d };
}

async function gpuRun(engine: Engine, b: KtoBatch, p: KtoParams, dloss: number) {
  const B = b.B;
  const policy = engine.fromArray(b.policy, [B]), ref = engine.fromArray(b.ref, [B]);
  const labels = engine.fromArray(b.labels, [B], 'i32');
  const policyKL = engine.fromArray(b.policyKL, [B]), refKL = engine.fromArray(b.refKL, [B]);
  const kl = engine.tensor([1]), losses = engine.tensor([B]), stats = engine.tensor([KTO_NSTATS]), d = engine.tensor([B]);
  ktoKlEstimate(engine, kl, policyKL, refKL, B);
  ktoLossForward(engine, losses, stats, policy, ref, labels, kl, p, B);
  ktoLossBackward(engine, d, dloss, policy, ref, labels, kl, p, B);
  const out = {
    kl: await engine.readF32(kl),
    losses: await engine.readF32(losses),
    stats: await engine.readF32(stats),
    d: await engine.readF32(d),
  };
  engine.release(policy, ref, labels, policyKL, refKL, kl, losses, stats, d);
  return out;
}

describe('kto loss: hand-computed', () => {
  it('per-record losses, weights, mean, sums and counts', () => {
    const sg = (x: number) => 1 / (1 + Math.exp(-x));
    const policy = [-10, -20, -7, -30], ref = [-12, -18, -7.5, -29], labels = Int32Array.of(1, 0, 1, 0);
    const kl = 0.4, beta = 0.25, wD = 1.2, wU = 0.8;
    const want = [
      wD * (1 - sg(beta * (-10 + 12 - kl))),
      wU * (1 - sg(beta * (kl - (-20 + 18)))),
      wD * (1 - sg(beta * (-7 + 7.5 - kl))),
      wU * (1 - sg(beta * (kl - (-30 + 29)))),
    ];
    const losses = new Float64Array(4), stats = new Float64Array(KTO_NSTATS);
    ktoLossForwardCpu(losses, stats, f64(policy), f64(ref), labels, Float64Array.of(kl), { beta, desirableWeight: wD, undesirableWeight: wU }, 4);
    expectClose(losses, want, { atol: 1e-15, rtol: 1e-13, what: 'losses' });
    expectClose(stats, [
      want.reduce((a, x) => a + x, 0) / 4, kl,
      beta * (2 + 0.5), beta * (-2 + -1), -10 + -7, -20 + -30, 2, 2,
    ], { atol: 1e-15, rtol: 1e-13, what: 'stats' });
  });

  it('KL estimate: mean of policy - ref, clamped at 0', () => {
    const kl = new Float64Array(1);
    ktoKlEstimateCpu(kl, Float64Array.of(-5, -7, -2), Float64Array.of(-6, -7, -2.5), 3);
    expect(kl[0]).toBeCloseTo((1 + 0 + 0.5) / 3, 15);
    ktoKlEstimateCpu(kl, Float64Array.of(-5, -7), Float64Array.of(-4, -7), 2);
    expect(kl[0]).toBe(0);
  });
});

describe('kto loss: dloss', () => {
  it('scales the gradient', () => {
    const b = ktoBatch(9, 32), p = PARAMS[1]![1];
    const one = cpuRun(b, p, 1).d, half = cpuRun(b, p, 0.5).d;
    expectClose(half, Array.from(one, (v) => v / 2), { atol: 0, rtol: 1e-15, what: 'dpolicy' });
  });
});

describe('kto loss: CPU backward = finite differences (kl held fixed: it is detached)', () => {
  it.each(PARAMS)('%s', (_, p) => {
    const b = ktoBatch(9, 31);
    const policy = f64(b.policy), ref = f64(b.ref), kl = Float64Array.of(0.7);
    const losses = new Float64Array(9), stats = new Float64Array(KTO_NSTATS), d = new Float64Array(9);
    const loss = () => (ktoLossForwardCpu(losses, stats, policy, ref, b.labels, kl, p, 9), stats[0]!);
    ktoLossBackwardCpu(d, 1, policy, ref, b.labels, kl, p, 9);
    expectClose(d, finiteDifferences(policy, loss, 1e-4), { atol: 1e-9, rtol: 1e-6, what: 'dL/dpolicy' });
  });
});

// f32 on the GPU: cr = policy - ref rounds at 2^-24·|policy| (<= 144), kl is an f32 mean over
// <= 257 differences; losses are O(w), gradients O(β·w/B). Measured worst over these cases:
// kl 6.6e-8 rel, losses 1.7e-7 abs, stats 1.5e-7 rel (logps sums to ~1e4), gradients 7e-10
// abs / 8.2e-7 rel.
const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRAD_TOL = { atol: 1e-8, rtol: 1e-5 };

describe('kto loss: GPU = CPU twin', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(PARAMS)('%s', async (name, p) => {
    const engine = await testEngine();
    for (const B of SIZES) {
      const b = ktoBatch(B, 200 + B);
      const want = cpuRun(b, p, 0.5);
      const got = await gpuRun(engine, b, p, 0.5);
      const tag = `${name} B=${B}`;
      expectClose(got.kl, want.kl, { ...TOL, what: `${tag} kl` });
      expectClose(got.losses, want.losses, { ...TOL, what: `${tag} losses` });
      expectClose(got.stats, want.stats, { ...TOL, what: `${tag} stats` });
      expectClose(got.d, want.d, { ...GRAD_TOL, what: `${tag} dpolicy` });
    }
  });
});
