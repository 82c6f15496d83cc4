// A toy fuzz plan for the harness test (harness.test.ts): an "importer" that accepts values
// divisible by 10, refuses the others naming the value, and loops forever (synchronously) on the
// input numbered `loopAt`; with `bufferAt` it holds a 256 MB buffer on that input, with `heapAt` it
// fills the JS heap (arrays of doubles) without end.
import { withTimeLimit, type CaseMaker, type Outcome } from '../support/fuzz.js';

interface ToyArgs {
  loopAt: number;
  bufferAt?: number;
  heapAt?: number;
}

/** Keeps the big buffer alive across an await (so that the sampler sees it). */
let held: unknown = null;

async function toyImport(text: string, args: ToyArgs): Promise<number> {
  const { i, v } = JSON.parse(text) as { i: number; v: number };
  if (i === args.loopAt) for (;;);
  if (i === args.bufferAt) {
    held = new Uint8Array(256 << 20).fill(1);
    await new Promise((r) => setTimeout(r, 30));
    held = null;
  }
  if (i === args.heapAt) {
    const grow: number[][] = [];
    for (let k = 0; ; k++) grow.push(new Array<number>(1 << 17).fill(k + 0.5));
  }
  // Spelled in letters: FuzzLog counts refusals by message with digits blanked out.
  if (v % 10) throw new Error(`bad value ${String(v).replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)} in field "v"`);
  return v;
}

export function toyPlan(limitMs: number, args: unknown): CaseMaker {
  const toy = args as ToyArgs;
  return (rng, i) => {
    const v = rng.int(1000);
    const text = JSON.stringify({ i, v });
    return {
      what: `case ${i}: v = ${v}`,
      show: () => text,
      run: async (): Promise<Outcome> => {
        const r = await withTimeLimit(limitMs, () => toyImport(text, toy));
        return r.error === undefined ? { kind: 'ok', ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
      },
    };
  };
}
