// `prefstudio eval --grads` and `prefstudio train` against PyTorch: the tiny Llama fixture with
// a LoRA adapter on every linear layer whose A and B are both non-zero
// (test/fixtures/training/, written by scripts/fixtures/train_reference.py in float64 torch).
// For dpo, ipo, kto, orpo and simpo, and for TRL 1.9's DPO options (loss_type aot, aot_unpaired
// and its old name aot_pair, f_divergence_type, use_weighting, ld_alpha, alone and combined, on
// the ten pairs of pairs-trl19.jsonl): the loss, TRL's metrics and the gradient of the mean loss by
// every LoRA tensor agree to relative error 1e-3 (gradients: of each tensor's largest value),
// and the metrics of `eval` without --grads for two of the use_weighting / ld_alpha cases;
// three AdamW steps of DPO from that adapter follow PyTorch's loss trajectory. The token ids the
// script used are checked against our tokenization first. Torch is needed only to regenerate.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { run as evalCommand } from '../../src/cli/eval.js';
import { run as trainCommand, useEngine } from '../../src/cli/train.js';
import { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { readSafetensors } from '../../src/engine/training/peft.js';
import { tokenizeRecords } from '../../src/engine/training/tokenize.js';
import type { PrefRecord } from '../../src/data/records.js';
import { expectClose } from '../support/numeric.js';

const dir = new URL('../fixtures/training/', import.meta.url).pathname;
const modelDir = new URL('../fixtures/models/tiny-llama/', import.meta.url).pathname;
interface Seq {
  prompt: number[];
  completion: number[];
}
interface Case {
  name: string;
  flags: string[];
  /** The data file in test/fixtures/training/ (default pairs.jsonl). */
  data?: string;
  metrics: Record<string, number>;
  grads: Record<string, string>;
  sequences: Seq[];
}
const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  cases: Case[];
  trajectory: { lr: number; weight_decay: number; max_grad_norm: number; steps: number; losses: number[] };
};
const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const out = mkdtempSync(join(tmpdir(), 'prefstudio-train-ref-'));
const common = ['--model', modelDir, '--data', join(dir, 'pairs.jsonl')];
const dataOf = (c: Case) => join(dir, c.data ?? 'pairs.jsonl');

beforeAll(async () => useEngine(await testEngine()));
afterAll(() => useEngine(null));

describe('training against PyTorch', () => {
  it('tokenizes the fixture pairs as the script did', () => {
    const json = (f: string) => JSON.parse(readFileSync(join(modelDir, f), 'utf8')) as Record<string, unknown>;
    const tok = new ModelTokenizer({ tokenizerJson: json('tokenizer.json'), tokenizerConfig: json('tokenizer_config.json') });
    const recordsOf = (c: Case) => readFileSync(dataOf(c), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      .map((r) => ({ kind: 'pair', ...r, source: { type: 'manual' }, createdAt: 0, split: 'train', tags: [] }) as PrefRecord);
    const trl19 = ref.cases.find((x) => x.data !== undefined);
    expect(trl19, 'cases on the TRL 1.9 data file').toBeDefined();
    for (const c of ref.cases.filter((x) => x.name === 'dpo' || x.name === 'kto' || x === trl19)) {
      const records = recordsOf(c);
      const t = tokenizeRecords(records, tok, parseTrainingConfig({ method: c.name === 'kto' ? 'kto' : 'dpo', per_device_train_batch_size: 8 }));
      const ours = c.name === 'kto'
        ? [...t.examples.map((e) => e.sequences[0]!), ...t.examples.map((e) => e.sequences[1]!)]
        : [...t.examples.map((e) => e.sequences[0]!), ...t.examples.map((e) => e.sequences[1]!)];
      expect(ours.map((s) => ({ prompt: s.promptIds, completion: s.completionIds }))).toEqual(c.sequences);
    }
  });

  const evalMetrics = async (c: Case, gradsFile: string | null) => {
    const metricsFile = join(out, `${c.name}${gradsFile ? '' : ' no-grads'}.json`);
    const code = await evalCommand([
      '--model', modelDir, '--data', dataOf(c), '--adapter', join(dir, 'tiny-llama-adapter'), ...c.flags, '--out', metricsFile, ...(gradsFile ? ['--grads', gradsFile] : []),
    ]);
    expect(code).toBe(0);
    const got = JSON.parse(readFileSync(metricsFile, 'utf8')) as Record<string, number>;
    for (const [k, v] of Object.entries(c.metrics)) {
      expect(got[k], `${c.name} ${k}`).toBeDefined();
      expectClose([got[k]!], [v], { rtol: 1e-3, atol: 1e-6, what: `${c.name} ${k}` });
    }
  };

  for (const c of ref.cases) {
    it(`eval --grads: ${c.name}`, { timeout: 180_000 }, async () => {
      const gradsFile = join(out, `${c.name}.safetensors`);
      await evalMetrics(c, gradsFile);
      const grads = readSafetensors(new Uint8Array(readFileSync(gradsFile))).tensors;
      expect([...grads.keys()].sort()).toEqual(Object.keys(c.grads).sort());
      for (const [name, b64] of Object.entries(c.grads)) {
        const want = f32(b64);
        const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        expect(scale, `${c.name} ${name} has a gradient`).toBeGreaterThan(0);
        expectClose(grads.get(name)!.data, want, { rtol: 1e-3, atol: 1e-3 * scale, what: `${c.name} ${name}` });
      }
    });
  }

  // Without --grads, eval scores through sequenceLogprobs, not the training forward: WPO's
  // aligned means and LD-DPO's tails (the sft term's plain NLL included) come from there.
  for (const c of ref.cases.filter((x) => ['ld_alpha 0', 'sigmoid sft use_weighting js_divergence ld_alpha'].includes(x.name))) {
    it(`eval: ${c.name}`, { timeout: 180_000 }, () => evalMetrics(c, null));
  }

  it('three AdamW steps follow the PyTorch loss trajectory', { timeout: 180_000 }, async () => {
    const t = ref.trajectory;
    const runDir = join(out, 'run');
    const code = await trainCommand([
      ...common, '--method', 'dpo', '--init-adapter', join(dir, 'tiny-llama-adapter'), '--lr', String(t.lr), '--weight-decay', String(t.weight_decay),
      '--max-grad-norm', String(t.max_grad_norm), '--steps', String(t.steps), '--batch-size', '4', '--scheduler', 'constant', '--out', runDir,
    ]);
    expect(code).toBe(0);
    const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((m) => m.step)).toEqual([1, 2, 3]);
    expectClose(lines.map((m) => m.loss!), t.losses, { rtol: 1e-3, atol: 0, what: 'loss trajectory' });
  });
});
