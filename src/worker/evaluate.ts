// Evaluation in the engine Worker: a dataset's pairs (one split, or all) scored with the base
// model and with each chosen LoRA adapter, as TRL's DPO trainer scores them in evaluation:
//   reward(y) = β·(log π(y|x) − log π_ref(y|x)),  margin = reward(chosen) − reward(rejected),
//   accuracy  = share of pairs with reward(chosen) > reward(rejected)
// The reference is the base model (no adapter), so the base model's rewards are exactly 0: its
// row says what tuning starts from; its log-prob accuracy (log π_ref(chosen) > log π_ref(rejected))
// says what the base model already preferred. Reference log-probs come from the training
// reference cache when a run with the same tokenization already computed them (exampleKey).
//
// Adapters are run adapters (through the training module's resolver) or PEFT adapters imported
// from the page and kept here by id; `wrapResolver` lets generation sample with those too.
// Each adapter's pass holds the GPU lock for its batches (its LoRA layers are plugged in only
// then), and the task's signal is checked between batches.
import type { PrefRecord, Turns } from '../data/records.js';
import { dbRefCache, iterateRecords, type PrefDb, type StoredRecord } from '../db/index.js';
import type { Engine } from '../engine/gpu/engine.js';
import { LoraAdapter } from '../engine/lora/adapter.js';
import { loraAdapterConfig } from '../engine/training/backend.js';
import { parseTrainingConfig } from '../engine/training/config.js';
import { exampleKey, type RefLogpCache, type RefLogps } from '../engine/training/ref-cache.js';
import type { Example } from '../engine/training/tokenize.js';
import { prepareRun, recordPlace } from '../engine/training/prepare.js';
import { sequenceLogprobs } from '../engine/transformer/logprobs.js';
import type { TransformerModel } from '../engine/transformer/model.js';
import { WorkerTaskError, settle } from './errors.js';
import type { AdapterResolver } from './generate.js';
import {
  PEFT_ADAPTER_PREFIX,
  type EvalModelSummary,
  type EvalPairRow,
  type EvaluateProgress,
  type EvaluateRequest,
  type EvaluateResult,
  type EvaluateWorkerApi,
  type ImportedAdapter,
  type PairScore,
} from './evaluate-protocol.js';
import { runTask, throwIfAborted } from './tasks.js';
import type { TrainModel } from './train.js';

export interface EvaluateHost {
  workspace(): Promise<PrefDb>;
  withGpu<T>(job: (engine: Engine) => Promise<T>): Promise<T>;
  model(id: string): Promise<TrainModel>;
  /** Run adapters by run id (the training module's resolver). */
  resolveRunAdapter: AdapterResolver;
  /** Reference log-prob cache (default: the workspace's, shared with training). */
  refCache?(db: PrefDb): RefLogpCache;
}

const MAX_REASONS = 5;
const PREVIEW_CHARS = 2000;

export interface EvaluateModule {
  api: EvaluateWorkerApi;
  /** Generation's resolver: imported adapters here, anything else through `inner`. */
  wrapResolver(inner: AdapterResolver): AdapterResolver;
}

/** A turn as plain text (messages as "role: content" lines), cut for display. */
export function turnsText(t: Turns): string {
  const s = typeof t === 'string' ? t : t.map((m) => `${m.role}: ${m.content}`).join('\n');
  return s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s;
}

function pairTexts(r: PrefRecord, sequenceIndex: number): { chosen: string; rejected: string } {
  if (r.kind === 'pair') return { chosen: turnsText(r.chosen), rejected: turnsText(r.rejected) };
  if (r.kind === 'ranking') {
    // tokenize.ts lists a ranking's pairs as (i, j) with ranks[i] < ranks[j], i then j ascending.
    const pairs: [number, number][] = [];
    r.ranks.forEach((ri, i) => r.ranks.forEach((rj, j) => ri < rj && pairs.push([i, j])));
    const [i, j] = pairs[sequenceIndex] ?? [0, 1];
    return { chosen: turnsText(r.responses[i]!), rejected: turnsText(r.responses[j]!) };
  }
  if (r.kind === 'stepwise') return { chosen: r.chosenStep ?? '', rejected: r.rejectedStep ?? '' };
  return { chosen: '', rejected: '' };
}

