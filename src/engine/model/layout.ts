// Which files of a model folder are what. Recognised layouts:
//   Optimum / plain:        model.onnx (+ model.onnx.data, model.onnx_data, or whatever external
//                           data location the graph names), config.json
//   transformers.js:        onnx/model.onnx, onnx/model_fp16.onnx, onnx/model_quantized.onnx, ...
//                           beside config.json and the tokenizer files at the top
//   onnxruntime-genai:      genai_config.json naming the decoder file (model.onnx, past.onnx, ...)
//   older Optimum:          decoder_model.onnx, decoder_model_merged.onnx
// plus tokenizer.json, tokenizer_config.json, generation_config.json, special_tokens_map.json,
// chat_template.jinja.
// Among several .onnx files (variants: model.onnx, model_fp16.onnx, the transformers.js
// onnx/model_q4.onnx, model_q4f16.onnx, model_int8.onnx, model_uint8.onnx, ...) fp16 is preferred
// (the quality of fp32 at half the memory), then fp32, then 4-bit (q4f16, q4), then the other
// quantized ones; `dtype` or `onnx` picks one, and under a GPU memory budget a quantized one is
// chosen only when nothing better fits (variant-choice.ts). onnxVariants lists them with their
// dtype and size.

import { ModelLoadError } from './errors.js';
import { normalizePath, readJson, type ModelSource } from './source.js';
import { chooseVariant } from './variant-choice.js';

/** Precisions the variants of a model folder come in, by their transformers.js file names. */
export const ONNX_DTYPES = ['fp16', 'fp32', 'q4f16', 'q4', 'int8', 'uint8', 'quantized', 'bnb4'] as const;
export type OnnxDtype = (typeof ONNX_DTYPES)[number];

export interface OnnxVariant {
  /** Path of the .onnx file in the folder. */
  file: string;
  /** From the file name (model_fp16.onnx → fp16; model.onnx → fp32; an unknown suffix → null). */
  dtype: OnnxDtype | null;
  /** Bytes of the file and its external data beside it (model.onnx_data, model.onnx.data), when known. */
  bytes?: number;
  /** A quantized export (block-quantized MatMulNBits for q4/q4f16; 8-bit MatMulInteger/DequantizeLinear for the others). */
  quantized: boolean;
}

/** A variant's dtype from its file name. */
export function variantDtype(file: string): OnnxDtype | null {
  const base = (file.split('/').pop() ?? file).replace(/\.onnx$/i, '');
  const m = /(?:^|_)(fp16|fp32|q4f16|q4|int8|uint8|quantized|bnb4)$/i.exec(base);
  if (m) return m[1]!.toLowerCase() as OnnxDtype;
  return /^(model|decoder_model|decoder_model_merged)$/i.test(base) ? 'fp32' : null;
}

/** Rank of a variant among others: lower is preferred. */
function variantRank(file: string): number {
  const d = variantDtype(file);
  const decoder = /decoder_model/i.test(file) ? 0.5 : 0; // a plain model.onnx before an older decoder_model.onnx
  return (d ? ONNX_DTYPES.indexOf(d) : ONNX_DTYPES.length) + decoder + (file.startsWith('onnx/') ? 0.25 : 0);
}

/** The .onnx files of a listed folder as variants, preferred first; `sizes` gives bytes by path. */
export function onnxVariants(paths: readonly string[], sizes?: ReadonlyMap<string, number>): OnnxVariant[] {
  const files = paths.filter((p) => p.toLowerCase().endsWith('.onnx'));
  files.sort((a, b) => variantRank(a) - variantRank(b) || a.localeCompare(b));
  return files.map((file) => {
    const dtype = variantDtype(file);
    const parts = [file, `${file}_data`, `${file}.data`].map((f) => sizes?.get(f));
    return { file, dtype, quantized: dtype !== null && dtype !== 'fp16' && dtype !== 'fp32', ...(parts[0] !== undefined ? { bytes: parts.reduce<number>((a, b) => a + (b ?? 0), 0) } : {}) };
  });
}

/**
 * The variants among `candidates` with their sizes read from the source (each file and the
 * external data beside it); `files`, when the source is listed, spares asking for absent ones.
 */
async function sizedVariants(source: ModelSource, candidates: readonly string[], files?: ReadonlySet<string>): Promise<OnnxVariant[]> {
  const sizes = new Map<string, number>();
  for (const f of candidates) {
    for (const p of [f, `${f}_data`, `${f}.data`]) {
      const size = p === f || !files || files.has(p) ? await source.size(p) : undefined;
      if (size !== undefined) sizes.set(p, size);
    }
  }
  return onnxVariants(candidates, sizes);
}

export interface ModelLayout {
  /** The .onnx file to load. */
  onnx: string;
  /** Every .onnx file seen, best first. */
  onnxCandidates: string[];
  /** Why `onnx` was chosen. */
  reason: string;
  config?: string;
  genaiConfig?: string;
  generationConfig?: string;
  tokenizer?: string;
  tokenizerConfig?: string;
  specialTokensMap?: string;
  /** chat_template.jinja (newer transformers keep the template there, not in tokenizer_config). */
  chatTemplate?: string;
}

const PREFERRED = [
  'model.onnx', 'onnx/model.onnx',
  'model_fp16.onnx', 'onnx/model_fp16.onnx',
  'decoder_model.onnx', 'onnx/decoder_model.onnx',
  'decoder_model_merged.onnx', 'onnx/decoder_model_merged.onnx',
  'model_fp32.onnx', 'onnx/model_fp32.onnx',
];

