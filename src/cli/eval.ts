// `prefstudio eval --model <dir> --adapter <dir> --data <file> --method <name> [--beta ...]
//  --out <metrics.json> [--grads <file.safetensors>]`: the loss and TRL metrics of a PEFT adapter
// on a dataset, without updating it (no dropout: evaluation mode). Every record of the file
// counts, whatever its split, in batches of --batch-size (default: all examples in one batch).
//   metrics.json: {"loss": ..., "rewards/chosen": ..., ... (TRL names), "num_examples": n,
//                  "num_skipped": k, "method": "...", "config": {...}}
//   --grads: the gradient of the mean loss over the examples by every LoRA tensor, under the
//            adapter's PEFT names (adapter_model.safetensors layout). With several batches each
//            batch's loss is weighted by its share of the examples (the metrics are TRL's mean
//            over batches); they agree exactly with one batch.
// Both outputs are checked before anything is read (not an input, not over a file without
// --force) and written atomically (src/cli/output.ts).

import { inflateLimitsHelp } from '../data/io/limits.js';
import { formatBytes } from '../engine/model/errors.js';
import { exampleShape, type TrainingConfig } from '../engine/training/config.js';
import { estimateTrainingMemory } from '../engine/training/memory.js';
import { memoryBudget } from '../engine/gpu/budget.js';
import type { Example } from '../engine/training/tokenize.js';
import { writeSafetensors } from '../engine/training/peft.js';
import { Trainer } from '../engine/training/trainer.js';
import {
  UsageError,
  configFrom,
  dirRefCache,
  err,
  flagsHelp,
  methodsHelp,
  openSession,
  parseFlags,
  readModel,
  readPeftAdapter,
  readRecords,
  runCommand,
  sessionTrainerOptions,
  tokenizeForRun,
  type Session,
} from './train.js';
import { planOutputs, writeOutputFile } from './output.js';
import { modelInput } from './hub-model.js';
import { DTYPE_BUDGET_USAGE, F16_WEIGHTS_USAGE } from './input.js';

const USAGE = `usage: prefstudio eval --model <dir> --adapter <dir> --data <file> --method <name> --out <metrics.json> [options]

  --model <dir or org/name>  the base model folder, or a Hugging Face Hub id (fetched once into
                             PREFSTUDIO_CACHE)
  --adapter <dir>            a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors)
  --data <file>              preference data in any format convert reads; every record counts
  --method <name>            one of the methods below
  --out <metrics.json>       loss and metrics, TRL's names
  --grads <file>             also write d(mean loss)/d(every LoRA tensor) as safetensors (PEFT names)
  --force                    replace --out and --grads if they exist
  --ref-cache <dir>          keep reference log-probs here between runs
  --onnx <file>              the .onnx file of the folder to use
${DTYPE_BUDGET_USAGE}
${F16_WEIGHTS_USAGE}

objective and length settings (the LoRA settings come from the adapter; --batch-size is the
evaluation batch, default all examples at once, or the largest batch that fits):

${flagsHelp()}

methods:
${methodsHelp()}

${inflateLimitsHelp()}`;

