// Paired preference losses, with the TRL semantics each follows (definitions as written down
// in /work/shared/docs/preference-losses.md):
//   sigmoid, hinge, ipo (length-normalised), robust, exo_pair, nca_pair, bco_pair (no running-
//   mean δ), sppo_hard, apo_zero, apo_down, discopop, sigmoid_norm, sft, weighted combinations:
//     TRL 1.x (v1.9) DPOTrainer._compute_loss, loss_type / loss_weights
//   cdpo: TRL <= 0.28's `sigmoid` with label_smoothing > 0 (1.x dropped it)
//   RPO: TRL 1.x loss_type ["sigmoid", "sft"] (TRL 0.x rpo_alpha)
//   Step-DPO: `sigmoid` on step-level log-probs (no loss of its own)
//   ORPO: TRL 1.x trl/experimental/orpo, but NLL over the response only (LLaMA-Factory)
//   SimPO, CPO-SimPO: TRL 1.x trl/experimental/cpo, loss_type "simpo"
//   aot, aot_unpaired (sorted over the batch), f_divergence_type, use_weighting: TRL 1.9
import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { preferenceLossBackward, preferenceLossForward } from '../../src/engine/kernels/preference-loss.js';
import { preferenceLossBackwardCpu, preferenceLossForwardCpu } from '../../src/engine/cpu/preference-loss.js';
import { AOT_MAX_PAIRS, PAIR_NSTATS, PAIR_STATS, type PairLossParams } from '../../src/engine/losses/terms.js';
import { pairLossParams } from '../../src/engine/losses/methods.js';
import { expectClose, finiteDifferences } from '../support/numeric.js';
import { PAIR_METHODS, pairBatch, pairParams, type PairBatch } from './batches.js';

const SIZES = [1, 7, 64, 257];

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

// The batch's WPO weights go in when the params set useWeighting (the kernels refuse them otherwise).
const weightsOf = (b: PairBatch, p: PairLossParams) => (p.useWeighting ? f64(b.w) : null);

function cpuForward(b: PairBatch, p: PairLossParams) {
  const losses = new Float64Array(b.B), stats = new Float64Array(PAIR_NSTATS);
  const ref = p.referenceFree ? [null, null] as const : [f64(b.refc), f64(b.refr)] as const;
  preferenceLossForwardCpu(losses, stats, f64(b.pc), f64(b.pr), ref[0], ref[1], f64(b.nc), f64(b.nr), weightsOf(b, p), p, b.B);
  return { losses, stats };
}

function cpuBackward(b: PairBatch, p: PairLossParams, dloss: number) {
  const dc = new Float64Array(b.B), dr = new Float64Array(b.B);
  const ref = p.referenceFree ? [null, null] as const : [f64(b.refc), f64(b.refr)] as const;
  preferenceLossBackwardCpu(dc, dr, dloss, f64(b.pc), f64(b.pr), ref[0], ref[1], f64(b.nc), f64(b.nr), weightsOf(b, p), p, b.B);
  return { dc, dr };
}

async function gpuRun(engine: Engine, b: PairBatch, p: PairLossParams, dloss: number) {
  const B = b.B;
  const t = (a: Float32Array) => engine.fromArray(a, [B]);
  const pc = t(b.pc), pr = t(b.pr), nc = t(b.nc), nr = t(b.nr);
  const refc = p.referenceFree ? null : t(b.refc);
  const refr = p.referenceFree ? null : t(b.refr);
  const w = p.useWeighting ? t(b.w) : null;
  const losses = engine.tensor([B]), stats = engine.tensor([PAIR_NSTATS]);
  const dc = engine.tensor([B]), dr = engine.tensor([B]);
  try {
    preferenceLossForward(engine, losses, stats, pc, pr, refc, refr, nc, nr, w, p, B);
    preferenceLossBackward(engine, dc, dr, dloss, pc, pr, refc, refr, nc, nr, w, p, B);
    return {
      losses: await engine.readF32(losses),
      stats: await engine.readF32(stats),
      dc: await engine.readF32(dc),
      dr: await engine.readF32(dr),
    };
  } finally {
    engine.release(pc, pr, nc, nr, refc, refr, w, losses, stats, dc, dr);
  }
}

