// Which files of a model folder are what. Recognised layouts:
//   Optimum / plain:        model.onnx (+ model.onnx.data, model.onnx_data, or whatever external
//                           data location the graph names), config.json
//   transformers.js:        onnx/model.onnx, onnx/model_fp16.onnx, onnx/model_quantized.onnx, ...
//                           beside config.json and the tokenizer files at the top
//   onnxruntime-genai:      genai_config.json naming the decoder file (model.onnx, past.onnx, ...)
//   older Optimum:          decoder_model.onnx, decoder_model_merged.onnx
// plus tokenizer.json, tokenizer_config.json, generation_config.json, special_tokens_map.json,
// chat_template.jinja.
// Among several .onnx files fp32 is preferred, then fp16, then anything else; quantized exports
// come last (and the graph check refuses them with a message naming the export to use instead).

import { ModelLoadError } from './errors.js';
import { normalizePath, readJson, type ModelSource } from './source.js';

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

/** Preference rank of an .onnx path: lower is better. */
function rank(path: string): number {
  const i = PREFERRED.indexOf(path);
  if (i >= 0) return i;
  return QUANTIZED.test(path) ? 2000 : 1000;
}

/** Names probed when the source cannot list its files (a URL). */
const PROBE = [...PREFERRED, 'onnx/model_quantized.onnx', 'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_int8.onnx'];

async function exists(source: ModelSource, files: Set<string> | undefined, path: string): Promise<boolean> {
  return files ? files.has(path) : (await source.size(path)) !== undefined;
}

/**
 * Finds the model files. `onnx` forces a particular .onnx file (a path in the folder).
 * Throws 'no-model-file' (naming what was looked for) or 'file-missing'.
 */
export async function detectLayout(source: ModelSource, options: { onnx?: string } = {}): Promise<ModelLayout> {
  const listed = await source.list();
  const files = listed ? new Set(listed.map((p) => normalizePath(p) ?? p)) : undefined;
  const layout: Partial<ModelLayout> = {};
  const top = async (name: string): Promise<string | undefined> => ((await exists(source, files, name)) ? name : undefined);
  layout.config = await top('config.json');
  layout.genaiConfig = await top('genai_config.json');
  layout.generationConfig = await top('generation_config.json');
  layout.tokenizer = await top('tokenizer.json');
  layout.tokenizerConfig = await top('tokenizer_config.json');
  layout.specialTokensMap = await top('special_tokens_map.json');
  layout.chatTemplate = await top('chat_template.jinja');

  let candidates: string[];
  if (files) candidates = [...files].filter((p) => p.toLowerCase().endsWith('.onnx'));
  else {
    candidates = [];
    for (const p of PROBE) if (await exists(source, files, p)) candidates.push(p);
  }
  candidates.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

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
  const first = candidates[0];
  if (!first) {
    throw new ModelLoadError(
      'no-model-file',
      `no .onnx model in ${source.label}: looked for ${PREFERRED.slice(0, 4).join(', ')}, ... and any *.onnx${files ? ` among ${files.size} files` : ''}`,
      { files: files ? [...files] : undefined },
    );
  }
  const reason = PREFERRED.includes(first)
    ? `preferred layout name${candidates.length > 1 ? ` (also present: ${candidates.slice(1).join(', ')})` : ''}`
    : QUANTIZED.test(first) ? 'the only export present looks quantized' : 'the only .onnx file';
  return { ...layout, onnx: first, onnxCandidates: candidates, reason } as ModelLayout;
}
