import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import type { RowChunk } from '../cpu/logprobs.js';
import { ceilDiv, grid1d, MAX_WORKGROUPS_PER_DIM } from './grid.js';
import { variantToDispatch } from '../tuning/choices.js';

// Per-token log-probabilities log_softmax(logits[n])[targets[n]] and their backward, without a
// (N, V) probability tensor (shaders/logprobs_{forward,backward}.wgsl; CPU twin
// src/engine/cpu/logprobs.ts). Targets outside [0, V) (negative = masked) score 0.
//
// Chunks: targets, dlogp and the per-row outputs span all N rows of the batch, while the logits
// tensor holds only rows row0 .. row0 + rows - 1 (default the whole batch). The training loop
// computes one chunk of logits through the LM head, runs forward and backward on it and
// releases it before the next, so no full-batch logits are ever alive.
//
// The forward has variants (src/engine/tuning/variants.ts, logprobs_forward: "safe", "subgroup"):
// engine.choices' answer for (rows, V), or options.variant for one call.

export type { RowChunk } from '../cpu/logprobs.js';

const WG = 256;
/** Columns per thread in the backward (COLS in the WGSL). */
const COLS = 4;

function resolveChunk(N: number, chunk?: Partial<RowChunk>): RowChunk {
  const row0 = chunk?.row0 ?? 0;
  const rows = chunk?.rows ?? N - row0;
  if (!Number.isInteger(row0) || !Number.isInteger(rows) || row0 < 0 || rows < 0 || row0 + rows > N) {
    throw new Error(`logprobs: chunk rows ${row0}..${row0 + rows} outside 0..${N}`);
  }
  return { row0, rows };
}

function check(what: string, t: Tensor, size: number, dtype: Tensor['dtype'] = 'f32'): void {
  if (t.size !== size) throw new Error(`logprobs: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== dtype) throw new Error(`logprobs: ${what} (${t.label}) is ${t.dtype}, expected ${dtype}`);
}

/**
 * logp[n] = logits[n, targets[n]] - lse[n] and the saved lse[n] = logsumexp(logits[n]) for the
 * chunk's rows; logitSum[n] = Σ_v logits[n, v] when given (TRL's logits/chosen is its mean over
 * scored rows divided by V); aligned[n] = logp[n] - log Σ_v softmax(logits[n])_v² when given
 * (WPO's aligned log-prob: TRL's logp - (logsumexp(2·logits) - 2·logsumexp(logits)), whose
 * mean over a sequence's completion tokens gives its use_weighting weight). lse, logitSum and
 * aligned may be null when not wanted (temporaries are used where the kernel writes them).
 */
export function logprobsForward(
  engine: Engine,
  logp: Tensor, // (N)
  lse: Tensor | null, // (N)
  logitSum: Tensor | null, // (N)
  aligned: Tensor | null, // (N)
  logits: Tensor, // (rows, V)
  targets: Tensor, // (N) i32
  N: number,
  V: number,
  chunk?: Partial<RowChunk>,
  options: { variant?: string } = {},
): void {
  const { row0, rows } = resolveChunk(N, chunk);
  const variant = variantToDispatch(engine, 'logprobs_forward', options.variant, rows, V, 1, 'logprobs');
  check('logp', logp, N);
  if (lse) check('lse', lse, N);
  if (logitSum) check('logitSum', logitSum, N);
  if (aligned) check('aligned', aligned, N);
  check('logits', logits, rows * V);
  check('targets', targets, N, 'i32');
  // Entry `main` writes logitSum and aligned together; `main_nosum` neither.
  const full = logitSum !== null || aligned !== null;
  const temps: Tensor[] = [];
  const temp = (t: Tensor | null, what: string): Tensor => {
    if (t) return t;
    const out = engine.tensor([N], 'f32', `logprobs.${what}`);
    temps.push(out);
    return out;
  };
  const bindings: Record<string, Tensor> = { logp, lse: temp(lse, 'lse'), logits, targets };
  if (full) {
    bindings.logitSum = temp(logitSum, 'logitSum');
    bindings.aligned = temp(aligned, 'aligned');
  }
  engine.dispatch(
    { shader: variant.shader, entry: full ? 'main' : 'main_nosum' },
    bindings,
    { V, row0, rows },
    grid1d(rows, 1),
  );
  engine.release(...temps);
}

/**
 * dlogits[n, v] = dlogp[n] · (onehot(targets[n]) - softmax(logits[n])), assigned, from the
 * lse saved by the forward. Pass the logits tensor as dlogits to overwrite it in place.
 */
export function logprobsBackward(
  engine: Engine,
  dlogits: Tensor, // (rows, V), may be `logits` itself
  dlogp: Tensor, // (N)
  logits: Tensor, // (rows, V)
  targets: Tensor, // (N) i32
  lse: Tensor, // (N)
  N: number,
  V: number,
  chunk?: Partial<RowChunk>,
): void {
  const { row0, rows } = resolveChunk(N, chunk);
  check('dlogits', dlogits, rows * V);
  check('dlogp', dlogp, N);
  check('logits', logits, rows * V);
  check('targets', targets, N, 'i32');
  check('lse', lse, N);
  const inPlace = dlogits.buffer === logits.buffer;
  if (inPlace && dlogits !== logits) throw new Error('logprobs: dlogits and logits share a buffer but are different tensors');
  if (rows === 0) return;
  const blocks = ceilDiv(V, WG * COLS);
  const y = Math.min(rows, MAX_WORKGROUPS_PER_DIM);
  const z = ceilDiv(rows, y);
  engine.dispatch(
    { shader: 'logprobs_backward', entry: inPlace ? 'main_inplace' : 'main' },
    inPlace ? { dlogits, dlogp, targets, lse } : { dlogits, dlogp, logits, targets, lse },
    { V, row0, rows },
    [blocks, y, z],
  );
}
