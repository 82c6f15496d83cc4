// The Train page's form, read from the method registry: every method gives a valid
// configuration from the default form, with the registry's defaults; the basic and advanced
// views hold every setting a method takes exactly once; field text goes through the CLI's codec
// (a bad one names its field; gradient_checkpointing's automatic/on/off select); a saved configuration comes back as the same form; usable record
// counts by kind; the ETA from recent step times.
import React, { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';
import { METHOD_IDS, METHODS, methodDefault } from '../../src/engine/methods/registry.js';
import { OBJECTIVE_SETTINGS, SETTING_PATHS, SETTINGS } from '../../src/engine/methods/settings.js';
import { parseTrainingConfig, TrainingConfigError } from '../../src/engine/training/config.js';
import { DEFAULT_FORM, DEMO_RECIPE, appliesTo, formConfig, formGroups, formValues, usableRecords } from '../../src/stores/train-form.js';
import { etaSeconds } from '../../src/stores/train.js';
import { emptyCounts } from '../../src/db/index.js';
import { SettingField } from '../../src/ui/train/SettingField.js';

describe('train form', () => {
  it('gives a valid configuration for every method, with the registry defaults of that method', () => {
    for (const method of METHOD_IDS) {
      const c = parseTrainingConfig(formConfig({ ...DEFAULT_FORM, method }));
      expect(c.method).toBe(method);
      for (const o of OBJECTIVE_SETTINGS) {
        if (METHODS[method].options.includes(o)) expect(c[o], `${method} ${o}`).toEqual(methodDefault(method, o));
        else expect(c, `${method} ${o}`).not.toHaveProperty(o);
      }
      expect(c.learning_rate).toBe(SETTINGS.learning_rate.default);
      expect(c.lora).toMatchObject({ r: SETTINGS['lora.r'].default, lora_alpha: SETTINGS['lora.lora_alpha'].default, target_modules: ['q_proj', 'v_proj'] });
    }
  });

  it('basic and advanced views hold every setting a method takes exactly once', () => {
    for (const method of METHOD_IDS) {
      const paths = (view: 'basic' | 'advanced') => formGroups(method, view).flatMap((g) => g.fields.map((f) => f.path));
      const basic = paths('basic');
      const all = [...basic, ...paths('advanced')];
      expect(new Set(all).size, method).toBe(all.length);
      expect([...all].sort(), method).toEqual(SETTING_PATHS.filter((p) => appliesTo(method, p)).sort());
      // The basic view: the method's own main options, then learning rate, steps, batch and LoRA rank/alpha/targets.
      expect(basic.slice(0, METHODS[method].primary.length)).toEqual([...METHODS[method].primary]);
      expect(basic).toEqual(expect.arrayContaining(['learning_rate', 'max_steps', 'per_device_train_batch_size', 'lora.r', 'lora.lora_alpha', 'lora.target_modules']));
    }
    expect(formGroups('cdpo', 'basic').flatMap((g) => g.fields.map((f) => f.trlName))).toContain('label_smoothing');
    expect(formGroups('dpo', 'advanced').flatMap((g) => g.fields.map((f) => f.path))).toEqual(
      expect.arrayContaining(['loss_type', 'loss_weights', 'f_divergence_type', 'use_weighting', 'ld_alpha', 'lr_scheduler_type', 'warmup_ratio', 'weight_decay', 'max_grad_norm', 'gradient_accumulation_steps', 'lora.use_rslora', 'lora.lora_dropout', 'seed', 'save_steps', 'eval_steps', 'max_length', 'truncation_mode']),
    );
  });

  it('reads field text as the CLI reads flags, and names a field it cannot read', () => {
    const c = parseTrainingConfig(formConfig({ ...DEFAULT_FORM, values: { loss_type: 'sigmoid, sft', loss_weights: '1, 0.5', 'lora.target_modules': 'all-linear', max_length: '', use_weighting: 'true', memory_budget_bytes: '6GiB' } }));
    expect(c).toMatchObject({ loss_type: ['sigmoid', 'sft'], loss_weights: [1, 0.5], max_length: null, use_weighting: true, memory_budget_bytes: 6 * 1024 ** 3 });
    expect(c.lora.target_modules).toBe('all-linear');
    // A field of another method is not sent.
    expect(formConfig({ ...DEFAULT_FORM, method: 'kto', values: { loss_type: 'ipo' } })).toEqual({ method: 'kto' });
    const bad = (values: Record<string, string>) => {
      try {
        parseTrainingConfig(formConfig({ ...DEFAULT_FORM, values }));
      } catch (e) {
        expect(e).toBeInstanceOf(TrainingConfigError);
        return (e as TrainingConfigError).issues.map((i) => `${i.field}: ${i.reason}`);
      }
      throw new Error('expected a refusal');
    };
    expect(bad({ learning_rate: 'fast' })).toEqual(['learning_rate: expects a number, got "fast"']);
    expect(bad({ learning_rate: '-1' })[0]).toMatch(/^learning_rate: /);
    expect(bad({ 'lora.target_modules': 'q_proj,wq' })[0]).toMatch(/^lora\.target_modules\.1: unknown module "wq"/);
  });

  it('gradient_checkpointing is three-state: automatic (the default), on, off; the field is a select of the three', () => {
    const gc = (text?: string) => parseTrainingConfig(formConfig({ ...DEFAULT_FORM, values: text === undefined ? {} : { gradient_checkpointing: text } })).gradient_checkpointing;
    expect([gc(), gc('auto'), gc('true'), gc('false'), gc('on'), gc('off')]).toEqual([null, null, true, false, true, false]);
    expect(() => gc('maybe')).toThrow(/gradient_checkpointing: expects on, off or auto, got "maybe"/);
    for (const v of [null, true, false]) {
      const saved = parseTrainingConfig({ method: 'dpo', gradient_checkpointing: v });
      expect(formValues(saved).gradient_checkpointing ?? 'auto').toBe(v === null ? 'auto' : String(v));
      expect(parseTrainingConfig(formConfig({ ...DEFAULT_FORM, values: formValues(saved) })).gradient_checkpointing).toBe(v);
    }
    vi.spyOn(React, 'useSyncExternalStore').mockImplementation((_s, getSnapshot) => getSnapshot());
    try {
      const html = renderToStaticMarkup(createElement(SettingField, { field: { path: 'gradient_checkpointing', trlName: 'gradient_checkpointing' } }));
      const select = html.match(/<select[^>]*data-testid="train-field-gradient_checkpointing"[^>]*>(.*?)<\/select>/s)![1]!;
      expect([...select.matchAll(/<option value="([^"]+)"[^>]*>([^<]*)<\/option>/g)].map((m) => `${m[1]}=${m[2]}`)).toEqual(['auto=automatic', 'true=on', 'false=off']);
      expect(html).toMatch(/<option value="auto" selected="">automatic<\/option>/);
      expect(html).toContain('Default: auto.');
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('a saved configuration fills the same form back (round trip)', () => {
    const saved = parseTrainingConfig({ method: 'cdpo', beta: 0.2, label_smoothing: 0.15, learning_rate: 3e-4, max_steps: 12, lr_scheduler_type: 'cosine', lora: { r: 4, target_modules: 'all-linear', use_rslora: true } });
    expect(parseTrainingConfig(formConfig({ ...DEFAULT_FORM, method: saved.method, values: formValues(saved) }))).toEqual(saved);
    const recipe = parseTrainingConfig(formConfig({ ...DEFAULT_FORM, ...DEMO_RECIPE }));
    expect(recipe).toMatchObject({ method: 'dpo', learning_rate: 0.01, max_steps: 10, per_device_train_batch_size: 8, max_length: 32, seed: 1, eval_steps: 5 });
  });

  it('counts the records a method can use by kind', () => {
    const counts = emptyCounts();
    Object.assign(counts.byKind, { pair: 10, unpaired: 4, ranking: 3, stepwise: 2 });
    expect(usableRecords('dpo', counts)).toBe(13);
    expect(usableRecords('kto', counts)).toBe(17);
    expect(usableRecords('step_dpo', counts)).toBe(12);
  });

  it('estimates the time left from the recent step times', () => {
    const m = (step: number, ms: number) => ({ step, loss: 1, step_time_ms: ms });
    expect(etaSeconds([], 10)).toBeNull();
    expect(etaSeconds([m(1, 1000), m(2, 3000)], 10)).toBe(16);
    expect(etaSeconds([m(10, 500)], 10)).toBe(0);
  });
});
