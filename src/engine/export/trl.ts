// Hand-off to TRL, for when a run outgrows the browser: one folder with the dataset in TRL's
// format (src/data/export), recipe.json (the run's method and hyperparameters under TRL's and
// PEFT's own names), train.py (trl + peft: the same trainer, loss, LoRA and seed), an accelerate
// config for DeepSpeed ZeRO-2 on several GPUs, and a README with the commands and how to bring
// the adapter back. Methods TRL has no trainer for (listwise, step_dpo) are refused, naming why.
// The base model is named by its Hugging Face Hub id (src/hub-id.ts), never by a local path: the
// folder runs on another machine, where from_pretrained downloads the model.

import { TrlExporter, type ExportStyle, type SkippedRecord } from '../../data/export/trl.js';
import type { PrefRecord } from '../../data/records.js';
import { HUB_ID_EXAMPLE, hubRepoIdProblem } from '../../hub-id.js';
import { objectiveOf } from '../losses/methods.js';
import { LOSS_TYPES, lossTypeId } from '../methods/loss-types.js';
import { METHODS } from '../methods/registry.js';
import { methodConfig, type TrainingConfig } from '../training/config.js';

export interface TrlHandoffInput {
  config: TrainingConfig;
  /** The run's records; `split: 'test'` ones go to test.jsonl. */
  records: readonly PrefRecord[];
  /** The base model's Hugging Face Hub id (src/hub-id.ts resolveHubBaseModel finds it); anything
   *  else (a local path, a URL) is refused. */
  baseModel: string;
  /** Where the id came from ("--base-model", "config.json's _name_or_path"), for the README. */
  baseModelFrom?: string;
  style?: ExportStyle;
}

export interface TrlHandoff {
  /** Relative path → text. */
  files: Record<string, string>;
  trainer: string;
  rows: { train: number; test: number };
  skipped: SkippedRecord[];
}

interface TrainerSpec {
  trainer: 'DPO' | 'KTO' | 'ORPO' | 'CPO' | 'SFT';
  shape: 'preference' | 'unpaired';
  args: Record<string, unknown>;
  notes: string[];
}

/** The TRL trainer and its arguments for a run, from the method registry's mapping. */
function trainerSpec(c: TrainingConfig): TrainerSpec {
  const spec = METHODS[c.method];
  const trl = spec.trl;
  if (trl.trainer === null) throw new Error(`TRL hand-off: ${trl.why}`);
  const trainer = trl.trainer.replace(/Trainer$/, '') as TrainerSpec['trainer'];
  const o = objectiveOf(methodConfig(c));
  const notes = trl.note ? [trl.note] : [];
  const lengths = { max_length: c.max_length, truncation_mode: c.truncation_mode };
  switch (spec.loss) {
    case 'dpo': {
      if (trainer === 'SFT') return { trainer, shape: 'preference', args: { max_length: c.max_length, completion_only_loss: true }, notes };
      // TRL 1.9 names; cDPO is TRL <= 0.28's sigmoid with label smoothing; RPO is an sft term.
      const types = [o.loss_type ?? []].flat().map((t) => LOSS_TYPES[lossTypeId(t)].trl ?? 'sigmoid');
      const weights = o.loss_weights ? [...o.loss_weights] : types.map(() => 1);
      if (o.rpo_alpha !== null && o.rpo_alpha !== undefined) {
        types.push('sft');
        weights.push(o.rpo_alpha);
      }
      // Every other DPOConfig option the method takes, under its own name.
      const rest = Object.fromEntries(Object.entries(o).filter(([k]) => !['loss_type', 'loss_weights', 'rpo_alpha'].includes(k)));
      return { trainer, shape: 'preference', args: { ...rest, loss_type: types, loss_weights: weights, ...lengths, precompute_ref_log_probs: true }, notes };
    }
    case 'orpo':
    case 'simpo':
      // TRL 1.9's experimental CPOConfig / ORPOConfig have max_length but no truncation_mode
      // (test/export/trl-train-py.test.ts checks every arg against TRL 1.9.0's fields).
      notes.push(`truncation_mode (${c.truncation_mode}) is not passed: TRL 1.9's ${trainer}Config has no such field, and its trainer shortens pairs longer than max_length its own way`);
      return { trainer, shape: 'preference', args: { ...trl.pinned, ...o, max_length: c.max_length }, notes };
    case 'kto':
      return { trainer, shape: 'unpaired', args: { ...o, max_length: c.max_length, precompute_ref_log_probs: true }, notes };
    case 'listwise':
      throw new Error(`TRL hand-off: ${c.method} has no TRL mapping`);
  }
}

