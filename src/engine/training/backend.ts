// The trainer's view of a TransformerModel with a LoRA adapter plugged in: the policy forward
// and backward of transformer/train-logprobs.ts, and forward-only scoring through
// transformer/logprobs.ts with the adapter switched on (policy) or off (reference model). A
// reference that is not the base (reference.ts: the previous round's policy, TR-DPO's mix) is a
// second adapter, attached in the policy's place while the reference scores.

import { planLora, type LoraAdapter, type LoraConfig } from '../lora/adapter.js';
import { createReferenceAdapter, mixReference, type ReferenceBlocks } from './reference.js';
import type { LoraSettings } from './config.js';
import { sequenceLogprobs, type SequenceLogprob, type SequencePair } from '../transformer/logprobs.js';
import type { TransformerModel } from '../transformer/model.js';
import { policyLogprobs } from '../transformer/train-logprobs.js';
import type { PolicyPass, TrainingBackend } from './trainer.js';
import type { TrainableParam } from './optimizer.js';

export function loraBackend(model: TransformerModel, adapter: LoraAdapter, weightBytes: number, reference: ReferenceBlocks | null = null): TrainingBackend {
  const e = model.engine;
  let ref: ReferenceBlocks | null = null;
  let refAdapter: LoraAdapter | null = null;
  const setReference = (r: ReferenceBlocks | null) => {
    refAdapter?.destroy();
    refAdapter = null;
    ref = r;
    if (!r) return;
    const was = adapter.isAttached;
    adapter.detach();
    try {
      refAdapter = createReferenceAdapter(model, r, adapter);
    } finally {
      if (was) adapter.attach();
    }
  };
  setReference(reference);
  return {
    engine: e,
    modelConfig: model.config,
    weightBytes,
    headParts: model.headPartCount,
    async policy(batch: SequencePair[], options: { dropoutSeed: number | null; aligned?: boolean; recompute?: boolean }): Promise<PolicyPass> {
      const pl = await policyLogprobs(model, adapter, batch, { dropoutSeed: options.dropoutSeed, activationRecompute: options.recompute ?? false });
      // The mean logits are a metric and the aligned means WPO's weights (no gradient): read them
      // now (small), so the pass keeps only GPU work.
      const meanLogits = await e.readF32(pl.meanLogits);
      const alignedMeans = options.aligned ? await e.readF32(pl.alignedMeans) : undefined;
      // LD-DPO tails: the unweighted tail sums, for the sft term (TRL's plain NLL).
      const tailLogps = pl.tailLogps ? await e.readF32(pl.tailLogps) : undefined;
      return { logps: pl.logps, tokens: pl.counts, meanLogits, alignedMeans, tailLogps, backward: (d, dtail) => pl.backward(d, dtail), release: () => pl.release() };
    },
    async score(batch: SequencePair[], options: { adapter: boolean }): Promise<SequenceLogprob[]> {
      if (!options.adapter && refAdapter) {
        const attached = adapter.isAttached;
        adapter.detach();
        refAdapter.attach();
        try {
          return await sequenceLogprobs(model, batch);
        } finally {
          refAdapter.detach();
          if (attached) adapter.attach();
        }
      }
      const was = adapter.enabled;
      adapter.enabled = options.adapter;
      try {
        return await sequenceLogprobs(model, batch);
      } finally {
        adapter.enabled = was;
      }
    },
    params(): TrainableParam[] {
      return adapter.params();
    },
    reference: () => ref,
    setReference,
    async syncReference(alpha: number): Promise<void> {
      const maxRank = planLora(model, adapter.config).maxUsefulRank;
      setReference(mixReference(ref, await adapter.save(), adapter.r, adapter.scale, alpha, maxRank));
    },
    release(): void {
      refAdapter?.destroy();
      refAdapter = null;
    },
  };
}

/** The LoRA adapter's settings from a run's PEFT-named ones; A's initialisation follows the run's seed. */
export function loraAdapterConfig(lora: LoraSettings, seed: number): LoraConfig {
  return {
    r: lora.r,
    alpha: lora.lora_alpha,
    dropout: lora.lora_dropout,
    useRslora: lora.use_rslora,
    targetModules: lora.target_modules,
    seed,
  };
}
