// The training loop: LoRA preference tuning of a model on tokenized examples, one optimizer step
// at a time, as transformers' Trainer with TRL's trainers runs it:
//
//   step k:  lr = schedule(k); for each micro-batch of the step (DataOrder.plan(k)):
//              policy log-probs of its sequences (adapter on, activations kept)
//              [kto: policy log-probs of the KL completions, no gradient]
//              loss forward + gradient by each log-prob sum × 1/micro-batches (objective.ts)
//              model backward: LoRA gradients accumulate
//            clip by global norm, AdamW (optimizer.ts), gradients cleared
//            metrics with TRL's names; evaluation on the test split every eval_steps
//
// Reference log-probs are computed with the adapter disabled, once per example, when a batch
// first needs them (or all before the first step, with precomputeReferences), through the
// caller's cache (ref-cache.ts). The reference is the base model, or the base plus LoRA blocks
// (reference.ts: the previous round's policy in iterative DPO; TR-DPO's sync_ref_model mixes the
// policy in every ref_model_sync_steps steps): the cache key then holds the reference's
// fingerprint, and the checkpoint its blocks. A run is a pure function of its config,
// data and starting adapter: data order and LoRA dropout seeds come from the seed, so
// checkpoint() -> Trainer.resume() continues bit for bit. The caller stores checkpoints
// (IndexedDB in the browser, files in Node): encodeCheckpoint() makes bytes of one.

import { assertFinite, firstNonFinite, nonFiniteName, NonFiniteError } from '../finite.js';
import { memoryBudget } from '../gpu/budget.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Metrics } from '../losses/index.js';
import { pairLossParams, type MethodConfig } from '../losses/methods.js';
import type { SequenceLogprob, SequencePair } from '../transformer/logprobs.js';
import type { TransformerConfig } from '../transformer/config.js';
import { exampleShape, methodConfig, needsReference, parseTrainingConfig, TrainingConfigError, type TrainingConfig } from './config.js';
import { DataOrder, Rng, type RngState } from './data-order.js';
import { estimateTrainingMemory, resolveTrainingMemory, TrainingMemoryError, type TrainingMemoryEstimate } from './memory.js';
import { aggregateMetrics, listwiseWidth, microBatchLoss, microBatchSequences, type MicroBatchLoss } from './objective.js';
import { LoraAdamW, type OptimizerState, type TrainableParam } from './optimizer.js';
import { readSafetensors, writeSafetensors, type HostTensor } from './peft.js';
import { checkRefLogps, exampleKey, MemoryRefCache, pushSequenceWords, sha256Hex, type RefLogpCache, type RefLogps } from './ref-cache.js';
import { referenceFingerprint, type ReferenceBlocks } from './reference.js';
import { learningRate, totalSteps } from './schedule.js';
import type { Example } from './tokenize.js';

/** A policy forward that keeps what its backward needs (src/engine/transformer/train-logprobs.ts). */
export interface PolicyPass {
  /** (S) Σ completion log-probs per sequence. */
  logps: Tensor;
  /** Completion tokens scored per sequence (S). */
  tokens: ArrayLike<number>;
  /** Mean logit per sequence over its completion tokens and the vocabulary, when computed. */
  meanLogits?: ArrayLike<number>;
  /** Mean aligned log-prob per sequence (WPO weights), when asked for. */
  alignedMeans?: ArrayLike<number>;
  /** Σ unweighted log-probs of each sequence's LD-DPO tail, when a sequence has a tail. */
  tailLogps?: ArrayLike<number>;
  /** Accumulates the LoRA gradients of Σ dlogps · logps (+ Σ dtail · tail log-probs). */
  backward(dlogps: Tensor, dtail?: Tensor | null): void;
  release(): void;
}

