// Listwise Plackett-Luce (Preference Ranking Optimization) over N ranked responses. Not a TRL
// trainer; implicit rewards β·(logp - ref logp) as TRL's DPO, definitions from
// /work/shared/docs/preference-losses.md.
import { describe, it, afterAll } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { listwiseLossBackward, listwiseLossForward } from '../../src/engine/kernels/listwise-loss.js';
import { listwiseLossBackwardCpu, listwiseLossForwardCpu } from '../../src/engine/cpu/listwise-loss.js';
import { preferenceLossForwardCpu } from '../../src/engine/cpu/preference-loss.js';
import { LISTWISE_NSTATS, PAIR_NSTATS } from '../../src/engine/losses/terms.js';
import { expectClose, finiteDifferences, rng } from '../support/numeric.js';
import { pairParams } from './batches.js';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** (B, N) sums; the reference near the policy so rewards span ±(a few). */
function listBatch(B: number, N: number, seed: number) {
  const r = rng(seed);
  const policy = new Float32Array(B * N), ref = new Float32Array(B * N);
  for (let i = 0; i < B * N; i++) {
    const n = 1 + Math.floor(r() * 48);
    policy[i] = -n * (0.05 + 2.95 * r());
    ref[i] = policy[i]! + (0.3 + 0.1 * n) * (r() - 0.5) * 8;
  }
  return { policy, ref };
}

function cpuRun(policy: Float64Array, ref: Float64Array, beta: number, B: number, N: number, dloss: number) {
  const losses = new Float64Array(B), lse = new Float64Array(B * N), stats = new Float64Array(LISTWISE_NSTATS);
  const d = new Float64Array(B * N);
  listwiseLossForwardCpu(losses, lse, stats, policy, ref, { beta }, B, N);
  listwiseLossBackwardCpu(d, dloss, policy, ref, lse, { beta }, B, N);
  return { losses, lse, stats, d };
}

async function gpuRun(engine: Engine, policy: Float32Array, ref: Float32Array, beta: number, B: number, N: number, dloss: number) {
  const tp = engine.fromArray(policy, [B, N]), tr = engine.fromArray(ref, [B, N]);
  const losses = engine.tensor([B]), lse = engine.tensor([B, N]), stats = engine.tensor([LISTWISE_NSTATS]);
  const d = engine.tensor([B, N]);
  listwiseLossForward(engine, losses, lse, stats, tp, tr, { beta }, B, N);
  listwiseLossBackward(engine, d, dloss, tp, tr, lse, { beta }, B, N);
  const out = {
    losses: await engine.readF32(losses),
    lse: await engine.readF32(lse),
    stats: await engine.readF32(stats),
    d: await engine.readF32(d),
  };
  engine.release(tp, tr, losses, lse, stats, d);
  return out;
}

describe('listwise loss: hand-computed', () => {
  it('N = 3: -log P(ranking) under Plackett-Luce', () => {
    const policy = Float64Array.of(-5, -9, -4), ref = Float64Array.of(-6, -7, -3), beta = 0.5;
    const [r0, r1, r2] = [0.5 * 1, 0.5 * -2, 0.5 * -1];
    const e = Math.exp;
    const want = -(Math.log(e(r0) / (e(r0) + e(r1) + e(r2))) + Math.log(e(r1) / (e(r1) + e(r2))));
    const { losses, stats } = cpuRun(policy, ref, beta, 1, 3, 1);
    expectClose(losses, [want], { atol: 1e-15, rtol: 1e-13, what: 'loss' });
    expectClose(stats, [want, r0, r2, 1, r0 - r2, -5, -4], { atol: 1e-15, rtol: 1e-13, what: 'stats' });
  });

  it('N = 2 is DPO sigmoid, pair by pair', () => {
    const B = 6, { policy, ref } = listBatch(B, 2, 5);
    const list = cpuRun(f64(policy), f64(ref), 0.3, B, 2, 1);
    const pick = (a: Float32Array, k: number) => Float64Array.from({ length: B }, (_, i) => a[2 * i + k]!);
    const losses = new Float64Array(B), stats = new Float64Array(PAIR_NSTATS), ones = new Float64Array(B).fill(1);
    preferenceLossForwardCpu(losses, stats, pick(policy, 0), pick(policy, 1), pick(ref, 0), pick(ref, 1), ones, ones, null,
      pairParams({ sigmoid: 1 }, { beta: 0.3 }), B);
    expectClose(list.losses, losses, { atol: 1e-14, rtol: 1e-12, what: 'losses' });
    expectClose(list.stats, stats.subarray(0, LISTWISE_NSTATS), { atol: 1e-14, rtol: 1e-12, what: 'stats' });
  });
});

describe('listwise loss: CPU backward = finite differences', () => {
  it('dloss scales the gradient', () => {
    const { policy, ref } = listBatch(3, 4, 6);
    const one = cpuRun(f64(policy), f64(ref), 0.4, 3, 4, 1).d, half = cpuRun(f64(policy), f64(ref), 0.4, 3, 4, 0.5).d;
    expectClose(half, Array.from(one, (v) => v / 2), { atol: 0, rtol: 1e-15, what: 'dpolicy' });
  });

  it.each([[2], [5]])('N = %i', (N) => {
    const B = 4, { policy, ref } = listBatch(B, N, 7 + N);
    const p = f64(policy), r = f64(ref);
    const losses = new Float64Array(B), lse = new Float64Array(B * N), stats = new Float64Array(LISTWISE_NSTATS);
    const loss = () => (listwiseLossForwardCpu(losses, lse, stats, p, r, { beta: 0.4 }, B, N), stats[0]!);
    const { d } = cpuRun(p, r, 0.4, B, N, 1);
    expectClose(d, finiteDifferences(p, loss, 1e-4), { atol: 1e-9, rtol: 1e-6, what: 'dL/dpolicy' });
  });
});

// f32: rewards β·(p - ref) round at 2^-24·|p| (<= 144) and a list's loss sums N softplus
// terms; gradients are O(β/B). Measured worst over these cases: losses 3e-6 abs / 5e-7 rel,
// lse 1.1e-6 abs, stats 3.1e-7 rel, gradients 6.7e-8 abs (on entries of ~1e-2).
const TOL = { atol: 5e-6, rtol: 1e-5 };
const GRAD_TOL = { atol: 2e-8, rtol: 1e-5 };

describe('listwise loss: GPU = CPU twin', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each([
    [1, 4], [7, 4], [64, 4], [257, 4], [7, 2], [5, 9],
  ])('B = %i, N = %i', async (B, N) => {
    const engine = await testEngine();
    const { policy, ref } = listBatch(B, N, 300 + B * N);
    const want = cpuRun(f64(policy), f64(ref), 0.5, B, N, 0.5);
    const got = await gpuRun(engine, policy, ref, 0.5, B, N, 0.5);
    expectClose(got.losses, want.losses, { ...TOL, what: 'losses' });
    expectClose(got.lse, want.lse, { ...TOL, what: 'lse' });
    expectClose(got.stats, want.stats, { ...TOL, what: 'stats' });
    expectClose(got.d, want.d, { ...GRAD_TOL, what: 'dpolicy' });
  });
});
