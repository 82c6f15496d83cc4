// The bytes behind a graph's tensors: embedded ones are views into the .onnx buffer; external ones
// live at (offset, length) in data files beside it. `check()` proves every external range is there
// before anything large is read or allocated; `load()` then reads each data file once, up to the
// end of its last tensor and no further (or each tensor by byte range when that is very large),
// and hands out views.

import { ModelLoadError, formatBytes } from './errors.js';
import { tensorByteLength, type OnnxGraph, type OnnxTensor } from './onnx.js';
import type { ModelSource } from './source.js';

/** Data files whose tensors reach past this are read tensor by tensor instead of whole. */
const WHOLE_FILE_LIMIT = 1 << 30;

export interface ExternalFileInfo {
  file: string;
  size: number;
  tensors: number;
  /** Bytes the graph's tensors need: the end of the furthest tensor. */
  needed: number;
}

export class TensorStore {
  private readonly files = new Map<string, Uint8Array>();
  private readonly perTensor = new Map<OnnxTensor, Uint8Array>();
  private checked: ExternalFileInfo[] | null = null;

  constructor(
    readonly source: ModelSource,
    readonly graph: OnnxGraph,
  ) {}

  /** Every tensor with external data, initializers and Constant values alike. */
  externalTensors(): OnnxTensor[] {
    return [...this.graph.initializers.values(), ...this.graph.constants.values()].filter((t) => t.external);
  }

  /**
   * Checks that each external data file exists and holds every range the graph names, with the
   * length its shape needs. Throws 'external-data-missing' / 'external-data-truncated' /
   * 'onnx-invalid', naming the file, the tensor, the expected and the actual size.
   */
  async check(): Promise<ExternalFileInfo[]> {
    if (this.checked) return this.checked;
    const byFile = new Map<string, OnnxTensor[]>();
    for (const t of this.externalTensors()) {
      const ext = t.external!;
      const want = tensorByteLength(t);
      if (ext.length !== want) {
        throw new ModelLoadError('onnx-invalid', `${this.graph.file}: tensor "${t.name}" has external length ${ext.length} bytes in ${ext.file}, but its shape [${t.dims.join(', ')}] of ${t.dtype} needs ${want}`, { file: ext.file, tensor: t.name, expected: want, actual: ext.length });
      }
      const list = byFile.get(ext.file) ?? [];
      list.push(t);
      byFile.set(ext.file, list);
    }
    const out: ExternalFileInfo[] = [];
    for (const [file, tensors] of byFile) {
      const size = await this.source.size(file);
      let needed = 0; // a loop: a spread over thousands of tensors overflows the call stack
      for (const t of tensors) needed = Math.max(needed, t.external!.offset + t.external!.length);
      if (size === undefined) {
        const first = tensors[0]!;
        throw new ModelLoadError(
          'external-data-missing',
          `external data file "${file}" is missing from ${this.source.label}: ${this.graph.file} keeps ${tensors.length} tensor(s) there ` +
            `(e.g. "${first.name}", ${formatBytes(first.external!.length)} at offset ${first.external!.offset}); the file must hold at least ${needed} bytes`,
          { file, tensor: first.name, tensors: tensors.length, expected: needed, actual: null },
        );
      }
      const short = tensors.filter((t) => t.external!.offset + t.external!.length > size);
      if (short.length > 0) {
        const t = short[0]!;
        const e = t.external!;
        throw new ModelLoadError(
          'external-data-truncated',
          `external data file "${file}" is truncated: it has ${size} bytes, but tensor "${t.name}" needs bytes ${e.offset}..${e.offset + e.length} ` +
            `(${e.length} bytes) and the graph needs ${needed} bytes in all (${short.length} tensor(s) affected)`,
          { file, tensor: t.name, expected: needed, actual: size, tensorsAffected: short.map((x) => x.name) },
        );
      }
      out.push({ file, size, tensors: tensors.length, needed });
    }
    this.checked = out;
    return out;
  }

  /** Reads all external data (after check()). */
  async load(): Promise<void> {
    const infos = await this.check();
    for (const info of infos) {
      if (this.files.has(info.file)) continue;
      if (info.needed <= WHOLE_FILE_LIMIT) {
        // The bytes the graph declares, never the rest of the file (however large it is).
        const bytes = info.size === info.needed ? await this.source.read(info.file) : await this.source.readRange(info.file, 0, info.needed);
        if (!bytes || bytes.byteLength < info.needed) throw this.vanished(info.file, info.needed, bytes?.byteLength);
        this.files.set(info.file, bytes);
      } else {
        for (const t of this.externalTensors()) if (t.external!.file === info.file) await this.bytes(t);
      }
    }
  }

  private vanished(file: string, needed: number, actual: number | undefined): ModelLoadError {
    return new ModelLoadError(actual === undefined ? 'external-data-missing' : 'external-data-truncated', `external data file "${file}" changed while loading: expected at least ${needed} bytes, read ${actual ?? 'nothing'}`, { file, expected: needed, actual: actual ?? null });
  }

  /** Whether the tensor's bytes are at hand without reading. */
  has(t: OnnxTensor): boolean {
    return !t.external || this.files.has(t.external.file) || this.perTensor.has(t);
  }

  /** The tensor's stored bytes, reading its range when not loaded yet. */
  async bytes(t: OnnxTensor): Promise<Uint8Array> {
    if (this.has(t)) return this.bytesSync(t);
    await this.check();
    const e = t.external!;
    const b = await this.source.readRange(e.file, e.offset, e.length);
    if (!b || b.byteLength < e.length) throw this.vanished(e.file, e.offset + e.length, b ? e.offset + b.byteLength : undefined);
    this.perTensor.set(t, b);
    return b;
  }

  /** The tensor's stored bytes; throws if external data was not loaded. */
  bytesSync(t: OnnxTensor): Uint8Array {
    if (!t.external) return t.bytes ?? new Uint8Array(0);
    const whole = this.files.get(t.external.file);
    if (whole) return whole.subarray(t.external.offset, t.external.offset + t.external.length);
    const b = this.perTensor.get(t);
    if (!b) throw new Error(`tensor "${t.name}": external data in ${t.external.file} not loaded yet`);
    return b;
  }

  /** Loaded external data files (for onnxruntime's externalData option). */
  loadedFiles(): Map<string, Uint8Array> {
    return new Map(this.files);
  }
}