// ---- (a) hand-computed cases: each formula written out again from the doc, in float64 ----

const ls = (x: number) => -Math.log(1 + Math.exp(-x)); // log σ, fine for the small |x| used here
const sg = (x: number) => 1 / (1 + Math.exp(-x));

interface Hand {
  name: string;
  p: PairLossParams;
  /** The doc's per-pair formula of (pc, pr, refc, refr, nc, nr). */
  f: (pc: number, pr: number, refc: number, refr: number, nc: number, nr: number, beta: number) => number;
}

const HAND: Hand[] = [
  { name: 'sigmoid', p: pairParams({ sigmoid: 1 }), f: (pc, pr, c, r, _n, _m, b) => -ls(b * (pc - c - (pr - r))) },
  { name: 'hinge', p: pairParams({ hinge: 1 }), f: (pc, pr, c, r, _n, _m, b) => Math.max(0, 1 - b * (pc - c - (pr - r))) },
  {
    name: 'ipo',
    p: pairParams({ ipo: 1 }),
    f: (pc, pr, c, r, n, m, b) => ((pc - c) / n - (pr - r) / m - 1 / (2 * b)) ** 2,
  },
  {
    name: 'robust',
    p: pairParams({ robust: 1 }, { labelSmoothing: 0.2 }),
    f: (pc, pr, c, r, _n, _m, b) => {
      const d = pc - c - (pr - r);
      return (-(1 - 0.2) * ls(b * d) + 0.2 * ls(-b * d)) / (1 - 2 * 0.2);
    },
  },
  {
    name: 'exo_pair',
    p: pairParams({ exo_pair: 1 }, { exoEpsilon: 1e-3 }),
    f: (pc, pr, c, r, _n, _m, b) => {
      const d = pc - c - (pr - r);
      return sg(b * d) * (ls(b * d) - Math.log(1 - 1e-3)) + sg(-b * d) * (ls(-b * d) - Math.log(1e-3));
    },
  },
  {
    name: 'nca_pair',
    p: pairParams({ nca_pair: 1 }),
    f: (pc, pr, c, r, _n, _m, b) => -ls(b * (pc - c)) - 0.5 * ls(-b * (pc - c)) - 0.5 * ls(-b * (pr - r)),
  },
  { name: 'bco_pair', p: pairParams({ bco_pair: 1 }), f: (pc, pr, c, r, _n, _m, b) => -ls(b * (pc - c)) - ls(-b * (pr - r)) },
  {
    name: 'sppo_hard',
    p: pairParams({ sppo_hard: 1 }),
    f: (pc, pr, c, r, _n, _m, b) => (pc - c - 0.5 / b) ** 2 + (pr - r + 0.5 / b) ** 2,
  },
  { name: 'apo_zero', p: pairParams({ apo_zero: 1 }), f: (pc, pr, c, r, _n, _m, b) => 1 - sg(b * (pc - c)) + sg(b * (pr - r)) },
  {
    name: 'apo_down',
    p: pairParams({ apo_down: 1 }),
    f: (pc, pr, c, r, _n, _m, b) => sg(b * (pc - c)) + (1 - sg(b * (pc - c - (pr - r)))),
  },
  {
    name: 'discopop',
    p: pairParams({ discopop: 1 }),
    f: (pc, pr, c, r, _n, _m, b) => {
      const z = b * (pc - c - (pr - r));
      const m = sg(z / 0.05);
      return -ls(z) * (1 - m) + Math.exp(-z) * m;
    },
  },
  {
    name: 'sigmoid_norm',
    p: pairParams({ sigmoid_norm: 1 }),
    f: (pc, pr, c, r, n, m, b) => -ls(b * ((pc - c) / n - (pr - r) / m)),
  },
  {
    name: 'cdpo',
    p: pairParams({ cdpo: 1 }, { labelSmoothing: 0.1 }),
    f: (pc, pr, c, r, _n, _m, b) => {
      const d = pc - c - (pr - r);
      return -(1 - 0.1) * ls(b * d) - 0.1 * ls(-b * d);
    },
  },
  {
    name: 'simpo',
    p: pairParams({ simpo: 1 }, { beta: 2, simpoGamma: 0.5, referenceFree: true }),
    f: (pc, pr, _c, _r, n, m, b) => -ls(b * (pc / n - pr / m) - 0.5),
  },
  {
    name: 'orpo (odds-ratio term)',
    p: pairParams({ orpo: 1 }, { referenceFree: true }),
    f: (pc, pr, _c, _r, n, m, b) => {
      const lc = pc / n, lr = pr / m;
      const logOdds = lc - lr - (Math.log(1 - Math.exp(lc)) - Math.log(1 - Math.exp(lr)));
      return -b * ls(logOdds);
    },
  },
];