/** transformers TrainingArguments shared by every trainer. */
function trainingArgs(c: TrainingConfig, hasTest: boolean): Record<string, unknown> {
  return {
    output_dir: 'output',
    learning_rate: c.learning_rate,
    num_train_epochs: c.num_train_epochs,
    max_steps: c.max_steps,
    per_device_train_batch_size: c.per_device_train_batch_size,
    per_device_eval_batch_size: c.per_device_eval_batch_size,
    gradient_accumulation_steps: c.gradient_accumulation_steps,
    warmup_ratio: c.warmup_ratio,
    warmup_steps: c.warmup_steps,
    lr_scheduler_type: c.lr_scheduler_type,
    weight_decay: c.weight_decay,
    adam_beta1: c.adam_beta1,
    adam_beta2: c.adam_beta2,
    adam_epsilon: c.adam_epsilon,
    // transformers clips at max_grad_norm; 0 turns clipping off, as null does here.
    max_grad_norm: c.max_grad_norm ?? 0,
    seed: c.seed,
    data_seed: c.seed,
    // TRL's field is a boolean: the run's effective value (configAsRun, training/memory.ts); a
    // configuration that never ran leaves it automatic, passed as transformers' default (a note says so).
    gradient_checkpointing: c.gradient_checkpointing ?? false,
    save_steps: c.save_steps,
    eval_strategy: hasTest && c.eval_steps ? 'steps' : 'no',
    ...(hasTest && c.eval_steps ? { eval_steps: c.eval_steps } : {}),
    logging_steps: 1,
    report_to: 'none',
  };
}

/**
 * What the hand-off installs, exactly: TRL 1.9.0 (the version our losses follow) with the
 * transformers, accelerate and datasets versions TRL 1.9.0's CI tests as its minimum dependencies,
 * PEFT for LoRA, and deepspeed (TRL's declared minimum) for the ZeRO-2 launch.
 */
export const PIP_INSTALL = 'trl==1.9.0 transformers==4.56.2 accelerate==1.4.0 datasets==4.7.0 peft==0.17.1 deepspeed==0.14.4';

