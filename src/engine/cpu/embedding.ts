// CPU twin of shaders/embedding_{forward,backward}.wgsl (llm.c's encoder_forward /
// encoder_backward): token embedding rows, plus learned position rows for GPT-2.
//   out[n] = scale · wte[ids[n]] (+ wpe[positions[n]])   (scale: 1, or Gemma's sqrt(hidden))
// An id (or position) outside the table contributes zeros, as the WGSL does; the host functions
// reject such ids when they have them on the CPU. Takes Float32Array or Float64Array.

export type FloatArray = Float32Array | Float64Array;
export type IdArray = Int32Array | Uint32Array | readonly number[];

export function embeddingForwardCpu(
  out: FloatArray, // (N, C)
  ids: IdArray, // (N)
  positions: IdArray | null, // (N); only read with wpe
  wte: FloatArray, // (V, C)
  wpe: FloatArray | null, // (P, C); null = no position embedding (Llama)
  N: number,
  C: number,
  V: number,
  scale = 1,
): void {
  const P = wpe ? wpe.length / C : 0;
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    const pos = wpe && positions ? positions[n]! : -1;
    for (let c = 0; c < C; c++) {
      let v = id >= 0 && id < V ? wte[id * C + c]! * scale : 0;
      if (wpe && pos >= 0 && pos < P) v += wpe[pos * C + c]!;
      out[n * C + c] = v;
    }
  }
}

// dwte[ids[n]] += scale · dout[n] (and dwpe[positions[n]] += dout[n]) for every row n; a null gradient
// is skipped. Ids outside the table are ignored here (the GPU host function throws on them).
export function embeddingBackwardCpu(
  dwte: FloatArray | null, // (V, C)
  dwpe: FloatArray | null, // (P, C)
  dout: FloatArray, // (N, C)
  ids: IdArray, // (N)
  positions: IdArray | null, // (N); only read with dwpe
  N: number,
  C: number,
  V: number,
  scale = 1,
): void {
  const P = dwpe ? dwpe.length / C : 0;
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    const pos = dwpe && positions ? positions[n]! : -1;
    for (let c = 0; c < C; c++) {
      if (dwte && id >= 0 && id < V) dwte[id * C + c]! += scale * dout[n * C + c]!;
      if (dwpe && pos >= 0 && pos < P) dwpe[pos * C + c]! += dout[n * C + c]!;
    }
  }
}
