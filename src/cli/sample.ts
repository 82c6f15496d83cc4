// `prefstudio sample --model <dir> [--adapter <dir>] --prompt <text> ... [options]`: sampled
// completions from a model, with a PEFT LoRA adapter if given, headless (Dawn in Node). The same
// --seed gives the same random stream with and without the adapter, so base and tuned samples can
// be compared prompt by prompt. Prompts come from --prompt (repeatable) or the records of a
// dataset file (--prompts-from, optionally one --split): each record's whole prompt (every turn of
// a conversation) and its system prompt. A prompt becomes tokens as training's do
// (engine/model/prompt.ts promptTokenIds): through the chat template (system + every turn, with the
// generation prompt) when the tokenizer has one, unless --no-chat-template; otherwise the
// tokenizer's encoding of the text. Output: one JSON line per sample ({prompt, sample, completion,
// tokens, finish}) on stdout, `prompt` being the text of a text prompt and a conversation as
// `role: content` lines (system first); progress on stderr.

import { parseArgs } from 'node:util';
import { inflateLimitsHelp } from '../data/io/limits.js';
import { PromptError, promptTokenIds, promptText, usesChatTemplate, type ChatTemplateChoice, type PromptInput } from '../engine/model/prompt.js';
import { generate } from '../engine/transformer/generate.js';
import { kvCacheFlag } from './generate.js';
import { configFrom, err, openSession, readModel, readPeftAdapter, readRecords, runCommand, UsageError } from './train.js';

const USAGE = `usage: prefstudio sample --model <dir> [--adapter <dir>] (--prompt <text> ... | --prompts-from <file>) [options]

  --model <dir or org/name>
                         model folder (ONNX + config.json + tokenizer.json), or a Hugging Face
                         Hub id (fetched once into PREFSTUDIO_CACHE)
  --adapter <dir>        PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)
  --prompt <text>        a prompt, repeatable
  --prompts-from <file>  prompts of a dataset file (any format the importer reads): each record's
                         whole prompt (every turn of a conversation) and its system prompt
  --split <name>         only records of this split (train, test, ...) with --prompts-from
  --limit <n>            at most n prompts (default all)
  --n <n>                samples per prompt (default 1)
  --max-new-tokens <n>   tokens per sample at most, up to the model's context (default 48)
  --temperature <t>      0 = greedy (default 1)
  --top-k <k>            (default 0, off)
  --top-p <p>            in (0, 1] (default 1, off)
  --seed <s>             sampling seed, 0 to 4294967295 (default 0): the same seed, the same random stream
  --batch <n>            rows generated together, at most 4096 (default 16)
  --kv-cache <auto|f32|f16>
                         the KV cache's dtype (default auto: f16 where the GPU has shader-f16,
                         half the memory; f32 elsewhere)
  --chat-template        prompts through the tokenizer's chat template: the system prompt and
                         every turn, then the generation prompt (default when it has one)
  --no-chat-template     prompts as plain text through the tokenizer (conversations and system
                         prompts are refused: they need the template, as in training)

Each sample is one JSON line on stdout: {"prompt", "sample", "completion", "tokens", "finish"}.
"prompt" is the prompt's text; a conversation is written as one "role: content" line per message,
the system prompt first ("system: ...\nuser: ...\nassistant: ...\nuser: ...").

${inflateLimitsHelp()}`;

/** Samples per prompt at most (--n). */
const MAX_SAMPLES_PER_PROMPT = 10_000;
/** Rows generated together at most (--batch); the KV cache is checked against the GPU as well. */
const MAX_BATCH = 4096;

export interface SampleLine {
  /** The text of a text prompt; a conversation as "role: content" lines, the system prompt first (promptText). */
  prompt: string;
  sample: number;
  completion: string;
  tokens: number;
  finish: string;
}

function num(flag: string, v: string | undefined, def: number, integer = false): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
    throw new UsageError(`${flag} expects a ${integer ? 'whole ' : ''}non-negative number, got "${v}"`);
  }
  return n;
}

export function run(args: string[]): Promise<number> {
  return runCommand('sample', USAGE, args, sample);
}

