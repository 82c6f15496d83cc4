// Why a model could not be loaded, as a value the caller can act on: a stable code, a message
// that names what and where (file, tensor, node, sizes), and the facts behind it in `details`.
// Loading never leaves half-made state behind, so after catching one of these the caller can fix
// the folder (or acknowledge a warning) and simply load again.

export type ModelErrorCode =
  | 'no-model-file' // no .onnx file in a layout we know
  | 'file-missing' // a file the layout or the graph names is not in the source
  | 'onnx-truncated' // the .onnx file ends early
  | 'onnx-invalid' // decodes, but is not a usable ONNX graph
  | 'external-data-missing'
  | 'external-data-truncated'
  | 'unsupported-dtype'
  | 'quantized' // int8 / int4 exports: we refuse them rather than guess
  | 'unknown-op'
  | 'unknown-architecture'
  | 'unrecognised-graph' // known ops, but not wired like a llama or gpt2 decoder
  | 'config-invalid'
  | 'tokenizer-invalid'
  | 'tokenizer-vocab-mismatch'
  | 'model-too-large'
  | 'file-refused'; // a link out of the folder, a device or FIFO, a file over its role's size limit

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(
    readonly code: ModelErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function isModelLoadError(e: unknown, code?: ModelErrorCode): e is ModelLoadError {
  return e instanceof ModelLoadError && (code === undefined || e.code === code);
}

/**
 * Something the caller should know but that does not stop loading. `code` is stable; a warning
 * with `needsAck` stops loading unless the caller passes its code in `acknowledge`.
 */
export interface ModelWarning {
  code: string;
  message: string;
}

/** Bytes as "1.5 MiB", for messages. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}
