// `prefstudio inspect <model-dir> [--json] [--onnx <file>]`: what the model loader recognises in a
// folder (architecture, dimensions, dtypes, parameters, tokenizer, GPU memory for the weights), or
// the reason it cannot load it. Weight bytes are not read; warnings that would stop a real load
// (a tokenizer larger than the vocabulary) are shown, not enforced. A Hugging Face Hub id (org/name)
// is fetched first (src/cli/hub-model.ts: one variant, --onnx's or --dtype's, into the cache).

import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { formatBytes, isModelLoadError } from '../engine/model/errors.js';
import type { LoadedModel } from '../engine/model/load.js';
import { checkFits } from '../engine/model/memory.js';
import { HubModelError, openModel } from './hub-model.js';
import { DTYPE_USAGE, parseDtype } from './input.js';
import { findVariants, type OnnxDtype } from '../engine/model/layout.js';
import { variantGpuBytes } from '../engine/model/variant-choice.js';

const USAGE = `usage: prefstudio inspect <model-dir | model.onnx | org/name> [--json] [--onnx <file in the folder>] [--dtype <name>]
  org/name: a Hugging Face Hub id, fetched once into PREFSTUDIO_CACHE (progress on stderr)
${DTYPE_USAGE}
`;

/** WebGPU's default limits: what any adapter grants without asking for more. */
const DEFAULT_LIMITS = { maxStorageBufferBindingSize: 128 * 1024 * 1024, maxBufferSize: 256 * 1024 * 1024 };

export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  let onnx: string | undefined;
  let dtype: OnnxDtype | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') continue;
    if (a === '--onnx') onnx = args[++i];
    else if (a === '--dtype') {
      try {
        dtype = parseDtype(args[++i] ?? '');
      } catch (e) {
        process.stderr.write(`prefstudio inspect: ${(e as Error).message}\n${USAGE}`);
        return 2;
      }
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`prefstudio inspect: unknown option ${a}\n${USAGE}`);
      return 2;
    } else rest.push(a);
  }
  let dir = rest[0];
  if (!dir || rest.length > 1 || (args.includes('--onnx') && !onnx)) {
    process.stderr.write(USAGE);
    return 2;
  }
  // A path to the .onnx file itself: its folder is the model.
  if (dir.endsWith('.onnx') && (await stat(dir).catch(() => null))?.isFile()) {
    onnx ??= basename(dir);
    dir = dirname(dir);
  }
  let model: LoadedModel;
  try {
    ({ model } = await openModel(dir, { onnx, dtype, readWeights: false, acknowledge: ['tokenizer-vocab-mismatch'] }, (l) => process.stderr.write(`inspect: ${l}\n`)));
  } catch (e) {
    if (e instanceof HubModelError) {
      const message = `cannot load ${dir} from the Hugging Face Hub: ${e.detail}`;
      if (json) process.stdout.write(JSON.stringify({ ok: false, model: dir, error: { code: e.code, message } }, null, 2) + '\n');
      else process.stderr.write(`${message}\n`);
      return 1;
    }
    if (!isModelLoadError(e)) throw e;
    if (json) process.stdout.write(JSON.stringify({ ok: false, model: dir, error: { code: e.code, message: e.message, details: e.details } }, null, 2) + '\n');
    else process.stderr.write(`cannot load ${dir}: ${e.message} [${e.code}]\n`);
    return 1;
  }
  const report = { ...describe(model, dir), variants: await variantsOf(model) };
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : text(report));
  return 0;
}

function describe(m: LoadedModel, dir: string) {
  const dtypes: Record<string, number> = {};
  for (const w of m.weights.values()) dtypes[w.dtype] = (dtypes[w.dtype] ?? 0) + 1;
  const external = m.store.externalTensors().reduce((files, t) => files.add(t.external!.file), new Set<string>());
  const fits = (['f32', 'f16'] as const).map((d) => checkFits(m.memory, DEFAULT_LIMITS, Infinity, { dtype: d }));
  const t = m.tokenizer;
  return {
    ok: true,
    model: dir,
    onnx: m.layout.onnx,
    layoutReason: m.layout.reason,
    externalData: [...external],
    arch: m.arch,
    family: m.family,
    config: m.config,
    provenance: m.provenance,
    parameters: m.parameterCount,
    weightDtypes: dtypes,
    weights: [...m.weights.values()].map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype, source: w.source, transposed: w.transposed, rows: w.rows ?? null, sharedWith: w.sharedWith })),
    memory: {
      f32Bytes: m.memory.bytes.f32,
      f16Bytes: m.memory.bytes.f16,
      largest: m.memory.largest,
      defaultLimits: { ...DEFAULT_LIMITS, fitsF32: fits[0]!.problems.length === 0, fitsF16: fits[1]!.problems.length === 0 },
    },
    tokenizer: t
      ? { kind: t.kind, size: t.size, maxId: t.maxId, bos: t.bos, eos: t.eos, pad: t.pad, unk: t.unk, eosIds: t.eosIds, chatTemplate: t.chatTemplate !== null }
      : null,
    graph: m.graph,
    warnings: m.warnings,
  };
}

/** Every .onnx variant of the folder with its size and the GPU memory it needs (variant-choice.ts). */
async function variantsOf(m: LoadedModel) {
  const variants = await findVariants(m.source);
  return variants.map((v) => ({ file: v.file, dtype: v.dtype, bytes: v.bytes ?? null, gpuBytes: variantGpuBytes(v) ?? null, loaded: v.file === m.layout.onnx }));
}

