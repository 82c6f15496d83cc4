// The evaluation half of the engine Worker's API (src/worker/evaluate.ts), as the main thread sees
// it through comlink. Evaluation scores a dataset's pairs with the base model and with tuned LoRA
// adapters: TRL's implicit rewards β·(log π(y|x) − log π_ref(y|x)), where the reference is the
// base model (the adapter switched off), so the base model's own rewards are 0 by definition.
import type { LoraSettings } from '../engine/training/config.js';
import type { WorkerResult } from './protocol.js';

/** The id an imported PEFT adapter gets (usable wherever a run id names an adapter: generation too). */
export const PEFT_ADAPTER_PREFIX = 'peft:';

/** A PEFT adapter read on the main thread (services/export openAdapter), handed to the Worker. */
export interface ImportedAdapter {
  /** Shown in tables and in the provenance of generated records. */
  name: string;
  lora: LoraSettings;
  baseModel: string;
  /** PEFT tensor names → values. */
  tensors: Map<string, Float32Array>;
}

export type EvalSplit = 'test' | 'train' | 'all';

export interface EvaluateRequest {
  modelId: string;
  datasetId: string;
  split: EvalSplit;
  /** β of the implicit rewards (the same for every adapter, so margins compare). */
  beta: number;
  /** Run ids or imported adapter ids (PEFT_ADAPTER_PREFIX…); the base model is always scored. */
  adapterIds: string[];
  /** Tokens per prompt + completion row (TRL's max_length, keep_start); null: no limit. */
  maxLength: number | null;
  /** Pairs per GPU batch (default 4). */
  batchSize?: number;
}

/** One adapter's scores of one pair. */
export interface PairScore {
  /** Σ log π(y|x) over completion tokens, chosen and rejected. */
  logpChosen: number;
  logpRejected: number;
  /** β·(log π − log π_ref). */
  rewardChosen: number;
  rewardRejected: number;
  /** rewardChosen − rewardRejected. */
  margin: number;
  /** TRL's rewards/accuracies: the chosen reward is strictly higher. */
  correct: boolean;
}

/** One pair of the evaluated split: where it came from and every model's scores. */
export interface EvalPairRow {
  /** Index among the evaluated pairs. */
  index: number;
  /** Stored record id (a ranking gives several pairs with the same id). */
  recordId: number | null;
  prompt: string;
  chosen: string;
  rejected: string;
  /** Reference (base) log-probs: log π_ref(chosen), log π_ref(rejected). */
  refChosen: number;
  refRejected: number;
  /** Scores by adapter id, in the order of EvaluateResult.models ('base' first). */
  scores: Record<string, PairScore>;
}

export interface EvalModelSummary {
  /** 'base' or the adapter id. */
  id: string;
  name: string;
  pairs: number;
  /** Mean of correct (TRL rewards/accuracies). */
  accuracy: number;
  /** Mean reward margin (TRL rewards/margins). */
  meanMargin: number;
  meanRewardChosen: number;
  meanRewardRejected: number;
  /** Share of pairs where the model's own log π(chosen) > log π(rejected) (length-unnormalised). */
  logpAccuracy: number;
}

export interface EvaluateResult {
  modelId: string;
  datasetId: string;
  split: EvalSplit;
  beta: number;
  models: EvalModelSummary[];
  pairs: EvalPairRow[];
  /** Records left out (not a pair or ranking, too long, ...), with the first few reasons. */
  skipped: number;
  skippedReasons: string[];
  /** Reference log-probs read from the cache instead of computed. */
  refCacheHits: number;
  ms: number;
}

export interface EvaluateProgress {
  stage: 'reference' | 'adapter';
  /** Adapter being scored (stage 'adapter'). */
  adapter?: string;
  done: number;
  total: number;
}

export interface EvaluateWorkerApi {
  /** Keeps an imported PEFT adapter in the Worker under `id` (PEFT_ADAPTER_PREFIX…), replacing one of that id. */
  registerAdapter(id: string, adapter: ImportedAdapter): Promise<void>;
  forgetAdapter(id: string): Promise<void>;
  /** Scores the split's pairs with the base model and each adapter. `taskId` names the task for cancel(). */
  evaluate(taskId: string, request: EvaluateRequest, onProgress?: (p: EvaluateProgress) => void): Promise<WorkerResult<EvaluateResult>>;
}
