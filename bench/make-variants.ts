// Writes the f16 and 4-bit variants of an f32 model folder beside its model.onnx, as transformers.js
// lays them out (onnx/model_fp16.onnx, onnx/model_q4.onnx; src/engine/model/layout.ts), for the
// real-shapes benchmark (bench/real-shapes.ts, BENCHMARKS.md "Real shapes"):
//   fp16: the whole graph in float16 as onnxconverter-common's convert_float_to_float16 writes it
//         with keep_io_types (float32 inputs / outputs behind Casts);
//   q4:   every MatMul weight as com.microsoft.MatMulNBits, 4 bits, blocks of 32 along K,
//         symmetric (no zero points), as onnxruntime's MatMul4BitsQuantizer writes transformers.js's
//         q4 files; the token embedding stays f32 (a tied LM head gets its own 4-bit copy).
// The conversion is test/support/quantize-onnx.ts (the one implementation, shared with the tests).
// An f32 file with its weights in one external data file beside it (model.onnx_data) is decoded with
// them attached (never encoded whole: a 0.5B f32 model is over protobuf's 2 GB); each variant is
// written whole (under 2 GB at these shapes).
// Each file is written under a temporary name and renamed at the end; an existing one is kept
// unless --force.
// With fp16 beside it, a folder's default variant becomes fp16 (layout.ts prefers it), so a command
// that names the folder without --dtype loads another file than before. `--out DIR` writes the
// variants into another folder instead, with config.json copied and the f32 file hard-linked as
// onnx/model.onnx (no second copy on disk), leaving the original folder as it was.
//
//   npx tsx bench/make-variants.ts <model-dir> [--out DIR] [--dtypes fp16,q4] [--block-size 32] [--force]
//   e.g. npx tsx bench/make-variants.ts bench-results/models/smollm2-135m-shape --out bench-results/models/smollm2-135m-shape-variants
// Then: npx prefstudio inspect <dir> --dtype fp16 (or q4, fp32).
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { float16Onnx, quantizeOnnx, readOnnx } from '../test/support/quantize-onnx.js';

const KINDS = ['fp16', 'q4'] as const;
type Kind = (typeof KINDS)[number];

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    dtypes: { type: 'string', default: 'fp16,q4' },
    'block-size': { type: 'string', default: '32' },
    force: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const USAGE = 'usage: npx tsx bench/make-variants.ts <model-dir> [--out DIR] [--dtypes fp16,q4] [--block-size 32] [--force]';
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
if (positionals.length !== 1) throw new Error(USAGE);
const from = resolve(positionals[0]!);
const source = join(from, 'model.onnx');
if (!statSync(source, { throwIfNoEntry: false })?.isFile()) throw new Error(`${source}: no such file (the folder's f32 model.onnx)`);
const dir = resolve(opt.out ?? from);
// One external data file beside it (model.onnx_data or model.onnx.data), as the graph names it.
const external = [`${source}_data`, `${source}.data`].find((f) => existsSync(f));
const kinds = opt.dtypes.split(',').map((d) => d.trim()) as Kind[];
for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`--dtypes: "${k}" is not one of ${KINDS.join(', ')}`);
const blockSize = Number(opt['block-size']);
if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new Error(`--block-size ${opt['block-size']}: a power of two >= 16`);

const log = (msg: string) => process.stderr.write(`[make-variants] ${msg}\n`);

/** A whole file, also past readFileSync's 2 GiB (a 0.5B model's external data), read in 256 MiB pieces. */
function readLarge(path: string): Uint8Array {
  const size = statSync(path).size;
  const out = new Uint8Array(size);
  const fd = openSync(path, 'r');
  try {
    for (let at = 0; at < size;) {
      const n = readSync(fd, out, at, Math.min(256 * 2 ** 20, size - at), at);
      if (n <= 0) throw new Error(`${path}: short read at byte ${at} of ${size}`);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
if (dir !== from) {
  // Another folder: config.json (and the tokenizer files, when there) copied, the f32 file linked.
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(dir, f));
  }
  const f32 = join(dir, 'onnx', 'model.onnx');
  if (!existsSync(f32)) linkSync(source, f32);
  if (external && !existsSync(join(dir, 'onnx', basename(external)))) linkSync(external, join(dir, 'onnx', basename(external)));
  log(`${dir}: config copied, onnx/model.onnx linked to ${source}`);
}
const outOf = (k: Kind) => join(dir, 'onnx', k === 'fp16' ? 'model_fp16.onnx' : 'model_q4.onnx');
const todo = kinds.filter((k) => opt.force || !existsSync(outOf(k)));
for (const k of kinds.filter((x) => !todo.includes(x))) log(`${outOf(k)} exists: kept (--force to rewrite)`);
if (todo.length) {
  const t0 = performance.now();
  const f32 = new Uint8Array(readFileSync(source));
  const data = external ? readLarge(external) : undefined;
  log(`read ${source}${external ? ` and ${basename(external)}` : ''} (${((f32.length + (data?.length ?? 0)) / 2 ** 20).toFixed(1)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const k of todo) {
    const t = performance.now();
    // Each conversion decodes its own copy (they work in place); external data stays in `data`, viewed.
    const model = readOnnx(f32, data);
    const bytes = k === 'fp16' ? float16Onnx(model, { keepIoTypes: true }) : quantizeOnnx(model, { bits: 4, blockSize, zeroPoints: false }).bytes;
    const out = outOf(k);
    writeFileSync(`${out}.partial`, bytes);
    renameSync(`${out}.partial`, out);
    log(`wrote ${out} (${(bytes.length / 2 ** 20).toFixed(1)} MiB) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}
