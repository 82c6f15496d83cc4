// Tokenizers through @huggingface/tokenizers with their special tokens and chat templates. The
// Llama ids below are the well-known Llama/Llama-2 SentencePiece ids ("▁Hello" = 15043, "▁the" =
// 278, "▁world" = 3186, "<s>" = 1), not values read back from this code.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import { isModelLoadError } from '../../src/engine/model/errors.js';
import { GPT2_SHARED, LLAMA_FP16, TINY_GPT2, TINY_LLAMA, readJsonFile, variant } from './helpers.js';

describe('llama tokenizer (shared fixture)', () => {
  let m: LoadedModel;
  let tok: ModelTokenizer;
  beforeAll(async () => {
    m = await loadModel(nodeDirSource(LLAMA_FP16), { readWeights: false });
    tok = m.tokenizer!;
  });

  it('encodes with bos and decodes back', () => {
    expect(tok.encode('Hello the world')).toEqual([1, 15043, 278, 3186]);
    expect(tok.encode('Hello the world', { addSpecialTokens: false })).toEqual([15043, 278, 3186]);
    expect(tok.decode([1, 15043, 278, 3186], { skipSpecialTokens: true })).toBe('Hello the world');
    expect(tok.size).toBe(32000);
    expect(tok.maxId).toBe(31999);
  });

  it('special tokens from tokenizer_config.json (pad is <unk>)', () => {
    expect(tok.bos).toEqual({ token: '<s>', id: 1 });
    expect(tok.eos).toEqual({ token: '</s>', id: 2 });
    expect(tok.pad).toEqual({ token: '<unk>', id: 0 });
    expect(tok.eosIds).toEqual([2]);
    // genai_config.json's ids (bos 0, eos 1) disagree with the tokenizer: reported, not hidden.
    expect(m.warnings.filter((w) => w.code === 'special-token-disagreement')).toHaveLength(2);
  });

  it('renders the Llama-2 chat template with bos/eos and raises its own exceptions', () => {
    const chat = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }];
    expect(tok.applyChatTemplate(chat)).toBe('<s>[INST] hi [/INST] yo </s>');
    expect(tok.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }])).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nhi [/INST]');
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])).toThrow(/alternate/);
    // bos comes from the template, not added a second time.
    const ids = tok.encodeChat(chat);
    expect(ids.filter((x) => x === 1)).toHaveLength(1);
    expect(ids[0]).toBe(1);
    expect(ids[ids.length - 1]).toBe(2);
  });
});

describe('our byte-level BPE fixtures', () => {
  it('tiny-llama adds bos, renders its template with a generation prompt', async () => {
    const m = await loadModel(nodeDirSource(TINY_LLAMA), { readWeights: false });
    const tok = m.tokenizer!;
    // 'H' is byte 72 → id 3 + 72; "Ġthe" is a merge (id 261).
    expect(tok.encode('H the')).toEqual([1, 3 + 72, 261]);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true })).toBe('<s>user: hi\nassistant:');
    expect(tok.encodeChat([{ role: 'user', content: 'hi' }]).slice(0, 2)).toEqual([1, 3 + 'u'.charCodeAt(0)]);
    expect(m.warnings).toEqual([]);
  });

  it('tiny-gpt2 adds no bos; generation_config eos joins the tokenizer eos', async () => {
    const m = await loadModel(nodeDirSource(TINY_GPT2), { readWeights: false });
    expect(m.tokenizer!.encode('H')).toEqual([3 + 72]);
    expect(m.tokenizer!.eosIds).toEqual([2]);
  });

  it('chat_template.jinja beside the tokenizer wins over tokenizer_config.json', async () => {
    const m = await loadModel(variant(TINY_LLAMA, { 'chat_template.jinja': '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}' }), { readWeights: false });
    expect(m.tokenizer!.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('[user]x');
  });

  it('a template list picks "default"; eos ids merge from generation_config', () => {
    const tj = readJsonFile(`${TINY_LLAMA}/tokenizer.json`);
    const tok = new ModelTokenizer({
      tokenizerJson: tj,
      tokenizerConfig: { eos_token: { content: '</s>' }, chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] },
      generationConfig: { eos_token_id: [2, 1] },
    });
    expect(tok.applyChatTemplate([])).toBe('D');
    expect(tok.eosIds).toEqual([2, 1]);
  });

  it('broken tokenizer files are tokenizer-invalid, not a crash', async () => {
    for (const broken of ['{"model": ', '{"model": {"type": "NoSuchModel"}}']) {
      const e = await loadModel(variant(TINY_LLAMA, { 'tokenizer.json': broken }), { readWeights: false }).catch((x: unknown) => x);
      expect(isModelLoadError(e, 'tokenizer-invalid'), String(e)).toBe(true);
    }
    const e = await loadModel(variant(TINY_LLAMA, { 'tokenizer_config.json': JSON.stringify({ chat_template: '{% for %}' }) }), { readWeights: false }).catch((x: unknown) => x);
    expect(isModelLoadError(e, 'tokenizer-invalid')).toBe(true);
    expect((e as Error).message).toMatch(/chat template/);
  });
});

it('GPT-2 shared tokenizer: specials from tokenizer_config, ids beyond the model vocabulary', async () => {
  const m = await loadModel(nodeDirSource(GPT2_SHARED), { readWeights: false, acknowledge: ['tokenizer-vocab-mismatch'] });
  const tok = m.tokenizer!;
  expect(tok.eos).toEqual({ token: '<|endoftext|>', id: 50256 });
  expect(tok.pad).toBeNull();
  // The real GPT-2 ids for "Hello world" (15496, 995): far beyond the model's 1000 rows.
  expect(tok.encode('Hello world')).toEqual([15496, 995]);
  expect(tok.maxId).toBeGreaterThanOrEqual(m.config.vocabSize);
});
