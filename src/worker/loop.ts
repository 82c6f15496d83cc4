// The on-policy loop in the engine Worker: generation jobs, model and reward judges, and held-out
// samples, on this Worker's device. A generation job reads its row and its prompt set from the
// workspace database, skips the prompts whose candidate sets are already stored (a reload or a
// pause resumes there), and stores each batch's sets with the job's progress in one transaction
// (db/loop.ts addCandidateSets). Every batch takes the GPU lock on its own, so a training step or
// a playground sample can run between two batches. Candidate k of prompt i draws from its own
// seeded generator (engine/loop/candidates.ts), so a resumed job generates what one uninterrupted
// job would have.
import type { CandidatesRecord, Judgement, PrefRecord } from '../data/records.js';
import { addCandidateSets, donePromptIndexes, iterateRecords, requireGeneration, setJudgements, updateGeneration, type PrefDb, type StoredRecord } from '../db/index.js';
import { generateCandidateSets, type CandidatePrompt } from '../engine/loop/candidates.js';
import { judgeWithModel, modelJudgeBackend } from '../engine/loop/model-judge.js';
import { judgeWithReward, type RewardScorer } from '../engine/loop/reward-judge.js';
import { sequenceLogprobs } from '../engine/transformer/logprobs.js';
import { candidateRecordOf } from '../engine/loop/records.js';
import { WorkerTaskError, settle } from './errors.js';
import type { AdapterResolver } from './generate.js';
import type { GenerationJobOutcome, GenerationJobProgress, HeldOutResult, JudgeDatasetRequest, LoopWorkerApi } from './loop-protocol.js';
import { runTask, throwIfAborted } from './tasks.js';
import type { TrainHost, TrainModel } from './train.js';

export interface LoopHost extends TrainHost {
  /** Run adapters by run id (the training module's resolver): attaches, returns the detach. */
  resolveRunAdapter: AdapterResolver;
}

/** Prompts per GPU-lock turn: rows = prompts x K, at most this many rows. */
const BATCH_ROWS = 16;

async function promptsOf(db: PrefDb, datasetId: string, split: 'train' | 'test' | null, limit: number | null): Promise<(CandidatePrompt & { split: PrefRecord['split'] })[]> {
  const out: (CandidatePrompt & { split: PrefRecord['split'] })[] = [];
  let index = 0;
  for await (const page of iterateRecords(db, datasetId)) {
    for (const r of page) {
      const i = index++;
      if (split !== null && r.split !== split) continue;
      if (limit !== null && out.length >= limit) continue;
      out.push({ index: i, prompt: r.prompt, ...(r.system !== undefined ? { system: r.system } : {}), split: r.split });
    }
  }
  return out;
}

function eosOf(m: TrainModel): number[] | undefined {
  const tok = m.tokenizer as (TrainModel['tokenizer'] & { eosIds?: number[] }) | null;
  return tok?.eosIds ? [...new Set([...m.model.config.eosIds, ...tok.eosIds])] : undefined;
}

function tokenizerOf(m: TrainModel) {
  const tok = m.tokenizer as (TrainModel['tokenizer'] & { decode?: (ids: number[], o?: { skipSpecialTokens?: boolean }) => string }) | null;
  if (!tok?.decode) throw new WorkerTaskError('no-tokenizer', `${m.name} has no tokenizer.json, so text cannot be turned into tokens`);
  return tok as NonNullable<TrainModel['tokenizer']> & { decode(ids: number[], o?: { skipSpecialTokens?: boolean }): string };
}