/** What the trainer needs of the model and its LoRA adapter. */
export interface TrainingBackend {
  readonly engine: Engine;
  readonly modelConfig: TransformerConfig;
  /** GPU bytes of the model's weights. */
  readonly weightBytes: number;
  /** Buffers the LM head's table is split across (1: one); the memory estimate counts a split head's scratch. */
  readonly headParts?: number;
  /** Forward with the adapter on; dropoutSeed null: no dropout (evaluation); aligned: also read the WPO means back. */
  /** recompute: keep only each block's input and rebuild its activations in the backward (gradient_checkpointing). */
  policy(batch: SequencePair[], options: { dropoutSeed: number | null; aligned?: boolean; recompute?: boolean }): Promise<PolicyPass>;
  /** Forward only, without dropout; adapter off for the reference model. */
  score(batch: SequencePair[], options: { adapter: boolean }): Promise<SequenceLogprob[]>;
  /** The trainable LoRA tensors in a fixed order, with their PEFT names. */
  params(): TrainableParam[];
  /** The reference `score({ adapter: false })` scores with: null (or absent) = the base model. */
  reference?(): ReferenceBlocks | null;
  /** Sets the reference (a resumed run's, from its checkpoint). */
  setReference?(ref: ReferenceBlocks | null): void;
  /** TR-DPO: reference <- alpha * policy + (1 - alpha) * reference. */
  syncReference?(alpha: number): Promise<void>;
  /** Frees what the backend holds besides the model and the policy adapter (a reference adapter). */
  release?(): void;
}

export interface TrainerOptions {
  backend: TrainingBackend;
  config: TrainingConfig;
  /** Every example of the run (both splits). */
  examples: readonly Example[];
  /** Identifies the base model's weights for the reference cache. */
  modelFingerprint: string;
  refCache?: RefLogpCache;
  /**
   * Compute every example's reference log-probs before the first step (TRL's
   * precompute_ref_log_probs) instead of when a batch first needs them.
   */
  precomputeReferences?: boolean;
  /** Progress lines (reference log-probs, evaluation). */
  onProgress?: (message: string) => void;
}

export type StepMetrics = Metrics & { step: number };

/**
 * A NaN or an infinity in a training step: the run stops there. Before the update (loss, gradient
 * norm) the trainer still holds the last good state; after it (the weights) it saves nothing.
 */
export class NonFiniteTrainingError extends NonFiniteError {
  constructor(
    readonly step: number,
    readonly quantity: string,
    readonly value: number,
    message: string,
  ) {
    super(message);
  }
}

export interface TrainerCheckpoint {
  version: 1;
  config: TrainingConfig;
  step: number;
  rng: RngState;
  dataFingerprint: string;
  modelFingerprint: string;
  history: StepMetrics[];
  adapter: Record<string, Float32Array>;
  optimizer: OptimizerState;
  /** The reference when it is not the base model (iterative DPO, TR-DPO). */
  reference?: { blocks: ReferenceBlocks['blocks']; tensors: Record<string, Float32Array> };
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called every save_steps steps and when the run stops or ends. */
  onCheckpoint?: (checkpoint: TrainerCheckpoint) => void | Promise<void>;
}

export interface RunResult {
  /** Why run() returned. */
  reason: 'done' | 'aborted';
  step: number;
  totalSteps: number;
}

export class Trainer {
  readonly method: MethodConfig;
  readonly kind: Example['kind'];
  readonly train: Example[];
  readonly test: Example[];
  readonly order: DataOrder;
  readonly totalSteps: number;
  readonly memory: TrainingMemoryEstimate;
  readonly history: StepMetrics[] = [];
  /** Optimizer steps taken. */
  stepCount = 0;
  /** Set when a step left non-finite weights: nothing may be saved from this trainer. */
  private broken: string | null = null;
  private rng: Rng;
  private readonly optimizer: LoraAdamW;
  /** Reference log-probs known so far, and each example's cache key; null: the method needs none. */
  private refs: Map<Example, RefLogps> | null = null;
  private refKeys = new Map<Example, string>();
  private refCache: RefLogpCache | null = null;
  private tokensSeen = 0;
  /** The method weights pairs by the policy's probabilities (WPO): the policy pass reads its aligned means back. */
  private readonly weighting: boolean;