// Two pairs: (pc, pr, refc, refr, nc, nr).
const HAND_PAIRS = [
  [-12.5, -15.0, -13.0, -14.0, 5, 6],
  [-20.0, -9.5, -18.0, -11.0, 8, 4],
] as const;

describe('preference loss: hand-computed', () => {
  it.each(HAND)('$name: per-pair losses and their mean', ({ p, f }) => {
    const b: PairBatch = {
      B: 2,
      pc: Float32Array.from(HAND_PAIRS.map((x) => x[0])),
      pr: Float32Array.from(HAND_PAIRS.map((x) => x[1])),
      refc: Float32Array.from(HAND_PAIRS.map((x) => x[2])),
      refr: Float32Array.from(HAND_PAIRS.map((x) => x[3])),
      nc: Float32Array.from(HAND_PAIRS.map((x) => x[4])),
      nr: Float32Array.from(HAND_PAIRS.map((x) => x[5])),
      w: Float32Array.of(1, 1),
    };
    const want = HAND_PAIRS.map(([pc, pr, c, r, n, m]) => f(pc, pr, c, r, n, m, p.beta));
    const { losses, stats } = cpuForward(b, p);
    // Float64 both ways; only the formulas' evaluation order differs.
    expectClose(losses, want, { atol: 1e-13, rtol: 1e-12, what: 'losses' });
    expectClose([stats[0]!], [(want[0]! + want[1]!) / 2], { atol: 1e-13, rtol: 1e-12, what: 'loss' });
  });

  it('sft: mean NLL over all chosen completion tokens; RPO adds it to every pair', () => {
    const b = pairBatch(5, 11);
    let sum = 0, tokens = 0;
    for (let i = 0; i < 5; i++) (sum += b.pc[i]!), (tokens += b.nc[i]!);
    const nll = -sum / tokens;
    const sft = cpuForward(b, pairParams({ sft: 1 }));
    expectClose(sft.losses, new Array(5).fill(nll), { atol: 1e-13, rtol: 1e-12, what: 'sft losses' });
    expectClose([sft.stats[0]!, sft.stats[7]!], [nll, nll], { atol: 1e-13, rtol: 1e-12, what: 'sft loss, nll_loss' });
    const dpo = cpuForward(b, pairParams({ sigmoid: 1 }));
    const rpo = cpuForward(b, pairParams({ sigmoid: 1, sft: 0.5 }));
    expectClose(rpo.losses, Array.from(dpo.losses, (l) => l + 0.5 * nll), { atol: 1e-13, rtol: 1e-12, what: 'rpo' });
    // dL/dpc[i] of the SFT term is -w / total tokens, the same for every pair.
    const g = cpuBackward(b, pairParams({ sft: 1 }), 1);
    expectClose(g.dc, new Array(5).fill(-1 / tokens), { atol: 1e-15, rtol: 1e-12, what: 'd sft / dpc' });
    expectClose(g.dr, new Array(5).fill(0), { atol: 0, rtol: 0, what: 'd sft / dpr' });
  });

  it('metrics: TRL names, rewards β·(logp - ref), accuracies strict, reference-free β·avg logp', () => {
    const b: PairBatch = {
      B: 2,
      pc: Float32Array.of(-10, -6), pr: Float32Array.of(-12, -8),
      refc: Float32Array.of(-11, -5), refr: Float32Array.of(-11, -9),
      nc: Float32Array.of(4, 2), nr: Float32Array.of(3, 8),
      w: Float32Array.of(1, 1),
    };
    const { stats } = cpuForward(b, pairParams({ sigmoid: 1 }, { beta: 0.5 }));
    const m = Object.fromEntries(PAIR_STATS.map((k, i) => [k, stats[i]!]));
    // rewards: chosen 0.5·(1, -1), rejected 0.5·(-1, 1)
    expect(m['rewards/chosen']).toBeCloseTo(0, 14);
    expect(m['rewards/rejected']).toBeCloseTo(0, 14);
    expect(m['rewards/accuracies']).toBe(0.5);
    expect(m['rewards/margins']).toBeCloseTo((1 + -1) / 2, 14);
    expect(m['logps/chosen']).toBe(-8);
    expect(m['logps/rejected']).toBe(-10);
    const free = cpuForward(b, pairParams({ simpo: 1 }, { beta: 2, referenceFree: true })).stats;
    expect(free[1]).toBeCloseTo((2 * (-10 / 4) + 2 * (-6 / 2)) / 2, 14);
    expect(free[2]).toBeCloseTo((2 * (-12 / 3) + 2 * (-8 / 8)) / 2, 14);
    expect(free[5]).toBeCloseTo((-10 / 4 + -6 / 2) / 2, 14);
  });

  it('step-dpo is sigmoid on step-level log-probs; label smoothing is cdpo, not sigmoid (TRL 1.x)', () => {
    const b = pairBatch(6, 12);
    const plain = cpuForward(b, pairParams({ sigmoid: 1 }));
    const smoothed = cpuForward(b, pairParams({ sigmoid: 1 }, { labelSmoothing: 0.3 }));
    expectClose(smoothed.losses, plain.losses, { atol: 0, rtol: 0, what: 'sigmoid ignores label_smoothing' });
    const cdpo0 = cpuForward(b, pairParams({ cdpo: 1 }));
    expectClose(cdpo0.losses, plain.losses, { atol: 1e-15, rtol: 1e-14, what: 'cdpo with eps 0 is sigmoid' });
  });

  it('dloss scales the gradients', () => {
    const b = pairBatch(5, 13);
    for (const [name, p] of PAIR_METHODS) {
      const one = cpuBackward(b, p, 1), quarter = cpuBackward(b, p, 0.25);
      expectClose(quarter.dc, Array.from(one.dc, (v) => v / 4), { atol: 0, rtol: 1e-15, what: `${name} dChosen` });
      expectClose(quarter.dr, Array.from(one.dr, (v) => v / 4), { atol: 0, rtol: 1e-15, what: `${name} dRejected` });
    }
  });

  it('ORPO clamps an average log-prob of 0 (probability 1) to -1e-6 instead of log 0', () => {
    const b: PairBatch = {
      B: 2,
      pc: Float32Array.of(0, -8), pr: Float32Array.of(-6, -9),
      refc: Float32Array.of(0, 0), refr: Float32Array.of(0, 0),
      nc: Float32Array.of(4, 0), nr: Float32Array.of(3, 3),
      w: Float32Array.of(1, 1),
    };
    const p = pairParams({ orpo: 1 }, { referenceFree: true });
    const { losses } = cpuForward(b, p);
    const lc = -1e-6, lr = -2;
    const want0 = -p.beta * ls(lc - lr - (Math.log(1 - Math.exp(lc)) - Math.log(1 - Math.exp(lr))));
    expectClose([losses[0]!], [want0], { atol: 1e-12, rtol: 1e-9, what: 'clamped pair' });
    // The empty chosen completion (count 0) averages over max(count, 1).
    const lc1 = -8, lr1 = -3;
    const want1 = -p.beta * ls(lc1 - lr1 - (Math.log(1 - Math.exp(lc1)) - Math.log(1 - Math.exp(lr1))));
    expectClose([losses[1]!], [want1], { atol: 1e-12, rtol: 1e-9, what: 'count 0 pair' });
    const { dc, dr } = cpuBackward(b, p, 1);
    expect(dc[0]).toBe(0); // the clamp passes no gradient
    for (const v of [...dc, ...dr]) expect(Number.isFinite(v)).toBe(true);
  });

  it('extreme margins stay finite (discopop exp(-z), log σ of ±1e4)', () => {
    const b: PairBatch = {
      B: 2,
      pc: Float32Array.of(-1, -1e4), pr: Float32Array.of(-1e4, -1),
      refc: Float32Array.of(-1, -1), refr: Float32Array.of(-1, -1),
      nc: Float32Array.of(10, 10), nr: Float32Array.of(10, 10),
      w: Float32Array.of(1, 1),
    };
    for (const [name, p, c] of PAIR_METHODS) {
      if (c?.noExtremes) continue;
      const { losses } = cpuForward(b, p);
      const { dc, dr } = cpuBackward(b, p, 1);
      for (const v of [...losses, ...dc, ...dr]) expect(Number.isFinite(v), name).toBe(true);
    }
  });
});

