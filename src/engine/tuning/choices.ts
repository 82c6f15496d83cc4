// Which variant of each tuned kernel the engine dispatches, per shape class: filled by the tuner
// (src/engine/tuning/tuner.ts) or from its cache, overridden by a forced setting. The engine holds
// one (`engine.choices`); the host functions of the kernels ask it at every dispatch.

import type { AdapterReport } from '../gpu/device.js';
import { attentionShapeClass, findVariant, SAFE, shapeClass, TUNED_KERNELS, whyNotApplicable, type KernelVariant, type TunedKernel } from './variants.js';

export interface KernelChoice {
  kernel: TunedKernel;
  shapeClass: string;
  variant: string;
  /** Why, in one line: "fastest of 3 (0.41 ms; safe 0.93 ms)", "forced by a setting", ... */
  why: string;
  /** Measured ms per product of every variant tried; a string says why one was left out. */
  measured: Record<string, number | string>;
  /** false: the time budget ran out before this class was measured (not cached). */
  complete?: boolean;
}

/** `matmul_forward=tiled8,matmul_dinp=safe`: the form of PREFSTUDIO_KERNEL_VARIANTS and --kernel-variant. */
export function parseForced(text: string): Partial<Record<TunedKernel, string>> {
  const out: Partial<Record<TunedKernel, string>> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [kernel, name, extra] = part.split('=').map((s) => s.trim());
    if (!kernel || !name || extra !== undefined) {
      throw new Error(`kernel variant setting "${part}": expected kernel=variant (kernels: ${TUNED_KERNELS.join(', ')})`);
    }
    if (!(TUNED_KERNELS as readonly string[]).includes(kernel)) {
      throw new Error(`kernel variant setting "${part}": no tuned kernel "${kernel}" (kernels: ${TUNED_KERNELS.join(', ')})`);
    }
    findVariant(kernel as TunedKernel, name); // throws naming the variants that exist
    out[kernel as TunedKernel] = name;
  }
  return out;
}

export class KernelChoices {
  /** A setting: always this variant of the kernel (debugging, benchmarks). */
  forced: Partial<Record<TunedKernel, string>> = {};
  private readonly table = new Map<string, KernelChoice>();

  private static key(kernel: TunedKernel, cls: string): string {
    return `${kernel}|${cls}`;
  }

  set(choice: KernelChoice): void {
    this.table.set(KernelChoices.key(choice.kernel, choice.shapeClass), choice);
  }

  clear(): void {
    this.table.clear();
  }

  /** Every recorded choice (the GPU panel, the cache). */
  all(): KernelChoice[] {
    return [...this.table.values()];
  }

  /**
   * The variant name for this product: forced, else the measured choice of its shape class, else
   * that of the nearest row bucket measured at the same K x N (the tuner measured at an estimate
   * of the rows), else safe.
   */
  name(kernel: TunedKernel, M: number, K: number, N: number): string {
    return this.nameOfClass(kernel, shapeClass(M, K, N), M);
  }

  /** The same for an attention call (attentionShapeClass): forced, measured, nearest bucket, safe. */
  attentionName(kernel: 'attention_forward' | 'attention_backward', Tq: number, NH: number, NKV: number, HS: number): string {
    return this.nameOfClass(kernel, attentionShapeClass(Tq, NH, NKV, HS), Tq);
  }

  private nameOfClass(kernel: TunedKernel, cls: string, M: number): string {
    const forced = this.forced[kernel];
    if (forced) return forced;
    const exact = this.table.get(KernelChoices.key(kernel, cls));
    if (exact) return exact.variant;
    const rows = (c: string) => Number(/^m(\d+):/.exec(c)?.[1] ?? 1);
    const want = Math.log(rows(cls));
    const suffix = cls.slice(cls.indexOf(':'));
    let best: KernelChoice | null = null;
    for (const c of this.table.values()) {
      if (c.kernel !== kernel || !c.shapeClass.endsWith(suffix) || c.complete === false) continue;
      if (M > (findVariant(kernel, c.variant).maxRows ?? Infinity)) continue; // a decoding layout stays with decoding
      if (!best || Math.abs(Math.log(rows(c.shapeClass)) - want) < Math.abs(Math.log(rows(best.shapeClass)) - want)) best = c;
    }
    return best?.variant ?? SAFE;
  }

  variant(kernel: TunedKernel, M: number, K: number, N: number): KernelVariant {
    return findVariant(kernel, this.name(kernel, M, K, N));
  }
}

/**
 * The variant a kernel's host function dispatches: the call's (`name`), else `choices`' for the
 * shape class of (M, K, N); one the adapter cannot run is refused, saying why (`who` begins the
 * message: "matmul", "lora", ...).
 */
export function variantToDispatch(
  engine: { choices: KernelChoices; report: AdapterReport },
  kernel: TunedKernel,
  name: string | undefined,
  M: number,
  K: number,
  N: number,
  who: string,
): KernelVariant {
  const v = name ? findVariant(kernel, name) : engine.choices.variant(kernel, M, K, N);
  if (v.name !== SAFE) {
    const why = whyNotApplicable(v, engine.report);
    if (why) throw new Error(`${who}: variant "${v.name}" of ${kernel} ${why}; this adapter lacks it`);
  }
  return v;
}