  private constructor(
    readonly options: TrainerOptions,
    readonly dataFingerprint: string,
  ) {
    const c = options.config;
    this.method = methodConfig(c);
    this.kind = exampleShape(c);
    this.weighting = this.kind === 'pair' && pairLossParams(this.method).useWeighting === true;
    this.train = options.examples.filter((e) => e.split === 'train');
    this.test = options.examples.filter((e) => e.split === 'test');
    if (this.train.length === 0) throw new Error('no training examples: every usable record is in the test split or was skipped');
    if (this.kind === 'listwise') listwiseWidth(options.examples);
    this.order = new DataOrder({ seed: c.seed, examples: this.train.length, batchSize: c.per_device_train_batch_size, gradAccum: c.gradient_accumulation_steps });
    this.totalSteps = totalSteps(c, this.train.length);
    this.rng = new Rng(c.seed, DROPOUT_STREAM);
    const b = options.backend;
    const params = b.params();
    const perExample = this.kind === 'pair' ? 2 : this.kind === 'kto' ? 1 : options.examples[0]!.sequences.length;
    let longest = 1;
    for (const e of options.examples) for (const s of e.sequences) longest = Math.max(longest, s.promptIds.length + s.completionIds.length);
    const loraParameters = params.reduce((a, p) => a + p.value.size, 0);
    const rankSum = params.filter((p) => /lora_A/.test(p.name)).reduce((a, p) => a + (p.shape[0] ?? 0), 0) / Math.max(1, b.modelConfig.layers);
    const limits = b.engine.report.limits;
    // gradient_checkpointing decided here (automatic: on only when the run fits only with it);
    // this.memory.recompute is what the policy passes use.
    this.memory = resolveTrainingMemory(
      c.gradient_checkpointing,
      (recompute) => estimateTrainingMemory(b.modelConfig, b.weightBytes, loraParameters, perExample * c.per_device_train_batch_size, longest, rankSum, recompute, b.headParts),
      memoryBudget(b.engine.report, c.memory_budget_bytes),
      limits.maxStorageBufferBindingSize,
      limits.maxComputeWorkgroupsPerDimension,
    );
    if (perExample * c.per_device_eval_batch_size > limits.maxComputeWorkgroupsPerDimension) {
      throw new TrainingMemoryError(
        `an evaluation batch of ${perExample * c.per_device_eval_batch_size} sequences is more than this GPU runs at once (${limits.maxComputeWorkgroupsPerDimension} workgroups per dimension): lower per_device_eval_batch_size`,
        this.memory,
      );
    }
    this.optimizer = new LoraAdamW(b.engine, params, {
      beta1: c.adam_beta1,
      beta2: c.adam_beta2,
      eps: c.adam_epsilon,
      weightDecay: c.weight_decay,
      maxGradNorm: c.max_grad_norm,
    });
    this.optimizer.zeroGrad();
  }

  /** Checks the run fits, then fetches the cached reference log-probs (computes them all with precomputeReferences). */
  static async create(options: TrainerOptions): Promise<Trainer> {
    const t = new Trainer(options, await dataFingerprint(options.examples));
    await t.updateReferencePrint();
    await t.prepareReferences();
    return t;
  }

  /** A trainer that continues a checkpointed run exactly where it stopped. */
  static async resume(options: TrainerOptions, state: TrainerCheckpoint): Promise<Trainer> {
    if (state.version !== 1) throw new Error(`checkpoint version ${String(state.version)} is not supported`);
    if (canonicalJson(state.config) !== canonicalJson(options.config)) {
      throw new Error('the checkpoint was made with another configuration; resume with the configuration saved in it');
    }
    if (state.modelFingerprint !== options.modelFingerprint) throw new Error('the checkpoint was made on another base model');
    const fp = await dataFingerprint(options.examples);
    if (fp !== state.dataFingerprint) throw new Error('the checkpoint was made on other data (the tokenized examples differ)');
    const t = new Trainer(options, fp);
    const e = options.backend.engine;
    const params = options.backend.params();
    const known = new Set(params.map((p) => p.name));
    for (const name of Object.keys(state.adapter)) if (!known.has(name)) throw new CheckpointError(`checkpoint tensor adapter/${name} is not in this run's adapter`);
    for (const p of params) {
      const v = state.adapter[p.name];
      if (!v) throw new CheckpointError(`checkpoint has no value for ${p.name}`);
      const n = p.shape.reduce((a, b) => a * b, 1);
      for (const [what, x] of [['adapter', v], ['adam_m', state.optimizer.m[p.name]], ['adam_v', state.optimizer.v[p.name]]] as const) {
        if (!x) throw new CheckpointError(`checkpoint has no ${what} state for ${p.name}`);
        if (x.length !== n) throw new CheckpointError(`checkpoint tensor ${what}/${p.name} has ${x.length} values; its shape [${p.shape.join(', ')}] needs ${n}`);
      }
    }
    for (const p of params) e.upload(p.value, state.adapter[p.name]!);
    t.optimizer.restore(state.optimizer);
    t.stepCount = state.step;
    t.rng = new Rng(state.rng);
    for (const m of state.history) t.history.push({ ...m });
    t.tokensSeen = state.history.at(-1)?.num_tokens ?? 0;
    if (state.reference) options.backend.setReference?.({ blocks: state.reference.blocks, tensors: new Map(Object.entries(state.reference.tensors)) });
    else options.backend.setReference?.(null);
    await t.updateReferencePrint();
    await t.prepareReferences();
    return t;
  }

