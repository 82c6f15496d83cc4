import { describe, expect, it } from 'vitest';
import { KernelChoices, parseForced } from '../../../src/engine/tuning/choices.js';
import {
  identityKey,
  measureTasks,
  tuneWithCache,
  type TuneCache,
  type TuneRecord,
  type TuneRunner,
  type TuneTask,
} from '../../../src/engine/tuning/tuner.js';
import { applicableVariants, attentionShapeClass, findVariant, shapeClass, whyNotApplicable } from '../../../src/engine/tuning/variants.js';

// A fake GPU: each variant "runs" by advancing a fake clock by its cost for the shape class, so
// the tuner's timing is exact and the test is fast and deterministic.
class FakeRunner implements TuneRunner {
  now = 0;
  prepared: string[] = [];
  runs = new Map<string, number>();
  /** Variants in the order they ran. */
  order: string[] = [];
  /** Until this time every run takes `busyMs` longer: other work on the adapter. */
  busyUntil = 0;
  busyMs = 0;
  constructor(
    private readonly cost: Record<string, Record<string, number>>,
    private readonly broken: Record<string, string> = {},
  ) {}
  readonly clock = () => this.now;
  async prepare(task: TuneTask, variant: string) {
    this.prepared.push(`${task.shapeClass}/${variant}`);
    const broken = this.broken[variant];
    if (broken) throw new Error(broken);
    const ms = this.cost[task.shapeClass]![variant]!;
    return async () => {
      this.now += ms + (this.now < this.busyUntil ? this.busyMs : 0);
      this.order.push(variant);
      this.runs.set(variant, (this.runs.get(variant) ?? 0) + 1);
    };
  }
}

class MemoryCache implements TuneCache {
  records = new Map<string, TuneRecord>();
  loads = 0;
  saves = 0;
  async load(key: string) {
    this.loads++;
    return structuredClone(this.records.get(key) ?? null);
  }
  async save(r: TuneRecord) {
    this.saves++;
    this.records.set(r.key, structuredClone(r));
  }
}

const A = shapeClass(256, 128, 512);
const B = shapeClass(1, 128, 512);
const tasks: TuneTask[] = [
  { kernel: 'matmul_forward', shapeClass: A, label: 'fwd 256x128x512', variants: ['safe', 'tiled8', 'subgroup'] },
  { kernel: 'matmul_forward', shapeClass: B, label: 'fwd 1x128x512', variants: ['safe', 'tiled8', 'subgroup'] },
];
const costs = {
  [A]: { safe: 2.0, tiled8: 0.5, subgroup: 3.0 },
  [B]: { safe: 0.3, tiled8: 0.6, subgroup: 0.1 },
};
const identity = { vendor: 'fake', architecture: 'test', description: 'fake adapter', driver: '1.0' };

