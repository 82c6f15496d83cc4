// A small deterministic mutation fuzzer for the importers (test/fuzz/*): a seeded PRNG, byte-level
// mutations (truncation, flips, chunk duplication/deletion, random bytes), JSON-structure and
// CSV mutations, a protobuf wire-format walker (to corrupt ONNX tags and lengths rather than
// weight bytes), and a runner that gives every input a time limit and sorts each outcome into
// "accepted", "refused with a typed error" or a bug. PREFSTUDIO_FUZZ_N scales the number of inputs.
// fuzzInWorkers runs a pass in a worker thread under a watchdog, so that an importer stuck in a
// synchronous loop (which no timer in its own thread can interrupt) is reported as a "hang" bug
// with its input, and the pass goes on in a fresh worker. Each input has a memory ceiling as it
// has a time ceiling: the worker's JS heap is capped (resourceLimits; past it the worker dies and
// the input is a "memory" bug), and its ArrayBuffer and heap growth during the input is sampled
// (process.memoryUsage() is per worker) and judged against the same ceiling.
import { Worker, type MessagePort } from 'node:worker_threads';

/** Inputs per importer: the default, or PREFSTUDIO_FUZZ_N (the per-importer figure for a bigger pass). */
export function fuzzCount(defaultN: number): number {
  const env = Number(process.env.PREFSTUDIO_FUZZ_N);
  return Number.isInteger(env) && env > 0 ? env : defaultN;
}

/** mulberry32: tiny, fast, good enough to pick mutations, and reproducible from a seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** The whole generator state: `new Rng(rng.state)` continues the same sequence. */
  get state(): number {
    return this.s;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---- byte mutations ----

export type ByteMutator = (b: Uint8Array, rng: Rng) => { bytes: Uint8Array; what: string };

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x0a, 0x0d, 0x22, 0x2c, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d];