  /** The reference cache's model part: the base model's fingerprint, and the reference's when it is not the base. */
  private refPrint = '';

  private async updateReferencePrint(): Promise<void> {
    const ref = this.options.backend.reference?.() ?? null;
    this.refPrint = ref ? `${this.options.modelFingerprint}+ref:${await referenceFingerprint(ref)}` : this.options.modelFingerprint;
  }

  get done(): boolean {
    return this.stepCount >= this.totalSteps;
  }

  private get config(): TrainingConfig {
    return this.options.config;
  }

  private async prepareReferences(): Promise<void> {
    if (!needsReference(this.config)) return;
    const { onProgress } = this.options;
    const cache = this.options.refCache ?? new MemoryRefCache();
    const all = this.options.examples;
    this.refs = new Map();
    const keys = await Promise.all(all.map((e) => exampleKey(this.refPrint, e.sequences)));
    for (const [i, e] of all.entries()) {
      this.refKeys.set(e, keys[i]!);
      const hit = await cache.get(keys[i]!);
      // An entry that is not one (or holds NaN) is refused, naming it: never a silent Infinity loss.
      if (hit) this.refs.set(e, checkRefLogps(hit, keys[i]!, e.sequences.length));
    }
    this.refCache = cache;
    const missing = all.filter((e) => !this.refs!.has(e));
    if (!missing.length || !this.options.precomputeReferences) return;
    onProgress?.(`reference log-probs: ${all.length - missing.length} cached, computing ${missing.length}`);
    const batch = this.config.per_device_eval_batch_size;
    for (let i0 = 0; i0 < missing.length; i0 += batch) {
      await this.computeReferences(missing.slice(i0, i0 + batch));
      onProgress?.(`reference log-probs: ${Math.min(i0 + batch, missing.length)}/${missing.length}`);
    }
  }


  /** Scores `examples` with the adapter off, in one batch, and caches the results. */
  private async computeReferences(examples: readonly Example[]): Promise<void> {
    const scored = await this.options.backend.score(examples.flatMap((e) => e.sequences), { adapter: false });
    let at = 0;
    for (const e of examples) {
      const s = scored.slice(at, at + e.sequences.length);
      at += e.sequences.length;
      const ref: RefLogps = { logps: s.map((x) => x.logp), tokens: s.map((x) => x.tokens), meanLogits: s.map((x) => x.meanLogit) };
      this.refs!.set(e, ref);
      await this.refCache!.set(this.refKeys.get(e)!, ref);
    }
  }

  /** The reference log-probs of `examples` (computing those not yet known); null when the method needs none. */
  private async refsOf(examples: readonly Example[]): Promise<RefLogps[] | null> {
    const refs = this.refs;
    if (!refs) return null;
    const missing = [...new Set(examples.filter((e) => !refs.has(e)))];
    if (missing.length) await this.computeReferences(missing);
    return examples.map((e) => refs.get(e)!);
  }

