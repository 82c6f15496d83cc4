// The PEFT adapter fuzz pass (peft.test.ts), run in a worker by fuzzInWorkers: both files
// unchanged, then mutated safetensors or adapter_config.json, each read and judged here.
import { readFileSync } from 'node:fs';
import { parseAdapterConfig, readSafetensors } from '../../src/engine/training/peft.js';
import { mutateBytes, mutateJsonValue, mutateText, prototypePolluted, Rng, stringifyHostile, unclearMessage, withTimeLimit, type CaseMaker, type FuzzCase, type Outcome } from '../support/fuzz.js';

const DIR = new URL('../fixtures/training/tiny-llama-adapter/', import.meta.url).pathname;
const ST = 'adapter_model.safetensors';
const CFG = 'adapter_config.json';

const enc = new TextEncoder();
const dec = new TextDecoder();

function checkError(e: unknown, file: string): string | null {
  // The reader's own errors are plain Errors that start with the file; the engine's built-ins mean a crash.
  if (!(e instanceof Error) || e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError) return `crash: ${(e as Error)?.name}: ${(e as Error)?.message}`;
  if (!e.message.startsWith(`${file}: `)) return `message does not name ${file}: "${e.message}"`;
  return unclearMessage(e.message);
}

/** The safetensors header as JSON, and the bytes after it. */
function splitSafetensors(b: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(dec.decode(b.subarray(8, 8 + n))) as Record<string, unknown>, data: b.subarray(8 + n) };
}

function joinSafetensors(headerText: string, data: Uint8Array): Uint8Array {
  const h = enc.encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function mutateSafetensors(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const r = rng.int(4);
  if (r === 0) return mutateBytes(b, rng);
  if (r === 1) {
    const out = b.slice();
    const v = rng.pick([0n, 1n, 7n, BigInt(b.length), BigInt(b.length - 8), 2n ** 53n, 2n ** 64n - 1n]);
    new DataView(out.buffer).setBigUint64(0, v, true);
    return { bytes: out, what: `header size set to ${v}` };
  }
  const { header, data } = splitSafetensors(b);
  if (r === 2) {
    // A tensor's dtype, shape or data_offsets.
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const name = rng.pick(names);
    const t = { ...(header[name] as Record<string, unknown>) };
    const key = rng.pick(['dtype', 'shape', 'data_offsets']);
    t[key] =
      key === 'dtype'
        ? rng.pick(['F16', 'BF16', 'F64', 'I8', '', null, 5])
        : rng.pick([[], [-1, 2], [0, 0], [2 ** 40, 2 ** 40], [1.5, 3], ['1', '2'], null, [0, data.length + 4], [4, 0], [1e308, 1]]);
    header[name] = t;
    return { bytes: joinSafetensors(stringifyHostile(header), data), what: `${name}.${key} = ${JSON.stringify(t[key])}` };
  }
  const v = mutateJsonValue(header, rng);
  return { bytes: joinSafetensors(stringifyHostile(v), data), what: 'header JSON mutated' };
}

async function outcome(limitMs: number, run: () => unknown, file: string, check?: (v: unknown) => string | null): Promise<Outcome> {
  const r = await withTimeLimit(limitMs, async () => run());
  if (prototypePolluted()) return { kind: 'bug', why: 'Object.prototype was polluted', ms: r.ms };
  if (r.error !== undefined) {
    const why = checkError(r.error, file);
    return why ? { kind: 'bug', why, error: r.error, ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
  }
  const why = check?.(r.value) ?? null;
  return why ? { kind: 'bug', why, ms: r.ms } : { kind: 'ok', ms: r.ms };
}

function tensorsMatchShapes(v: unknown): string | null {
  for (const t of (v as ReturnType<typeof readSafetensors>).tensors.values()) {
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) return `tensor ${t.name} has ${t.data.length} values for shape [${t.shape}]`;
  }
  return null;
}

/** The unchanged files must read: anything else is a bug of the baseline. */
async function mustRead(o: Promise<Outcome>): Promise<Outcome> {
  const r = await o;
  return r.kind === 'refused' ? { kind: 'bug', why: 'the unchanged file was refused', error: r.error, ms: r.ms } : r;
}

/** Inputs 0 and 1: the safetensors and the config unchanged; then one of them mutated. */
export function peftPlan(limitMs: number): CaseMaker {
  const st = new Uint8Array(readFileSync(DIR + ST));
  const cfg = readFileSync(DIR + CFG, 'utf8');
  return (rng, i): FuzzCase => {
    if (i === 0) return { what: 'safetensors unchanged', show: () => '', run: () => mustRead(outcome(limitMs, () => readSafetensors(st, ST), ST, tensorsMatchShapes)) };
    if (i === 1) return { what: 'config unchanged', show: () => cfg, run: () => mustRead(outcome(limitMs, () => parseAdapterConfig(cfg, CFG), CFG)) };
    if (rng.chance(0.6)) {
      const m = mutateSafetensors(st, rng);
      return { what: `${ST}: ${m.what}`, show: () => m.what, run: () => outcome(limitMs, () => readSafetensors(m.bytes, ST), ST, tensorsMatchShapes) };
    }
    let text: string;
    let what: string;
    if (rng.chance(0.3)) ({ text, what } = mutateText(cfg, rng, 'json'));
    else {
      let v: unknown = JSON.parse(cfg);
      const times = 1 + rng.int(3);
      for (let k = 0; k < times; k++) v = mutateJsonValue(v, rng);
      text = stringifyHostile(v);
      what = `${times} JSON value mutation(s)`;
    }
    return { what: `${CFG}: ${what}`, show: () => text, run: () => outcome(limitMs, () => parseAdapterConfig(text, CFG), CFG) };
  };
}
