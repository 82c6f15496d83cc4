// How many rows go through the LM head at once: the (rows, V) logits of one chunk stay under
// HEAD_CHUNK_BYTES. Read by the log-prob and training paths that run the head, the training
// memory estimate and the tuner's log-softmax shapes.

/** Logits the LM head writes at once, at most. */
export const HEAD_CHUNK_BYTES = 32 << 20;

/** Rows of V f32 logits per LM-head chunk when `rows` rows are scored in all (at least 1). */
export function headChunkRows(V: number, rows: number): number {
  return Math.max(1, Math.min(rows, Math.floor(HEAD_CHUNK_BYTES / (4 * V))));
}
