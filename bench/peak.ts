// The adapter's own ceiling (issue 16), measured on the engine's device in the page and in Node:
// peak f32 (and f16, where the device has shader-f16) fused multiply-add throughput and memory
// bandwidth (shaders/peak_fma.wgsl, shaders/peak_bandwidth.wgsl). Every kernel figure of the
// suites is then also reported as a fraction of it. The sizes calibrate themselves: the FMA loop
// grows until one dispatch takes ~30 ms, so a GPU and a software adapter are both measured well.
import type { Engine } from '../src/engine/gpu/engine.js';
import type { Tensor } from '../src/engine/gpu/tensor.js';
import { measure, type TimingOptions } from './core.js';

export type PeakResult = { status: 'ok'; value: number; unit: 'GFLOP/s' | 'GB/s'; msPerIter: number; detail: string } | { status: 'skipped'; reason: string } | { status: 'error'; message: string };

export interface Ceiling {
  fmaF32: PeakResult;
  fmaF16: PeakResult;
  bandwidth: PeakResult;
}

const WORKGROUPS = 1024; // x 256 threads: enough to fill any GPU
const THREADS = WORKGROUPS * 256;

/** The output tensor shaders/peak_fma.wgsl writes (one value per thread). */
export function fmaPeakOutput(engine: Engine): Tensor {
  return engine.tensor([THREADS], 'f32', 'peak.out');
}

/** Records one dispatch of shaders/peak_fma.wgsl of `iters` rounds into `out`. */
export function dispatchFmaPeak(engine: Engine, out: Tensor, f16: boolean, iters: number): void {
  const kernel = { shader: 'peak_fma', constants: { ENABLE_F16: f16 ? 'enable f16;' : '', T: f16 ? 'f16' : 'f32' } };
  engine.dispatch(kernel, { out }, { iters, seed: 1 }, [WORKGROUPS]);
}

/** The flops of one such dispatch: every thread runs 4 x 8 vec4 fma (256 flops) per round. */
export function fmaPeakFlop(iters: number): number {
  return THREADS * iters * 256;
}

async function timeOnce(engine: Engine, step: () => void): Promise<number> {
  const t0 = performance.now();
  step();
  await engine.sync();
  return performance.now() - t0;
}

async function fmaPeak(engine: Engine, f16: boolean, timing: TimingOptions): Promise<PeakResult> {
  if (f16 && !engine.hasF16) return { status: 'skipped', reason: 'the device has no shader-f16' };
  const out = fmaPeakOutput(engine);
  try {
    const run = (iters: number) => dispatchFmaPeak(engine, out, f16, iters);
    let iters = 16;
    await timeOnce(engine, () => run(iters)); // compile
    // Grow the loop until one dispatch takes ~30 ms (launch overhead then negligible).
    for (;;) {
      const ms = await timeOnce(engine, () => run(iters));
      if (ms >= 30 || iters >= 1 << 20) break;
      iters *= ms < 4 ? 8 : 2;
    }
    const t = await measure(() => run(iters), () => engine.sync(), { ...timing, iters: undefined, warmup: 1, targetMs: Math.min(timing.targetMs, 400) });
    const flop = fmaPeakFlop(iters);
    return { status: 'ok', value: flop / (t.msPerIter * 1e6), unit: 'GFLOP/s', msPerIter: t.msPerIter, detail: `${THREADS} threads x ${iters} rounds x 256 flops` };
  } catch (e) {
    return { status: 'error', message: (e as Error).message };
  } finally {
    engine.release(out);
  }
}

async function bandwidthPeak(engine: Engine, timing: TimingOptions): Promise<PeakResult> {
  // 64 MiB each way, or what the binding limit allows (lavapipe: 128 MiB).
  const bytes = Math.min(64 * 2 ** 20, engine.report.limits.maxStorageBufferBindingSize / 2);
  const n = Math.floor(bytes / 16);
  const src = engine.zeros([n * 4], 'f32', 'peak.src');
  const dst = engine.tensor([n * 4], 'f32', 'peak.dst');
  try {
    const run = () => engine.dispatch({ shader: 'peak_bandwidth' }, { dst, src }, { n }, [WORKGROUPS]);
    await timeOnce(engine, run);
    const t = await measure(run, () => engine.sync(), { ...timing, iters: undefined, warmup: 1, targetMs: Math.min(timing.targetMs, 400) });
    return { status: 'ok', value: (2 * 16 * n) / (t.msPerIter * 1e6), unit: 'GB/s', msPerIter: t.msPerIter, detail: `copy of ${(16 * n / 2 ** 20).toFixed(0)} MiB` };
  } catch (e) {
    return { status: 'error', message: (e as Error).message };
  } finally {
    engine.release(src, dst);
  }
}

export async function measureCeiling(engine: Engine, timing: TimingOptions, log: (msg: string) => void): Promise<Ceiling> {
  const fmaF32 = await fmaPeak(engine, false, timing);
  log(`[bench] ceiling: f32 FMA ${describePeak(fmaF32)}`);
  const fmaF16 = await fmaPeak(engine, true, timing);
  log(`[bench] ceiling: f16 FMA ${describePeak(fmaF16)}`);
  const bandwidth = await bandwidthPeak(engine, timing);
  log(`[bench] ceiling: memory bandwidth ${describePeak(bandwidth)}`);
  return { fmaF32, fmaF16, bandwidth };
}

export function describePeak(p: PeakResult): string {
  if (p.status === 'ok') return `${p.value.toFixed(p.value >= 100 ? 0 : 2)} ${p.unit} (${p.detail}, ${p.msPerIter.toFixed(2)} ms)`;
  return p.status === 'skipped' ? `skipped: ${p.reason}` : `ERROR ${p.message}`;
}