describe('kernel tuner', () => {
  it('picks the fastest variant per shape class on a fake clock, within the time budget', async () => {
    const runner = new FakeRunner(costs);
    const notes: string[] = [];
    const choices = await measureTasks(tasks, runner, {
      clock: runner.clock,
      budgetMs: 60,
      onProgress: (p) => notes.push(`${p.done}/${p.total} ${p.note}`),
    });
    expect(choices.map((c) => [c.shapeClass, c.variant])).toEqual([[A, 'tiled8'], [B, 'subgroup']]);
    expect(choices[0]!.measured).toEqual({ safe: 2.0, tiled8: 0.5, subgroup: 3.0 });
    expect(choices[0]!.why).toMatch(/fastest of 3 measured \(0\.500 ms; safe 2\.000 ms\)/);
    // 6 variants share 60 ms: a task's variants run in rounds (each once per round) until the
    // task's share of the time left is spent (or 20 rounds), never more than one round past it.
    // A's share is 30 ms: 6 rounds of 5.5 ms (33 ms); B's is the 27 ms left: the 20-round cap
    // (1 ms a round).
    expect(runner.now).toBe(33 + 20);
    expect(runner.runs.get('tiled8')).toBe(6 + 20);
    expect(runner.runs.get('safe')).toBe(6 + 20);
    expect(notes).toHaveLength(6);
    expect(notes[5]).toMatch(/^6\/6 fwd 1x128x512: subgroup 0\.100 ms$/);
  });

  it('times the variants in interleaved rounds, each by its fastest run: a busy spell does not decide', async () => {
    // The adapter is busy for the first 20 ms (every run +10 ms): safe, truly the faster, lost
    // when it was timed inside the spell and tiled8 after it.
    const runner = new FakeRunner({ [A]: { safe: 1.5, tiled8: 2.0 } });
    runner.busyUntil = 20;
    runner.busyMs = 10;
    const task: TuneTask = { kernel: 'matmul_forward', shapeClass: A, label: 'fwd', variants: ['safe', 'tiled8'] };
    const [choice] = await measureTasks([task], runner, { clock: runner.clock, budgetMs: 40, maxRuns: 50 });
    expect(runner.order.slice(0, 6)).toEqual(['safe', 'tiled8', 'safe', 'tiled8', 'safe', 'tiled8']);
    expect(choice!.measured).toEqual({ safe: 1.5, tiled8: 2.0 });
    expect(choice!.variant).toBe('safe');
  });

  it('falls back to the safe kernel when a variant fails to compile or validate', async () => {
    const runner = new FakeRunner(costs, {
      tiled8: 'Error while parsing WGSL: unresolved identifier',
      subgroup: 'result differs from the safe kernel by 0.3',
    });
    const choices = await measureTasks(tasks, runner, { clock: runner.clock, budgetMs: 30 });
    expect(choices.map((c) => c.variant)).toEqual(['safe', 'safe']);
    expect(choices[0]!.measured['tiled8']).toBe('failed: Error while parsing WGSL: unresolved identifier');
    expect(choices[1]!.measured['subgroup']).toMatch(/^failed: result differs/);
    expect(choices[0]!.why).toMatch(/2 left out/);
    // Failed variants are never timed.
    expect(runner.runs.has('tiled8')).toBe(false);
    expect(runner.runs.has('subgroup')).toBe(false);
  });

  it('stops at the deadline: later shapes keep the safe kernel unmeasured, and are not cached', async () => {
    const runner = new FakeRunner(costs);
    const cache = new MemoryCache();
    const choices = new KernelChoices();
    // A 4 ms budget: A's first round (5.5 ms) spends it all.
    const o = await tuneWithCache(choices, identity, tasks, runner, cache, { clock: runner.clock, budgetMs: 4 });
    expect(runner.now).toBe(5.5);
    expect(o.measured[1]).toMatchObject({ shapeClass: B, variant: 'safe', complete: false, measured: {} });
    expect(o.measured[1]!.why).toMatch(/not measured: the 4 ms tuning budget was spent/);
    expect(runner.prepared.some((p) => p.startsWith(B))).toBe(false);
    expect(cache.records.values().next().value!.choices.map((c: { shapeClass: string }) => c.shapeClass)).toEqual([A]);
  });

  it('repeats its choice when the cache is warm, measuring nothing', async () => {
    const cache = new MemoryCache();
    const first = new KernelChoices();
    const r1 = new FakeRunner(costs);
    const o1 = await tuneWithCache(first, identity, tasks, r1, cache, { clock: r1.clock, budgetMs: 30 });
    expect(o1.fromCache).toBe(false);
    expect(cache.saves).toBe(1);
    expect(first.name('matmul_forward', 256, 128, 512)).toBe('tiled8');

    const second = new KernelChoices();
    const r2 = new FakeRunner(costs);
    const o2 = await tuneWithCache(second, identity, tasks, r2, cache, { clock: r2.clock, budgetMs: 30 });
    expect(o2.fromCache).toBe(true);
    expect(r2.prepared).toEqual([]);
    expect(second.all()).toEqual(first.all());
    expect(second.name('matmul_forward', 200, 128, 512)).toBe('tiled8'); // same class (M bucket 256)
    expect(second.name('matmul_forward', 1, 128, 512)).toBe('subgroup');
    expect(second.name('matmul_forward', 256, 64, 64)).toBe('safe'); // never tuned: the safe kernel
    // An unmeasured row bucket at a measured K x N takes the nearest measured bucket's choice.
    expect(second.name('matmul_forward', 2000, 128, 512)).toBe('tiled8');
    expect(second.name('matmul_forward', 3, 128, 512)).toBe('subgroup');
    // ... but never a layout made for few rows (subgroup: at most 16) for many.
    second.clear();
    second.set({ ...first.all()[1]!, shapeClass: shapeClass(4, 128, 512) });
    expect(second.name('matmul_forward', 4, 128, 512)).toBe('subgroup');
    expect(second.name('matmul_forward', 300, 128, 512)).toBe('safe');

    // Another adapter has its own entry: it measures.
    const r3 = new FakeRunner(costs);
    const o3 = await tuneWithCache(new KernelChoices(), { ...identity, driver: '2.0' }, tasks, r3, cache, { clock: r3.clock });
    expect(o3.fromCache).toBe(false);
    expect(r3.prepared.length).toBe(6);
    // A new shape class on the first adapter measures only that class.
    const r4 = new FakeRunner({ ...costs, [shapeClass(64, 64, 64)]: { safe: 1, tiled8: 2, subgroup: 3 } });
    const more: TuneTask = { kernel: 'matmul_forward', shapeClass: shapeClass(64, 64, 64), label: 'x', variants: ['safe', 'tiled8'] };
    await tuneWithCache(new KernelChoices(), identity, [...tasks, more], r4, cache, { clock: r4.clock });
    expect(r4.prepared).toEqual([`${more.shapeClass}/safe`, `${more.shapeClass}/tiled8`]);
  });

  it('attention tasks go through the same measurement: fastest per class, a broken flash leaves safe, the choice found by Tq bucket', async () => {
    const train = attentionShapeClass(256, 9, 3, 64);
    const decode = attentionShapeClass(1, 9, 3, 64);
    const att: TuneTask[] = [
      { kernel: 'attention_forward', shapeClass: train, label: 'attention_forward T=256', variants: ['safe', 'flash'] },
      { kernel: 'attention_backward', shapeClass: train, label: 'attention_backward T=256', variants: ['safe', 'flash'] },
      { kernel: 'attention_forward', shapeClass: decode, label: 'attention_forward Tq=1', variants: ['safe', 'flash'] },
    ];
    const runner = new FakeRunner({ [train]: { safe: 3, flash: 1 }, [decode]: { safe: 0.2, flash: 0.4 } });
    const choices = new KernelChoices();
    await tuneWithCache(choices, identity, att, runner, null, { clock: runner.clock, budgetMs: 60 });
    expect(choices.all().map((c) => `${c.kernel} ${c.shapeClass} ${c.variant}`)).toEqual([
      `attention_forward ${train} flash`, `attention_backward ${train} flash`, `attention_forward ${decode} safe`,
    ]);
    expect(choices.attentionName('attention_forward', 200, 9, 3, 64)).toBe('flash'); // bucket 256
    expect(choices.attentionName('attention_forward', 1, 9, 3, 64)).toBe('safe');
    expect(choices.attentionName('attention_forward', 256, 12, 4, 64)).toBe('safe'); // other heads: never tuned
    const broken = new FakeRunner({ [train]: { safe: 3, flash: 1 }, [decode]: { safe: 0.2, flash: 0.4 } }, { flash: 'result differs from the safe kernel by 0.5' });
    const fallback = await measureTasks(att, broken, { clock: broken.clock, budgetMs: 60 });
    expect(fallback.map((c) => c.variant)).toEqual(['safe', 'safe', 'safe']);
    expect(broken.runs.has('flash')).toBe(false);
  });

  it('a forced variant wins over the measured choice; bad settings name what exists', () => {
    const c = new KernelChoices();
    c.set({ kernel: 'matmul_forward', shapeClass: A, variant: 'tiled8', why: '', measured: {} });
    c.forced = parseForced('matmul_forward=safe, matmul_dinp=tiled8');
    expect(c.name('matmul_forward', 256, 128, 512)).toBe('safe');
    expect(c.name('matmul_dinp', 5, 5, 5)).toBe('tiled8');
    expect(() => parseForced('matmul_forward=turbo')).toThrow(/"turbo" of matmul_forward does not exist \(variants: safe, tiled8/);
    expect(() => parseForced('conv=safe')).toThrow(/no tuned kernel "conv"/);
    expect(() => parseForced('matmul_forward')).toThrow(/expected kernel=variant/);
  });

  it('applicability follows the adapter features and limits', () => {
    const caps = (f16: boolean, sg: boolean, wgBytes = 16384) => ({
      features: { shaderF16: f16, subgroups: sg, timestampQuery: false },
      limits: { maxComputeWorkgroupStorageSize: wgBytes, maxComputeInvocationsPerWorkgroup: 256 } as never,
    });
    expect(applicableVariants('matmul_forward', caps(false, false)).map((v) => v.name)).toEqual(['safe', 'tiled8']);
    expect(applicableVariants('matmul_forward', caps(true, true)).map((v) => v.name).sort()).toEqual(['f16', 'safe', 'subgroup', 'tiled8']);
    // Too little workgroup memory: only the variants that fit, and always the safe kernel.
    expect(applicableVariants('matmul_forward', caps(false, true, 2048)).map((v) => v.name)).toEqual(['safe', 'subgroup']);
    // 'shuffle' shares values within 8-lane groups: only where every subgroup has 8 lanes or more
    // (lavapipe 8; SwiftShader 4; a browser that does not report the size: not applicable).
    const lanes = (n: number) => ({ ...caps(false, true, 2048), subgroupMinSize: n });
    expect(applicableVariants('matmul_forward', lanes(8)).map((v) => v.name)).toEqual(['safe', 'subgroup', 'shuffle']);
    expect(applicableVariants('matmul_forward', lanes(32)).map((v) => v.name)).toContain('shuffle');
    expect(applicableVariants('matmul_forward', lanes(4)).map((v) => v.name)).toEqual(['safe', 'subgroup']);
    expect(whyNotApplicable(findVariant('matmul_forward', 'shuffle'), lanes(4))).toBe('needs subgroups of at least 8 invocations (adapter: 4)');
    expect(whyNotApplicable(findVariant('matmul_forward', 'shuffle'), caps(false, true))).toMatch(/at least 8 invocations \(adapter: size not reported\)/);
    expect(identityKey(identity)).not.toBe(identityKey({ ...identity, description: 'other' }));
  });
});
