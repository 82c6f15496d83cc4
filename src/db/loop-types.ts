// Rows of the on-policy loop's tables (schema v4). Type imports only: the db layer runs no engine
// code. A generation job writes `candidates` records into its output dataset as each prompt's K
// candidates are done (source.promptIndex names the prompt), so a job resumed after a reload skips
// the prompts already there. A loop row holds its settings and one entry per round with the ids of
// what that round made (candidates, pairs, training run) and its evaluation.
import type { GenerationSettings, LoopSettings } from '../engine/loop/config.js';

/** queued, running, paused (by the person), interrupted (the tab closed or the device was lost), done, failed. */
export type JobStatus = 'queued' | 'running' | 'paused' | 'interrupted' | 'done' | 'failed';

export interface GenerationRow {
  id: string;
  createdAt: number;
  updatedAt: number;
  status: JobStatus;
  /** The prompt set (prompt records, or any records: their prompts), and which split of it. */
  promptDatasetId: string;
  split: 'train' | 'test' | null;
  /** At most this many prompts (in dataset order). */
  limit: number | null;
  /** Where the candidate sets go (created with the job). */
  outputDatasetId: string;
  modelId: string;
  modelName: string;
  /** The training run whose adapter generates; absent: the base model. */
  adapterRunId?: string;
  /** The loop round this job belongs to. */
  loopId?: string;
  round?: number;
  settings: GenerationSettings;
  /** Prompts to do, prompts done (their candidate sets stored), tokens generated so far. */
  total: number;
  done: number;
  tokens: number;
  error?: string;
}

export type LoopStage = 'generate' | 'judge' | 'train' | 'evaluate' | 'done';

export interface LoopEvaluation {
  /** Held-out samples per round's policy, and the judge's mean score of each. */
  samples: number;
  meanScore: number;
  meanScorePrevious: number;
  /** Round k against round k-1 by the same judge: (wins + ties / 2) / comparisons. */
  winRate: number;
  wins: number;
  ties: number;
  losses: number;
  /** A words rule's counts over the samples (the demo's hopeful and gloomy words). */
  words?: { good: number; bad: number };
}

export interface LoopRound {
  round: number;
  stage: LoopStage;
  generationId?: string;
  candidatesDatasetId?: string;
  /** The pairs made from the judgements (the training data). */
  pairsDatasetId?: string;
  runId?: string;
  /** The adapter generating this round (the previous round's run); absent: the base model. */
  policyRunId?: string;
  /** Judge evidence counts: candidate sets judged, pairs made, sets left without a preference. */
  judged?: number;
  pairs?: number;
  noPreference?: number;
  evaluation?: LoopEvaluation;
  /** A person judge's evaluation: the held-out comparisons stored to label (first response: round k). */
  evaluationDatasetId?: string;
  error?: string;
}

/** running; waiting (for the person to judge, or a rule judge that failed: nothing lost); paused; interrupted (a reload); done; failed. */
export type LoopStatus = 'running' | 'waiting' | 'paused' | 'interrupted' | 'done' | 'failed';

export interface LoopRow {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  status: LoopStatus;
  /** Why it waits or failed. */
  message?: string;
  modelId: string;
  modelName: string;
  promptDatasetId: string;
  /** Held-out prompts: another dataset, or the prompt set's test split (null). */
  heldOutDatasetId: string | null;
  /** Round 1 generates from this run's adapter; absent: the base model. */
  initialRunId?: string;
  settings: LoopSettings;
  rounds: LoopRound[];
}
