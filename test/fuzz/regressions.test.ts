// Inputs the fuzz pass (test/fuzz/*.test.ts) found to break an importer, cut down to what
// triggers the bug, kept so the fix stays fixed.
import { describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { DataFormatError } from '../../src/data/errors.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { bytesSource } from '../../src/data/io/source.js';

describe('fuzz regressions: datasets', () => {
  it('a Parquet footer that hyparquet trips over is "corrupt Parquet footer", not "Cannot read properties of undefined"', async () => {
    const n = 12;
    const bytes = new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: 'prompt', data: Array.from({ length: n }, (_, i) => `prompt ${i}`), type: 'STRING' },
          { name: 'completion', data: Array.from({ length: n }, (_, i) => ` completion ${i}`), type: 'STRING' },
          { name: 'label', data: Array.from({ length: n }, (_, i) => i % 2 === 0), type: 'BOOLEAN' },
        ],
        rowGroupSize: 4,
      }),
    );
    // Found by the fuzzer: bytes 858..908 copied into the footer at 977.
    const broken = new Uint8Array(bytes.length + 50);
    broken.set(bytes.subarray(0, 977));
    broken.set(bytes.subarray(858, 908), 977);
    broken.set(bytes.subarray(977), 1027);
    const err = await importAll(bytesSource('kto.parquet', broken)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toMatch(/^corrupt Parquet footer: /);
    expect((err as Error).message).not.toMatch(/undefined|Cannot read/);
  });
});
