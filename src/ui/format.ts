// Human units for GPU limits: bytes in binary units (1 GiB), counts with digit grouping.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1073741824 → "1 GiB", 4294967292 → "4 GiB", 1610612736 → "1.5 GiB", 300 → "300 B". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // Limits sit at or just below powers of two (2^32 - 4): one decimal is plenty.
  const rounded = Math.round(value * 10) / 10;
  return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

const COUNT = new Intl.NumberFormat('en-US');

/** 65535 → "65,535". */
export function formatCount(count: number): string {
  return Number.isFinite(count) ? COUNT.format(count) : '—';
}
