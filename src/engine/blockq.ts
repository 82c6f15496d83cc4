// Block-quantized weights as the engine keeps them (QLoRA bases): onnxruntime's MatMulNBits layout
// (com.microsoft contrib op spec), normalised so that one kernel reads every quantized source.
//
//   codes   (N, nBlocks, blob) bytes, nBlocks = ceil(K / blockSize), blob = blockSize · bits / 8;
//           the codes of a row run along K, packed low bits first (4-bit: element 2i in the low
//           nibble of byte i, element 2i + 1 in the high nibble); the last block is padded
//   scales  (N, nBlocks) f32
//   zeros   (N, nBlocks) f32: the zero point of each block as a number (MatMulNBits' default
//           2^(bits-1) filled in, packed uint8 zero points unpacked, signed codes shifted)
//   W[n, k] = (code(n, k) − zeros[n, k / blockSize]) · scales[n, k / blockSize]
//
// Every block's blob is a whole number of 4-byte words (blockSize ≥ 16), so the GPU reads codes
// as u32 words and a quad of 4 consecutive k at a multiple of 4 sits in one word.
// Letters: N rows (out features, or vocabulary), K columns (in features, or hidden).

export type QuantBits = 4 | 8;

export interface BlockQuantized {
  bits: QuantBits;
  blockSize: number;
  /** N: rows (output features). */
  rows: number;
  /** K: columns (input features), the quantized axis. */
  cols: number;
  codes: Uint8Array; // (N, nBlocks, blob)
  scales: Float32Array; // (N, nBlocks)
  zeros: Float32Array; // (N, nBlocks)
}

export const BLOCK_SIZES = [16, 32, 64, 128, 256] as const;

export function nBlocksOf(cols: number, blockSize: number): number {
  return Math.ceil(cols / blockSize);
}

export function blobBytes(bits: QuantBits, blockSize: number): number {
  return (blockSize * bits) / 8;
}

/** Throws unless the format holds together (sizes, block size, bits); `where` starts the message. */
export function checkBlockQuantized(q: BlockQuantized, where = 'block-quantized weight'): void {
  if (q.bits !== 4 && q.bits !== 8) throw new Error(`${where}: ${String(q.bits)} bits; 4 and 8 are supported`);
  if (!(BLOCK_SIZES as readonly number[]).includes(q.blockSize)) throw new Error(`${where}: block size ${q.blockSize}; supported are ${BLOCK_SIZES.join(', ')}`);
  if (!Number.isInteger(q.rows) || q.rows < 1 || !Number.isInteger(q.cols) || q.cols < 1) throw new Error(`${where}: shape [${q.rows}, ${q.cols}]`);
  const nb = nBlocksOf(q.cols, q.blockSize);
  const want = q.rows * nb * blobBytes(q.bits, q.blockSize);
  if (q.codes.byteLength !== want) throw new Error(`${where}: ${q.codes.byteLength} code bytes, [${q.rows}, ${q.cols}] in blocks of ${q.blockSize} at ${q.bits} bits needs ${want}`);
  if (q.scales.length !== q.rows * nb) throw new Error(`${where}: ${q.scales.length} scales, ${q.rows} x ${nb} blocks need ${q.rows * nb}`);
  if (q.zeros.length !== q.rows * nb) throw new Error(`${where}: ${q.zeros.length} zero points, ${q.rows} x ${nb} blocks need ${q.rows * nb}`);
}

/** The code of element (n, k). */
export function codeAt(q: BlockQuantized, n: number, k: number): number {
  const nb = nBlocksOf(q.cols, q.blockSize);
  const blk = Math.floor(k / q.blockSize);
  const within = k - blk * q.blockSize;
  const base = (n * nb + blk) * blobBytes(q.bits, q.blockSize);
  if (q.bits === 8) return q.codes[base + within]!;
  const byte = q.codes[base + (within >> 1)]!;
  return (within & 1) === 0 ? byte & 0xf : byte >> 4;
}

/** W (N, K) in f32: (code − zero) · scale, computed in f32 as the kernels do. */
export function dequantize(q: BlockQuantized): Float32Array {
  const { rows: N, cols: K, blockSize: bs } = q;
  const nb = nBlocksOf(K, bs);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = n * nb + Math.floor(k / bs);
      out[n * K + k] = Math.fround(Math.fround(codeAt(q, n, k) - q.zeros[b]!) * q.scales[b]!);
    }
  }
  return out;
}

/** Bytes the quantized weight takes on the GPU (codes + f32 scales + f32 zero points). */
export function blockQuantizedBytes(bits: QuantBits, blockSize: number, rows: number, cols: number): number {
  const nb = nBlocksOf(cols, blockSize);
  return rows * nb * (blobBytes(bits, blockSize) + 8);
}

/**
 * Quantizes W (N, K) block-wise along K as onnxruntime's MatMulNBits quantizer does (asymmetric:
 * scale = (max − min) / (2^bits − 1) over each block with 0 included in the range, zero point
 * round(−min / scale) clamped to the code range; symmetric: scale = m / −2^(bits−1) for the value m
 * of largest magnitude, codes around the default zero point 2^(bits−1)); every value is within one
 * step of its code (half a step but where the range clamps). Used to build test fixtures and replicas.
 */
export function quantizeBlockwise(w: Float32Array, rows: number, cols: number, bits: QuantBits, blockSize: number, symmetric: boolean): BlockQuantized {
  const nb = nBlocksOf(cols, blockSize);
  const blob = blobBytes(bits, blockSize);
  const codes = new Uint8Array(rows * nb * blob);
  const scales = new Float32Array(rows * nb);
  const zeros = new Float32Array(rows * nb);
  const qmax = 2 ** bits - 1;
  const mid = 2 ** (bits - 1);
  for (let n = 0; n < rows; n++) {
    for (let b = 0; b < nb; b++) {
      const k0 = b * blockSize, k1 = Math.min(cols, k0 + blockSize);
      let lo = 0, hi = 0, big = 0;
      for (let k = k0; k < k1; k++) {
        const v = w[n * cols + k]!;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        if (Math.abs(v) > Math.abs(big)) big = v;
      }
      let scale: number, zp: number;
      if (symmetric) {
        // The value of largest magnitude lands exactly on code 0 (its scale may be negative).
        scale = big / -mid || 1;
        zp = mid;
      } else {
        scale = (hi - lo) / qmax || 1;
        zp = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      }
      scale = Math.fround(scale);
      scales[n * nb + b] = scale;
      zeros[n * nb + b] = zp;
      for (let k = k0; k < k1; k++) {
        const c = Math.min(qmax, Math.max(0, Math.round(w[n * cols + k]! / scale) + zp));
        const within = k - k0;
        const at = (n * nb + b) * blob;
        if (bits === 8) codes[at + within] = c;
        else codes[at + (within >> 1)]! |= (within & 1) === 0 ? c : c << 4;
      }
    }
  }
  return { bits, blockSize, rows, cols, codes, scales, zeros };
}