function splice(b: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

/** Picks an offset, biased toward the two ends of the file (headers, footers, trailers). */
export function pickOffset(len: number, rng: Rng): number {
  if (len === 0) return 0;
  const r = rng.next();
  if (r < 0.25) return rng.int(Math.min(len, 64));
  if (r < 0.5) return Math.max(0, len - 1 - rng.int(Math.min(len, 64)));
  return rng.int(len);
}

export const byteMutators: Record<string, ByteMutator> = {
  truncate: (b, rng) => {
    const at = rng.chance(0.5) ? rng.int(b.length) : pickOffset(b.length, rng);
    return { bytes: b.slice(0, at), what: `truncated to ${at} bytes` };
  },
  flip: (b, rng) => {
    const out = b.slice();
    const n = 1 + rng.int(8);
    const at: number[] = [];
    for (let i = 0; i < n && out.length; i++) {
      const p = pickOffset(out.length, rng);
      out[p]! ^= 1 << rng.int(8);
      at.push(p);
    }
    return { bytes: out, what: `bit flips at ${at.join(',')}` };
  },
  interesting: (b, rng) => {
    const out = b.slice();
    const p = pickOffset(out.length, rng);
    if (out.length) out[p] = rng.pick(INTERESTING);
    return { bytes: out, what: `byte ${p} set to ${out[p]}` };
  },
  duplicate: (b, rng) => {
    const at = rng.int(b.length + 1);
    const len = 1 + rng.int(Math.max(1, Math.min(4096, b.length - at)));
    const chunk = b.slice(at, at + len);
    const to = rng.int(b.length + 1);
    return { bytes: splice(b, to, 0, chunk), what: `bytes ${at}+${len} copied to ${to}` };
  },
  delete: (b, rng) => {
    const at = pickOffset(b.length, rng);
    const len = 1 + rng.int(Math.max(1, Math.min(4096, b.length - at)));
    return { bytes: splice(b, at, Math.min(len, b.length - at), new Uint8Array(0)), what: `bytes ${at}+${len} deleted` };
  },
  insertRandom: (b, rng) => {
    const at = pickOffset(b.length, rng);
    const len = 1 + rng.int(64);
    return { bytes: splice(b, at, 0, rng.bytes(len)), what: `${len} random bytes inserted at ${at}` };
  },
  overwriteRandom: (b, rng) => {
    const at = pickOffset(b.length, rng);
    const len = Math.min(b.length - at, 1 + rng.int(256));
    const out = b.slice();
    out.set(rng.bytes(len), at);
    return { bytes: out, what: `${len} random bytes over ${at}` };
  },
  randomFile: (b, rng) => {
    const len = rng.int(Math.max(2, Math.min(b.length * 2, 8192)));
    return { bytes: rng.bytes(len), what: `${len} random bytes` };
  },
};

export function mutateBytes(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const name = rng.pick(Object.keys(byteMutators));
  const r = byteMutators[name]!(b, rng);
  return { bytes: r.bytes, what: `${name}: ${r.what}` };
}

// ---- JSON value mutations ----

/** Values that code reading a field does not expect; NAN/INF/DEEP placeholders become text that is
 *  not JSON (bare NaN, Infinity) or too deep to build as a value (see stringifyHostile). */
const RAW_NAN = '\u0000NaN\u0000';
const RAW_INF = '\u0000Infinity\u0000';

export function hostileValue(rng: Rng): unknown {
  switch (rng.int(20)) {
    case 0: return null;
    case 1: return -1;
    case 2: return 0;
    case 3: return 1e308;
    case 4: return 2 ** 53 + 1;
    case 5: return 0.5;
    case 6: return true;
    case 7: return '';
    case 8: return 'x'.repeat(rng.chance(0.2) ? 1 << 20 : 1000);
    case 9: return [];
    case 10: return {};
    case 11: return [1, 'a', null, {}];
    case 12: return '\ud800 lone surrogate \udfff';
    case 13: return { __proto__: { polluted: true } };
    case 14: return `\u0000DEEP${rng.pick([100, 5000, 100_000])}\u0000`;
    case 15: return RAW_NAN;
    case 16: return RAW_INF;
    case 17: return '\ufeff\r\n\u0000"\\';
    case 18: return -2147483649;
    default: return 'a string';
  }
}


const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/** One random change somewhere inside a JSON value (returns the new value; may share structure). */
export function mutateJsonValue(v: unknown, rng: Rng, depth = 0): unknown {
  const container = v !== null && typeof v === 'object';
  if (!container || depth > 6 || rng.chance(0.25)) return hostileValue(rng);
  if (Array.isArray(v)) {
    const out = v.slice();
    const r = rng.int(4);
    if (r === 0 || out.length === 0) out.push(hostileValue(rng));
    else if (r === 1) out.splice(rng.int(out.length), 1);
    else if (r === 2) out.push(out[rng.int(out.length)]);
    else {
      const i = rng.int(out.length);
      out[i] = mutateJsonValue(out[i], rng, depth + 1);
    }
    return out;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  // defineProperty so that "__proto__" becomes an own key (what JSON.parse gives for such text).
  const out: Record<string, unknown> = {};
  for (const k of keys) Object.defineProperty(out, k, { value: obj[k], enumerable: true, writable: true, configurable: true });
  const r = rng.int(5);
  if (r === 0 || keys.length === 0) {
    const k = rng.chance(0.5) ? rng.pick(PROTO_KEYS) : `k${rng.int(100)}`;
    Object.defineProperty(out, k, { value: hostileValue(rng), enumerable: true, writable: true, configurable: true });
  } else if (r === 1) delete out[rng.pick(keys)];
  else {
    const k = rng.pick(keys);
    out[k] = mutateJsonValue(obj[k], rng, depth + 1);
  }
  return out;
}

/** JSON text of a mutated value, with the NaN / Infinity placeholders as bare tokens. */
export function stringifyHostile(v: unknown, space?: number): string {
  return JSON.stringify(v, null, space)
    .replaceAll(JSON.stringify(RAW_NAN), 'NaN')
    .replaceAll(JSON.stringify(RAW_INF), 'Infinity')
    // Deep nesting is written as text: building it as a value would overflow JSON.stringify here.
    .replace(/"\\u0000DEEP(\d+)\\u0000"/g, (_, d: string) => '[{"x":'.repeat(Number(d) / 2) + '"deep"' + '}]'.repeat(Number(d) / 2));
}

/** Text-level mutations of JSON / JSONL / CSV text: punctuation where it breaks structure. */
export function mutateText(text: string, rng: Rng, kind: 'json' | 'csv'): { text: string; what: string } {
  const punct = kind === 'json' ? ['{', '}', '[', ']', '"', ',', ':', '\\', '\n', 'NaN', '\\ud800', '\ufeff', '\r\n'] : ['"', ',', '\t', ';', '\n', '\r', '\r\n', '""', '"\n"', '\ufeff', '\u0000'];
  const r = rng.int(6);
  const at = rng.int(text.length + 1);
  switch (r) {
    case 0: {
      const p = rng.pick(punct);
      return { text: text.slice(0, at) + p + text.slice(at), what: `inserted ${JSON.stringify(p)} at ${at}` };
    }
    case 1: {
      const n = 1 + rng.int(4);
      return { text: text.slice(0, at) + text.slice(at + n), what: `deleted ${n} chars at ${at}` };
    }
    case 2:
      return { text: text.replaceAll('\n', '\r\n'), what: 'CRLF line ends' };
    case 3:
      return { text: '\ufeff' + text, what: 'BOM' };
    case 4: {
      // A quote (or bracket) that never closes, near the end.
      const p = kind === 'json' ? rng.pick(['"', '[', '{']) : '"';
      const at2 = Math.max(0, text.length - 1 - rng.int(Math.min(text.length + 1, 200)));
      return { text: text.slice(0, at2) + p + text.slice(at2), what: `unclosed ${p} at ${at2}` };
    }
    default: {
      const p = rng.pick(punct);
      const times = 2 + rng.int(20);
      let t = text;
      for (let i = 0; i < times; i++) {
        const a = rng.int(t.length + 1);
        t = t.slice(0, a) + p + t.slice(a);
      }
      return { text: t, what: `${times}x ${JSON.stringify(p)} scattered` };
    }
  }
}

// ---- protobuf wire format ----

export interface WireSpot {
  /** Offset of the field's tag varint. */
  tag: number;
  /** Offset and byte size of a length-delimited field's length varint (absent for other types). */
  len?: { at: number; size: number; value: number };
  depth: number;
}

function readVarint(b: Uint8Array, at: number, end: number): { value: number; size: number } | null {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (at + i >= end) return null;
    const byte = b[at + i]!;
    value += (byte & 0x7f) * mul;
    mul *= 128;
    if ((byte & 0x80) === 0) return { value, size: i + 1 };
  }
  return null;
}

/**
 * The tags and length prefixes of a protobuf message and (where a length-delimited field itself
 * parses as a message) of its sub-messages. Weight blobs do not parse as messages, so the spots
 * found are the structure (graph, nodes, tensors' dims and external-data entries), not the weights.
 */
export function wireSpots(b: Uint8Array, start = 0, end = b.length, depth = 0, out: WireSpot[] = []): WireSpot[] | null {
  const mine: WireSpot[] = [];
  const subs: [number, number][] = [];
  let at = start;
  while (at < end) {
    const tag = readVarint(b, at, end);
    if (!tag || tag.value === 0) return null;
    const wire = tag.value % 8;
    const spot: WireSpot = { tag: at, depth };
    at += tag.size;
    if (wire === 0) {
      const v = readVarint(b, at, end);
      if (!v) return null;
      at += v.size;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const l = readVarint(b, at, end);
      if (!l) return null;
      spot.len = { at, size: l.size, value: l.value };
      at += l.size;
      if (at + l.value > end) return null;
      if (l.value > 0 && l.value < 1 << 20 && depth < 8) subs.push([at, at + l.value]);
      at += l.value;
    } else return null;
    mine.push(spot);
  }
  if (at !== end) return null;
  out.push(...mine);
  for (const [s, e] of subs) wireSpots(b, s, e, depth + 1, out);
  return out;
}

/** A structural protobuf corruption: a tag's field number or wire type, or a length prefix. */
export function mutateWire(b: Uint8Array, spots: WireSpot[], rng: Rng): { bytes: Uint8Array; what: string } {
  const out = b.slice();
  const spot = rng.pick(spots);
  const r = rng.int(4);
  if (r === 0 || !spot.len) {
    const old = out[spot.tag]!;
    // Keep the continuation bit: a different field number or wire type in the same size.
    out[spot.tag] = (old & 0x80) | rng.int(128);
    return { bytes: out, what: `tag at ${spot.tag} (depth ${spot.depth}) ${old} -> ${out[spot.tag]}` };
  }
  const { at, size, value } = spot.len;
  // A new length encoded in the same number of bytes (padded varint), so nothing else moves.
  const max = 128 ** size - 1;
  const choice = rng.int(4);
  const nv = choice === 0 ? max : choice === 1 ? 0 : choice === 2 ? Math.min(max, value + 1 + rng.int(64)) : Math.max(0, value - 1 - rng.int(64));
  let v = nv;
  for (let i = 0; i < size; i++) {
    out[at + i] = (v % 128) | (i < size - 1 ? 0x80 : 0);
    v = Math.floor(v / 128);
  }
  return { bytes: out, what: `length at ${at} (depth ${spot.depth}) ${value} -> ${nv}` };
}

// ---- running one input ----

export type Outcome = { kind: 'ok'; ms: number } | { kind: 'refused'; error: Error; ms: number } | { kind: 'bug'; why: string; error?: unknown; ms: number };

export class HangError extends Error {
  override name = 'HangError';
}

/** Runs one input under a time limit (an async hang rejects; a synchronous one is caught by the
 *  elapsed-time check after it returns). */
export async function withTimeLimit<T>(ms: number, run: () => Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const value = await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HangError(`no answer after ${ms} ms`)), ms);
      }),
    ]);
    const took = performance.now() - t0;
    if (took > ms) return { error: new HangError(`took ${took.toFixed(0)} ms (limit ${ms})`), ms: took };
    return { value, ms: took };
  } catch (error) {
    const took = performance.now() - t0;
    if (!(error instanceof HangError) && took > ms) return { error: new HangError(`took ${took.toFixed(0)} ms (limit ${ms}) before failing`), ms: took };
    return { error, ms: took };
  } finally {
    clearTimeout(timer);
  }
}

