// Record validation with readable, field-addressed messages. zod reports a failed union as one
// "Invalid input" with every branch's issues; we pick the branch that got furthest (the one whose
// issues sit deepest), so "chosen.0.role: expected one of ..." comes out instead.
import type { z } from 'zod';
import { PrefRecordSchema, type PrefRecord } from './records.js';

export interface FieldIssue {
  field: string;
  reason: string;
}

export type Validation = { ok: true; record: PrefRecord } | { ok: false; issues: FieldIssue[] };

export function validateRecord(value: unknown): Validation {
  const r = PrefRecordSchema.safeParse(value);
  if (r.success) return { ok: true, record: r.data as PrefRecord };
  return { ok: false, issues: zodIssues(r.error.issues) };
}

/** Throws a RecordValidationError listing every issue. */
export function assertRecord(value: unknown): PrefRecord {
  const v = validateRecord(value);
  if (!v.ok) throw new RecordValidationError(v.issues);
  return v.record;
}

export class RecordValidationError extends Error {
  override name = 'RecordValidationError';
  constructor(readonly issues: FieldIssue[]) {
    super(`invalid record: ${issues.map((i) => `${i.field || '(record)'}: ${i.reason}`).join('; ')}`);
  }
}

type Issue = z.core.$ZodIssue;

export function zodIssues(issues: readonly Issue[], prefix: PropertyKey[] = []): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
      if (depth(best) > 0) {
        out.push(...zodIssues(best, path));
        continue;
      }
      out.push({ field: pathText(path), reason: 'expected text or a list of {role, content} messages' });
      continue;
    }
    out.push({ field: pathText(path), reason: issue.message });
  }
  return out;
}

function depth(issues: readonly Issue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}

function pathText(path: PropertyKey[]): string {
  return path.map(String).join('.');
}