export function summarize(id: string, name: string, pairs: readonly EvalPairRow[]): EvalModelSummary {
  const scores = pairs.map((p) => p.scores[id]!);
  const n = scores.length;
  const mean = (f: (s: PairScore) => number) => (n === 0 ? 0 : scores.reduce((a, s) => a + f(s), 0) / n);
  return {
    id,
    name,
    pairs: n,
    accuracy: mean((s) => (s.correct ? 1 : 0)),
    meanMargin: mean((s) => s.margin),
    meanRewardChosen: mean((s) => s.rewardChosen),
    meanRewardRejected: mean((s) => s.rewardRejected),
    logpAccuracy: mean((s) => (s.logpChosen > s.logpRejected ? 1 : 0)),
  };
}

export function pairScore(beta: number, logpChosen: number, logpRejected: number, refChosen: number, refRejected: number): PairScore {
  const rewardChosen = beta * (logpChosen - refChosen);
  const rewardRejected = beta * (logpRejected - refRejected);
  return { logpChosen, logpRejected, rewardChosen, rewardRejected, margin: rewardChosen - rewardRejected, correct: rewardChosen > rewardRejected };
}

export function createEvaluateModule(host: EvaluateHost): EvaluateModule {
  const imported = new Map<string, ImportedAdapter>();

  /** Plugs an imported adapter into the model; returns its clean-up. */
  function attachImported(id: string, model: TransformerModel): () => void {
    const a = imported.get(id);
    if (!a) throw new WorkerTaskError('no-adapter', `no imported adapter "${id}" in this tab any more: import it again`, { adapterId: id });
    const ad = LoraAdapter.create(model, loraAdapterConfig(a.lora, 0));
    try {
      ad.load(a.tensors);
    } catch (e) {
      ad.destroy();
      throw new WorkerTaskError('adapter-model-mismatch', `adapter "${a.name}" does not fit this model: ${(e as Error).message}`, { adapterId: id });
    }
    return () => ad.destroy();
  }

  const resolve = (adapterId: string, model: TransformerModel, modelId: string) =>
    adapterId.startsWith(PEFT_ADAPTER_PREFIX) ? attachImported(adapterId, model) : host.resolveRunAdapter(adapterId, model, modelId);

  async function adapterName(db: PrefDb, id: string): Promise<string> {
    if (id.startsWith(PEFT_ADAPTER_PREFIX)) return imported.get(id)?.name ?? id;
    return (await db.runs.get(id))?.name ?? id;
  }

  async function readSplit(db: PrefDb, request: EvaluateRequest): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    for await (const page of iterateRecords(db, request.datasetId)) {
      for (const r of page) if (request.split === 'all' || r.split === request.split) out.push(r);
    }
    return out;
  }

  async function evaluate(request: EvaluateRequest, signal: AbortSignal, onProgress?: (p: EvaluateProgress) => void): Promise<EvaluateResult> {
    const started = performance.now();
    if (!(Number.isFinite(request.beta) && request.beta > 0)) throw new WorkerTaskError('bad-settings', `beta: ${request.beta} must be a positive number`, { field: 'beta' });
    const batchSize = request.batchSize ?? 4;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new WorkerTaskError('bad-settings', `batch size: ${batchSize} must be a whole number of at least 1`, { field: 'batchSize' });
    const db = await host.workspace();
    const m = await host.model(request.modelId);
    if (!m.tokenizer) throw new WorkerTaskError('no-tokenizer', `${m.name} has no tokenizer.json, so the data cannot be tokenized`);
    const records = await readSplit(db, request);
    if (records.length === 0) throw new WorkerTaskError('no-data', `the dataset has no records in the ${request.split} split`);
    const config = parseTrainingConfig({ method: 'dpo', max_length: request.maxLength });
    // The same preparation as training: a pair left out there is left out here, for the same reason.
    const run = prepareRun(records, m.tokenizer, m.model.config, config);
    const examples: Example[] = run.examples;
    const reasons = run.skipped.map((s) => `${recordPlace(records, s.record)}: ${s.reason}`);
    const skipped = run.counts.skipped;
    if (examples.length === 0) throw new WorkerTaskError('no-data', `no pair of the ${request.split} split can be scored (${reasons.slice(0, MAX_REASONS).join('; ') || 'no pairs or rankings'})`);

    // Reference log-probs: the cache first, then the base model for the rest.
    const cache = host.refCache ? host.refCache(db) : dbRefCache(db);
    const keys = await Promise.all(examples.map((e) => exampleKey(m.fingerprint, e.sequences)));
    const ref: (RefLogps | undefined)[] = await Promise.all(keys.map((k) => cache.get(k)));
    const refCacheHits = ref.filter(Boolean).length;
    const missing = examples.map((_, i) => i).filter((i) => !ref[i]);
    const total = examples.length;
    const batches = (ids: number[]) => Array.from({ length: Math.ceil(ids.length / batchSize) }, (_, b) => ids.slice(b * batchSize, (b + 1) * batchSize));
    const progress = (p: EvaluateProgress) => void Promise.resolve(onProgress?.(p)).catch(() => {});
    const scoreBatch = async (model: TransformerModel, ids: number[]) => {
      const lp = await sequenceLogprobs(model, ids.flatMap((i) => examples[i]!.sequences.slice(0, 2)));
      return ids.map((_, k) => [lp[2 * k]!, lp[2 * k + 1]!] as const);
    };
    progress({ stage: 'reference', done: total - missing.length, total });
    let done = total - missing.length;
    for (const ids of batches(missing)) {
      throwIfAborted(signal);
      // Adapters are plugged in only while their GPU job holds the lock: here the model is the base.
      const lps = await host.withGpu(async () => {
        return scoreBatch(m.model, ids);
      });
      for (const [k, i] of ids.entries()) {
        const [ch, rj] = lps[k]!;
        const v: RefLogps = { logps: [ch.logp, rj.logp], tokens: [ch.tokens, rj.tokens], meanLogits: [ch.meanLogit, rj.meanLogit] };
        ref[i] = v;
        await cache.set(keys[i]!, v);
      }
      done += ids.length;
      progress({ stage: 'reference', done, total });
    }

    const pairs: EvalPairRow[] = examples.map((e, i) => {
      const r = ref[i]!;
      const rec = records[e.record]!;
      const sequenceIndex = examples.slice(0, i).filter((o) => o.record === e.record).length;
      const texts = pairTexts(rec, sequenceIndex);
      return {
        index: i,
        recordId: rec.id ?? null,
        prompt: turnsText(rec.prompt),
        ...texts,
        refChosen: r.logps[0]!,
        refRejected: r.logps[1]!,
        scores: { base: pairScore(request.beta, r.logps[0]!, r.logps[1]!, r.logps[0]!, r.logps[1]!) },
      };
    });

    const models: EvalModelSummary[] = [summarize('base', `${m.name} (base)`, pairs)];
    const all = examples.map((_, i) => i);
    for (const adapterId of request.adapterIds) {
      throwIfAborted(signal);
      const name = await adapterName(db, adapterId);
      progress({ stage: 'adapter', adapter: name, done: 0, total });
      await host.withGpu(async () => {
        const detach = await resolve(adapterId, m.model, m.id);
        try {
          let n = 0;
          for (const ids of batches(all)) {
            throwIfAborted(signal);
            const lps = await scoreBatch(m.model, ids);
            for (const [k, i] of ids.entries()) {
              const p = pairs[i]!;
              p.scores[adapterId] = pairScore(request.beta, lps[k]![0].logp, lps[k]![1].logp, p.refChosen, p.refRejected);
            }
            n += ids.length;
            progress({ stage: 'adapter', adapter: name, done: n, total });
          }
        } finally {
          detach();
        }
      });
      models.push(summarize(adapterId, name, pairs));
    }
    return {
      modelId: m.id,
      datasetId: request.datasetId,
      split: request.split,
      beta: request.beta,
      models,
      pairs,
      skipped,
      skippedReasons: reasons.slice(0, MAX_REASONS),
      refCacheHits,
      ms: performance.now() - started,
    };
  }

  const api: EvaluateWorkerApi = {
    async registerAdapter(id, adapter) {
      if (!id.startsWith(PEFT_ADAPTER_PREFIX)) throw new Error(`imported adapter ids start with ${PEFT_ADAPTER_PREFIX} (got ${id})`);
      imported.set(id, adapter);
    },
    async forgetAdapter(id) {
      imported.delete(id);
    },
    evaluate: (taskId, request, onProgress) => settle(() => runTask(taskId, (signal) => evaluate(request, signal, onProgress))),
  };

  return {
    api,
    wrapResolver: (inner) => (adapterId, model, modelId) => (adapterId.startsWith(PEFT_ADAPTER_PREFIX) ? attachImported(adapterId, model) : inner(adapterId, model, modelId)),
  };
}
