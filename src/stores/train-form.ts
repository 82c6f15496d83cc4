// The Train page's settings form: the methods offered (each with one sentence on what it does and
// the data it needs), sensible LoRA defaults, and the form -> TrainingConfig input (TRL/PEFT names).
import type { TrainingConfigInput, TrainingMethod } from '../engine/training/config.js';
import type { DatasetCounts } from '../db/index.js';

export type MethodChoice = 'dpo' | 'ipo' | 'cdpo' | 'rpo' | 'step_dpo' | 'orpo' | 'simpo' | 'cpo_simpo' | 'kto' | 'listwise' | 'sft';

export interface MethodInfo {
  label: string;
  /** What it does, in one sentence. */
  summary: string;
  /** The data it trains on. */
  needs: string;
  /** Record kinds of a dataset it can use. */
  kinds: (keyof DatasetCounts['byKind'])[];
  method: TrainingMethod;
  lossType?: 'ipo';
  /** Whether beta applies, and its default. */
  beta: number | null;
}

export const METHOD_INFO: Record<MethodChoice, MethodInfo> = {
  dpo: { label: 'DPO', summary: 'Raises the likelihood of the chosen response over the rejected one, relative to the untuned model (sigmoid loss).', needs: 'pairs (rankings give every pair)', kinds: ['pair', 'ranking'], method: 'dpo', beta: 0.1 },
  ipo: { label: 'IPO', summary: 'DPO with a squared loss that keeps the preference margin near 1/(2β) instead of pushing it without bound.', needs: 'pairs (rankings give every pair)', kinds: ['pair', 'ranking'], method: 'dpo', lossType: 'ipo', beta: 0.1 },
  cdpo: { label: 'cDPO', summary: 'DPO that assumes some labels are flipped (label smoothing), for noisy preferences.', needs: 'pairs', kinds: ['pair', 'ranking'], method: 'cdpo', beta: 0.1 },
  rpo: { label: 'RPO', summary: 'DPO plus a weighted SFT term on the chosen response, so the chosen text itself stays likely.', needs: 'pairs', kinds: ['pair', 'ranking'], method: 'rpo', beta: 0.1 },
  step_dpo: { label: 'Step-DPO', summary: 'DPO on the first wrong step of a reasoning chain against a right one, with the accepted steps as context.', needs: 'step-wise records (or pairs)', kinds: ['stepwise', 'pair'], method: 'step_dpo', beta: 0.1 },
  orpo: { label: 'ORPO', summary: 'SFT on the chosen response plus an odds-ratio penalty on the rejected one; no reference model.', needs: 'pairs', kinds: ['pair', 'ranking'], method: 'orpo', beta: 0.1 },
  simpo: { label: 'SimPO', summary: 'Compares length-normalised log-probs of chosen and rejected with a target margin; no reference model.', needs: 'pairs', kinds: ['pair', 'ranking'], method: 'simpo', beta: 2 },
  cpo_simpo: { label: 'CPO-SimPO', summary: 'SimPO plus an SFT term on the chosen response.', needs: 'pairs', kinds: ['pair', 'ranking'], method: 'cpo_simpo', beta: 2 },
  kto: { label: 'KTO', summary: 'Pushes good responses up and bad ones down one at a time against a reference point, no pairing needed.', needs: 'unpaired thumbs up/down (pairs are unpaired)', kinds: ['unpaired', 'pair', 'ranking'], method: 'kto', beta: 0.1 },
  listwise: { label: 'Listwise', summary: 'Plackett-Luce over a whole ranking: the best response over all the others, then the next, and so on.', needs: 'rankings (pairs count as rankings of two)', kinds: ['ranking', 'pair'], method: 'listwise', beta: 0.1 },
  sft: { label: 'SFT', summary: 'Plain supervised fine-tuning on the chosen responses: the warm start a base model needs before preference tuning.', needs: 'pairs (trains on the chosen side)', kinds: ['pair', 'ranking'], method: 'sft', beta: null },
};

export const METHOD_CHOICES = Object.keys(METHOD_INFO) as MethodChoice[];

export interface TrainForm {
  name: string;
  datasetId: string | null;
  method: MethodChoice;
  beta: number;
  learningRate: number;
  /** Steps (> 0) or, when 0, epochs. */
  maxSteps: number;
  epochs: number;
  batchSize: number;
  gradAccum: number;
  maxLength: number;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  /** Comma-separated module names or all-linear. */
  targets: string;
  seed: number;
  saveSteps: number;
  /** 0: evaluate only at the end. */
  evalSteps: number;
  /** The run whose adapter this run starts from (iterative rounds); its LoRA settings are kept. */
  initFromRunId: string | null;
}

export const DEFAULT_FORM: TrainForm = {
  name: '',
  datasetId: null,
  method: 'dpo',
  beta: 0.1,
  learningRate: 5e-4,
  maxSteps: 60,
  epochs: 1,
  batchSize: 4,
  gradAccum: 1,
  maxLength: 128,
  loraR: 8,
  loraAlpha: 16,
  loraDropout: 0,
  targets: 'q_proj,v_proj',
  seed: 42,
  saveSteps: 10,
  evalSteps: 0,
  initFromRunId: null,
};

/**
 * Settings that show the demo model learning the demo dataset's preference in ten steps
 * (test/demo/learning.test.ts runs the same recipe through `prefstudio train`: held-out accuracy
 * 0.89). Made for the 1M-parameter demo model: larger models want the defaults' smaller
 * learning rate.
 */
export const DEMO_RECIPE: Partial<TrainForm> = {
  method: 'dpo',
  beta: 0.1,
  learningRate: 1e-2,
  maxSteps: 10,
  batchSize: 8,
  gradAccum: 1,
  maxLength: 32,
  loraR: 8,
  loraAlpha: 16,
  loraDropout: 0,
  targets: 'all-linear',
  seed: 1,
  evalSteps: 5,
  initFromRunId: null,
};

const EVAL_BATCH_MIN = 8;

/** The form as a TrainingConfig input (parseTrainingConfig validates it and fills the rest). */
export function formConfig(f: TrainForm): TrainingConfigInput {
  const info = METHOD_INFO[f.method];
  const targets = f.targets.trim() === 'all-linear' ? 'all-linear' : f.targets.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    method: info.method,
    ...(info.beta !== null ? { beta: f.beta } : {}),
    ...(info.lossType ? { loss_type: info.lossType } : {}),
    learning_rate: f.learningRate,
    ...(f.maxSteps > 0 ? { max_steps: f.maxSteps } : { num_train_epochs: f.epochs }),
    per_device_train_batch_size: f.batchSize,
    // Reference log-probs and evaluation are forward-only: larger batches, far fewer passes.
    per_device_eval_batch_size: Math.max(f.batchSize, EVAL_BATCH_MIN),
    gradient_accumulation_steps: f.gradAccum,
    max_length: f.maxLength,
    lora: { r: f.loraR, lora_alpha: f.loraAlpha, lora_dropout: f.loraDropout, target_modules: targets },
    seed: f.seed,
    save_steps: f.saveSteps,
    eval_steps: f.evalSteps > 0 ? f.evalSteps : null,
  } as TrainingConfigInput;
}

/** Records of a dataset the method can use (by kind), for the picker. */
export function usableRecords(method: MethodChoice, counts: DatasetCounts): number {
  return METHOD_INFO[method].kinds.reduce((a, k) => a + counts.byKind[k], 0);
}