async function sample(args: string[]): Promise<number> {
  const tag = 'sample';
  const { values: o } = parseArgs({
    args,
    strict: true,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      prompt: { type: 'string', multiple: true },
      'prompts-from': { type: 'string' },
      split: { type: 'string' },
      limit: { type: 'string' },
      n: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      batch: { type: 'string' },
      'kv-cache': { type: 'string' },
      'chat-template': { type: 'boolean' },
    },
    allowNegative: true,
  });
  if (!o.model) throw new UsageError('--model is required');
  if (!o.prompt?.length && !o['prompts-from']) throw new UsageError('give --prompt <text> (repeatable) or --prompts-from <file>');
  if (o.split && !o['prompts-from']) throw new UsageError('--split needs --prompts-from');
  // Every number within its range before anything is read or allocated; --max-new-tokens also
  // within the model's context once the model's config is read (below).
  const n = Math.max(1, num('--n', o.n, 1, true));
  if (n > MAX_SAMPLES_PER_PROMPT) throw new UsageError(`--n ${o.n} is more than ${MAX_SAMPLES_PER_PROMPT} samples per prompt`);
  const maxNewTokens = num('--max-new-tokens', o['max-new-tokens'], 48, true);
  const temperature = num('--temperature', o.temperature, 1);
  const topK = num('--top-k', o['top-k'], 0, true);
  const topP = num('--top-p', o['top-p'], 1);
  if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1] (a probability mass; 1 is off), got ${o['top-p']}`);
  const seed = num('--seed', o.seed, 0, true);
  if (!Number.isSafeInteger(seed) || seed > 0xffffffff) throw new UsageError(`--seed must be a whole number from 0 to ${0xffffffff}, got ${o.seed}`);
  const batch = Math.max(1, num('--batch', o.batch, 16, true));
  const kvCache = kvCacheFlag(o['kv-cache']);
  if (batch > MAX_BATCH) throw new UsageError(`--batch ${o.batch} is more than ${MAX_BATCH} rows at once`);

  const chatTemplate: ChatTemplateChoice = o['chat-template'] ?? 'auto';

  /** A prompt and where it came from (for messages). */
  let prompts: (PromptInput & { from: string })[] = (o.prompt ?? []).map((prompt, i) => ({ prompt, from: `--prompt #${i + 1}` }));
  if (o['prompts-from']) {
    const file = o['prompts-from'];
    const records = await readRecords(file, tag);
    const chosen = o.split ? records.filter((r) => r.split === o.split) : records;
    if (chosen.length === 0) throw new Error(`${file}: no record in split "${o.split}"`);
    for (const [i, r] of chosen.entries()) prompts.push({ prompt: r.prompt, ...(r.system !== undefined ? { system: r.system } : {}), from: `${file}: record ${i + 1}${o.split ? ` of split ${o.split}` : ''}` });
  }
  if (o.limit !== undefined) prompts = prompts.slice(0, num('--limit', o.limit, prompts.length, true));

  const loaded = await readModel(o.model, tag);
  if (maxNewTokens > loaded.config.maxPositions) {
    throw new UsageError(`--max-new-tokens ${o['max-new-tokens']} is more than the model's context of ${loaded.config.maxPositions} positions (${o.model}: max_position_embeddings)`);
  }
  const tok = loaded.tokenizer!;
  if (chatTemplate === true && tok.chatTemplate === null) throw new Error(`--chat-template: ${o.model}: the tokenizer has no chat template (tokenizer_config.json chat_template or chat_template.jinja)`);
  // Every prompt's ids before any sampling, so a refused prompt stops the run before it starts.
  const encoded = prompts.map((p) => {
    try {
      return { text: promptText(p), ids: promptTokenIds(tok, p, chatTemplate) };
    } catch (e) {
      if (!(e instanceof PromptError)) throw e;
      throw new Error(`${p.from}: ${e.message}${tok.chatTemplate !== null ? ' (leave out --no-chat-template)' : ''}`);
    }
  });
  err(`${tag}: ${usesChatTemplate(tok, chatTemplate) ? 'prompts through the chat template' : 'prompts as plain text (no chat template)'}`);
  const lora = o.adapter ? (await readPeftAdapter(o.adapter)).lora : undefined;
  const session = await openSession(loaded, configFrom({ method: 'sft', ...(lora ? { lora } : {}) }), tag, o.adapter);
  try {
    // Without --adapter the fresh adapter's B is zero; switch it off so nothing extra runs.
    if (!o.adapter) session.adapter.enabled = false;
    const rows: { prompt: string; ids: number[]; sample: number }[] = encoded.flatMap(({ text, ids }) => Array.from({ length: n }, (_, sample) => ({ prompt: text, ids, sample })));
    const decode = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });
    for (let i0 = 0; i0 < rows.length; i0 += batch) {
      const chunk = rows.slice(i0, i0 + batch);
      // Each chunk gets its own seed: runs with the same --seed and --batch draw the same stream.
      const results = await generate(
        session.model,
        chunk.map((r) => r.ids),
        { maxNewTokens, temperature, topK, topP, seed: seed + i0, decode, kvCache },
      );
      for (const [j, r] of results.entries()) {
        const line: SampleLine = { prompt: chunk[j]!.prompt, sample: chunk[j]!.sample, completion: r.text ?? decode(r.tokens), tokens: r.tokens.length, finish: r.finishReason };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      }
      err(`${tag}: ${Math.min(i0 + batch, rows.length)}/${rows.length} samples`);
    }
  } finally {
    session.close();
  }
  return 0;
}