export function createLoopModule(host: LoopHost): { api: LoopWorkerApi } {
  /** Runs `job` with `adapterRunId`'s adapter plugged in (none: the base), holding the GPU lock. */
  async function withPolicy<T>(m: TrainModel, adapterRunId: string | undefined, job: () => Promise<T>): Promise<T> {
    return host.withGpu(async () => {
      const detach = adapterRunId ? await host.resolveRunAdapter(adapterRunId, m.model, m.id) : null;
      try {
        return await job();
      } finally {
        detach?.();
      }
    });
  }

  async function runGeneration(jobId: string, signal: AbortSignal, onProgress?: (p: GenerationJobProgress) => void): Promise<GenerationJobOutcome> {
    const db = await host.workspace();
    const job = await requireGeneration(db, jobId);
    if (job.status === 'done') return { status: 'done', done: job.done, total: job.total, skipped: [] };
    await updateGeneration(db, jobId, { status: 'running', error: undefined });
    let lost: string | null = null;
    try {
      const m = await host.model(job.modelId);
      void m.model.engine.device.lost.then((info) => void (lost = `the GPU device was lost (${info.reason || 'unknown'})`));
      const tok = tokenizerOf(m);
      const prompts = await promptsOf(db, job.promptDatasetId, job.split, job.limit);
      const done = await donePromptIndexes(db, job.outputDatasetId);
      const todo = prompts.filter((p) => !done.has(p.index));
      const split = new Map(prompts.map((p) => [p.index, p.split]));
      // A loop trains on every set it generates (with a held-out dataset, on the prompt set's own
      // test split too); a job of its own keeps each prompt's split.
      const splitOf = (i: number): PrefRecord['split'] => (job.loopId !== undefined ? 'train' : split.get(i) ?? 'train');
      const skipped: GenerationJobOutcome['skipped'] = [];
      const started = performance.now();
      let tokens = 0;
      let stored = done.size;
      const perBatch = Math.max(1, Math.floor(BATCH_ROWS / job.settings.n));
      for (let i0 = 0; i0 < todo.length; i0 += perBatch) {
        if (signal.aborted || lost) break;
        const chunk = todo.slice(i0, i0 + perBatch);
        const r = await withPolicy(m, job.adapterRunId, () => generateCandidateSets(m.model, tok, chunk, job.settings, { batchRows: BATCH_ROWS, eosIds: eosOf(m), signal }));
        skipped.push(...r.skipped);
        if (r.aborted) break;
        const records = r.sets.map((set) => candidateRecordOf(set, splitOf(set.index), { model: m.name, ...(job.adapterRunId ? { adapter: job.adapterRunId } : {}), ...(job.round !== undefined ? { round: job.round } : {}), settings: job.settings }));
        if (records.length) await addCandidateSets(db, jobId, records, r.tokens);
        tokens += r.tokens;
        stored += records.length;
        const ms = performance.now() - started;
        const left = todo.length - Math.min(i0 + perBatch, todo.length);
        onProgress?.({ jobId, done: stored, total: job.total, tokens, ms, etaMs: i0 + perBatch > 0 ? (ms / Math.min(i0 + perBatch, todo.length)) * left : null });
      }
      if (lost) {
        await updateGeneration(db, jobId, { status: 'interrupted', error: `${lost}; the candidate sets stored so far are kept: resume to continue` });
        return { status: 'interrupted', done: stored, total: job.total, skipped };
      }
      const finished = stored + skipped.length >= prompts.length;
      const status = finished ? 'done' : 'paused';
      await updateGeneration(db, jobId, { status, ...(skipped.length ? { error: `${skipped.length} prompts skipped: ${skipped.slice(0, 3).map((s) => `prompt ${s.index + 1}: ${s.reason}`).join('; ')}` } : {}) });
      return { status, done: stored, total: job.total, skipped };
    } catch (e) {
      await updateGeneration(db, jobId, { status: lost ? 'interrupted' : 'failed', error: lost ?? (e as Error).message }).catch(() => {});
      throw e;
    }
  }

  /** A reward scorer on the run adapters: the policy run's adapter against the reference run's (or the base). */
  function rewardScorer(m: TrainModel, policyRunId: string, referenceRunId: string | undefined): RewardScorer {
    return async (batch, which) => {
      const runId = which === 'policy' ? policyRunId : referenceRunId;
      const detach = runId ? await host.resolveRunAdapter(runId, m.model, m.id) : null;
      try {
        const out: number[] = [];
        for (let i0 = 0; i0 < batch.length; i0 += BATCH_ROWS) for (const s of await sequenceLogprobs(m.model, batch.slice(i0, i0 + BATCH_ROWS))) out.push(s.logp);
        return out;
      } finally {
        detach?.();
      }
    };
  }

  async function judge(modelId: string, spec: JudgeDatasetRequest['spec'], sets: Pick<CandidatesRecord, 'prompt' | 'system' | 'responses'>[], signal: AbortSignal, onJudged?: (i: number, j: Judgement) => Promise<void> | void): Promise<Judgement[]> {
    const out: Judgement[] = [];
    // One GPU-lock turn per candidate set.
    for (const [i, set] of sets.entries()) {
      throwIfAborted(signal);
      const m = await host.model(spec.type === 'model' && spec.model ? spec.model : modelId);
      const [j] = await host.withGpu(async () => {
        if (spec.type === 'model') {
          const tok = tokenizerOf(m);
          return judgeWithModel(modelJudgeBackend(m.model, tok, { eosIds: eosOf(m) }), tok, [set], spec, { name: m.name });
        }
        return judgeWithReward(rewardScorer(m, spec.adapter, spec.reference), m.tokenizer!, [set], { beta: spec.beta, name: spec.adapter });
      });
      out.push(j!);
      await onJudged?.(i, j!);
    }
    return out;
  }

  async function judgeDataset(request: JudgeDatasetRequest, signal: AbortSignal, onProgress?: (done: number, total: number) => void): Promise<{ judged: number }> {
    const db = await host.workspace();
    const todo: (StoredRecord & { id: number })[] = [];
    for await (const page of iterateRecords(db, request.datasetId)) for (const r of page) if (r.kind === 'candidates' && !r.judgement) todo.push(r as StoredRecord & { id: number });
    let judged = 0;
    await judge(request.modelId, request.spec, todo as unknown as CandidatesRecord[], signal, async (i, j) => {
      await setJudgements(db, [{ id: todo[i]!.id, judgement: j }]);
      judged++;
      onProgress?.(judged, todo.length);
    });
    return { judged };
  }

  async function heldOut(request: Parameters<LoopWorkerApi['heldOutSamples']>[1], signal: AbortSignal): Promise<HeldOutResult[]> {
    const db = await host.workspace();
    const m = await host.model(request.modelId);
    const tok = tokenizerOf(m);
    const prompts = await promptsOf(db, request.datasetId, request.split, null);
    const out: HeldOutResult[] = [];
    const perBatch = Math.max(1, Math.floor(BATCH_ROWS / request.settings.n));
    for (let i0 = 0; i0 < prompts.length; i0 += perBatch) {
      throwIfAborted(signal);
      const r = await withPolicy(m, request.adapterRunId, () => generateCandidateSets(m.model, tok, prompts.slice(i0, i0 + perBatch), request.settings, { batchRows: BATCH_ROWS, eosIds: eosOf(m), signal }));
      for (const s of r.sets) out.push({ index: s.index, prompt: s.prompt, ...(s.system !== undefined ? { system: s.system } : {}), responses: s.responses });
    }
    return out;
  }

  const api: LoopWorkerApi = {
    runGeneration: (taskId, jobId, onProgress) => settle(() => runTask(taskId, (signal) => runGeneration(jobId, signal, onProgress))),
    judgeDataset: (taskId, request, onProgress) => settle(() => runTask(taskId, (signal) => judgeDataset(request, signal, onProgress))),
    judgeSets: (taskId, request) => settle(() => runTask(taskId, (signal) => judge(request.modelId, request.spec, request.sets, signal))),
    heldOutSamples: (taskId, request) => settle(() => runTask(taskId, (signal) => heldOut(request, signal))),
  };
  return { api };
}
