// `prefstudio convert <input> --to trl|trl-conversational|kto|records|prompts --out <file>`: detects the
// input format, converts it and writes JSON Lines (gzip when --out ends in .gz) or Parquet (when
// --out ends in .parquet). Reports counts, the bad rows with their line and field, and the records
// the target cannot hold, grouped by reason. Exits 1 when nothing valid came out, or when records
// were dropped without --allow-drop; 2 on a usage error or an --out that cannot be used (the input
// itself, an existing file without --force, a folder, a missing folder). The output is written
// under a temporary name and renamed at the end (src/cli/output.ts): a failed or killed run leaves
// no output file and an existing one as it was.
import { fileWriter } from 'hyparquet-writer';
import { countBadRows, DataFormatError, describeRowError, type RowError } from '../data/errors.js';
import { detectFormat, proposeMapping } from '../data/import/detect.js';
import { FORMATS, formatSpec } from '../data/import/formats/index.js';
import type { FormatId } from '../data/import/mapping.js';
import { importRecords } from '../data/import/pipeline.js';
import { inflateLimitsHelp } from '../data/io/limits.js';
import { fileSource } from '../data/io/node-file.js';
import { TrlExporter, type ExportOptions, type ExportStyle } from '../data/export/trl.js';
import { encodeChunks, jsonlChunks, writeParquet } from '../data/export/write.js';
import type { PrefRecord } from '../data/records.js';
import { identicalPairs } from '../engine/training/prepare.js';
import { OutputError, OutputFile, planOutput } from './output.js';

const TARGETS: Record<string, { options: ExportOptions; label: string }> = {
  trl: { options: { shape: 'trl', style: 'standard' }, label: 'TRL (standard text)' },
  'trl-conversational': { options: { shape: 'trl', style: 'conversational' }, label: 'TRL (conversational)' },
  kto: { options: { shape: 'unpaired' }, label: 'TRL unpaired preference (KTO)' },
  records: { options: { shape: 'records' }, label: 'PrefStudio records' },
  prompts: { options: { shape: 'prompt' }, label: 'TRL prompt-only' },
};

const USAGE = `usage: prefstudio convert <input> --to <target> --out <file> [options]

  <input>            JSON, JSON Lines, CSV/TSV or Parquet, optionally .gz; the format is detected
  --to <target>      trl                 TRL preference / unpaired / stepwise, plain text: a
                                         multi-turn conversation becomes a Human/Assistant
                                         transcript ("\\n\\nHuman: ...\\n\\nAssistant: ..."), as in
                                         HH-RLHF, the prompt ending with "\\n\\nAssistant:"; a
                                         system prompt goes first, then a blank line
                     trl-conversational  the same with role/content messages
                     kto                 TRL unpaired preference (pairs are unpaired)
                     records             PrefStudio records (lossless, with provenance)
                     prompts             TRL prompt-only: the prompt of every record (a prompt
                                         set for prefstudio generate)
  --out <file>       .jsonl (or .jsonl.gz) writes JSON Lines, .parquet writes Parquet; never the
                     input itself
  --force            replace --out if it exists (it is kept as it was when the run fails)
  --format <id>      skip detection: ${FORMATS.map((f) => f.id).join(', ')}
  --style <style>    standard or conversational (kto and records: default follows the data)
  --strict           exit 1 when any row is bad (nothing is written then)
  --allow-drop       write the records the target can hold even when some cannot (a tie or a
                     both-bad pair has no preference row, a stepwise record no KTO row, ...);
                     without it such a conversion exits 1 and writes nothing
  --max-errors <n>   bad rows to list (default 20)
  --json             print the report as JSON

${inflateLimitsHelp()}`;

interface Args {
  input: string;
  to: string;
  out: string;
  format?: FormatId;
  style?: ExportStyle;
  strict: boolean;
  allowDrop: boolean;
  maxErrors: number;
  json: boolean;
  force: boolean;
}