  /** One optimizer step; returns its metrics (also appended to history). */
  async step(): Promise<StepMetrics> {
    if (this.done) throw new Error(`the run is complete (${this.totalSteps} steps)`);
    const { backend } = this.options;
    const e = backend.engine;
    const t0 = performance.now();
    const plan = this.order.plan(this.stepCount);
    const lr = learningRate(this.config, this.stepCount, this.totalSteps);
    const parts: MicroBatchLoss[] = [];
    let tokens = 0;
    for (const ids of plan.microBatches) {
      const examples = ids.map((i) => this.train[i]!);
      const seqs = microBatchSequences(this.kind, examples);
      tokens += seqs.reduce((a, s) => a + s.promptIds.length + s.completionIds.length, 0);
      const dropoutSeed = this.rng.nextU32();
      const refs = await this.refsOf(examples);
      const policyKL = this.kind === 'kto' ? await this.klLogps(examples) : undefined;
      const pass = await backend.policy(seqs, { dropoutSeed, aligned: this.weighting, recompute: this.memory.recompute });
      try {
        const loss = await microBatchLoss(e, this.method, {
          kind: this.kind,
          examples,
          policy: pass.logps,
          tokens: pass.tokens,
          refs,
          policyKL,
          meanLogits: pass.meanLogits,
          alignedMeans: pass.alignedMeans,
          tailLogps: pass.tailLogps,
          dloss: 1 / plan.microBatches.length,
        });
        pass.backward(loss.dlogps, loss.dtail);
        e.release(loss.dlogps, loss.dtail);
        parts.push(loss);
      } finally {
        pass.release();
      }
    }
    // Finite numbers or a stop: the loss and the gradient norm before the update (the state is
    // still the last good one then), the weights after it.
    const stepNo = this.stepCount + 1;
    const loss = aggregateMetrics(this.method, parts).loss;
    if (loss !== undefined && !Number.isFinite(loss)) {
      this.optimizer.zeroGrad();
      throw this.nonFinite(stepNo, 'the loss', loss);
    }
    const gradNorm = await this.optimizer.clipNorm();
    if (!Number.isFinite(gradNorm)) {
      this.optimizer.zeroGrad();
      throw this.nonFinite(stepNo, 'the gradient norm (grad_norm)', gradNorm);
    }
    this.optimizer.update(lr);
    const weightNorm = await this.optimizer.valueNorm();
    if (!Number.isFinite(weightNorm)) {
      // Name the tensor (and tell a norm that overflowed from a value that did).
      for (const p of this.optimizer.params) {
        const values = await e.readF32(p.value);
        const i = firstNonFinite(values);
        if (i >= 0) {
          this.broken = `its LoRA weights are not finite since step ${stepNo}`;
          throw this.nonFinite(stepNo, `LoRA weight ${p.name} after the update`, values[i]!);
        }
      }
    }
    this.stepCount += 1;
    const c = this.config;
    if (c.sync_ref_model && this.stepCount % (c.ref_model_sync_steps ?? 512) === 0) {
      // TR-DPO (TRL's SyncRefModelCallback, after the optimizer step): a new reference, new keys.
      if (!this.options.backend.syncReference) throw new Error('sync_ref_model: this backend cannot move its reference');
      await this.options.backend.syncReference(c.ref_model_mixup_alpha ?? 0.6);
      await this.updateReferencePrint();
      this.refKeys = new Map();
      await this.prepareReferences();
    }
    this.tokensSeen += tokens;
    const ms = performance.now() - t0;
    const m: StepMetrics = {
      ...aggregateMetrics(this.method, parts),
      grad_norm: gradNorm,
      learning_rate: lr,
      epoch: this.order.epochAfter(this.stepCount),
      num_tokens: this.tokensSeen,
      tokens_per_second: tokens / (ms / 1000),
      step_time_ms: ms,
      gpu_memory_bytes: e.pool.stats.bytesAllocated,
      gpu_memory_peak_bytes: e.pool.stats.peakBytesAllocated,
      step: this.stepCount,
    };
    const every = this.config.eval_steps;
    if (this.test.length > 0 && ((every !== null && this.stepCount % every === 0) || this.done)) {
      Object.assign(m, await this.evaluate());
    }
    this.history.push(m);
    return m;
  }

  /** The stop for a NaN or an infinity at step `step`, with its likely cause. */
  private nonFinite(step: number, quantity: string, value: number): NonFiniteTrainingError {
    const lr = this.config.learning_rate;
    const causes = quantity.startsWith('LoRA weight')
      ? [`the learning rate ${lr} is too high, as AdamW moves each weight by about the learning rate per step`]
      : [
          step > 1 ? `the learning rate ${lr}, if the weights grew too large at earlier steps` : `the learning rate ${lr}`,
          'the data, an example the model finds impossible or extreme settings such as beta',
          ...(needsReference(this.config) ? ['the reference log-probs, from a damaged reference cache'] : []),
        ];
    return new NonFiniteTrainingError(
      step,
      quantity,
      value,
      `step ${step}: ${quantity} is ${nonFiniteName(value)}, so training stopped there; likely cause: ${causes.join('; or ')}`,
    );
  }

  private async klLogps(examples: readonly Example[]): Promise<number[]> {
    const r = await this.options.backend.score(examples.map((e) => e.sequences[1]!), { adapter: true });
    return r.map((x) => x.logp);
  }