type Report = ReturnType<typeof describe> & { variants: Awaited<ReturnType<typeof variantsOf>> };

/** What a llama-arch model adds to Llama (Gemma, Qwen3, Phi-3, OLMo 2, sliding windows), or ''. */
function variantLine(c: Report['config']): string {
  const parts: string[] = [];
  if (c.normPlacement && c.normPlacement !== 'pre') parts.push(`${c.normPlacement} norms`);
  if (c.normWeightOffset) parts.push(`norm weights ${c.normWeightOffset} + w`);
  if (c.qkNorm && c.qkNorm !== 'none') parts.push(`q/k norms ${c.qkNorm === 'head' ? 'per head' : 'over the projection'}`);
  if (c.embedScale !== undefined && c.embedScale !== 1) parts.push(`embedding scale ${c.embedScale}`);
  if (c.attentionScale !== undefined) parts.push(`attention scale ${Number(c.attentionScale.toPrecision(6))}`);
  if (c.attnSoftcap) parts.push(`attention soft-cap ${c.attnSoftcap}`);
  if (c.finalSoftcap) parts.push(`final soft-cap ${c.finalSoftcap}`);
  const sliding = c.layerTypes?.filter((t) => t === 'sliding').length ?? 0;
  if (sliding) parts.push(`sliding window ${c.slidingWindow} on ${sliding} of ${c.layers} layers`);
  if (c.localRope) parts.push(`local rope theta ${c.localRope.theta}`);
  if (c.packedProjections) parts.push('packed qkv_proj / gate_up_proj modules');
  return parts.join(', ');
}

function text(r: Report): string {
  const c = r.config;
  const from = (k: keyof typeof r.provenance) => (r.provenance[k] ? ` (${r.provenance[k]})` : '');
  const tok = (s: { token: string; id: number | null } | null) => (s ? `"${s.token}"=${s.id ?? '?'}` : '-');
  const lines = [
    `model:         ${r.model}`,
    `file:          ${r.onnx} (${r.layoutReason})${r.externalData.length ? `, external data ${r.externalData.join(', ')}` : ''}`,
    `graph:         ${r.graph.nodes} nodes, producer ${r.graph.producer || '?'}, opsets ${Object.entries(r.graph.opsets).map(([d, v]) => `${d || 'ai.onnx'} ${v}`).join(', ')}; norms ${r.graph.style.norm}, attention ${r.graph.style.attention}`,
    `architecture:  ${r.arch}${r.family !== r.arch ? ` (${r.family})` : ''}`,
    `dimensions:    vocab ${c.vocabSize}, hidden ${c.hidden}, layers ${c.layers}, heads ${c.heads}${from('heads')}, kv heads ${c.kvHeads}, head size ${c.headDim}, intermediate ${c.intermediate}, max positions ${c.maxPositions}${from('maxPositions')}`,
    `details:       ${c.arch === 'llama' ? `rms eps ${c.normEps}${from('normEps')}, rope theta ${c.ropeTheta}${from('ropeTheta')}${c.ropeScaling ? ` scaling ${JSON.stringify(c.ropeScaling)}` : ''}, rotary dim ${c.rotaryDim}${c.ropeInterleaved ? ' interleaved' : ''}, q/k/v bias ${c.qkvBias ? 'yes' : 'no'}` : `layernorm eps ${c.normEps}${from('normEps')}`}, activation ${c.activation}, tied embeddings ${c.tiedEmbeddings ? 'yes' : 'no'}`,
    ...(variantLine(c) ? [`variant:       ${variantLine(c)}`] : []),
    `token ids:     bos ${c.bosId ?? '-'}, eos ${c.eosIds.length ? c.eosIds.join(' ') : '-'}, pad ${c.padId ?? '-'}`,
    `parameters:    ${r.parameters.toLocaleString('en-US')} in ${r.weights.length} tensors (${Object.entries(r.weightDtypes).map(([d, n]) => `${n} ${d}`).join(', ')})`,
    `GPU memory:    ${formatBytes(r.memory.f32Bytes)} with f32 weights, ${formatBytes(r.memory.f16Bytes)} with f16 linear weights; largest tensor ${r.memory.largest.name} [${r.memory.largest.shape.join(', ')}] ` +
      `${formatBytes(r.memory.largest.bytes.f32)} (${r.memory.defaultLimits.fitsF32 ? 'fits' : 'exceeds'} WebGPU's default ${formatBytes(r.memory.defaultLimits.maxStorageBufferBindingSize)} binding as f32)`,
    r.tokenizer
      ? `tokenizer:     ${r.tokenizer.kind}, ${r.tokenizer.size} tokens (max id ${r.tokenizer.maxId}); bos ${tok(r.tokenizer.bos)}, eos ${tok(r.tokenizer.eos)}, pad ${tok(r.tokenizer.pad)}; chat template ${r.tokenizer.chatTemplate ? 'yes' : 'no'}`
      : 'tokenizer:     none',
  ];
  if (r.variants.length > 1) {
    lines.push('variants:', ...r.variants.map((v) => `  ${v.loaded ? '*' : '-'} ${v.file} ${v.dtype ?? 'unknown precision'}${v.bytes !== null ? `, ${formatBytes(v.bytes)} on disk` : ''}${v.gpuBytes !== null ? `, about ${formatBytes(v.gpuBytes)} of GPU memory` : ''}`));
  }
  if (r.warnings.length) lines.push('warnings:', ...r.warnings.map((w) => `  - ${w.message} [${w.code}]`));
  return lines.join('\n') + '\n';
}