/** The largest batch (1 .. all examples) whose training-memory estimate fits the budget and the device. */
function largestFittingBatch(session: Session, config: TrainingConfig, examples: readonly Example[]): number {
  const c = session.model.config;
  const shape = exampleShape(config);
  let perExample = shape === 'pair' ? 2 : 1;
  let longest = 1;
  for (const e of examples) {
    if (shape === 'listwise') perExample = Math.max(perExample, e.sequences.length);
    for (const s of e.sequences) longest = Math.max(longest, s.promptIds.length + s.completionIds.length);
  }
  const params = session.adapter.params();
  const rankSum = params.filter((p) => /lora_A/.test(p.name)).reduce((a, p) => a + p.shape[0], 0) / Math.max(1, c.layers);
  const { maxStorageBufferBindingSize: maxBinding, maxComputeWorkgroupsPerDimension: maxGroups } = session.engine.report.limits;
  const budget = memoryBudget(session.engine.report, config.memory_budget_bytes).bytes;
  const fits = (b: number) => {
    const m = estimateTrainingMemory(c, session.weightBytes, session.adapter.parameterCount, perExample * b, longest, rankSum, false, session.model.headPartCount);
    return m.total <= budget && m.largestBuffer.bytes <= maxBinding && perExample * b <= maxGroups;
  };
  if (fits(examples.length)) return examples.length;
  let lo = 1;
  let hi = examples.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function run(args: string[]): Promise<number> {
  return runCommand('eval', USAGE, args, (a) => evaluate(a, 'eval'));
}

async function evaluate(args: string[], tag: string): Promise<number> {
  const p = parseFlags(args, ['--model', '--adapter', '--data', '--method', '--out', '--grads', '--ref-cache', '--onnx', '--dtype'], ['--force', '--f16-weights']);
  for (const k of ['--model', '--adapter', '--data', '--method', '--out'] as const) if (!p.plain[k]) throw new UsageError(`${k} is required`);
  const lora = p.given.filter((f) => f.startsWith('--lora-') || f === '--targets' || f === '--rslora');
  if (lora.length) throw new UsageError(`the LoRA settings come from --adapter; drop ${lora.join(', ')}`);
  const [outPlan, gradsPlan] = await planOutputs(
    [{ flag: '--out', path: p.plain['--out']!, kind: 'file' }, ...(p.plain['--grads'] ? [{ flag: '--grads', path: p.plain['--grads'], kind: 'file' as const }] : [])],
    { force: p.switches.has('--force'), inputs: [await modelInput(p.plain['--model']), ['--adapter', p.plain['--adapter']], ['--data', p.plain['--data']], ['--ref-cache', p.plain['--ref-cache']]] },
  );
  const adapterDir = p.plain['--adapter']!;
  const peft = await readPeftAdapter(adapterDir);
  const data = p.plain['--data']!;
  const records = await readRecords(data, tag);
  const batch = (p.config.per_device_train_batch_size as number | undefined) ?? (p.config.per_device_eval_batch_size as number | undefined);
  const settings = (size: number) =>
    configFrom({ ...p.config, method: p.plain['--method'], lora: peft.lora, per_device_train_batch_size: size, per_device_eval_batch_size: size });
  // Without --batch-size every example goes in one batch (KTO's KL pairs then span them all);
  // everything counts as one set, whatever its split.
  const first = settings(batch ?? 1_000_000_000);
  const loaded = await readModel(p.plain['--model']!, tag, p.plain['--onnx'], p.plain['--dtype'], p.switches.has('--f16-weights'), first.memory_budget_bytes);
  const examples = tokenizeForRun(records, loaded, first, tag, data).map((e) => ({ ...e, split: 'train' as const }));
  let config = batch ? first : settings(examples.length);
  const session = await openSession(loaded, config, tag, adapterDir);
  try {
    if (!batch) {
      // One batch when it fits; otherwise the largest batch that does (checked before any activation exists).
      const size = largestFittingBatch(session, config, examples);
      if (size < examples.length) {
        err(`${tag}: ${examples.length} examples do not fit in one batch on this GPU's budget; batches of ${size} (give --batch-size to choose)`);
        config = settings(size);
      }
    }
    const refCache = p.plain['--ref-cache'] ? dirRefCache(p.plain['--ref-cache']) : undefined;
    const trainer = await Trainer.create(await sessionTrainerOptions(session, loaded, config, examples, tag, refCache));
    err(`${tag}: ${examples.length} examples in batches of ${config.per_device_eval_batch_size}; estimated GPU memory ${formatBytes(trainer.memory.total)}`);
    const grads = p.plain['--grads'];
    const metrics = grads ? await trainer.gradients(examples) : await trainer.evaluate(examples, '');
    if (gradsPlan) await writeOutputFile(gradsPlan, writeSafetensors(await trainer.gradientTensors()));
    trainer.destroy();
    const used = new Set(examples.map((e) => e.record)).size;
    const report = { ...metrics, num_examples: examples.length, num_skipped: records.length - used, method: config.method, adapter: adapterDir, config };
    await writeOutputFile(outPlan!, JSON.stringify(report, null, 2) + '\n');
    err(`${tag}: loss ${metrics.loss?.toFixed(6)}${metrics['rewards/accuracies'] !== undefined ? `, rewards/accuracies ${metrics['rewards/accuracies'].toFixed(3)}` : ''}; wrote ${p.plain['--out']}${grads ? ` and ${grads}` : ''}`);
    return 0;
  } finally {
    session.close();
  }
}