// ---- (c) CPU gradients against central finite differences of the CPU forward ----

describe('preference loss: CPU backward = finite differences', () => {
  // B = 5 has no empty completion (ORPO's clamp at avg logp 0 has no two-sided derivative).
  // The batch-sorting terms: B = 5 random pairs have no ties, and no two keys within h.
  it.each(PAIR_METHODS)('%s', (_, p, c) => {
    const b = pairBatch(5, 21, { spread: c?.spread });
    const pc = f64(b.pc), pr = f64(b.pr), nc = f64(b.nc), nr = f64(b.nr), w = weightsOf(b, p);
    const refc = p.referenceFree ? null : f64(b.refc), refr = p.referenceFree ? null : f64(b.refr);
    const losses = new Float64Array(5), stats = new Float64Array(PAIR_NSTATS);
    const loss = () => (preferenceLossForwardCpu(losses, stats, pc, pr, refc, refr, nc, nr, w, p, 5), stats[0]!);
    const dc = new Float64Array(5), dr = new Float64Array(5);
    preferenceLossBackwardCpu(dc, dr, 1, pc, pr, refc, refr, nc, nr, w, p, 5);
    // Float64 throughout; h = 1e-4 leaves a truncation error ~h²·f''' far below 1e-7.
    expectClose(dc, finiteDifferences(pc, loss, 1e-4), { atol: 1e-7, rtol: 1e-5, what: 'dL/dpc' });
    expectClose(dr, finiteDifferences(pr, loss, 1e-4), { atol: 1e-7, rtol: 1e-5, what: 'dL/dpr' });
  });
});