function parseArgs(args: string[]): Args | string {
  const out: Partial<Args> = { strict: false, allowDrop: false, maxErrors: 20, json: false, force: false };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    try {
      if (a === '--to') out.to = value();
      else if (a === '--out' || a === '-o') out.out = value();
      else if (a === '--format') out.format = value() as FormatId;
      else if (a === '--style') out.style = value() as ExportStyle;
      else if (a === '--strict') out.strict = true;
      else if (a === '--allow-drop') out.allowDrop = true;
      else if (a === '--json') out.json = true;
      else if (a === '--force') out.force = true;
      else if (a === '--max-errors') out.maxErrors = Number(value());
      else if (a === '--help' || a === '-h') return 'help';
      else if (a.startsWith('-')) return `unknown option ${a}`;
      else positional.push(a);
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (positional.length !== 1) return 'give exactly one input file';
  if (!out.to || !TARGETS[out.to]) return `--to must be one of ${Object.keys(TARGETS).join(', ')}`;
  if (!out.out) return '--out is required';
  if (out.format && !FORMATS.some((f) => f.id === out.format)) return `unknown --format ${out.format}`;
  if (out.style && out.style !== 'standard' && out.style !== 'conversational') return '--style must be standard or conversational';
  if (!Number.isInteger(out.maxErrors) || out.maxErrors! < 0) return '--max-errors must be a whole number';
  return { ...out, input: positional[0]! } as Args;
}

export interface ConvertReport {
  input: string;
  container: string;
  compressed: boolean;
  format: string;
  kind: string;
  rowsRead: number;
  records: number;
  badRows: number;
  errors: string[];
  /** Rows the listed errors belong to. */
  listedRows: number;
  /** Pairs whose chosen is identical to their rejected (kept, but they carry no preference), and the first few places. */
  identical: number;
  identicalAt: string[];
  fatal?: string;
  output: string;
  target: string;
  rowsWritten: number;
  recordsWritten: number;
  /** Records the target cannot hold (rows, for a Parquet file's rows of another shape). */
  dropped: number;
  allowDrop: boolean;
  skipped: { reason: string; count: number }[];
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`prefstudio convert: ${parsed}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await convert(parsed);
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    process.stderr.write(`prefstudio convert: ${e.message}\n`);
    return 2;
  }
}

async function convert(a: Args): Promise<number> {
  // The output is checked before the input is opened: never the input, never over a file unasked.
  const plan = await planOutput({ flag: '--out', path: a.out, kind: 'file' }, { force: a.force, inputs: [['', a.input]] });
  const source = await fileSource(a.input);
  const detection = await detectFormat(source);
  let mapping = detection.mapping;
  if (a.format) {
    mapping = proposeMapping(a.format, detection.sample.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)));
  }
  if (!mapping) {
    process.stderr.write(`prefstudio convert: ${a.input}: ${new DataFormatError(detection.problem ?? 'unknown format', detection.problemAt).message}\n`);
    return 1;
  }
  const target = TARGETS[a.to]!;
  const exporter = new TrlExporter({ ...target.options, ...(a.style ? { style: a.style } : {}) });
  const report: ConvertReport = {
    input: a.input,
    container: detection.container,
    compressed: detection.compressed !== null,
    format: mapping.format,
    kind: mapping.kind,
    rowsRead: 0,
    records: 0,
    badRows: 0,
    errors: [],
    listedRows: 0,
    identical: 0,
    identicalAt: [],
    output: a.out,
    target: target.label,
    rowsWritten: 0,
    recordsWritten: 0,
    dropped: 0,
    allowDrop: a.allowDrop,
    skipped: [],
  };
  const errors: RowError[] = [];
  const identicalAt: string[] = [];
  // Each error is listed (up to --max-errors); rows are counted once however many fields are bad.
  const badRow = (e: RowError) => {
    if (errors.length < a.maxErrors) errors.push(e);
  };

  // Records flow from the reader into the writer a batch at a time.
  async function* records(): AsyncGenerator<PrefRecord[]> {
    try {
      for await (const b of importRecords(source, mapping!, {})) {
        b.errors.forEach(badRow);
        const bad = countBadRows(b.errors);
        report.badRows += bad;
        report.rowsRead += b.records.length + bad;
        report.records += b.records.length;
        for (const i of identicalPairs(b.records)) {
          report.identical++;
          const src = b.records[i]!.source;
          if (identicalAt.length < 5) identicalAt.push(src.type === 'import' && src.line !== undefined ? `line ${src.line}` : `row ${src.type === 'import' ? src.row : '?'}`);
        }
        if (a.strict && b.errors.length) throw new StrictStop();
        yield b.records;
      }
    } catch (e) {
      if (!(e instanceof DataFormatError)) throw e;
      report.fatal = e.message;
      if (a.strict) throw new StrictStop();
    }
  }

  // Written under a temporary name beside the output, renamed once the run succeeded.
  const file = await OutputFile.create(plan);
  let failed = false;
  try {
    if (a.out.toLowerCase().endsWith('.parquet')) {
      await writeParquet(records(), exporter, fileWriter(file.tmp));
    } else {
      for await (const chunk of encodeChunks(jsonlChunks(records(), exporter), a.out.toLowerCase().endsWith('.gz'))) await file.write(chunk);
    }
  } catch (e) {
    if (!(e instanceof StrictStop) && !/^nothing to export/.test((e as Error).message)) {
      await file.discard();
      throw e;
    }
    failed = true;
  }
  report.errors = errors.map(describeRowError);
  report.identicalAt = identicalAt;
  report.listedRows = countBadRows(errors);
  report.dropped = exporter.skippedCount;
  const reasons = new Map<string, number>();
  for (const s of exporter.skipped) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
  const listed = exporter.skipped.length;
  if (exporter.skippedCount > listed) reasons.set('(more, not listed)', exporter.skippedCount - listed);
  report.skipped = [...reasons].map(([reason, count]) => ({ reason, count }));

  const ok = exporter.rows > 0 && !failed && (report.dropped === 0 || a.allowDrop);
  report.rowsWritten = ok ? exporter.rows : 0;
  report.recordsWritten = ok ? exporter.records : 0;
  if (ok) await file.commit();
  else await file.discard();
  if (a.json) process.stdout.write(JSON.stringify({ ok, ...report }, null, 2) + '\n');
  else process.stdout.write(describeReport(report, ok, a.strict && failed));
  return ok ? 0 : 1;
}

class StrictStop extends Error {}

function describeReport(r: ConvertReport, ok: boolean, strictStop: boolean): string {
  const spec = formatSpec(r.format as FormatId);
  const lines = [
    `input:   ${r.input} (${r.container}${r.compressed ? ', gzip' : ''}; ${spec.label} -> ${r.kind} records)`,
    `read:    ${r.rowsRead} rows: ${r.records} records, ${r.badRows} bad rows`,
  ];
  for (const e of r.errors) lines.push(`  bad row: ${e}`);
  if (r.badRows > r.listedRows) lines.push(`  ... and ${r.badRows - r.listedRows} more bad rows`);
  if (r.fatal) lines.push(`  the file breaks off: ${r.fatal}${strictStop ? '' : ' (the rows before it were converted)'}`);
  if (r.identical) {
    lines.push(`  warning: ${r.identical} pair(s) have chosen identical to rejected (${r.identicalAt.join(', ')}${r.identical > r.identicalAt.length ? ', ...' : ''}): they carry no preference`);
  }
  if (!strictStop) {
    lines.push(`dropped: ${r.dropped} record(s) that ${r.target} cannot hold${r.dropped ? ':' : ''}`);
    for (const s of r.skipped) lines.push(`  skipped ${s.count} record(s): ${s.reason}`);
  }
  if (ok) lines.push(`wrote:   ${r.rowsWritten} rows from ${r.recordsWritten} records to ${r.output} as ${r.target}`);
  else if (strictStop) lines.push('nothing written: bad rows and --strict');
  else if (r.dropped && r.records > r.dropped && !r.allowDrop) {
    lines.push(`nothing written: ${r.dropped} record(s) would be dropped; pass --allow-drop to write the other ${r.records - r.dropped} without them`);
  } else lines.push('nothing written: no valid record fits the target');
  return lines.join('\n') + '\n';
}
