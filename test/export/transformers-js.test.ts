// The merged ONNX folder in transformers.js (@huggingface/transformers, in Node, local files only,
// never the Hub): `prefstudio export --merged <dir>` on the demo model (the layout transformers.js
// runs: input_ids, attention_mask, position_ids and past_key_values in, logits and present out)
// with a random non-zero adapter on every linear layer; transformers.js loads the folder (config,
// tokenizer, generation config, the .onnx at its root: `subfolder: ''`), tokenizes as we do, and
// its greedy generation equals our engine's with the adapter plugged in (not merged).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { main } from '../../src/cli/main.js';
import { peftFiles } from '../../src/engine/export/peft.js';
import type { AdapterData } from '../../src/engine/export/modules.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { randomAdapter } from './helpers.js';

const DEMO = new URL('../../public/models/demo-fortunes/', import.meta.url).pathname;
const NEW_TOKENS = 8;

afterAll(async () => (await testEngine()).pool.trim());

/** Our engine's greedy continuation (stopping at an end-of-sequence id, as generate() does). */
async function ourGreedy(model: LoadedModel, adapter: AdapterData | null, prompt: number[]): Promise<number[]> {
  const engine = await testEngine();
  const tm = TransformerModel.create(engine, model.config, model.transformerWeights());
  const l = adapter?.lora;
  const lora = adapter && l ? LoraAdapter.create(tm, { r: l.r, alpha: l.lora_alpha, dropout: 0, useRslora: l.use_rslora, targetModules: l.target_modules }) : null;
  lora?.load(adapter!.tensors);
  try {
    const V = model.config.vocabSize;
    const ids = [...prompt];
    for (let i = 0; i < NEW_TOKENS; i++) {
      const logits = await tm.logits({ B: 1, T: ids.length, ids: Int32Array.from(ids), mask: null });
      const row = logits.subarray((ids.length - 1) * V, ids.length * V);
      const next = row.reduce((best, v, j) => (v > row[best]! ? j : best), 0);
      ids.push(next);
      if (model.config.eosIds.includes(next)) break;
    }
    return ids;
  } finally {
    lora?.destroy();
    tm.destroy();
  }
}

describe('merged ONNX in transformers.js', () => {
  it('loads from local files and generates greedily what our engine generates with the adapter', async () => {
    const model = await loadModel(nodeDirSource(DEMO));
    const adapter = randomAdapter(model, { r: 4, lora_alpha: 8, target_modules: 'all-linear' }, 5);
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-tfjs-'));
    mkdirSync(join(out, 'adapter'));
    for (const [name, bytes] of Object.entries(peftFiles(model, adapter))) writeFileSync(join(out, 'adapter', name), bytes);
    const merged = join(out, 'tuned');
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await main(['export', '--model', DEMO, '--adapter', join(out, 'adapter'), '--merged', merged]);
    vi.restoreAllMocks();
    expect(code).toBe(0);

    // Local files only: no request may leave for the Hub.
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(merged) + '/';
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const tokenizer = await AutoTokenizer.from_pretrained(basename(merged), { local_files_only: true });
    const tjs = await AutoModelForCausalLM.from_pretrained(basename(merged), { local_files_only: true, subfolder: '', dtype: 'fp32' });
    env.localModelPath = dirname(DEMO.replace(/\/$/, '')) + '/';
    const base = await AutoModelForCausalLM.from_pretrained(basename(DEMO), { local_files_only: true, subfolder: '', dtype: 'fp32' });
    try {
      const text = 'Life is';
      const inputs = tokenizer(text);
      const prompt = (inputs.input_ids.tolist() as bigint[][])[0]!.map(Number);
      expect(prompt).toEqual(model.tokenizer!.encode(text));

      const ours = await ourGreedy(model, adapter, prompt);
      const generate = async (m: typeof tjs) => ((await m.generate({ ...inputs, max_new_tokens: NEW_TOKENS, do_sample: false })) as { tolist(): bigint[][] }).tolist()[0]!.map(Number);
      expect(await generate(tjs)).toEqual(ours);
      // The untuned demo model generates something else: the check can fail.
      expect(await generate(base)).not.toEqual(ours);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
      await tjs.dispose();
      await base.dispose();
    }
  }, 120_000);
});
