// A tensor is a pooled GPU buffer with a dtype and a shape. f16 values are stored packed two
// per u32 word, so kernels can read them with unpack2x16float on any adapter, or as
// array<f16> where the adapter has shader-f16.

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
  readonly label: string;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes the elements occupy, rounded up to whole 4-byte words (WGSL's smallest storage unit). */
export function byteLength(dtype: DType, size: number): number {
  const bytes = dtype === 'f16' ? size * 2 : size * 4;
  return Math.max(4, Math.ceil(bytes / 4) * 4);
}

export type HostArray = Float32Array | Int32Array | Uint32Array | Uint16Array;

export function hostArrayFor(dtype: DType, data: ArrayBuffer, size: number): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(data, 0, size);
    case 'f16':
      return new Uint16Array(data, 0, size);
    case 'i32':
      return new Int32Array(data, 0, size);
    case 'u32':
      return new Uint32Array(data, 0, size);
  }
}
