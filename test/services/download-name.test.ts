// Browser downloads follow the CLI's output naming rules where they apply (src/services/data.ts).
import { describe, expect, it } from 'vitest';
import { downloadName } from '../../src/services/data.js';

describe('downloadName', () => {
  it('keeps ordinary names as they are', () => {
    for (const n of ['adapter.zip', 'model-merged.onnx', 'adapter-f16.gguf', 'prefstudio-backup-2024-01-02-03-04-05.jsonl.gz', 'My data.trl.jsonl']) expect(downloadName(n)).toBe(n);
  });

  it('is one plain name: no path, no hidden file, no control or reserved characters', () => {
    expect(downloadName('../../etc/passwd')).toBe('_.._etc_passwd');
    expect(downloadName('..')).toBe('download');
    expect(downloadName('.bashrc')).toBe('bashrc');
    expect(downloadName('a\\b:c*?.jsonl')).toBe('a_b_c__.jsonl');
    expect(downloadName('run\n1\u0000.zip')).toBe('run1.zip');
    expect(downloadName('name. ')).toBe('name');
    expect(downloadName('')).toBe('download');
  });

  it('shortens a long name, keeping its extensions', () => {
    const n = downloadName(`${'x'.repeat(300)}.trl.jsonl.gz`);
    expect(n).toHaveLength(180);
    expect(n.endsWith('.trl.jsonl.gz')).toBe(true);
  });
});
