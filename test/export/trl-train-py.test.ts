// The TRL hand-off's train.py runs: for every method TRL has a trainer for, the hand-off folder
// is written and `python train.py` is run with stand-ins for torch, datasets, peft, transformers
// and trl (test/support/trl-stubs: TRL cannot be installed here). The stand-in configs accept
// exactly TRL 1.9.0's dataclass fields (read from TRL's sources with ast:
// test/fixtures/export/trl-config-fields.json, scripts/trl/extract_config_fields.py) plus the
// TrainingArguments names of transformers 4.56.2, so a recipe argument TRL does not know makes
// train.py fail as it would on a GPU machine. The run must reach trainer.train() and save, with
// the recipe's args, the right trainer and the dataset columns that trainer reads.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PrefRecord } from '../../src/data/records.js';
import { PIP_INSTALL, trlHandoff } from '../../src/engine/export/trl.js';
import { METHOD_IDS, METHODS } from '../../src/engine/methods/registry.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';

const STUBS = new URL('../support/trl-stubs/', import.meta.url).pathname;
const FIELDS = new URL('../fixtures/export/trl-config-fields.json', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';

const records: PrefRecord[] = [
  { kind: 'pair', prompt: 'Hi?', chosen: ' Yes.', rejected: ' No.', source: { type: 'manual' }, createdAt: 0, split: 'train', tags: [] },
  { kind: 'pair', prompt: 'Sky?', chosen: ' Blue.', rejected: ' Green.', source: { type: 'manual' }, createdAt: 0, split: 'train', tags: [] },
  { kind: 'pair', prompt: 'Sea?', chosen: ' Wet.', rejected: ' Dry.', source: { type: 'manual' }, createdAt: 0, split: 'test', tags: [] },
];

interface Call {
  kind: string;
  trainer?: string;
  config?: string;
  args?: Record<string, unknown>;
  columns?: string[];
  train_rows?: number;
  eval_rows?: number | null;
  peft?: Record<string, unknown>;
  model_id?: string;
}

function runTrainPy(files: Record<string, string>): Call[] {
  const dir = mkdtempSync(join(tmpdir(), 'prefstudio-trl-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const report = join(dir, 'report.json');
  try {
    execFileSync(PYTHON, [join(dir, 'train.py')], {
      env: { PATH: process.env.PATH, PYTHONPATH: STUBS, PYTHONDONTWRITEBYTECODE: '1', PREFSTUDIO_TRL_FIELDS: FIELDS, PREFSTUDIO_TRL_REPORT: report },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    throw new Error(`train.py failed: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  return (JSON.parse(readFileSync(report, 'utf8')) as { calls: Call[] }).calls;
}

describe('TRL hand-off train.py', () => {
  const methods = METHOD_IDS.filter((m) => METHODS[m].trl.trainer !== null);

  it.each(methods)('%s: train.py builds its TRL config and trainer from recipe.json and trains', (method) => {
    const h = trlHandoff({ config: parseTrainingConfig({ method, lora: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] } }), records, baseModel: 'org/model' });
    const recipe = JSON.parse(h.files['recipe.json']!) as { trainer: string; args: Record<string, unknown>; lora: Record<string, unknown>; pip_install: string };
    const calls = runTrainPy(h.files);
    const trainer = calls.find((c) => c.kind === 'trainer')!;
    expect(trainer.trainer).toBe(`${recipe.trainer}Trainer`);
    expect(trainer.config).toBe(`${recipe.trainer}Config`);
    // Every recipe arg reached the config as it is (output_dir made absolute by the script).
    for (const [k, v] of Object.entries(recipe.args)) if (k !== 'output_dir') expect(trainer.args![k], `${method} ${k}`).toEqual(v);
    expect(trainer.peft).toEqual(recipe.lora);
    expect(trainer.train_rows).toBe(h.rows.train);
    expect(trainer.eval_rows).toBe(h.rows.test);
    const columns = recipe.trainer === 'KTO' ? ['completion', 'label', 'prompt'] : recipe.trainer === 'SFT' ? ['completion', 'prompt'] : ['chosen', 'prompt', 'rejected'];
    expect(trainer.columns).toEqual(columns);
    expect(calls.find((c) => c.kind === 'model')!.model_id).toBe('org/model');
    expect(calls.map((c) => c.kind).slice(-2)).toEqual(['train', 'save']);
    // The exact versions to install, in the recipe, the README and requirements.txt.
    expect(recipe.pip_install).toBe(PIP_INSTALL);
    expect(h.files['README.md']).toContain(`pip install ${PIP_INSTALL}`);
    expect(h.files['requirements.txt']!.trim().split('\n')).toEqual(PIP_INSTALL.split(' ').map((p) => p.replace(/"/g, '')));
  }, 30_000);

  it('an argument TRL does not know fails train.py as TRL would (the check can fail)', () => {
    const h = trlHandoff({ config: parseTrainingConfig({ method: 'dpo' }), records, baseModel: 'org/model' });
    const recipe = JSON.parse(h.files['recipe.json']!) as { args: Record<string, unknown> };
    recipe.args.max_prompt_length = 128; // TRL <= 0.x's DPOConfig field, gone in 1.9
    expect(() => runTrainPy({ ...h.files, 'recipe.json': JSON.stringify(recipe) })).toThrow("DPOConfig.__init__() got an unexpected keyword argument 'max_prompt_length'");
  });

  it('the field lists come from TRL v1.9.0', () => {
    const f = JSON.parse(readFileSync(FIELDS, 'utf8')) as { provenance: { trl: { tag: string } }; classes: Record<string, { fields: string[] }> };
    expect(f.provenance.trl.tag).toBe('v1.9.0');
    expect(f.classes.DPOConfig!.fields).toEqual(expect.arrayContaining(['beta', 'loss_type', 'loss_weights', 'ld_alpha', 'precompute_ref_log_probs']));
    expect(f.classes.KTOConfig!.fields).toEqual(expect.arrayContaining(['desirable_weight', 'undesirable_weight']));
  });
});
