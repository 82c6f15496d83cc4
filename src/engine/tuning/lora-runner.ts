// The tuner on a real Engine for the LoRA passes (src/engine/kernels/lora.ts) and the LM head's
// log-softmax (src/engine/kernels/logprobs.ts), as attention-runner.ts (both on
// variant-runner.ts): a model's calls of each at the tuner's rows, each applicable variant
// compiled inside error scopes, run once and compared with the safe kernel's result, then timed.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import type { TransformerConfig } from '../transformer/config.js';
import { headChunkRows } from '../transformer/head-chunk.js';
import { loraDyB, loraGrad, loraXa } from '../kernels/lora.js';
import { logprobsForward } from '../kernels/logprobs.js';
import type { TuneTask } from './tuner.js';
import { applicableVariants, shapeClass, type TunedKernel } from './variants.js';
import { VariantTuneRunner, type Operands } from './variant-runner.js';

export type LoraKernel = 'lora_xa' | 'lora_dyb' | 'lora_grad' | 'logprobs_forward';

export function isLoraOrHeadKernel(kernel: TunedKernel): kernel is LoraKernel {
  return kernel === 'lora_xa' || kernel === 'lora_dyb' || kernel === 'lora_grad' || kernel === 'logprobs_forward';
}

/** One LoRA linear layer: x (M, C) -> (M, OC) with rank R. */
export interface LoraShape {
  M: number;
  C: number;
  OC: number;
  R: number;
}

/** The LM head's log-softmax over `rows` rows of V logits. */
export interface LogprobsShape {
  rows: number;
  V: number;
}

/**
 * One call as the kernels ask engine.choices: (M, K, N) = lora_xa (M, C, R), lora_dyb (M, OC, R),
 * lora_grad (M, P, Q) (dA: (M, R, C), dB: (M, OC, R)), logprobs_forward (rows, V, 1).
 */
interface LoraTask extends TuneTask {
  kernel: LoraKernel;
  M: number;
  K: number;
  N: number;
}

/** A model's LoRA layers at M rows and rank R: its linear layers but the LM head (q, k/v, o, MLP). */
export function modelLoraShapes(cfg: TransformerConfig, M: number, R: number): LoraShape[] {
  const C = cfg.hidden;
  const q = cfg.heads * cfg.headDim;
  const kv = cfg.kvHeads * cfg.headDim;
  const pairs: [number, number][] = [[C, q], [C, kv], [q, C], [C, cfg.intermediate], [cfg.intermediate, C]];
  const seen = new Set<string>();
  return pairs.filter(([c, oc]) => !seen.has(`${c}x${oc}`) && (seen.add(`${c}x${oc}`), true)).map(([c, oc]) => ({ M, C: c, OC: oc, R }));
}

/**
 * The LM head's log-softmax at M rows: in chunks of at most 32 MiB of logits, as the logprobs and
 * training paths push rows through the head (src/engine/transformer/logprobs.ts, train-logprobs.ts).
 */
export function modelLogprobsShapes(cfg: TransformerConfig, M: number): LogprobsShape[] {
  return [{ rows: headChunkRows(cfg.vocabSize, M), V: cfg.vocabSize }];
}

/** One task per (kernel, shape class) of these calls, with the adapter's applicable variants. */
export function loraTuneTasks(engine: Engine, lora: LoraShape[], logprobs: LogprobsShape[], kernels: readonly TunedKernel[]): TuneTask[] {
  const tasks = new Map<string, LoraTask>();
  const add = (kernel: LoraKernel, M: number, K: number, N: number, label: string) => {
    if (!kernels.includes(kernel)) return;
    const cls = shapeClass(M, K, N);
    if (tasks.has(`${kernel}|${cls}`)) return;
    tasks.set(`${kernel}|${cls}`, { kernel, shapeClass: cls, M, K, N, label, variants: applicableVariants(kernel, engine.report).map((v) => v.name) });
  };
  for (const { M, C, OC, R } of lora) {
    add('lora_xa', M, C, R, `lora_xa M=${M} C=${C} R=${R}`);
    add('lora_dyb', M, OC, R, `lora_dyb M=${M} OC=${OC} R=${R}`);
    add('lora_grad', M, R, C, `lora_grad dA M=${M} R=${R} C=${C}`);
    add('lora_grad', M, OC, R, `lora_grad dB M=${M} OC=${OC} R=${R}`);
  }
  for (const { rows, V } of logprobs) add('logprobs_forward', rows, V, 1, `logprobs_forward rows=${rows} V=${V}`);
  return [...tasks.values()];
}

/** Runs the LoRA and log-softmax variants of a task on `engine` (see VariantTuneRunner). */
export class LoraTuneRunner extends VariantTuneRunner<LoraTask> {
  protected makeOperands(task: LoraTask): Operands {
    const { M, K, N } = task;
    const e = this.engine;
    if (task.kernel === 'logprobs_forward') {
      // Logits in [-1, 1), targets spread over the vocabulary.
      const logits = this.input(M * K, 1, 'logits');
      const targets = e.fromArray(Int32Array.from({ length: M }, (_, i) => (i * 7919) % K), [M], 'i32', 'tune.targets');
      const out = () => e.tensor([M], 'f32', 'tune.out');
      return { logits, targets, logp: out(), lse: out(), logitSum: out(), aligned: out() };
    }
    // xa, dyb: in (M, K) · weight -> (M, N); grad: X (M, K)ᵀ · Y (M, N) -> (K, N).
    const [inN, wN, outN] = task.kernel === 'lora_grad' ? [M * K, M * N, K * N] : [M * K, K * N, M * N];
    return { inp: this.input(inN, 1, 'inp'), w: this.input(wN, 2, 'w'), out: e.tensor([outN], 'f32', 'tune.out') };
  }

  protected run(task: LoraTask, variant: string, t: Operands): Tensor[] {
    const { M, K, N } = task;
    const e = this.engine;
    switch (task.kernel) {
      case 'logprobs_forward':
        logprobsForward(e, t.logp!, t.lse!, t.logitSum!, t.aligned!, t.logits!, t.targets!, M, K, undefined, { variant });
        return [t.logp!, t.lse!, t.logitSum!, t.aligned!];
      case 'lora_xa':
        loraXa(e, t.out!, t.inp!, t.w!, M, K, N, { scale: 0.5, variant });
        return [t.out!];
      case 'lora_dyb':
        loraDyB(e, t.out!, t.inp!, t.w!, M, K, N, { scale: 0.5, variant });
        return [t.out!];
      case 'lora_grad':
        loraGrad(e, t.out!, t.inp!, t.w!, M, K, N, { accumulate: false, variant });
        return [t.out!];
    }
  }
}