/** Words in a message that betray an unfinished one (zod's "received undefined" means missing). */
const UNCLEAR = /(?<!received )\bundefined\b|\[object Object\]|^\s*$/;

export function unclearMessage(message: string): string | null {
  if (UNCLEAR.test(message)) return `message has ${JSON.stringify(message.match(UNCLEAR)?.[0] ?? '')}`;
  if (message.length < 8) return 'message too short';
  return null;
}

/** Everything an importer fuzz records: counts per outcome, and the bugs with their inputs. */
export class FuzzLog {
  tried = 0;
  accepted = 0;
  refused = 0;
  readonly bugs: { input: string; what: string; why: string; error?: string }[] = [];
  readonly reasons = new Map<string, number>();
  slowest = 0;
  /** The most memory one input took (MB: JS heap and ArrayBuffers grown during it). */
  largestMb = 0;

  constructor(readonly importer: string) {}

  record(what: string, outcome: Outcome, input: () => string): void {
    this.tried++;
    this.slowest = Math.max(this.slowest, outcome.ms);
    if (outcome.kind === 'ok') this.accepted++;
    else if (outcome.kind === 'refused') {
      this.refused++;
      const key = `${outcome.error.name}: ${outcome.error.message.replace(/\d+/g, 'N').slice(0, 90)}`;
      this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
    } else {
      const e = outcome.error as Error | undefined;
      if (this.bugs.length < 50) this.bugs.push({ input: input().slice(0, 400), what, why: outcome.why, error: e ? `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 6).join('\n')}` : undefined });
    }
  }

