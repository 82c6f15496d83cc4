// CPU twin of shaders/attention_{forward,backward}.wgsl: plain softmax attention, one score row
// at a time, accumulated in float64. Takes Float32Array or Float64Array (finite differences).
// Query i of Tq sits at position Tk - Tq + i and sees keys j <= that position with mask[b, j]
// != 0 (and, with a sliding window W, position - j < W); a row that sees no key gets out = 0 and
// lse = ATTENTION_NO_KEY.

export type FloatArray = Float32Array | Float64Array;
/** (B, Tk) 1 = real token, 0 = padding; null = no padding. */
export type KeyMask = Int32Array | Uint32Array | null;

export interface AttentionCpuOptions {
  /** Multiplies q·k before the softmax (default 1 / sqrt(HS)). */
  scale?: number;
  /** Logit softcap c: s -> c·tanh(s / c) (Gemma 2); 0 = off (default). */
  softcap?: number;
  /** Sliding window W: a query at position i sees keys j with i - j < W; 0 = off (default). */
  window?: number;
}

/** The lse of a row that sees no key: a finite stand-in for -inf, as the WGSL writes it. */
export const ATTENTION_NO_KEY = -1e30;

function visible(mask: KeyMask, b: number, Tk: number, pos: number, j: number, window: number): boolean {
  return j <= pos && (window <= 0 || pos - j < window) && (mask === null || mask[b * Tk + j] !== 0);
}

/** s = softcap(scale · q·k) and ds/d(scale · q·k). */
function score(raw: number, softcap: number): [number, number] {
  if (softcap <= 0) return [raw, 1];
  const th = Math.tanh(raw / softcap);
  return [softcap * th, 1 - th * th];
}

export function attentionForwardCpu(
  out: FloatArray, // (B, Tq, NH, HS)
  lse: FloatArray, // (B, NH, Tq)
  q: FloatArray, // (B, Tq, NH, HS)
  k: FloatArray, // (B, Tk, NKV, HS)
  v: FloatArray, // (B, Tk, NKV, HS)
  mask: KeyMask, // (B, Tk)
  B: number,
  Tq: number,
  Tk: number,
  NH: number,
  NKV: number,
  HS: number,
  options: AttentionCpuOptions = {},
): void {
  const scale = options.scale ?? 1 / Math.sqrt(HS);
  const softcap = options.softcap ?? 0;
  const window = options.window ?? 0;
  const G = NH / NKV;
  const s = new Float64Array(Tk);
  const row = new Float64Array(HS);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const pos = Tk - Tq + i;
      for (let h = 0; h < NH; h++) {
        const g = Math.floor(h / G);
        const qo = ((b * Tq + i) * NH + h) * HS;
        let max = -Infinity;
        for (let j = 0; j < Tk; j++) {
          if (!visible(mask, b, Tk, pos, j, window)) continue;
          const ko = ((b * Tk + j) * NKV + g) * HS;
          let qk = 0;
          for (let d = 0; d < HS; d++) qk += q[qo + d]! * k[ko + d]!;
          s[j] = score(scale * qk, softcap)[0];
          max = Math.max(max, s[j]!);
        }
        row.fill(0);
        let sum = 0;
        if (max > -Infinity) {
          for (let j = 0; j <= pos; j++) {
            if (!visible(mask, b, Tk, pos, j, window)) continue;
            const p = Math.exp(s[j]! - max);
            sum += p;
            const vo = ((b * Tk + j) * NKV + g) * HS;
            for (let d = 0; d < HS; d++) row[d]! += p * v[vo + d]!;
          }
        }
        for (let d = 0; d < HS; d++) out[qo + d] = sum > 0 ? row[d]! / sum : 0;
        lse[(b * NH + h) * Tq + i] = sum > 0 ? max + Math.log(sum) : ATTENTION_NO_KEY;
      }
    }
  }
}

// Training only (Tq = Tk = T). dq, dk, dv are assigned.
export function attentionBackwardCpu(
  dq: FloatArray, // (B, T, NH, HS)
  dk: FloatArray, // (B, T, NKV, HS)
  dv: FloatArray, // (B, T, NKV, HS)
  dout: FloatArray, // (B, T, NH, HS)
  q: FloatArray, // (B, T, NH, HS)
  k: FloatArray, // (B, T, NKV, HS)
  v: FloatArray, // (B, T, NKV, HS)
  out: FloatArray, // (B, T, NH, HS)
  lse: FloatArray, // (B, NH, T)
  mask: KeyMask, // (B, T)
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
  options: AttentionCpuOptions = {},
): void {
  const scale = options.scale ?? 1 / Math.sqrt(HS);
  const softcap = options.softcap ?? 0;
  const window = options.window ?? 0;
  const G = NH / NKV;
  // float64 accumulators: dk and dv sum over queries and over the heads of a group.
  const gq = new Float64Array(dq.length);
  const gk = new Float64Array(dk.length);
  const gv = new Float64Array(dv.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        const qo = ((b * T + i) * NH + h) * HS;
        const L = lse[(b * NH + h) * T + i]!;
        let D = 0;
        for (let d = 0; d < HS; d++) D += dout[qo + d]! * out[qo + d]!;
        for (let j = 0; j <= i; j++) {
          if (!visible(mask, b, T, i, j, window)) continue;
          const ko = ((b * T + j) * NKV + g) * HS;
          let qk = 0;
          let dp = 0;
          for (let d = 0; d < HS; d++) {
            qk += q[qo + d]! * k[ko + d]!;
            dp += dout[qo + d]! * v[ko + d]!;
          }
          const [s, dcap] = score(scale * qk, softcap);
          const p = Math.exp(s - L);
          const dS = p * (dp - D) * dcap;
          for (let d = 0; d < HS; d++) {
            gq[qo + d]! += scale * dS * k[ko + d]!;
            gk[ko + d]! += scale * dS * q[qo + d]!;
            gv[ko + d]! += p * dout[qo + d]!;
          }
        }
      }
    }
  }
  dq.set(gq);
  dk.set(gk);
  dv.set(gv);
}
