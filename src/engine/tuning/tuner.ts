// The autotuner: at first use on an adapter, time each applicable variant of each tuned kernel on
// the model's real shapes, within a bounded time, and keep the fastest per shape class. A variant
// that fails to compile, raises a validation error or disagrees with the safe kernel is left out
// (the safe kernel stays). Choices are cached by adapter identity (TuneCache: a file in Node,
// IndexedDB in the browser), so a second start measures nothing.
//
// Framework-free and clock-agnostic: what runs a variant is a `TuneRunner` (src/engine/tuning/
// matmul-runner.ts on a real Engine; a fake one in the unit tests), and time comes from `clock`.

import { KernelChoices, type KernelChoice } from './choices.js';
import { SAFE, VARIANTS, type TunedKernel } from './variants.js';

/** One product to tune: a kernel at one shape (the first of its shape class). */
export interface TuneTask {
  kernel: TunedKernel;
  shapeClass: string;
  /** Human label for progress lines: "matmul_forward 256x128x512". */
  label: string;
  /** Variant names to try, the safe one first (applicableVariants). */
  variants: string[];
}

export interface TuneRunner {
  /**
   * Compiles `variant` for `task`, runs it once and checks its result against the safe kernel's;
   * throws (with the reason) when it fails to compile or validate or disagrees. Resolves to a
   * step that queues one product and waits for the GPU to finish it.
   */
  prepare(task: TuneTask, variant: string): Promise<() => Promise<void>>;
  /** Called once per task when its variants are done (release operands). */
  finish?(task: TuneTask): void;
}

export interface TuneProgress {
  done: number;
  total: number;
  /** "matmul_forward m256:128x512: tiled8 0.42 ms" */
  note: string;
}

export interface TuneOptions {
  /** Milliseconds; performance.now by default. Injected by the tests (a fake clock). */
  clock?: () => number;
  /** Time for all the measurements together (default 3000 ms). */
  budgetMs?: number;
  /** Timed runs per variant at most (default 20). */
  maxRuns?: number;
  onProgress?: (p: TuneProgress) => void;
  signal?: AbortSignal;
}

/** Identity of an adapter for the cache: what GPUAdapterInfo says (driver where the browser gives it). */
export interface AdapterIdentity {
  vendor: string;
  architecture: string;
  description: string;
  driver: string;
}

/**
 * The cache key: the adapter's identity and the registry's variant names, so a new or renamed
 * variant (or a new version of the tuner) measures again.
 */
export const TUNER_VERSION = 1;
export function identityKey(id: AdapterIdentity): string {
  const variants = VARIANTS.map((v) => `${v.kernel}.${v.name}`).join(',');
  return JSON.stringify([TUNER_VERSION, id.vendor, id.architecture, id.description, id.driver, variants]);
}

export interface TuneRecord {
  key: string;
  identity: AdapterIdentity;
  /** ISO date of the last measurement. */
  updated: string;
  choices: KernelChoice[];
}

/** Where choices are kept between runs: a JSON file (Node) or an IndexedDB row (browser). */
export interface TuneCache {
  load(key: string): Promise<TuneRecord | null>;
  save(record: TuneRecord): Promise<void>;
}

export interface TuneOutcome {
  /** True when every task's choice came from the cache and nothing was measured. */
  fromCache: boolean;
  /** Choices measured now (empty when all came from the cache). */
  measured: KernelChoice[];
  ms: number;
}

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}

/**
 * Measures every task's variants and returns one choice per task (the fastest that worked).
 * The budget covers everything, compiles and checks included: each task gets its variants'
 * share of what is left; once it is spent, the remaining tasks keep the safe kernel unmeasured
 * (`complete: false`, so they are not cached and are measured on a later start).
 */
export async function measureTasks(tasks: TuneTask[], runner: TuneRunner, o: TuneOptions = {}): Promise<KernelChoice[]> {
  const clock = o.clock ?? (() => performance.now());
  const budget = o.budgetMs ?? 3000;
  const total = tasks.reduce((n, t) => n + t.variants.length, 0);
  const deadline = clock() + budget;
  const out: KernelChoice[] = [];
  let done = 0;
  const progress = (note: string) => o.onProgress?.({ done: ++done, total, note });
  for (const task of tasks) {
    if (clock() >= deadline) {
      done += task.variants.length;
      o.onProgress?.({ done, total, note: `${task.label}: not measured (time budget spent), safe kernel kept` });
      out.push({
        kernel: task.kernel, shapeClass: task.shapeClass, variant: SAFE, measured: {}, complete: false,
        why: `not measured: the ${budget} ms tuning budget was spent on other shapes`,
      });
      continue;
    }
    // This task's share of the time left, compiling and checking included.
    const slot = ((deadline - clock()) * task.variants.length) / Math.max(total - done, 1);
    const measured: Record<string, number | string> = {};
    try {
      const start = clock();
      const steps = await prepareVariants(task, runner, measured, o.signal, progress);
      const times = await timeInRounds(steps, clock, () => clock() - start >= slot, o.maxRuns ?? 20, o.signal);
      for (const [name, t] of times) {
        measured[name] = t;
        progress(`${task.label}: ${name} ${t.toFixed(3)} ms`);
      }
    } finally {
      runner.finish?.(task);
    }
    out.push(pick(task, measured));
  }
  return out;
}