  /**
   * Loss and metrics on `examples` (default: the test split) with the adapter as it is, in
   * batches of per_device_eval_batch_size, no dropout; names prefixed with `prefix`.
   */
  async evaluate(examples: readonly Example[] = this.test, prefix = 'eval_'): Promise<Metrics> {
    const parts = await this.lossOver(examples, null);
    const m = aggregateMetrics(this.method, parts);
    return Object.fromEntries(Object.entries(m).map(([k, v]) => [prefix + k, v]));
  }

  /**
   * Accumulates into the LoRA gradients the gradient of the mean loss over `examples` (each
   * batch weighted by its share of the examples; exact for one batch), without stepping, and
   * returns the loss and metrics. The gradients are left in the adapter's grad tensors.
   */
  async gradients(examples: readonly Example[]): Promise<Metrics> {
    this.optimizer.zeroGrad();
    const parts = await this.lossOver(examples, examples.length);
    return aggregateMetrics(this.method, parts);
  }

  /** Runs the loss over examples in eval batches; with `gradOver`, backward with dloss = B / gradOver. */
  private async lossOver(examples: readonly Example[], gradOver: number | null): Promise<MicroBatchLoss[]> {
    const { backend } = this.options;
    const e = backend.engine;
    const parts: MicroBatchLoss[] = [];
    const batch = this.config.per_device_eval_batch_size;
    for (let i0 = 0; i0 < examples.length; i0 += batch) {
      const chunk = examples.slice(i0, i0 + batch);
      const seqs = microBatchSequences(this.kind, chunk);
      const refs = await this.refsOf(chunk);
      const policyKL = this.kind === 'kto' ? await this.klLogps(chunk) : undefined;
      if (gradOver === null) {
        const scored = await backend.score(seqs, { adapter: true });
        const policy = e.fromArray(Float32Array.from(scored, (s) => s.logp), [seqs.length], 'f32', 'eval.policy');
        try {
          const loss = await microBatchLoss(e, this.method, {
            kind: this.kind,
            examples: chunk,
            policy,
            tokens: scored.map((s) => s.tokens),
            refs,
            policyKL,
            meanLogits: scored.map((s) => s.meanLogit),
            alignedMeans: scored.map((s) => s.alignedMean),
            tailLogps: scored.map((s) => s.tailLogp),
            dloss: 0,
          });
          e.release(loss.dlogps, loss.dtail);
          parts.push(loss);
        } finally {
          e.release(policy);
        }
      } else {
        const pass = await backend.policy(seqs, { dropoutSeed: null, aligned: this.weighting, recompute: this.memory.recompute });
        try {
          const loss = await microBatchLoss(e, this.method, {
            kind: this.kind,
            examples: chunk,
            policy: pass.logps,
            tokens: pass.tokens,
            refs,
            policyKL,
            meanLogits: pass.meanLogits,
            alignedMeans: pass.alignedMeans,
            tailLogps: pass.tailLogps,
            dloss: chunk.length / gradOver,
          });
          pass.backward(loss.dlogps, loss.dtail);
          e.release(loss.dlogps, loss.dtail);
          parts.push(loss);
        } finally {
          pass.release();
        }
      }
    }
    return parts;
  }

  /**
   * Steps until the run is complete or `signal` aborts (checked between steps: a step is never
   * cut in half). A checkpoint goes to onCheckpoint every save_steps and when run() returns.
   */
  async run(onMetrics: (m: StepMetrics) => void, options: RunOptions = {}): Promise<RunResult> {
    const { signal, onCheckpoint } = options;
    let saved = -1;
    while (!this.done && !signal?.aborted) {
      const m = await this.step();
      onMetrics(m);
      if (onCheckpoint && this.stepCount % this.config.save_steps === 0) {
        await onCheckpoint(await this.checkpoint());
        saved = this.stepCount;
      }
    }
    if (onCheckpoint && saved !== this.stepCount) await onCheckpoint(await this.checkpoint());
    return { reason: this.done ? 'done' : 'aborted', step: this.stepCount, totalSteps: this.totalSteps };
  }

