// README.md for what PrefStudio pushes to the Hub: an adapter's model card (the base model, the
// method from the method registry, the data and the run's metrics, with the Hub's YAML metadata:
// base_model, library_name: peft, tags, datasets) and a dataset card. Plain functions of their
// inputs: nothing of the user's token or machine goes in.

import { METHODS, type MethodId } from '../engine/methods/registry.js';

export interface AdapterCardInput {
  /** Hub id of the base model (PyTorch weights), when known. */
  baseModel?: string;
  /** The model as the studio knows it (its folder or library name), when there is no Hub id. */
  baseModelName?: string;
  method?: MethodId;
  lora: { r: number; lora_alpha: number; use_rslora: boolean; target_modules: string | readonly string[] };
  data?: { name: string; records?: number; hubId?: string };
  /** The run's last logged metrics (name → value) and its step count. */
  metrics?: Record<string, number>;
  steps?: number;
  /** Training settings worth showing (learning rate, beta, ...). */
  settings?: Record<string, unknown>;
}

const yamlString = (s: string) => JSON.stringify(s);

export function adapterModelCard(c: AdapterCardInput): string {
  const m = c.method ? METHODS[c.method] : null;
  const front = [
    '---',
    ...(c.baseModel ? [`base_model: ${yamlString(c.baseModel)}`] : []),
    'library_name: peft',
    'pipeline_tag: text-generation',
    'tags:',
    '- prefstudio',
    '- lora',
    ...(c.method ? [`- ${c.method}`] : []),
    ...(m?.trl.trainer ? ['- trl'] : []),
    ...(c.data?.hubId ? ['datasets:', `- ${yamlString(c.data.hubId)}`] : []),
    '---',
  ];
  const base = c.baseModel ? `[\`${c.baseModel}\`](https://huggingface.co/${c.baseModel})` : `\`${c.baseModelName ?? 'an ONNX model'}\``;
  const targets = typeof c.lora.target_modules === 'string' ? c.lora.target_modules : c.lora.target_modules.join(', ');
  const lines = [
    ...front,
    '',
    `# LoRA adapter for ${c.baseModel ?? c.baseModelName ?? 'its base model'}`,
    '',
    `A PEFT LoRA adapter on ${base}, preference-tuned in the browser with PrefStudio on the user's own GPU.`,
    '',
    '## Method',
    '',
    m ? `**${m.label}**${m.trl.trainer ? ` (TRL's ${m.trl.trainer})` : ''}: ${m.summary}` : 'Not recorded.',
    '',
    `LoRA: r = ${c.lora.r}, alpha = ${c.lora.lora_alpha}${c.lora.use_rslora ? ' (rsLoRA)' : ''}, on ${targets}.`,
    ...(c.settings && Object.keys(c.settings).length ? ['', '| setting | value |', '|---|---|', ...Object.entries(c.settings).map(([k, v]) => `| ${k} | ${JSON.stringify(v)} |`)] : []),
    '',
    '## Data',
    '',
    c.data ? `${c.data.hubId ? `[\`${c.data.hubId}\`](https://huggingface.co/datasets/${c.data.hubId})` : `\`${c.data.name}\``}${c.data.records !== undefined ? `, ${c.data.records} records` : ''}.` : 'Not recorded.',
    '',
    '## Metrics',
    '',
    c.metrics && Object.keys(c.metrics).length
      ? ['| metric | value |', '|---|---|', ...Object.entries(c.metrics).map(([k, v]) => `| ${k} | ${Number.isInteger(v) ? v : v.toPrecision(4)} |`)].join('\n') + (c.steps !== undefined ? `\n\nAfter ${c.steps} optimizer steps.` : '')
      : 'None recorded.',
    '',
    '## Use',
    '',
    '```python',
    'from peft import PeftModel',
    'from transformers import AutoModelForCausalLM',
    '',
    `model = AutoModelForCausalLM.from_pretrained(${yamlString(c.baseModel ?? '<base model>')})`,
    'model = PeftModel.from_pretrained(model, "<this repository>")',
    '```',
    '',
  ];
  return lines.join('\n');
}

export function datasetCard(d: { name: string; records: number; format: string; method?: MethodId }): string {
  return [
    '---',
    'tags:',
    '- prefstudio',
    '- preference',
    ...(d.method ? [`- ${d.method}`] : []),
    '---',
    '',
    `# ${d.name}`,
    '',
    `${d.records} preference records labelled in PrefStudio, in TRL's ${d.format} format (data/train.jsonl${'' /* split files below */}, data/test.jsonl for held-out rows when there are any).`,
    '',
  ].join('\n');
}
