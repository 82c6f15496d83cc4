// Agreement between annotators on tasks labelled more than once: observed agreement over every
// pair of annotators on a task, and per pair of annotators Cohen's kappa over their shared tasks
// (agreement corrected for what their own label frequencies would give by chance). Skips are not
// labels; an annotator who labelled a task twice counts with their latest label.
import type { LabelRow } from '../db/index.js';
import { decisionCategory } from './label-tasks.js';

export interface PairAgreement {
  a: string;
  b: string;
  items: number;
  agreed: number;
  /** agreed / items. */
  observed: number;
  /** Cohen's kappa; null when chance agreement is 1 (both always gave the same single answer). */
  kappa: number | null;
}

export interface AgreementReport {
  /** Tasks with labels from at least two annotators. */
  items: number;
  /** Annotator pairs compared over those tasks, and how many agreed. */
  comparisons: number;
  agreed: number;
  observed: number | null;
  byPair: PairAgreement[];
}

export function agreement(labels: LabelRow[]): AgreementReport {
  // task -> annotator -> latest category
  const byTask = new Map<string, Map<string, { at: number; category: string }>>();
  for (const l of labels) {
    const category = decisionCategory(l.decision);
    if (category === null) continue;
    const at = l.id ?? l.createdAt;
    const t = byTask.get(l.taskKey) ?? new Map();
    const prev = t.get(l.annotator);
    if (!prev || prev.at <= at) t.set(l.annotator, { at, category });
    byTask.set(l.taskKey, t);
  }
  let items = 0;
  let comparisons = 0;
  let agreed = 0;
  const pairs = new Map<string, { a: string; b: string; answers: [string, string][] }>();
  for (const t of byTask.values()) {
    if (t.size < 2) continue;
    items++;
    const names = [...t.keys()].sort();
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const a = names[i]!;
        const b = names[j]!;
        const ca = t.get(a)!.category;
        const cb = t.get(b)!.category;
        comparisons++;
        if (ca === cb) agreed++;
        const key = JSON.stringify([a, b]);
        const p = pairs.get(key) ?? { a, b, answers: [] };
        p.answers.push([ca, cb]);
        pairs.set(key, p);
      }
    }
  }
  const byPair = [...pairs.values()].map(({ a, b, answers }) => ({ a, b, ...cohen(answers) }));
  return { items, comparisons, agreed, observed: comparisons ? agreed / comparisons : null, byPair };
}

function cohen(answers: [string, string][]): Omit<PairAgreement, 'a' | 'b'> {
  const n = answers.length;
  const agreed = answers.filter(([x, y]) => x === y).length;
  const fa = new Map<string, number>();
  const fb = new Map<string, number>();
  for (const [x, y] of answers) {
    fa.set(x, (fa.get(x) ?? 0) + 1);
    fb.set(y, (fb.get(y) ?? 0) + 1);
  }
  let chance = 0;
  for (const [c, na] of fa) chance += (na / n) * ((fb.get(c) ?? 0) / n);
  const observed = agreed / n;
  return { items: n, agreed, observed, kappa: chance >= 1 ? null : (observed - chance) / (1 - chance) };
}