// ---- (b) GPU against the CPU twin ----

// The GPU works in f32 from f32 inputs: cr = pc - refc rounds at 2^-24·|pc| (|pc| <= 144
// here, ~1e-5 absolute), exp/log carry a few ulp, and stats are f32 tree sums over <= 257
// pairs. Measured worst over these cases: losses 1.3e-6 abs where |loss| < 1, else 6.1e-6 rel
// (ipo and sppo_hard, whose squares reach ~100); stats 5.8e-7 rel; gradients 1.4e-7 abs and
// 1e-7 rel beyond 1e-8.
const LOSS_TOL = { atol: 3e-6, rtol: 2e-5 };
const GRAD_TOL = { atol: 2e-8, rtol: 2e-6 };

describe('preference loss: GPU = CPU twin', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(PAIR_METHODS)('%s', async (name, p, c) => {
    const engine = await testEngine();
    for (const B of SIZES) {
      // Ties (duplicate pairs) in every batch of 7+: the sorting terms break them by index.
      const b = pairBatch(B, 100 + B, { spread: c?.spread, ties: true });
      const want = cpuForward(b, p);
      const wantG = cpuBackward(b, p, 0.25);
      const got = await gpuRun(engine, b, p, 0.25);
      const tag = `${name} B=${B}`;
      expectClose(got.losses, want.losses, { ...LOSS_TOL, what: `${tag} losses` });
      expectClose(got.stats, want.stats, { ...LOSS_TOL, what: `${tag} stats` });
      expectClose(got.dc, wantG.dc, { ...GRAD_TOL, what: `${tag} dChosen` });
      expectClose(got.dr, wantG.dr, { ...GRAD_TOL, what: `${tag} dRejected` });
    }
  });

  it('extreme margins (|β·Δ| up to 1e3): finite and equal to the CPU twin', async () => {
    const engine = await testEngine();
    const b: PairBatch = {
      B: 4,
      pc: Float32Array.of(-1, -1e4, -3, -2), pr: Float32Array.of(-1e4, -1, -3, -2.5),
      refc: Float32Array.of(-1, -1, -3, -9e3), refr: Float32Array.of(-1, -1, -3, -2),
      nc: Float32Array.of(10, 10, 1, 2), nr: Float32Array.of(10, 10, 1, 3),
      w: Float32Array.of(1, 1, 1, 1),
    };
    for (const [name, p, c] of PAIR_METHODS) {
      if (c?.noExtremes) continue;
      const want = cpuForward(b, p), wantG = cpuBackward(b, p, 1);
      const got = await gpuRun(engine, b, p, 1);
      expectClose(got.losses, want.losses, { ...LOSS_TOL, what: `${name} losses` });
      // Metric means of summands up to |2e3| (rewards, logps) that cancel: f32 rounding of
      // 2e3 is 1.2e-4 per term, so an absolute tolerance of that scale.
      expectClose(got.stats, want.stats, { atol: 1e-3, rtol: 2e-5, what: `${name} stats` });
      expectClose(got.dc, wantG.dc, { ...GRAD_TOL, what: `${name} dChosen` });
      expectClose(got.dr, wantG.dr, { ...GRAD_TOL, what: `${name} dRejected` });
    }
  });
});

