// A toy fuzz plan for the harness test (harness.test.ts): an "importer" that accepts values
// divisible by 10, refuses the others naming the value, and loops forever (synchronously) on the
// input numbered `loopAt`.
import { withTimeLimit, type CaseMaker, type Outcome } from '../support/fuzz.js';

function toyImport(text: string, loopAt: number): number {
  const { i, v } = JSON.parse(text) as { i: number; v: number };
  if (i === loopAt) for (;;);
  // Spelled in letters: FuzzLog counts refusals by message with digits blanked out.
  if (v % 10) throw new Error(`bad value ${String(v).replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)} in field "v"`);
  return v;
}

export function toyPlan(limitMs: number, args: unknown): CaseMaker {
  const { loopAt } = args as { loopAt: number };
  return (rng, i) => {
    const v = rng.int(1000);
    const text = JSON.stringify({ i, v });
    return {
      what: `case ${i}: v = ${v}`,
      show: () => text,
      run: async (): Promise<Outcome> => {
        const r = await withTimeLimit(limitMs, async () => toyImport(text, loopAt));
        return r.error === undefined ? { kind: 'ok', ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
      },
    };
  };
}
