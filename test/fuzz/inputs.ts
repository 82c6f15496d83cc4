// Mutated dataset files for the fuzz suites: which mutations fit which seed (JSON structure for
// JSON and JSONL, quoting chaos for CSV, footer and page corruption for Parquet, trailer and
// length corruption for gzip, byte-level mutations for all).
import { gunzipSync, gzipSync } from 'fflate';
import { mutateBytes, mutateJsonValue, mutateText, Rng, stringifyHostile } from '../support/fuzz.js';
import type { Seed } from './seeds.js';

export interface FuzzInput {
  name: string;
  bytes: Uint8Array;
  what: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function kindOf(name: string): 'json' | 'jsonl' | 'csv' | 'parquet' | 'gz' | 'other' {
  const ext = name.toLowerCase().split('.').pop();
  if (ext === 'gz') return 'gz';
  if (ext === 'json') return 'json';
  if (ext === 'jsonl') return 'jsonl';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (ext === 'parquet') return 'parquet';
  return 'other';
}

function mutateJsonl(text: string, rng: Rng): { text: string; what: string } {
  const lines = text.split('\n');
  const i = rng.int(lines.length);
  const r = rng.int(4);
  if (r === 0) {
    lines.splice(rng.int(lines.length + 1), 0, lines[i]!);
    return { text: lines.join('\n'), what: `line ${i + 1} duplicated` };
  }
  let v: unknown;
  try {
    v = JSON.parse(lines[i]!);
  } catch {
    return mutateText(text, rng, 'json');
  }
  lines[i] = stringifyHostile(mutateJsonValue(v, rng));
  return { text: lines.join('\n'), what: `line ${i + 1} value mutated` };
}

function mutateJson(text: string, rng: Rng): { text: string; what: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return mutateText(text, rng, 'json');
  }
  let m = v;
  const times = 1 + rng.int(3);
  for (let i = 0; i < times; i++) m = mutateJsonValue(m, rng);
  return { text: stringifyHostile(m, rng.chance(0.5) ? 2 : undefined), what: `${times} JSON value mutation(s)` };
}

function mutateParquet(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const out = b.slice();
  const n = out.length;
  const r = rng.int(4);
  if (r === 0) {
    // The footer length (the 4 bytes before the closing PAR1).
    const v = rng.pick([0, 1, n, n - 8, n + 100, 0x7fffffff, 0xffffffff, rng.int(n)]);
    new DataView(out.buffer).setUint32(n - 8, v >>> 0, true);
    return { bytes: out, what: `footer length set to ${v >>> 0}` };
  }
  if (r === 1) {
    // Inside the footer (Thrift metadata: schema, row groups, column chunk offsets).
    const footerLen = new DataView(b.buffer, b.byteOffset).getUint32(n - 8, true);
    const start = Math.max(4, n - 8 - footerLen);
    const flips = 1 + rng.int(4);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = start + rng.int(n - 8 - start);
      out[p] = rng.chance(0.5) ? out[p]! ^ (1 << rng.int(8)) : rng.int(256);
      at.push(p);
    }
    return { bytes: out, what: `footer bytes changed at ${at.join(',')}` };
  }
  if (r === 2) {
    // Inside the pages (between the header magic and the footer).
    const footerLen = new DataView(b.buffer, b.byteOffset).getUint32(n - 8, true);
    const end = Math.max(5, n - 8 - footerLen);
    const p = 4 + rng.int(end - 4);
    out[p] = rng.int(256);
    return { bytes: out, what: `page byte ${p} set to ${out[p]}` };
  }
  return mutateBytes(b, rng);
}

function mutateGzip(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const r = rng.int(6);
  const out = b.slice();
  const n = out.length;
  if (r === 0) {
    const p = n - 1 - rng.int(8);
    out[p] = rng.int(256);
    return { bytes: out, what: `trailer byte ${p} (CRC-32 / ISIZE) set to ${out[p]}` };
  }
  if (r === 1) {
    // ISIZE: the length mod 2^32, a common source of "trust the header" bugs.
    new DataView(out.buffer).setUint32(n - 4, rng.pick([0, 1, 0xffffffff, 0x7fffffff]), true);
    return { bytes: out, what: 'ISIZE rewritten' };
  }
  if (r === 2) {
    out[3] = rng.int(256); // FLG: FEXTRA / FNAME / FCOMMENT / FHCRC make the header longer
    return { bytes: out, what: `header flags set to ${out[3]}` };
  }
  let inner: Uint8Array | null = null;
  try {
    inner = gunzipSync(b);
  } catch {
    // the seed itself is a broken gzip (a fixture)
  }
  if (r === 3 && inner) {
    const m = mutateBytes(inner, rng);
    return { bytes: gzipSync(m.bytes), what: `gzip of (${m.what})` };
  }
  if (r === 4) {
    const tail = rng.chance(0.5) ? b : rng.bytes(1 + rng.int(32));
    const joined = new Uint8Array(n + tail.length);
    joined.set(b);
    joined.set(tail, n);
    return { bytes: joined, what: tail === b ? 'two gzip members' : `${tail.length} bytes after the member` };
  }
  return mutateBytes(b, rng);
}

const RENAMES = ['data.json', 'data.jsonl', 'data.csv', 'data.tsv', 'data.parquet', 'data.jsonl.gz', 'data', 'data.txt'];

/** One mutated file from a seed. */
export function mutateSeed(seed: Seed, rng: Rng): FuzzInput {
  const kind = kindOf(seed.name);
  let name = seed.name;
  let r: { bytes: Uint8Array; what: string };
  const structural = rng.chance(0.6);
  if (!structural) r = mutateBytes(seed.bytes, rng);
  else if (kind === 'json' || kind === 'jsonl') {
    const text = dec.decode(seed.bytes);
    const t = rng.chance(0.6) ? (kind === 'json' ? mutateJson(text, rng) : mutateJsonl(text, rng)) : mutateText(text, rng, 'json');
    r = { bytes: enc.encode(t.text), what: t.what };
  } else if (kind === 'csv') {
    const t = mutateText(dec.decode(seed.bytes), rng, 'csv');
    r = { bytes: enc.encode(t.text), what: t.what };
  } else if (kind === 'parquet') r = mutateParquet(seed.bytes, rng);
  else if (kind === 'gz') r = mutateGzip(seed.bytes, rng);
  else r = mutateBytes(seed.bytes, rng);
  // Sometimes a second mutation on top.
  if (rng.chance(0.15)) {
    const m = mutateBytes(r.bytes, rng);
    r = { bytes: m.bytes, what: `${r.what}; ${m.what}` };
  }
  if (rng.chance(0.05)) name = rng.pick(RENAMES);
  return { name, bytes: r.bytes, what: `${seed.name} -> ${name}: ${r.what}` };
}

/** A printable form of an input for a bug report (text as is, binary as base64). */
export function showInput(input: FuzzInput): string {
  const text = dec.decode(input.bytes);
  return /[\u0000-\u0008\ufffd]/.test(text) ? `base64:${Buffer.from(input.bytes).toString('base64')}` : text;
}
