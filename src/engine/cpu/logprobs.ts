// CPU twin of shaders/logprobs_{forward,backward}.wgsl: per-row log_softmax at the target id,
// in float64. Takes Float32Array or Float64Array (finite differences). A target outside [0, V)
// (negative = masked) gives 0 in every output and a zero gradient row. The forward also gives
// each row's logit sum and WPO's aligned log-prob logp - log Σ_v p_v² (TRL's
// logp - (logsumexp(2·logits) - 2·logsumexp(logits))), written here as TRL writes it.
// `logits` holds rows row0 .. row0 + rows - 1 of the N rows that targets / logp / lse index.

export type FloatArray = Float32Array | Float64Array;

export interface RowChunk {
  /** First row of the chunk within N (default 0). */
  row0: number;
  /** Rows in the chunk, i.e. rows of logits (default N - row0). */
  rows: number;
}

function chunkOf(N: number, chunk?: Partial<RowChunk>): RowChunk {
  const row0 = chunk?.row0 ?? 0;
  return { row0, rows: chunk?.rows ?? N - row0 };
}

function targetOf(targets: Int32Array, n: number, V: number): number {
  const t = targets[n]!;
  return t >= 0 && t < V ? t : -1;
}

export function logprobsForwardCpu(
  logp: FloatArray, // (N)
  lse: FloatArray, // (N)
  logitSum: FloatArray | null, // (N)
  aligned: FloatArray | null, // (N)
  logits: FloatArray, // (rows, V)
  targets: Int32Array, // (N)
  N: number,
  V: number,
  chunk?: Partial<RowChunk>,
): void {
  const { row0, rows } = chunkOf(N, chunk);
  for (let r = 0; r < rows; r++) {
    const n = row0 + r;
    const t = targetOf(targets, n, V);
    if (t < 0) {
      logp[n] = 0;
      lse[n] = 0;
      if (logitSum) logitSum[n] = 0;
      if (aligned) aligned[n] = 0;
      continue;
    }
    const x = logits.subarray(r * V, (r + 1) * V);
    let max = -Infinity;
    let sum = 0;
    for (let v = 0; v < V; v++) {
      max = Math.max(max, x[v]!);
      sum += x[v]!;
    }
    let sumExp = 0;
    for (let v = 0; v < V; v++) sumExp += Math.exp(x[v]! - max);
    const l = max + Math.log(sumExp);
    logp[n] = x[t]! - l;
    lse[n] = l;
    if (logitSum) logitSum[n] = sum;
    if (aligned) {
      // logsumexp(2·x) with its own max 2·max.
      let sumExp2 = 0;
      for (let v = 0; v < V; v++) sumExp2 += Math.exp(2 * x[v]! - 2 * max);
      aligned[n] = logp[n]! - (2 * max + Math.log(sumExp2) - 2 * l);
    }
  }
}

/** dlogits[n, v] = dlogp[n] · (onehot(targets[n])[v] - softmax(logits[n])[v]), assigned. */
export function logprobsBackwardCpu(
  dlogits: FloatArray, // (rows, V)
  dlogp: FloatArray, // (N)
  logits: FloatArray, // (rows, V)
  targets: Int32Array, // (N)
  lse: FloatArray, // (N)
  N: number,
  V: number,
  chunk?: Partial<RowChunk>,
): void {
  const { row0, rows } = chunkOf(N, chunk);
  for (let r = 0; r < rows; r++) {
    const n = row0 + r;
    const t = targetOf(targets, n, V);
    for (let v = 0; v < V; v++) {
      const i = r * V + v;
      dlogits[i] = t < 0 ? 0 : dlogp[n]! * ((v === t ? 1 : 0) - Math.exp(logits[i]! - lse[n]!));
    }
  }
}
