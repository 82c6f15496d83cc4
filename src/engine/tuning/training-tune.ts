// What a LoRA training run asks of the tuner, in one place for the CLI (`prefstudio train`) and
// the engine Worker (a run started from the Train page): the kernels a step dispatches and the
// rows they are measured at.
import type { TunedKernel } from './variants.js';

/**
 * The kernels of a LoRA training step: the base's linear layers forward and their input gradient
 * (the frozen base has no weight gradient), attention both ways, the LM head's log-softmax and
 * the adapter's three passes (measured at the run's rank). A block-quantized base adds its
 * forward and input-gradient kernels (kernelsForModel).
 */
export const TRAINING_TUNED_KERNELS: readonly TunedKernel[] = [
  'matmul_forward', 'matmul_dinp', 'attention_forward', 'attention_backward', 'logprobs_forward', 'lora_xa', 'lora_dyb', 'lora_grad',
];

/**
 * Rows the products are measured at: one batch of pairs (chosen + rejected) at up to 256
 * tokens; products at other row counts take the nearest measured class (KernelChoices.name).
 */
export function trainingTuneRows(batchSize: number, maxLength: number | null | undefined): number {
  return batchSize * 2 * Math.min(maxLength ?? 256, 256);
}