export function trlHandoff(input: TrlHandoffInput): TrlHandoff {
  const c = input.config;
  const problem = hubRepoIdProblem(input.baseModel);
  if (problem) throw new Error(`TRL hand-off: the base model ${JSON.stringify(input.baseModel)} is ${problem}, not a Hugging Face Hub repo id; TRL downloads the base model from the Hub: name it by its id, e.g. ${HUB_ID_EXAMPLE}`);
  const spec = trainerSpec(c);
  if (c.gradient_checkpointing === null) {
    spec.notes.push('gradient_checkpointing was automatic (no run decided it), so it is passed as transformers\' default, false: set it to true in recipe.json if the run does not fit your GPUs');
  }
  const exporter = new TrlExporter({ shape: spec.shape, style: input.style });
  const lines = { train: [] as string[], test: [] as string[] };
  for (const r of input.records) {
    for (const row of exporter.convert(r)) lines[r.split === 'test' ? 'test' : 'train'].push(JSON.stringify(row));
  }
  if (lines.train.length === 0) throw new Error(`TRL hand-off: no training row for ${spec.trainer} (${exporter.skippedCount} records skipped${exporter.skipped[0] ? `, e.g. record ${exporter.skipped[0].index}: ${exporter.skipped[0].reason}` : ''})`);
  const hasTest = lines.test.length > 0;
  const lora = c.lora;
  const recipe = {
    prefstudio_method: c.method,
    trainer: spec.trainer,
    pip_install: PIP_INSTALL,
    model_name_or_path: input.baseModel,
    dataset: { train: 'data/train.jsonl', ...(hasTest ? { test: 'data/test.jsonl' } : {}), format: spec.shape === 'unpaired' ? 'unpaired preference (prompt, completion, label)' : 'preference (prompt, chosen, rejected)', style: exporter.style ?? 'standard' },
    // Per-device batch and accumulation as the run had them; keep_global_batch divides the
    // accumulation by the number of GPUs so the effective batch stays the same.
    keep_global_batch: true,
    args: { ...trainingArgs(c, hasTest), ...spec.args },
    lora: { r: lora.r, lora_alpha: lora.lora_alpha, lora_dropout: lora.lora_dropout, use_rslora: lora.use_rslora, target_modules: lora.target_modules, bias: 'none', task_type: 'CAUSAL_LM' },
    notes: spec.notes,
    prefstudio_config: c,
  };
  const files: Record<string, string> = {
    'data/train.jsonl': lines.train.join('\n') + '\n',
    'recipe.json': JSON.stringify(recipe, null, 2) + '\n',
    'train.py': TRAIN_PY,
    'requirements.txt': PIP_INSTALL.split(' ').join('\n') + '\n',
    'accelerate/deepspeed_zero2.yaml': DEEPSPEED_ZERO2,
    'accelerate/multi_gpu.yaml': MULTI_GPU,
    'README.md': readme(recipe.trainer, c, input.baseModel, input.baseModelFrom, { train: lines.train.length, test: lines.test.length }, spec.notes, exporter.skippedCount),
  };
  if (hasTest) files['data/test.jsonl'] = lines.test.join('\n') + '\n';
  return { files, trainer: spec.trainer, rows: { train: lines.train.length, test: lines.test.length }, skipped: exporter.skipped };
}

/** `baseModel` is a checked Hub id (letters, digits, '-', '_', '.', one '/'): nothing in it can
 *  break out of the code spans it is shown in. */
function readme(trainer: string, c: TrainingConfig, baseModel: string, from: string | undefined, rows: { train: number; test: number }, notes: string[], skipped: number): string {
  const effective = c.per_device_train_batch_size * c.gradient_accumulation_steps;
  return `# TRL hand-off: ${c.method} (${trainer}Trainer) on \`${baseModel}\`

Exported by PrefStudio: the same data, method and hyperparameters as the run, for TRL + PEFT on
one or more GPUs. The adapter it writes imports back into PrefStudio.

- \`data/train.jsonl\` (${rows.train} rows)${rows.test ? `, \`data/test.jsonl\` (${rows.test} rows)` : ''}: TRL's dataset format${skipped ? `; ${skipped} records could not be expressed and were left out` : ''}.
- \`recipe.json\`: model, trainer, \`args\` (TRL's ${trainer}Config / transformers TrainingArguments names),
  \`lora\` (PEFT LoraConfig), and the original PrefStudio configuration. Edit it, not the script.
- \`train.py\`: reads recipe.json, builds the trainer with trl + peft, trains, saves the adapter.
- \`requirements.txt\`: the exact versions it was checked against (TRL 1.9.0's field names).
- \`accelerate/\`: launch configs for several GPUs (plain DDP, or DeepSpeed ZeRO-2).

## Run

\`\`\`sh
pip install ${PIP_INSTALL}
# (also in requirements.txt; deepspeed only for the ZeRO-2 launch; PyTorch as your GPU needs)
python train.py                                              # one GPU
accelerate launch --config_file accelerate/multi_gpu.yaml --num_processes 8 train.py
accelerate launch --config_file accelerate/deepspeed_zero2.yaml --num_processes 8 train.py
\`\`\`

\`model_name_or_path\` in recipe.json is the Hugging Face Hub model \`${baseModel}\`${from ? ` (from ${from})` : ''}:
TRL downloads it (PyTorch weights), so it must be the model the ONNX model you tuned was exported
from; edit recipe.json if it is not. The run's effective batch is
${c.per_device_train_batch_size} × ${c.gradient_accumulation_steps} = ${effective} sequences; with
\`keep_global_batch\` the script divides gradient_accumulation_steps by the number of GPUs (at
least 1) so the same batch, learning-rate schedule and step count carry over.

## Bring the adapter back

\`output/\` ends up holding \`adapter_config.json\` and \`adapter_model.safetensors\` (PEFT's format).
Import that folder (or a zip of it) on PrefStudio's Export page, or use it from the CLI:

\`\`\`sh
npx prefstudio eval  --model <onnx model dir> --adapter output --data data/test.jsonl --method ${c.method}
npx prefstudio train --model <onnx model dir> --init-adapter output ...     # continue in the browser engine
npx prefstudio export --model <onnx model dir> --adapter output --merged merged.onnx
\`\`\`
${notes.length ? `\n## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}

