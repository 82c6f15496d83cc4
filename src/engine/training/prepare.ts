// One run preparation for every surface that trains or scores (the engine Worker's runs and
// plans, Evaluate's scores, `prefstudio train` and `prefstudio eval`): records → examples
// (tokenize.ts, with TRL's truncation and the method's record rules) → what the model can take,
// with one report of what was left out and why. The skip rules live here and in tokenize.ts and
// nowhere else; the surfaces only show the report.

import type { PrefRecord } from '../../data/records.js';
import { ktoBalanceWarning } from '../losses/methods.js';
import { METHODS } from '../methods/registry.js';
import type { TransformerConfig } from '../transformer/config.js';
import type { SequencePair } from '../transformer/logprobs.js';
import { exampleShape, methodConfig, type TrainingConfig } from './config.js';
import { tokenizeRecords, type Example, type TokenizeSettings, type TrainingTokenizer } from './tokenize.js';

export interface SkippedRecord {
  /** Index of the record among those given. */
  record: number;
  reason: string;
}

export interface PreparedRun {
  examples: Example[];
  skipped: SkippedRecord[];
  warnings: string[];
  counts: { train: number; test: number; skipped: number };
}

/** What the preparation needs of the model: its vocabulary and positions. */
export type ModelLimits = Pick<TransformerConfig, 'vocabSize' | 'maxPositions' | 'arch'>;

export function prepareRun(records: readonly PrefRecord[], tokenizer: TrainingTokenizer, model: ModelLimits, config: TrainingConfig): PreparedRun {
  const t = tokenizeRecords(records, tokenizer, config);
  const skipped: SkippedRecord[] = [...t.skipped];
  const examples = t.examples.filter((e) => {
    const why = modelRefusal(e.sequences, model, config);
    if (why) skipped.push({ record: e.record, reason: why });
    return why === null;
  });
  if (config.ld_alpha !== undefined && config.ld_alpha !== null && exampleShape(config) === 'pair') {
    // The examples are the run's own (tokenizeRecords made them just now).
    for (const e of examples) setSharedLength(e, config.ld_alpha);
  }
  const warnings = [...t.warnings];
  const same = identicalPairs(records);
  if (same.length) {
    const where = same.slice(0, 5).map((i) => recordPlace(records, i)).join(', ');
    warnings.push(`${same.length} pair(s) have chosen identical to rejected (${where}${same.length > 5 ? ', ...' : ''}): they carry no preference, and their DPO margin is always 0`);
  }
  const train = examples.filter((e) => e.split === 'train');
  if (exampleShape(config) === 'kto') {
    const w = ktoBalanceWarning(methodConfig(config), train.filter((e) => e.label).length, train.filter((e) => !e.label).length);
    if (w) warnings.push(w);
  }
  // A record counts as left out once, whatever number of its examples were.
  const used = new Set(examples.map((e) => e.record));
  const out = new Map<number, SkippedRecord>();
  for (const s of skipped) if (!used.has(s.record) && !out.has(s.record)) out.set(s.record, s);
  return {
    examples,
    skipped: [...out.values()].sort((a, b) => a.record - b.record),
    warnings,
    counts: { train: train.length, test: examples.length - train.length, skipped: out.size },
  };
}

/** Why the model cannot take these sequences (ids past its vocabulary, GPT-2 positions), or null. */
function modelRefusal(sequences: readonly SequencePair[], model: ModelLimits, config: Pick<TokenizeSettings, 'max_length'>): string | null {
  for (const s of sequences) {
    const n = s.promptIds.length + s.completionIds.length;
    const outside = s.promptIds.find((id) => id >= model.vocabSize) ?? s.completionIds.find((id) => id >= model.vocabSize);
    if (outside !== undefined) return `the tokenizer gives id ${outside}, outside the model's vocabulary of ${model.vocabSize}`;
    // GPT-2 has a position table; rotary models extrapolate, but not past an unlimited max_length.
    if (n > model.maxPositions && (model.arch === 'gpt2' || config.max_length === null)) {
      return `${n} tokens is past the model's ${model.maxPositions} positions (lower max_length)`;
    }
  }
  return null;
}

/**
 * LD-DPO (TRL's ld_alpha): the first min(chosen, rejected) scored completion tokens of each
 * response count fully, the rest with weight ld_alpha, for the policy and the reference alike.
 */
function setSharedLength(e: Example, ldAlpha: number): void {
  const scored = (s: SequencePair) => s.completionIds.length - (s.promptIds.length === 0 ? 1 : 0);
  let shared = Infinity;
  for (const s of e.sequences) shared = Math.min(shared, scored(s));
  e.sequences = e.sequences.map((s) => ({ ...s, tail: { from: shared, weight: ldAlpha } }));
}

/** Indexes of the pair records whose chosen and rejected are the same text or the same messages. */
export function identicalPairs(records: readonly PrefRecord[]): number[] {
  const out: number[] = [];
  for (const [i, r] of records.entries()) {
    if (r.kind !== 'pair') continue;
    const same = typeof r.chosen === 'string' || typeof r.rejected === 'string' ? r.chosen === r.rejected : JSON.stringify(r.chosen) === JSON.stringify(r.rejected);
    if (same) out.push(i);
  }
  return out;
}

/** Where a record came from, for messages: its line in the imported file, or its position. */
export function recordPlace(records: readonly PrefRecord[], index: number): string {
  const s = records[index]?.source;
  return s?.type === 'import' && s.line !== undefined ? `line ${s.line}` : `record ${index + 1}`;
}

/** Why nothing can train, or null: no usable record, or all of them held out. */
export function noDataMessage(config: Pick<TrainingConfig, 'method'>, run: PreparedRun): string | null {
  if (run.counts.train > 0) return null;
  if (run.examples.length > 0) return `every usable record is in the test split: ${config.method} needs training records`;
  return `no record can train with ${config.method} (it needs ${METHODS[config.method].needs}; ${run.counts.skipped} left out)`;
}