  /** The adapter's current values, read back (for PEFT files and checkpoints); never non-finite ones. */
  async adapterTensors(): Promise<HostTensor[]> {
    if (this.broken) throw new NonFiniteError(`the trainer cannot save: ${this.broken}`);
    const e = this.options.backend.engine;
    const out: HostTensor[] = [];
    for (const p of this.optimizer.params) {
      const data = await e.readF32(p.value);
      assertFinite(`LoRA weight ${p.name}`, data, ': not saved');
      out.push({ name: p.name, shape: [...p.shape], data });
    }
    return out;
  }

  /** The adapter's gradients, read back (eval --grads). */
  async gradientTensors(): Promise<HostTensor[]> {
    const e = this.options.backend.engine;
    const out: HostTensor[] = [];
    for (const p of this.optimizer.params) out.push({ name: p.name, shape: [...p.shape], data: await e.readF32(p.grad) });
    return out;
  }

  async checkpoint(): Promise<TrainerCheckpoint> {
    const ref = this.options.backend.reference?.() ?? null;
    const adapter: Record<string, Float32Array> = {};
    for (const t of await this.adapterTensors()) adapter[t.name] = t.data;
    return {
      version: 1,
      config: this.config,
      step: this.stepCount,
      rng: this.rng.state,
      dataFingerprint: this.dataFingerprint,
      modelFingerprint: this.options.modelFingerprint,
      history: this.history.map((m) => ({ ...m })),
      adapter,
      optimizer: await this.optimizer.state(),
      ...(ref ? { reference: { blocks: ref.blocks.map((b) => ({ ...b })), tensors: Object.fromEntries([...ref.tensors].map(([n, t]) => [n, t.slice()])) } } : {}),
    };
  }

  /** Frees the optimizer's GPU state (the adapter belongs to the caller). */
  destroy(): void {
    this.optimizer.destroy();
    this.options.backend.release?.();
  }
}

/** JSON with object keys sorted: the same settings in any key order give the same text. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

/** Stream 2 of the seed: LoRA dropout seeds (stream 1 is the data order). */
const DROPOUT_STREAM = 2;

/** Identifies the tokenized examples and their splits. */
export async function dataFingerprint(examples: readonly Example[]): Promise<string> {
  const words: number[] = [];
  for (const e of examples) {
    words.push(e.split === 'train' ? 0 : 1, e.label === undefined ? 2 : e.label ? 1 : 0, e.sequences.length);
    for (const s of e.sequences) pushSequenceWords(words, s);
  }
  return sha256Hex(new Uint8Array(Int32Array.from(words).buffer));
}

// ---- checkpoint bytes: a safetensors file, the tensors as tensors and the rest as JSON metadata ----

const CKPT_FORMAT = 'prefstudio-checkpoint-v1';

export function encodeCheckpoint(c: TrainerCheckpoint): Uint8Array {
  const tensors: HostTensor[] = [];
  for (const [name, data] of Object.entries(c.adapter)) tensors.push({ name: `adapter/${name}`, shape: [data.length], data });
  for (const [name, data] of Object.entries(c.optimizer.m)) tensors.push({ name: `adam_m/${name}`, shape: [data.length], data });
  for (const [name, data] of Object.entries(c.optimizer.v)) tensors.push({ name: `adam_v/${name}`, shape: [data.length], data });
  for (const [name, data] of Object.entries(c.reference?.tensors ?? {})) tensors.push({ name: `reference/${name}`, shape: [data.length], data });
  const { adapter: _a, optimizer, reference, ...rest } = c;
  const state = JSON.stringify({ ...rest, optimizerSteps: optimizer.steps, ...(reference ? { referenceBlocks: reference.blocks } : {}) });
  return writeSafetensors(tensors, { format: CKPT_FORMAT, state });
}

/** A checkpoint that cannot be resumed: not one, damaged, or crafted; the message says what. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

/**
 * Reads a checkpoint and checks everything in it before anything uses it: its state (version,
 * step, RNG, fingerprints, history), its settings through the same validation as the command line
 * (parseTrainingConfig), and its tensors (adapter and AdamW moments by the same names, 1-D, every
 * value finite). Their sizes are checked against the adapter by Trainer.resume.
 */
