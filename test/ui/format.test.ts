import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount } from '../../src/ui/format.js';

describe('formatBytes', () => {
  it('picks the largest binary unit with a value of at least 1', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(32 * 1024)).toBe('32 KiB');
    expect(formatBytes(128 * 1024 * 1024)).toBe('128 MiB');
    expect(formatBytes(2 ** 30)).toBe('1 GiB');
    expect(formatBytes(1.5 * 2 ** 30)).toBe('1.5 GiB');
  });

  it('rounds limits just below a power of two (maxBufferSize is often 2^32 - 4)', () => {
    expect(formatBytes(2 ** 32 - 4)).toBe('4 GiB');
    expect(formatBytes(2 ** 31 - 1)).toBe('2 GiB');
  });

  it('shows a dash for values that are not sizes', () => {
    expect(formatBytes(Number.NaN)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
  });
});

describe('formatCount', () => {
  it('groups digits', () => {
    expect(formatCount(8)).toBe('8');
    expect(formatCount(256)).toBe('256');
    expect(formatCount(65535)).toBe('65,535');
    expect(formatCount(4294967295)).toBe('4,294,967,295');
  });
});