// ---- TRL 1.9 options: aot / aot_unpaired, f-divergences, WPO weighting ----

describe('preference loss: aot, f-divergences and WPO weights (hand-computed)', () => {
  // Four pairs whose keys sort differently on each side.
  const b4: PairBatch = {
    B: 4,
    pc: Float32Array.of(-10, -4, -7, -12), pr: Float32Array.of(-11, -9, -6, -13),
    refc: Float32Array.of(-9, -5, -8, -10), refr: Float32Array.of(-12, -8, -6.5, -11),
    nc: Float32Array.of(5, 3, 4, 6), nr: Float32Array.of(4, 5, 3, 6),
    w: Float32Array.of(0.5, 0.25, 1, 0.125),
  };
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
  const aotLoss = (d: number, beta: number, eps: number) => -(1 - eps) * ls(beta * d) - eps * ls(-beta * d);
  const col = (k: keyof PairBatch) => Array.from(b4[k] as Float32Array);

  it('aot: d_k = sort(pc - pr)[k] - sort(refc - refr)[k]; aot_unpaired: sort(cr)[k] - sort(rr)[k]', () => {
    const [pc, pr, refc, refr] = [col('pc'), col('pr'), col('refc'), col('refr')];
    const sx = sorted(pc.map((v, i) => v - pr[i]!)), sy = sorted(refc.map((v, i) => v - refr[i]!));
    const p = pairParams({ aot: 1 }, { beta: 0.4, labelSmoothing: 0.1 });
    const want = sx.map((x, k) => aotLoss(x - sy[k]!, 0.4, 0.1));
    const got = cpuForward(b4, p);
    expectClose(got.losses, want, { atol: 1e-14, rtol: 1e-12, what: 'aot at sorted positions' });
    const su = sorted(pc.map((v, i) => v - refc[i]!)), sv = sorted(pr.map((v, i) => v - refr[i]!));
    const q = pairParams({ aot_unpaired: 1 }, { beta: 0.4, labelSmoothing: 0.1 });
    const wantU = su.map((x, k) => aotLoss(x - sv[k]!, 0.4, 0.1));
    expectClose(cpuForward(b4, q).losses, wantU, { atol: 1e-14, rtol: 1e-12, what: 'aot_unpaired at sorted positions' });
  });

  it('sigmoid under each f-divergence: TRL scores of the log-ratios', () => {
    const [pc, pr, refc, refr] = [col('pc'), col('pr'), col('refc'), col('refr')];
    const scores: [PairLossParams['fDivergence'], number, (lr: number) => number][] = [
      ['reverse_kl', 0.5, (lr) => lr],
      ['forward_kl', 0.5, (lr) => -Math.exp(-lr)],
      ['js_divergence', 0.5, (lr) => ls(lr)],
      ['alpha_divergence', 0.5, (lr) => Math.exp(-0.5 * lr) / -0.5],
      ['alpha_divergence', 2, (lr) => Math.exp(lr)],
      ['alpha_divergence', 1 + 1e-7, (lr) => lr], // |α - 1| < 1e-6: reverse_kl
    ];
    for (const [fDivergence, fAlphaCoef, f] of scores) {
      const p = pairParams({ sigmoid: 1 }, { beta: 0.3, fDivergence, fAlphaCoef });
      const want = pc.map((_, i) => -ls(0.3 * (f(pc[i]! - refc[i]!) - f(pr[i]! - refr[i]!))));
      expectClose(cpuForward(b4, p).losses, want, { atol: 1e-14, rtol: 1e-12, what: `${fDivergence} ${fAlphaCoef}` });
      // The rewards stay β·raw log-ratios.
      expect(cpuForward(b4, p).stats[1]).toBeCloseTo(pc.reduce((s, v, i) => s + 0.3 * (v - refc[i]!), 0) / 4, 12);
    }
  });

  it('apo_zero and apo_down keep the raw log-ratios where TRL does', () => {
    const [pc, pr, refc, refr] = [col('pc'), col('pr'), col('refc'), col('refr')];
    const js = { fDivergence: 'js_divergence' as const, beta: 0.3 };
    const zero = cpuForward(b4, pairParams({ apo_zero: 1 }, js)).losses;
    const plain = cpuForward(b4, pairParams({ apo_zero: 1 }, { beta: 0.3 })).losses;
    expectClose(zero, plain, { atol: 0, rtol: 0, what: 'apo_zero ignores the scores' });
    const down = cpuForward(b4, pairParams({ apo_down: 1 }, js)).losses;
    const want = pc.map((_, i) => {
      const cr = pc[i]! - refc[i]!, rr = pr[i]! - refr[i]!;
      return sg(0.3 * cr) + (1 - sg(0.3 * (ls(cr) - ls(rr))));
    });
    expectClose(down, want, { atol: 1e-14, rtol: 1e-12, what: 'apo_down: raw first term, scored second' });
  });

  it('use_weighting: every term times w_i, sft included (d/dpc of mean(w·NLL) = mean(w)·dNLL/dpc)', () => {
    for (const on of [{ sigmoid: 1 }, { ipo: 1 }, { sigmoid: 1, sft: 0.5 }, { sft: 1 }]) {
      const plain = cpuForward(b4, pairParams(on, { beta: 0.5 }));
      const weighted = cpuForward(b4, pairParams(on, { beta: 0.5, useWeighting: true }));
      expectClose(weighted.losses, Array.from(plain.losses, (l, i) => l * b4.w[i]!), { atol: 1e-15, rtol: 1e-14, what: `${Object.keys(on)} losses` });
      // Metrics other than the loss are unweighted.
      expectClose(weighted.stats.subarray(1), plain.stats.subarray(1), { atol: 0, rtol: 0, what: 'metrics' });
    }
    const g = cpuBackward(b4, pairParams({ sft: 1 }, { useWeighting: true }), 1);
    const meanW = (0.5 + 0.25 + 1 + 0.125) / 4;
    expectClose(g.dc, new Array(4).fill(-meanW / (5 + 3 + 4 + 6)), { atol: 1e-17, rtol: 1e-14, what: 'weighted sft gradient' });
  });
});