export function decodeCheckpoint(bytes: Uint8Array, label = 'checkpoint'): TrainerCheckpoint {
  const fail = (why: string): never => {
    throw new CheckpointError(`${label}: ${why}`);
  };
  let f: ReturnType<typeof readSafetensors>;
  try {
    f = readSafetensors(bytes, label);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const state = f.metadata.state;
  if (f.metadata.format !== CKPT_FORMAT || typeof state !== 'string') return fail('not a PrefStudio checkpoint');
  let raw: unknown;
  try {
    raw = JSON.parse(state);
  } catch (e) {
    return fail(`its state is not JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('its state is not an object');
  const st = raw as Record<string, unknown>;
  const count = (k: string) => {
    const x = st[k];
    if (!(Number.isSafeInteger(x) && (x as number) >= 0)) fail(`its ${k} is ${JSON.stringify(x) ?? 'missing'}, not a count`);
    return x as number;
  };
  if (st.version !== 1) fail(`version ${JSON.stringify(st.version) ?? 'missing'} is not supported`);
  const step = count('step');
  const optimizerSteps = count('optimizerSteps');
  for (const k of ['dataFingerprint', 'modelFingerprint'] as const) if (typeof st[k] !== 'string') fail(`its ${k} is not a string`);
  const rng = st.rng;
  if (!(Array.isArray(rng) && rng.length === 4 && rng.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff))) fail('its RNG state is not four 32-bit unsigned integers');
  const history = st.history;
  if (!Array.isArray(history) || history.some((h) => typeof h !== 'object' || h === null || Array.isArray(h))) fail('its history is not a list of metric objects');
  let config: TrainingConfig;
  try {
    config = parseTrainingConfig(st.config);
  } catch (e) {
    if (!(e instanceof TrainingConfigError)) throw e;
    return fail(`its settings are invalid: ${e.issues.map((i) => `${i.field || '(config)'}: ${i.reason}`).join('; ')}`);
  }
  const adapter: Record<string, Float32Array> = {};
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  const referenceTensors: Record<string, Float32Array> = {};
  const groups: Record<string, Record<string, Float32Array>> = { adapter, adam_m: m, adam_v: v, reference: referenceTensors };
  for (const [name, t] of f.tensors) {
    const slash = name.indexOf('/');
    const group = slash > 0 ? groups[name.slice(0, slash)] : undefined;
    if (!group || !Object.hasOwn(groups, name.slice(0, slash))) fail(`tensor ${name} is not adapter/, adam_m/ or adam_v/ state`);
    if (t.shape.length !== 1) fail(`tensor ${name} has shape [${t.shape.join(', ')}], expected one dimension`);
    assertFinite(`${label}: tensor ${name}`, t.data, ': the checkpoint was saved from a broken state; refused');
    group![name.slice(slash + 1)] = t.data;
  }
  // AdamW moments may be absent (a checkpoint read for its adapter); resume() requires them.
  for (const key of Object.keys(adapter)) {
    for (const [g, values] of [['adam_m', m], ['adam_v', v]] as const) {
      if (values[key] && values[key].length !== adapter[key]!.length) fail(`tensor ${g}/${key} has ${values[key].length} values, adapter/${key} ${adapter[key]!.length}`);
    }
  }
  for (const key of [...Object.keys(m), ...Object.keys(v)]) if (!adapter[key]) fail(`tensor adapter/${key} is missing (its AdamW state is there)`);
  return {
    version: 1,
    config,
    step,
    rng: rng as RngState,
    dataFingerprint: st.dataFingerprint as string,
    modelFingerprint: st.modelFingerprint as string,
    history: history as StepMetrics[],
    adapter,
    optimizer: { steps: optimizerSteps, m, v },
    ...referenceOf(st.referenceBlocks, referenceTensors, fail),
  };
}

/** A checkpoint's reference (iterative DPO, TR-DPO): its blocks (ranks and weights) and tensors, checked. */
function referenceOf(blocks: unknown, tensors: Record<string, Float32Array>, fail: (why: string) => never): Pick<TrainerCheckpoint, 'reference'> {
  const names = Object.keys(tensors);
  if (blocks === undefined) {
    if (names.length) fail('it has reference/ tensors but no reference blocks');
    return {};
  }
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.some((b) => typeof b !== 'object' || b === null || !Number.isSafeInteger(b.rank) || b.rank < 1 || !(typeof b.weight === 'number' && Number.isFinite(b.weight)))) {
    fail('its reference blocks are not a list of {rank, weight}');
  }
  if (!names.length) fail('it names reference blocks but has no reference/ tensors');
  return { reference: { blocks: (blocks as { rank: number; weight: number }[]).map((b) => ({ rank: b.rank, weight: b.weight })), tensors } };
}