  /** Bugs grouped by their reason (for reading a failing run). */
  bugKinds(): string {
    const kinds = new Map<string, number>();
    for (const b of this.bugs) {
      const k = `${b.why} | ${(b.error ?? '').split('\n')[0]!.replace(/\d+/g, 'N').slice(0, 120)}`;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    return [...kinds.entries()].map(([k, n]) => `    ${n} x ${k}`).join('\n');
  }

  summary(): string {
    const top = [...this.reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
    return (
      `[fuzz] ${this.importer}: ${this.tried} inputs tried, ${this.accepted} accepted, ${this.refused} refused with a typed error, ` +
      `${this.bugs.length} bugs; slowest ${this.slowest.toFixed(0)} ms, largest ${this.largestMb.toFixed(0)} MB` +
      (process.env.PREFSTUDIO_FUZZ_VERBOSE ? '\n' + top.map(([k, n]) => `    ${n} x ${k}`).join('\n') + '\n  bugs:\n' + this.bugKinds() : '')
    );
  }

  /** For the failing assertion: the first bugs in full. */
  report(): string {
    return this.bugs.slice(0, 5).map((b) => `${b.what}: ${b.why}\n  ${b.error ?? ''}\n  input: ${JSON.stringify(b.input)}`).join('\n\n');
  }
}

/** Whether JSON-borne "__proto__" keys reached Object.prototype. */
export function prototypePolluted(): boolean {
  const probe = {} as Record<string, unknown>;
  return probe.polluted !== undefined || (Object.prototype as Record<string, unknown>).polluted !== undefined;
}

// ---- a pass in a worker thread, under a watchdog ----

/** One input of a pass. `make` (below) draws all of the input's random numbers; `run` draws none,
 *  so that after a hang a fresh worker continues the same sequence from the Rng state after `make`. */
export interface FuzzCase {
  what: string;
  /** The input as text, for the report of a bug or hang. */
  show: () => string;
  /** Runs the importer and judges it; null when the input never reaches the importer (not counted). */
  run: () => Promise<Outcome | null>;
}

/** Makes input `i` (0-based, counted inputs only) from the pass's Rng. */
export type CaseMaker = (rng: Rng, i: number) => FuzzCase;

/** What a plan module exports under the name given to fuzzInWorkers: set-up run once per worker,
 *  given the per-input limit (for withTimeLimit) and the pass's args. */
export type FuzzPlan = (limitMs: number, args: unknown) => CaseMaker | Promise<CaseMaker>;

export interface WorkerPass {
  /** The plan module (TypeScript, loaded in the worker through tsx; not imported by the test, so
   *  that the importers load once) and its export. */
  module: URL;
  plan: string;
  args?: unknown;
  seed: number;
  n: number;
  /** The importers' per-input limit; the watchdog stops a worker that is silent past it (plus a grace). */
  limitMs: number;
  /** The per-input memory ceiling in MB (default DEFAULT_MEMORY_MB): the worker's heap cap, and
   *  the most heap plus ArrayBuffers one input may add. */
  memoryMb?: number;
  log: FuzzLog;
}

/** Memory ceiling of one input unless a pass sets its own. */
export const DEFAULT_MEMORY_MB = 1024;

type WireError = { name: string; message: string; stack?: string };
type WireOutcome = { kind: 'ok'; ms: number } | { kind: 'refused'; error: WireError; ms: number } | { kind: 'bug'; why: string; error?: WireError; ms: number };
type FromWorker =
  | { type: 'start'; i: number; what: string; show: string; before: number; after: number }
  | { type: 'done'; outcome: WireOutcome; mb: number }
  | { type: 'skip' }
  | { type: 'end' };
interface WorkerData {
  module: string;
  plan: string;
  args: unknown;
  limitMs: number;
  memoryMb: number;
  n: number;
  i: number;
  state: number;
}

function toWire(e: unknown): WireError {
  return e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { name: typeof e, message: String(e) };
}

function fromWire(w: WireError): Error {
  return Object.assign(new Error(w.message), { name: w.name, stack: w.stack });
}

/** The worker's side (test/support/fuzz-worker.mjs): make and run inputs i..n-1, reporting each. */
export async function workerLoop(data: WorkerData, port: MessagePort): Promise<void> {
  const mod = (await import(data.module)) as Record<string, FuzzPlan>;
  const make = await mod[data.plan]!(data.limitMs, data.args);
  const rng = new Rng(data.state);
  let i = data.i;
  while (i < data.n) {
    const before = rng.state;
    const c = make(rng, i);
    const after = rng.state;
    port.postMessage({ type: 'start', i, what: c.what, show: c.show().slice(0, 400), before, after } satisfies FromWorker);
    const meter = memoryMeter();
    let o: Outcome | null;
    try {
      o = await c.run();
    } finally {
      meter.stop();
    }
    if (rng.state !== after) throw new Error(`fuzz plan ${data.plan}: run() of input ${i} drew random numbers (draw them in make)`);
    if (!o) {
      port.postMessage({ type: 'skip' } satisfies FromWorker);
      continue;
    }
    const mb = meter.peakMb;
    if (mb > data.memoryMb && o.kind !== 'bug') o = { kind: 'bug', why: `memory: the input took ${mb.toFixed(0)} MB (ceiling ${data.memoryMb} MB)`, ms: o.ms };
    const outcome: WireOutcome = o.kind === 'ok' ? o : o.kind === 'refused' ? { ...o, error: toWire(o.error) } : { ...o, error: o.error === undefined ? undefined : toWire(o.error) };
    port.postMessage({ type: 'done', outcome, mb } satisfies FromWorker);
    i++;
  }
  port.postMessage({ type: 'end' } satisfies FromWorker);
}

/**
 * Heap and ArrayBuffer growth of this worker from now, sampled every few milliseconds while the
 * input runs (an importer awaits often) and once at the end; the heap cap catches what a
 * synchronous stretch allocates between samples.
 */
function memoryMeter(): { stop(): void; readonly peakMb: number } {
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 5);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, used());
    },
    get peakMb() {
      return Math.max(0, peak - base) / (1 << 20);
    },
  };
}