const TRAIN_PY = `#!/usr/bin/env python3
"""Train with TRL + PEFT from recipe.json (written by PrefStudio's TRL hand-off).

    python train.py                       # one GPU
    accelerate launch --config_file accelerate/deepspeed_zero2.yaml --num_processes N train.py
"""
import json
import os

import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
recipe = json.load(open(os.path.join(HERE, "recipe.json")))
trainer_name = recipe["trainer"]


def trainer_classes(name):
    import trl

    if name in ("DPO", "KTO", "SFT"):
        return getattr(trl, f"{name}Config"), getattr(trl, f"{name}Trainer")
    # ORPO and CPO moved to trl.experimental in TRL 1.x.
    try:
        mod = __import__(f"trl.experimental.{name.lower()}", fromlist=["x"])
    except ImportError:
        mod = trl
    return getattr(mod, f"{name}Config"), getattr(mod, f"{name}Trainer")


Config, Trainer = trainer_classes(trainer_name)
args = dict(recipe["args"])
args["output_dir"] = os.path.join(HERE, args["output_dir"])
world = int(os.environ.get("WORLD_SIZE", "1"))
if recipe.get("keep_global_batch") and world > 1:
    args["gradient_accumulation_steps"] = max(1, args["gradient_accumulation_steps"] // world)
if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
    args.setdefault("bf16", True)
config = Config(**args)

files = {"train": os.path.join(HERE, recipe["dataset"]["train"])}
if "test" in recipe["dataset"]:
    files["test"] = os.path.join(HERE, recipe["dataset"]["test"])
data = load_dataset("json", data_files=files)
if trainer_name == "SFT":
    # SFT on the chosen responses: prompt + completion rows.
    data = data.map(lambda r: {"prompt": r["prompt"], "completion": r["chosen"]}, remove_columns=["chosen", "rejected"])

model_id = recipe["model_name_or_path"]
tokenizer = AutoTokenizer.from_pretrained(model_id)
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(model_id, torch_dtype="auto")
peft_config = LoraConfig(**recipe["lora"])

trainer = Trainer(
    model=model,
    args=config,
    train_dataset=data["train"],
    eval_dataset=data.get("test"),
    processing_class=tokenizer,
    peft_config=peft_config,
)
trainer.train()
if "test" in data:
    print(trainer.evaluate())
trainer.save_model(args["output_dir"])  # adapter_config.json + adapter_model.safetensors
print(f"adapter saved in {args['output_dir']}: import it back into PrefStudio")
`;

const DEEPSPEED_ZERO2 = `# accelerate launch --config_file accelerate/deepspeed_zero2.yaml --num_processes N train.py
compute_environment: LOCAL_MACHINE
debug: false
deepspeed_config:
  deepspeed_multinode_launcher: standard
  offload_optimizer_device: none
  offload_param_device: none
  zero3_init_flag: false
  zero_stage: 2
distributed_type: DEEPSPEED
downcast_bf16: 'no'
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 8
rdzv_backend: static
same_network: true
tpu_env: []
tpu_use_cluster: false
tpu_use_sudo: false
use_cpu: false
`;

const MULTI_GPU = `# accelerate launch --config_file accelerate/multi_gpu.yaml --num_processes N train.py
compute_environment: LOCAL_MACHINE
debug: false
distributed_type: MULTI_GPU
downcast_bf16: 'no'
gpu_ids: all
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 8
rdzv_backend: static
same_network: true
tpu_env: []
tpu_use_cluster: false
tpu_use_sudo: false
use_cpu: false
`;
