// Kernel tuning in the engine Worker (issue 16): after a model is activated, the matmul variants
// for its shapes on this adapter, from IndexedDB (db/kernel-tuning.ts) or measured within a few
// seconds under the GPU lock; the GPU panel reads what was chosen and why, can measure again
// (also on software adapters, which are left untuned by default) and force a variant.
import { dbTuneCache, type PrefDb } from '../db/index.js';
import { parseForced, type KernelChoice } from '../engine/tuning/choices.js';
import { isSoftwareAdapter, kernelsForModel, tuneModelKernels } from '../engine/tuning/matmul-runner.js';
import { TRAINING_TUNED_KERNELS, trainingTuneRows } from '../engine/tuning/training-tune.js';
import { VARIANTS, whyNotApplicable, type TunedKernel } from '../engine/tuning/variants.js';
import type { Engine } from '../engine/gpu/engine.js';
import type { TrainingConfig } from '../engine/training/config.js';
import type { TransformerModel } from '../engine/transformer/model.js';
import { getEngine, withGpu } from './engine.js';
import { getActiveModel } from './models.js';

export type KernelTuningState = 'untuned' | 'software' | 'measuring' | 'cached' | 'measured' | 'failed';

export interface KernelTuningReport {
  state: KernelTuningState;
  /** One line: why this state ("software adapter: ...", "measured in 2.4 s", the error). */
  note: string;
  /** Progress lines of the last measurement. */
  progress: string[];
  forced: Partial<Record<TunedKernel, string>>;
  choices: KernelChoice[];
  /** Every registered variant with whether this adapter can run it and why not. */
  variants: { kernel: TunedKernel; name: string; about: string; whyNot: string | null }[];
}

/**
 * Training products are tuned too: the Worker trains on the model it activates (with a
 * block-quantized base, its forward kernel as well: kernelsForModel), and the LM head's
 * log-softmax. The LoRA passes wait for a run (tuneForTraining): the adapter's rank is unknown
 * when a model is activated.
 */
const KERNELS: TunedKernel[] = ['matmul_forward', 'matmul_dinp', 'attention_forward', 'attention_backward', 'logprobs_forward'];
/** Rows of the measured products: a batch of a few sequences of a few hundred tokens. */
const ROWS = 256;
const BUDGET_MS = 3000;

/** Set once the person asked to measure here (the GPU panel): a software adapter is then tuned for runs too. */
let measureOnSoftware = false;

let state: { state: KernelTuningState; note: string; progress: string[] } = {
  state: 'untuned', note: 'no model has been activated yet', progress: [],
};

export async function kernelTuningReport(): Promise<KernelTuningReport> {
  const engine = await getEngine();
  return {
    ...state,
    progress: [...state.progress],
    forced: { ...engine.choices.forced },
    choices: engine.choices.all(),
    variants: VARIANTS.map((v) => ({ kernel: v.kernel, name: v.name, about: v.about, whyNot: whyNotApplicable(v, engine.report) })),
  };
}

/**
 * Chooses the variants for the active model: on a software adapter only when `force` (speed
 * there says nothing). Failures never stop the model: the safe kernels stay.
 */
export async function tuneActiveModel(workspace: () => Promise<PrefDb>, force = false, budgetMs = BUDGET_MS): Promise<KernelTuningReport> {
  const active = getActiveModel();
  const engine = await getEngine();
  if (!active) {
    state = { state: 'untuned', note: 'no model is active: activate one to tune for its shapes', progress: [] };
    return kernelTuningReport();
  }
  if (force) measureOnSoftware = true;
  if (!force && isSoftwareAdapter(engine)) {
    state = { state: 'software', note: 'software adapter: the safe kernels are used (speed here says nothing about a GPU)', progress: [] };
    return kernelTuningReport();
  }
  const progress: string[] = [];
  state = { state: 'measuring', note: `measuring the kernel variants for ${active.manifest.name}`, progress };
  try {
    const db = await workspace();
    const { kernels, quant } = kernelsForModel(KERNELS, active.model.weights);
    const outcome = await withGpu((e) =>
      tuneModelKernels(e, active.config, ROWS, dbTuneCache(db), {
        budgetMs,
        kernels,
        quant,
        onProgress: (p) => progress.push(`${p.done}/${p.total} ${p.note}`),
      }),
    );
    state = outcome.fromCache
      ? { state: 'cached', note: `choices for this adapter from the tuning cache (IndexedDB) for ${active.manifest.name}`, progress }
      : { state: 'measured', note: `measured for ${active.manifest.name} in ${(outcome.ms / 1000).toFixed(1)} s`, progress };
  } catch (e) {
    state = { state: 'failed', note: `tuning failed, the safe kernels are used: ${(e as Error).message}`, progress };
  }
  return kernelTuningReport();
}

/** The setting that forces variants ("matmul_forward=tiled8,..."; empty: automatic). */
export async function forceKernelVariants(text: string): Promise<KernelTuningReport> {
  const engine = await getEngine();
  const forced = parseForced(text);
  for (const [kernel, name] of Object.entries(forced)) {
    const v = VARIANTS.find((x) => x.kernel === kernel && x.name === name)!;
    const why = whyNotApplicable(v, engine.report);
    if (why && name !== 'safe') throw new Error(`variant "${name}" of ${kernel} ${why}; this adapter lacks it`);
  }
  await withGpu(async () => {
    engine.choices.forced = forced;
  });
  return kernelTuningReport();
}


/**
 * Before a run trains: its step's kernels at its batch's rows and its adapter's rank (the LoRA
 * passes are measured here, the rest mostly comes from the cache), within the same budget, where
 * the model's own tuning runs (a software adapter only once measuring was asked for). Call under
 * the GPU lock; failures leave the safe kernels and never stop the run.
 */
export async function tuneForTraining(
  engine: Engine,
  db: PrefDb,
  model: TransformerModel,
  config: Pick<TrainingConfig, 'per_device_train_batch_size' | 'max_length' | 'lora'>,
  log: (line: string) => void,
  budgetMs = BUDGET_MS,
): Promise<void> {
  if (!measureOnSoftware && isSoftwareAdapter(engine)) return;
  const { kernels, quant } = kernelsForModel(TRAINING_TUNED_KERNELS, model.weights);
  const progress = [...state.progress];
  try {
    const outcome = await tuneModelKernels(engine, model.config, trainingTuneRows(config.per_device_train_batch_size, config.max_length), dbTuneCache(db), {
      budgetMs,
      kernels,
      quant,
      loraRank: config.lora.r,
      onProgress: (p) => {
        const line = `${p.done}/${p.total} ${p.note}`;
        progress.push(line);
        log(`tuning kernels ${line}`);
      },
    });
    if (!outcome.fromCache) {
      state = { state: 'measured', note: `measured for a training run (LoRA rank ${config.lora.r}) in ${(outcome.ms / 1000).toFixed(1)} s`, progress };
    }
  } catch (e) {
    log(`kernel tuning failed, the safe kernels are used: ${(e as Error).message}`);
  }
}