const liveWorkers = new Set<Worker>();
/** Workers started by fuzzInWorkers and not yet ended (0 after every pass). */
export const liveFuzzWorkers = (): number => liveWorkers.size;

/** For afterAll: ends the workers of a pass that did not finish (a test timed out). */
export async function stopFuzzWorkers(): Promise<void> {
  await Promise.all([...liveWorkers].map((w) => w.terminate()));
  liveWorkers.clear();
}

/** Time a worker may take to start, set up its plan, or make one input. */
const SETUP_MS = 60_000;

/**
 * Runs a pass of `n` inputs in a worker thread and records every outcome in `log`. A worker silent
 * past the limit on one input is stopped: that input is a "hang" bug, a worker that dies on one is
 * a "crash" bug, and a fresh worker continues with the next input. Returns how many workers ran.
 */
export async function fuzzInWorkers(pass: WorkerPass): Promise<{ workers: number }> {
  let from = { i: 0, state: pass.seed >>> 0 };
  let workers = 0;
  while (from.i < pass.n) {
    workers++;
    from = await oneWorker(pass, from);
  }
  return { workers };
}

function oneWorker(pass: WorkerPass, from: { i: number; state: number }): Promise<{ i: number; state: number }> {
  const watchMs = pass.limitMs + Math.min(5000, pass.limitMs);
  const memoryMb = pass.memoryMb ?? DEFAULT_MEMORY_MB;
  const data: WorkerData = { module: pass.module.href, plan: pass.plan, args: pass.args, limitMs: pass.limitMs, memoryMb, n: pass.n, ...from };
  // The heap cap leaves room for the importers and the plan themselves above one input's ceiling.
  const worker = new Worker(new URL('./fuzz-worker.mjs', import.meta.url), {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: memoryMb + 512, maxYoungGenerationSizeMb: 64 },
  });
  liveWorkers.add(worker);
  return new Promise<{ i: number; state: number }>((resolve, reject) => {
    let current: Extract<FromWorker, { type: 'start' }> | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => stop(`hang: no answer in ${ms} ms, the worker was stopped`), ms);
    };
    const finish = (settle: () => void) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      void worker.terminate().finally(() => {
        liveWorkers.delete(worker);
        settle();
      });
    };
    // The input in flight is the bug; without one, the pass itself is broken.
    const stop = (why: string, error?: unknown) => {
      if (ended) return;
      const c = current;
      if (!c) return finish(() => reject(error instanceof Error ? error : new Error(`fuzz worker (${pass.plan}, before input ${from.i}): ${why}`)));
      pass.log.record(`${c.what} [input ${c.i}; replay: new Rng(${c.before})]`, { kind: 'bug', why, error, ms: why.startsWith('hang') ? watchMs : 0 }, () => c.show);
      finish(() => resolve({ i: c.i + 1, state: c.after }));
    };
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'start') {
        current = m;
        arm(watchMs);
      } else if (m.type === 'done' || m.type === 'skip') {
        const c = current!;
        current = null;
        arm(SETUP_MS);
        if (m.type === 'done') {
          const o = m.outcome;
          pass.log.largestMb = Math.max(pass.log.largestMb, m.mb);
          pass.log.record(c.what, o.kind === 'ok' ? o : o.kind === 'refused' ? { ...o, error: fromWire(o.error) } : { ...o, error: o.error && fromWire(o.error) }, () => c.show);
        }
      } else finish(() => resolve({ i: pass.n, state: 0 }));
    });
    worker.on('error', (e) =>
      (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? stop(`memory: the input filled the worker's ${memoryMb + 512} MB heap cap (ceiling ${memoryMb} MB per input)`, e)
        : stop(`crash: the worker died: ${e.name}: ${e.message}`, e),
    );
    worker.on('exit', (code) => stop(`crash: the worker exited with code ${code}`));
    arm(SETUP_MS);
  });
}
