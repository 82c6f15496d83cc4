// Shared bits of the model-loader tests: where the fixtures are, their reference files, and
// onnx-proto round trips for making broken or rewritten variants of a fixture in memory.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { memorySource, type ModelSource } from '../../src/engine/model/source.js';
import { rng } from '../support/numeric.js';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type TensorProto = onnxProto.onnx.TensorProto;
export type NodeProto = onnxProto.onnx.INodeProto;

/** The shared fixtures, read in place (never copied into the repo). */
export const SHARED = new URL('../../../shared/fixtures/models/', import.meta.url).pathname;
/** Our torch-made fixtures (scripts/fixtures/make_torch_fixtures.py). */
export const LOCAL = new URL('../fixtures/models/', import.meta.url).pathname;

export const LLAMA_FP16 = join(SHARED, 'tiny-random-llama-fp16');
export const GPT2_SHARED = join(SHARED, 'tiny-random-gpt2');
export const TINY_LLAMA = join(LOCAL, 'tiny-llama');
export const TINY_QWEN2 = join(LOCAL, 'tiny-qwen2');
export const TINY_GPT2 = join(LOCAL, 'tiny-gpt2');

export function readJsonFile<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** base64 of little-endian float32 → values. */
export function f32FromB64(b64: string): Float32Array {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export interface ReferenceFile {
  vocab_size: number;
  parameters: number;
  batches: { B: number; T: number; ids: number[][]; mask: number[][]; positions: number[][]; logits_f32_b64: string }[];
}

export interface WeightsFile {
  hf: Record<string, { shape: number[]; f32_b64: string }>;
  onnx: Record<string, { dims: number[]; dtype: string; f32_b64: string }>;
}

/** Every file of a folder (two levels deep) as bytes, keyed by relative path. */
export function folderFiles(dir: string, skip: RegExp = /^(reference|weights)\.json$/): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      if (statSync(join(dir, p)).isDirectory()) walk(p);
      else if (!skip.test(name)) out[p] = new Uint8Array(readFileSync(join(dir, p)));
    }
  };
  walk('');
  return out;
}

/** A folder in memory with some files replaced (undefined removes one). */
export function variant(dir: string, changes: Record<string, Uint8Array | string | undefined>): ModelSource {
  const files: Record<string, Uint8Array | string> = folderFiles(dir);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete files[k];
    else files[k] = v;
  }
  return memorySource(files, `variant of ${dir}`);
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(m: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

/** Rewrites an .onnx file through onnx-proto. */
export function rewrite(bytes: Uint8Array, edit: (m: ModelProto) => void): Uint8Array {
  const m = decodeModel(bytes);
  edit(m);
  return encodeModel(m);
}

export function fileBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** Seeded ids for rows of `lengths` real tokens (the rest padding: id 5, mask 0), padded to T. */
export function paddedBatch(V: number, seed: number, lengths = [9, 4, 6], T = 9) {
  const r = rng(seed);
  const B = lengths.length;
  const ids = new Int32Array(B * T).fill(5);
  const mask = new Int32Array(B * T);
  lengths.forEach((n, b) => {
    for (let t = 0; t < n; t++) ids[b * T + t] = 3 + Math.floor(r() * (V - 3));
    mask.fill(1, b * T, b * T + n);
  });
  return { B, T, ids, mask };
}

/** max |a - b| and max |b| over the logit rows (V wide) whose mask is 1. */
export function maxLogitDiff(a: Float32Array, b: Float32Array, V: number, mask: ArrayLike<number>): { diff: number; scale: number } {
  let diff = 0, scale = 0;
  for (let r = 0; r < mask.length; r++) {
    if (!mask[r]) continue;
    for (let v = 0; v < V; v++) {
      diff = Math.max(diff, Math.abs(a[r * V + v]! - b[r * V + v]!));
      scale = Math.max(scale, Math.abs(b[r * V + v]!));
    }
  }
  return { diff, scale };
}