const QUANTIZED = /(quantized|_q4|_q8|int8|uint8|_int4|bnb4|q4f16|_q\d)/i;


/** Names probed when the source cannot list its files (a URL). */
const PROBE = [...PREFERRED, 'onnx/model_quantized.onnx', 'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx'];

async function exists(source: ModelSource, files: Set<string> | undefined, path: string): Promise<boolean> {
  return files ? files.has(path) : (await source.size(path)) !== undefined;
}

/** The source's files by normalised path, or undefined when it cannot list them (a URL). */
async function listedFiles(source: ModelSource): Promise<Set<string> | undefined> {
  const listed = await source.list();
  return listed ? new Set(listed.map((p) => normalizePath(p) ?? p)) : undefined;
}

/** The .onnx files of a source, preferred first: listed, or probed by the usual names (a URL). */
async function onnxFiles(source: ModelSource, files: Set<string> | undefined): Promise<string[]> {
  let found: string[];
  if (files) found = [...files].filter((p) => p.toLowerCase().endsWith('.onnx'));
  else {
    found = [];
    for (const p of PROBE) if (await exists(source, files, p)) found.push(p);
  }
  return onnxVariants(found).map((v) => v.file);
}

/** Every .onnx variant of a source with its size, preferred first (the Models page's choice for a URL). */
export async function findVariants(source: ModelSource): Promise<OnnxVariant[]> {
  const files = await listedFiles(source);
  return sizedVariants(source, await onnxFiles(source, files), files);
}

/**
 * Finds the model files. `onnx` forces a particular .onnx file (a path in the folder), `dtype` a
 * precision; with `budgetBytes` (GPU memory for the weights) the preferred variant that fits is
 * chosen among several (variant-choice.ts), else the preferred one. Throws 'no-model-file' (naming what was looked for) or 'file-missing'.
 */
export async function detectLayout(source: ModelSource, options: { onnx?: string; dtype?: OnnxDtype; budgetBytes?: number } = {}): Promise<ModelLayout> {
  const files = await listedFiles(source);
  const layout: Partial<ModelLayout> = {};
  const top = async (name: string): Promise<string | undefined> => ((await exists(source, files, name)) ? name : undefined);
  layout.config = await top('config.json');
  layout.genaiConfig = await top('genai_config.json');
  layout.generationConfig = await top('generation_config.json');
  layout.tokenizer = await top('tokenizer.json');
  layout.tokenizerConfig = await top('tokenizer_config.json');
  layout.specialTokensMap = await top('special_tokens_map.json');
  layout.chatTemplate = await top('chat_template.jinja');

  const candidates = await onnxFiles(source, files);

  if (options.dtype && !options.onnx) {
    const v = candidates.find((f) => variantDtype(f) === options.dtype);
    if (!v) {
      const have = candidates.map((f) => `${f} (${variantDtype(f) ?? 'unknown'})`).join(', ');
      throw new ModelLoadError('file-missing', `no ${options.dtype} variant in ${source.label}: it has ${have || 'no .onnx file'}`, { file: options.dtype });
    }
    return { ...layout, onnx: v, onnxCandidates: candidates, reason: `the ${options.dtype} variant, as asked` } as ModelLayout;
  }

  if (options.onnx) {
    const p = normalizePath(options.onnx);
    if (!p || !(await exists(source, files, p))) {
      throw new ModelLoadError('file-missing', `${options.onnx}: no such file in ${source.label}`, { file: options.onnx });
    }
    return { ...layout, onnx: p, onnxCandidates: candidates, reason: 'chosen by the caller' } as ModelLayout;
  }

  // onnxruntime-genai names its decoder.
  if (layout.genaiConfig) {
    const g = await readJson(source, layout.genaiConfig);
    const model = (g?.model ?? {}) as Record<string, unknown>;
    const decoder = model.decoder as Record<string, unknown> | undefined;
    const name = typeof decoder?.filename === 'string' ? decoder.filename : undefined;
    if (name) {
      const p = normalizePath(name);
      if (!p || !(await exists(source, files, p))) {
        throw new ModelLoadError('file-missing', `genai_config.json names the decoder "${name}", which is not in ${source.label}`, { file: name });
      }
      return { ...layout, onnx: p, onnxCandidates: candidates.includes(p) ? candidates : [p, ...candidates], reason: 'named by genai_config.json (model.decoder.filename)' } as ModelLayout;
    }
  }
  if (options.budgetBytes !== undefined && candidates.length > 1) {
    const choice = chooseVariant(await sizedVariants(source, candidates, files), options.budgetBytes);
    return { ...layout, onnx: choice.file, onnxCandidates: candidates, reason: choice.reason } as ModelLayout;
  }
  const first = candidates[0];
  if (!first) {
    throw new ModelLoadError(
      'no-model-file',
      `no .onnx model in ${source.label}: looked for ${PREFERRED.slice(0, 4).join(', ')}, ... and any *.onnx${files ? ` among ${files.size} files` : ''}`,
      { files: files ? [...files] : undefined },
    );
  }
  const reason = PREFERRED.includes(first)
    ? `${variantDtype(first) === 'fp16' ? 'fp16, the preferred variant' : 'preferred layout name'}${candidates.length > 1 ? ` (also present: ${candidates.slice(1).join(', ')})` : ''}`
    : QUANTIZED.test(first) ? 'the only export present looks quantized' : 'the only .onnx file';
  return { ...layout, onnx: first, onnxCandidates: candidates, reason } as ModelLayout;
}