describe('preference loss: TRL 1.9 option checks', () => {
  afterAll(async () => (await testEngine()).pool.trim());
  const b = pairBatch(6, 5);

  it('CPU: use_weighting needs weights, weights need use_weighting, and aot refuses weighting', () => {
    expect(() => cpuForward(b, pairParams({ sigmoid: 1 }, { useWeighting: true }))).not.toThrow();
    const p = pairParams({ sigmoid: 1 }, { useWeighting: true });
    const losses = new Float64Array(6), stats = new Float64Array(PAIR_NSTATS);
    const args = [f64(b.pc), f64(b.pr), f64(b.refc), f64(b.refr), f64(b.nc), f64(b.nr)] as const;
    expect(() => preferenceLossForwardCpu(losses, stats, ...args, null, p, 6)).toThrow(/use_weighting needs/);
    expect(() => preferenceLossForwardCpu(losses, stats, ...args, f64(b.w), pairParams({ sigmoid: 1 }), 6)).toThrow(/use_weighting is off/);
    expect(() => cpuForward(b, pairParams({ aot: 1 }, { useWeighting: true }))).toThrow(/not implemented for aot/);
  });

  it('methods: loss types aot, aot_unpaired and the old name aot_pair; f-divergence, weighting and ld_alpha options', () => {
    const w = (loss_type: 'aot' | 'aot_unpaired' | 'aot_pair') => pairLossParams({ method: 'dpo', options: { loss_type } }).weights;
    expect(w('aot').aot).toBe(1);
    expect(w('aot_unpaired').aot_unpaired).toBe(1);
    expect(w('aot_pair')).toEqual(w('aot_unpaired'));
    const p = pairLossParams({ method: 'dpo', options: { f_divergence_type: 'alpha_divergence', f_alpha_divergence_coef: 0.3, use_weighting: true } });
    expect([p.fDivergence, p.fAlphaCoef, p.useWeighting]).toEqual(['alpha_divergence', 0.3, true]);
    const d = pairLossParams({ method: 'dpo' });
    expect([d.fDivergence, d.fAlphaCoef, d.useWeighting]).toEqual(['reverse_kl', 0.5, false]);
    expect(() => pairLossParams({ method: 'dpo', options: { loss_type: ['sigmoid', 'aot'], use_weighting: true } })).toThrow(/use_weighting/);
    expect(() => pairLossParams({ method: 'dpo', options: { f_divergence_type: 'kl' as 'forward_kl' } })).toThrow(/f_divergence_type/);
    expect(() => pairLossParams({ method: 'dpo', options: { ld_alpha: 1.5 } })).toThrow(/ld_alpha/);
    expect(() => pairLossParams({ method: 'dpo', options: { ld_alpha: 0.5 } })).not.toThrow();
  });

  it('GPU host: weights missing or unexpected, aot with weighting, aot past its batch limit', async () => {
    const engine = await testEngine();
    await expect(gpuRun(engine, b, pairParams({ sigmoid: 1 }, { useWeighting: true }), 1)).resolves.toBeDefined();
    const t = (a: Float32Array) => engine.fromArray(a, [6]);
    const x = [t(b.pc), t(b.pr), t(b.refc), t(b.refr), t(b.nc), t(b.nr)] as const;
    const w = t(b.w), losses = engine.tensor([6]), stats = engine.tensor([PAIR_NSTATS]);
    expect(() => preferenceLossForward(engine, losses, stats, ...x, null, pairParams({ sigmoid: 1 }, { useWeighting: true }), 6)).toThrow(/use_weighting needs/);
    expect(() => preferenceLossForward(engine, losses, stats, ...x, w, pairParams({ sigmoid: 1 }), 6)).toThrow(/use_weighting is off/);
    expect(() => preferenceLossBackward(engine, losses, stats, 1, ...x, w, pairParams({ aot: 1 }, { useWeighting: true }), 6)).toThrow(/not implemented for aot/);
    engine.release(...x, w, losses, stats);
    const big = pairBatch(AOT_MAX_PAIRS + 1, 9);
    await expect(gpuRun(engine, big, pairParams({ aot_unpaired: 1 }), 1)).rejects.toThrow(/at most 1024 pairs, got 1025/);
    // Without the sorting terms a batch has no such limit.
    await expect(gpuRun(engine, big, pairParams({ sigmoid: 1 }), 1)).resolves.toBeDefined();
  });

  it('GPU = CPU twin for aot and aot_unpaired at the batch limit (every slot of the sort)', async () => {
    const engine = await testEngine();
    const p = pairParams({ aot: 0.7, aot_unpaired: 0.3 }, { beta: 0.2, labelSmoothing: 0.05 });
    for (const B of [AOT_MAX_PAIRS - 1, AOT_MAX_PAIRS]) {
      const b = pairBatch(B, 300 + B, { ties: true });
      const want = cpuForward(b, p), wantG = cpuBackward(b, p, 1);
      const got = await gpuRun(engine, b, p, 1);
      expectClose(got.losses, want.losses, { ...LOSS_TOL, what: `B=${B} losses` });
      expectClose(got.stats, want.stats, { ...LOSS_TOL, what: `B=${B} stats` });
      expectClose(got.dc, wantG.dc, { ...GRAD_TOL, what: `B=${B} dChosen` });
      expectClose(got.dr, wantG.dr, { ...GRAD_TOL, what: `B=${B} dRejected` });
    }
  });
});
