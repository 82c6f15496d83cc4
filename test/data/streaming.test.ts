// Streaming in bounded memory: 200k rows generated on the fly (never a whole file in memory)
// pass through reader, converter and validator while the heap stays flat.
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { detectFormat } from '../../src/data/import/detect.js';
import { importRecords } from '../../src/data/import/pipeline.js';
import { encodeChunks } from '../../src/data/export/write.js';
import { generatedSource, type ByteSource } from '../../src/data/io/source.js';

const ROWS = 200_000;

// A full collection on demand, so we measure what is retained rather than garbage not yet swept.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
// ~300 bytes a row: 60 MB of JSON Lines, 120 MB as JS strings if it were held at once.
const FILLER = 'lorem ipsum dolor sit amet '.repeat(8);

function* jsonlText(rows: number): Generator<string> {
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    chunk += JSON.stringify({ prompt: `question ${i}: ${FILLER}`, chosen: ` good ${i}`, rejected: ` bad ${i} ${FILLER}` }) + '\n';
    if (chunk.length > 256 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

function* jsonArrayText(rows: number): Generator<string> {
  yield '{"data": [\n';
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    chunk += (i ? ',\n' : '') + JSON.stringify({ prompt: `q${i} "${FILLER}"`, completion: ` a${i}`, label: i % 2 === 0 });
    if (chunk.length > 256 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  yield chunk + '\n]}\n';
}

async function* bytes(text: Iterable<string>, gzip = false): AsyncGenerator<Uint8Array> {
  async function* t() {
    yield* text;
  }
  yield* encodeChunks(t(), gzip);
}

interface Run {
  records: number;
  errors: number;
  /** Largest heap growth after a full collection, sampled through the run. */
  retainedMb: number;
  /** Largest heap growth without collecting (garbage included). */
  growthMb: number;
  seconds: number;
  progressCalls: number;
  lastBytes: number;
}

async function run(source: ByteSource): Promise<Run> {
  const det = await detectFormat(source);
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  let retained = base;
  let batches = 0;
  let records = 0;
  let errors = 0;
  let progressCalls = 0;
  let lastBytes = 0;
  const t0 = performance.now();
  for await (const batch of importRecords(source, det.mapping!, {
    onProgress: (p) => {
      progressCalls++;
      lastBytes = p.bytesRead;
    },
  })) {
    records += batch.records.length;
    errors += batch.errors.length;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    if (++batches % 40 === 0) {
      gc();
      retained = Math.max(retained, process.memoryUsage().heapUsed);
    }
  }
  return { records, errors, retainedMb: (retained - base) / 2 ** 20, growthMb: (peak - base) / 2 ** 20, seconds: (performance.now() - t0) / 1000, progressCalls, lastBytes };
}

describe('streaming import', () => {
  it(`${ROWS} JSON Lines rows in bounded memory and a few seconds`, async () => {
    const r = await run(generatedSource('big.jsonl', () => bytes(jsonlText(ROWS))));
    console.log(`jsonl: ${r.records} records in ${r.seconds.toFixed(2)} s, retained ${r.retainedMb.toFixed(1)} MB, peak growth ${r.growthMb.toFixed(1)} MB, ${(r.lastBytes / 2 ** 20).toFixed(0)} MB read`);
    expect(r.records).toBe(ROWS);
    expect(r.errors).toBe(0);
    expect(r.lastBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(r.progressCalls).toBeGreaterThan(100);
    // Held at once the text alone would be ~200 MB of heap (UTF-16); what stays alive between
    // batches is one batch (a few MB), and even uncollected garbage stays far below the file.
    expect(r.retainedMb).toBeLessThan(12);
    expect(r.growthMb).toBeLessThan(64);
    expect(r.seconds).toBeLessThan(15);
  });

  it(`${ROWS / 2} rows of a gzip-compressed JSON array under a wrapper key`, async () => {
    const r = await run(generatedSource('big.json.gz', () => bytes(jsonArrayText(ROWS / 2), true)));
    console.log(`json.gz: ${r.records} records in ${r.seconds.toFixed(2)} s, retained ${r.retainedMb.toFixed(1)} MB, peak growth ${r.growthMb.toFixed(1)} MB, ${(r.lastBytes / 2 ** 20).toFixed(1)} MB compressed read`);
    expect(r.records).toBe(ROWS / 2);
    expect(r.errors).toBe(0);
    expect(r.retainedMb).toBeLessThan(12);
    expect(r.growthMb).toBeLessThan(64);
    expect(r.seconds).toBeLessThan(15);
  });

  it('cancels promptly through an AbortSignal', async () => {
    const source = generatedSource('big.jsonl', () => bytes(jsonlText(ROWS)));
    const det = await detectFormat(source);
    const controller = new AbortController();
    let records = 0;
    const read = (async () => {
      for await (const b of importRecords(source, det.mapping!, { signal: controller.signal })) {
        records += b.records.length;
        if (records >= 10_000) controller.abort();
      }
    })();
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });
    expect(records).toBeLessThan(20_000);
  });
});
