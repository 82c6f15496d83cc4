// The Trainer's memory estimate, recomputed with today's estimator, against the peaks the real-shapes
// runs of 2026-12-07 measured (bench-results/real-shapes-<model>-<dtype>-2026-12-07.json, from
// bench/real-shapes.ts) and the 1 x 512 gradient-checkpointing check (BENCHMARKS.md): the runs
// recorded the estimate of their day, which fell below the peak at Qwen2.5-0.5B's shape.
// LoRA r 8 on the 7 linear modules (rank sum 56 a layer), 1 pair of 64 tokens; head parts as lavapipe
// splits the tied table (128 MiB bindings: f32 Qwen 5, f16 Qwen 3; a 4-bit head is not split).
//   npx tsx bench/estimate-vs-peak.ts
import { readFileSync } from 'node:fs';
import { loadModel } from '../src/engine/model/load.js';
import { nodeDirSource } from '../src/engine/model/source-node.js';
import { estimateTrainingMemory } from '../src/engine/training/memory.js';
const M = 2 ** 20;
for (const [model, dtype, parts, T, recompute] of [
  ['smollm2-135m', 'fp32', 1, 64, false], ['smollm2-135m', 'fp16', 1, 64, false], ['smollm2-135m', 'q4', 1, 64, false],
  ['qwen2.5-0.5b', 'fp32', 5, 64, false], ['qwen2.5-0.5b', 'fp16', 3, 64, false], ['qwen2.5-0.5b', 'q4', 1, 64, false],
] as const) {
  const j = JSON.parse(readFileSync(`bench-results/real-shapes-${model}-${dtype}-2026-12-07.json`, 'utf8'));
  const v = j.variants[0];
  const m = await loadModel(nodeDirSource(`bench-results/models/${model}-shape-variants`), { dtype, readWeights: false, tokenizer: false });
  const e = estimateTrainingMemory(m.config, v.load.gpuWeightBytes, v.train.loraParameters, 2, T, 56, recompute, parts);
  console.log(`${model} ${dtype}: peak ${(v.train.memory.peakBytes / M).toFixed(1)} old estimate ${(v.train.memory.estimateBytes / M).toFixed(1)} new ${(e.total / M).toFixed(1)} (${(e.total / v.train.memory.peakBytes).toFixed(3)}x)`);
}
// The 1 x 512 memory check (weights 535.88 MiB, 2,442,240 LoRA parameters)
const s = await loadModel(nodeDirSource('bench-results/models/smollm2-135m-shape'), { readWeights: false, tokenizer: false });
for (const [rec, peak, old] of [[false, 1652.03, 1677.01], [true, 754.94, 779.92]] as const) {
  const e = estimateTrainingMemory(s.config, 535.88 * M, 2442240, 2, 512, 56, rec, 1);
  console.log(`smollm2 1x512 ${rec ? 'ckpt' : 'plain'}: peak ${peak} old ${old} new ${(e.total / M).toFixed(2)} (${(e.total / M / peak).toFixed(3)}x)`);
}