type Step = () => Promise<void>;

/** Compiles and checks each variant; a failure is recorded in `measured` and leaves it out. */
async function prepareVariants(
  task: TuneTask,
  runner: TuneRunner,
  measured: Record<string, number | string>,
  signal: AbortSignal | undefined,
  progress: (note: string) => void,
): Promise<[string, Step][]> {
  const steps: [string, Step][] = [];
  for (const name of task.variants) {
    if (signal?.aborted) throw new Error('kernel tuning cancelled');
    try {
      steps.push([name, await runner.prepare(task, name)]);
    } catch (e) {
      measured[name] = `failed: ${message(e)}`;
      progress(`${task.label}: ${name} left out (${measured[name]})`);
    }
  }
  return steps;
}

/**
 * Times the steps in rounds, each round running every step once, until `over()` after a round or
 * `maxRounds`; a step's time is its fastest run. Interleaved, a load that comes and goes (other
 * work on a CPU adapter, the page's own frames) falls on every variant alike, and the fastest
 * run is the one it disturbed least: timed one after the other by median, a busy spell decided
 * the choice on a loaded CPU adapter (BENCHMARKS.md).
 */
async function timeInRounds(
  steps: [string, Step][],
  clock: () => number,
  over: () => boolean,
  maxRounds: number,
  signal: AbortSignal | undefined,
): Promise<Map<string, number>> {
  const best = new Map<string, number>();
  if (steps.length === 0) return best;
  let rounds = 0;
  do {
    for (const [name, step] of steps) {
      if (signal?.aborted) throw new Error('kernel tuning cancelled');
      const t0 = clock();
      await step();
      best.set(name, Math.min(best.get(name) ?? Infinity, clock() - t0));
    }
  } while (++rounds < maxRounds && !over());
  return best;
}

function pick(task: TuneTask, measured: Record<string, number | string>): KernelChoice {
  const timed = Object.entries(measured).filter((e): e is [string, number] => typeof e[1] === 'number');
  const base = { kernel: task.kernel, shapeClass: task.shapeClass, measured };
  if (timed.length === 0) return { ...base, variant: SAFE, why: 'no variant ran; the safe kernel is used' };
  timed.sort((a, b) => a[1] - b[1]);
  const [best, ms] = timed[0]!;
  const safe = measured[SAFE];
  const vsSafe = typeof safe === 'number' ? `; safe ${safe.toFixed(3)} ms` : typeof safe === 'string' ? `; safe ${safe}` : '';
  const failed = Object.values(measured).filter((m) => typeof m === 'string').length;
  return {
    ...base,
    variant: best,
    why: `fastest of ${timed.length} measured (${ms.toFixed(3)} ms${best === SAFE ? '' : vsSafe})${failed ? `, ${failed} left out` : ''}`,
  };
}

/**
 * Applies cached choices, measures the tasks the cache lacks, saves the merged record, and fills
 * `choices`. Cache failures never stop the engine: they only mean measuring again.
 */
export async function tuneWithCache(
  choices: KernelChoices,
  identity: AdapterIdentity,
  tasks: TuneTask[],
  runner: TuneRunner,
  cache: TuneCache | null,
  o: TuneOptions = {},
): Promise<TuneOutcome> {
  const clock = o.clock ?? (() => performance.now());
  const t0 = clock();
  const key = identityKey(identity);
  let record: TuneRecord | null = null;
  try {
    record = cache ? await cache.load(key) : null;
  } catch {
    record = null;
  }
  const known = new Map((record?.choices ?? []).map((c) => [`${c.kernel}|${c.shapeClass}`, c]));
  for (const c of known.values()) choices.set(c);
  const missing = tasks.filter((t) => !known.has(`${t.kernel}|${t.shapeClass}`));
  if (missing.length === 0) return { fromCache: true, measured: [], ms: clock() - t0 };
  const measured = await measureTasks(missing, runner, { ...o, clock });
  for (const c of measured) {
    choices.set(c);
    if (c.complete !== false) known.set(`${c.kernel}|${c.shapeClass}`, c);
  }
  if (cache) {
    try {
      await cache.save({ key, identity, updated: new Date().toISOString(), choices: [...known.values()] });
    } catch {
      // An unwritable cache costs a new measurement next time, nothing else.
    }
  }
  return { fromCache: false, measured, ms: clock() - t0 };
}
