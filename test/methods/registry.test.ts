// The method registry is the one table every surface reads: the methods the CLI lists and
// accepts, the Train page offers, the Export page's TRL hand-off offers and maps, and the
// defaults each of them shows or applies, all come from src/engine/methods and agree with it.
import 'fake-indexeddb/auto';
import React, { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONFIG_FLAGS, UsageError, configFrom, flagsHelp, methodsHelp, run as trainCommand } from '../../src/cli/train.js';
import { run as evalCommand } from '../../src/cli/eval.js';
import { trlHandoff } from '../../src/engine/export/trl.js';
import { LOSS_TYPE_IDS, LOSS_TYPES } from '../../src/engine/methods/loss-types.js';
import { METHOD_IDS, METHODS, methodDefault } from '../../src/engine/methods/registry.js';
import { SETTING_PATHS, SETTINGS } from '../../src/engine/methods/settings.js';
import { settingToText } from '../../src/engine/methods/text.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import type { PrefRecord } from '../../src/data/records.js';
import { DEFAULT_FORM, METHOD_CHOICES, appliesTo, defaultValue, fieldText } from '../../src/stores/train-form.js';
import { useExportStore } from '../../src/stores/export.js';
import { ExportPanel } from '../../src/ui/export/ExportPanel.js';

afterEach(() => vi.restoreAllMocks());

/** A command's --help text. */
async function help(command: (args: string[]) => Promise<number>): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  expect(await command(['--help'])).toBe(0);
  vi.restoreAllMocks();
  return out;
}

/** The method ids a usage text lists in its `methods:` section. */
function listedMethods(usage: string): string[] {
  const section = usage.split('methods:\n')[1]!.split('\n\n')[0]!;
  return section.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[0]!);
}

describe('the method registry', () => {
  it('the CLI lists exactly its methods, accepts each and refuses others', async () => {
    for (const usage of [await help(trainCommand), await help(evalCommand)]) {
      expect(listedMethods(usage)).toEqual([...METHOD_IDS]);
      expect(usage).toContain(methodsHelp());
      expect(usage).toContain(flagsHelp());
    }
    for (const m of METHOD_IDS) expect(configFrom({ method: m }).method).toBe(m);
    expect(() => configFrom({ method: 'grpo' })).toThrow(UsageError);
    expect(() => configFrom({ method: 'grpo' })).toThrow(/method/);
  });

  it('every setting has one flag, named as TRL names it, and the CLI applies the registry default', () => {
    const flags = SETTING_PATHS.map((p) => SETTINGS[p].flag);
    expect(new Set(flags).size).toBe(flags.length);
    expect(Object.keys(CONFIG_FLAGS).sort()).toEqual([...flags].sort());
    for (const [flag, field] of [['--loss-type', 'loss_type'], ['--f-divergence-type', 'f_divergence_type'], ['--use-weighting', 'use_weighting'], ['--ld-alpha', 'ld_alpha']] as const) {
      expect(CONFIG_FLAGS[flag]?.field).toBe(field);
    }
    for (const m of METHOD_IDS) {
      const c = configFrom({ method: m });
      for (const p of SETTING_PATHS.filter((x) => appliesTo(m, x))) {
        const value = p.startsWith('lora.') ? (c.lora as Record<string, unknown>)[p.slice(5)] : (c as Record<string, unknown>)[p];
        expect(value, `${m} ${p}`).toEqual(defaultValue(m, p));
      }
    }
    // The help shows each setting's TRL name and default, and the methods' own defaults.
    const text = flagsHelp();
    expect(text).toContain('--label-smoothing <v>          [label_smoothing] default 0 (cdpo 0.1)');
    expect(text).toContain('--cpo-alpha <v>                [cpo_alpha] default 1 (simpo 0)');
    expect(text).toContain(`[lora_alpha] default ${SETTINGS['lora.lora_alpha'].default}`);
  });

  it('the Train page offers exactly its methods and shows its defaults', () => {
    expect([...METHOD_CHOICES]).toEqual([...METHOD_IDS]);
    for (const m of METHOD_IDS) {
      for (const p of SETTING_PATHS.filter((x) => appliesTo(m, x))) {
        expect(fieldText({ ...DEFAULT_FORM, method: m }, p), `${m} ${p}`).toBe(settingToText(p, defaultValue(m, p)));
      }
    }
  });

  it('the Export page offers the methods TRL has a trainer for, by their registry labels', () => {
    vi.spyOn(React, 'useSyncExternalStore').mockImplementation((_s, getSnapshot) => getSnapshot());
    const html = renderToStaticMarkup(createElement(ExportPanel));
    const select = html.match(/<select[^>]*data-testid="export-trl-method"[^>]*>(.*?)<\/select>/s)![1]!;
    const options = [...select.matchAll(/<option value="([^"]+)"[^>]*>([^<]*)<\/option>/g)].map((m) => [m[1], m[2]]);
    const expected = METHOD_IDS.filter((m) => METHODS[m].trl.trainer !== null);
    expect(options.map((o) => o[0])).toEqual(expected);
    expect(options.map((o) => o[1])).toEqual(expected.map((m) => `${METHODS[m].label} (${(METHODS[m].trl as { trainer: string }).trainer})`));
    expect(useExportStore.getState().runConfig).toBeNull();
  });

  it('the TRL hand-off maps each method to its trainer with the registry defaults, or refuses as the registry says', () => {
    const records: PrefRecord[] = [{ kind: 'pair', prompt: 'Hi?', chosen: ' Yes.', rejected: ' No.', source: { type: 'manual' }, createdAt: 0, split: 'train', tags: [] }];
    for (const m of METHOD_IDS) {
      const trl = METHODS[m].trl;
      const config = parseTrainingConfig({ method: m });
      if (trl.trainer === null) {
        expect(() => trlHandoff({ config, records, baseModel: 'org/model' }), m).toThrow(trl.why);
        continue;
      }
      const h = trlHandoff({ config, records, baseModel: 'org/model' });
      const recipe = JSON.parse(h.files['recipe.json']!) as { trainer: string; args: Record<string, unknown> };
      expect(recipe.trainer, m).toBe(trl.trainer.replace(/Trainer$/, ''));
      for (const o of METHODS[m].options.filter((x) => !['loss_type', 'loss_weights', 'rpo_alpha'].includes(x))) {
        expect(recipe.args[o], `${m} ${o}`).toEqual(methodDefault(m, o));
      }
      const types = [METHODS[m].pinned?.loss_type ?? (METHODS[m].options.includes('loss_type') ? methodDefault(m, 'loss_type') : [])].flat();
      if (trl.trainer === 'DPOTrainer') {
        // TRL 1.9 names (cDPO is TRL <= 0.28's sigmoid + label smoothing); RPO's alpha as an sft term.
        const trlTypes = types.map((t) => LOSS_TYPES[t].trl ?? 'sigmoid');
        expect(recipe.args.loss_type, m).toEqual(m === 'rpo' ? [...trlTypes, 'sft'] : trlTypes);
      }
    }
  });

  it('loss types: one entry each, TRL 1.9 names, the old aot_pair accepted as aot_unpaired', () => {
    expect(LOSS_TYPE_IDS.filter((t) => LOSS_TYPES[t].trl === null)).toEqual(['cdpo']);
    expect(parseTrainingConfig({ method: 'dpo', loss_type: 'aot_pair' }).loss_type).toEqual(['aot_unpaired']);
    expect(SETTINGS.loss_type.choices).toEqual(LOSS_TYPE_IDS);
  });
});
