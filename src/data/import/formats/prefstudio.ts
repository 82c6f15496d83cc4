// Our own JSONL export: each row is a whole record with its provenance. Read back as-is.
import { RECORD_KINDS } from '../../records.js';
import type { FormatSpec } from '../mapping.js';

export const prefstudio: FormatSpec = {
  id: 'prefstudio',
  label: 'PrefStudio records (JSONL export)',
  kind: 'pair',
  fields: [],
  match(row) {
    return typeof row.kind === 'string' && (RECORD_KINDS as readonly string[]).includes(row.kind) && 'prompt' in row ? 1 : 0;
  },
  guessColumns() {
    return {};
  },
  convert(row) {
    return { ...row, kind: row.kind as (typeof RECORD_KINDS)[number] };
  },
};
