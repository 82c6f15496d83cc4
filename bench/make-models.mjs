#!/usr/bin/env node
// Writes the benchmark's one-node ONNX models to disk, to inspect them (Netron) or to feed them to
// another runtime. `npm run bench` does not need these files: its server builds the same bytes
// on request (bench/onnx-model.mjs).
//   node bench/make-models.mjs [--shapes 128x64x64,256x256x768|quick|large] [--ops gemm,matmul] [--out dir]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { matmulModel } from './onnx-model.mjs';
import { parseShapes } from './shapes.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const shapes = parseShapes(arg('shapes', 'default'));
const ops = arg('ops', 'gemm,matmul').split(',');
const out = arg('out', 'bench-results/models');
mkdirSync(out, { recursive: true });
for (const { M, C, OC } of shapes) {
  for (const op of ops) {
    const file = join(out, `${op}_${M}x${C}x${OC}.onnx`);
    const bytes = matmulModel(op, M, C, OC);
    writeFileSync(file, bytes);
    console.log(`${file}  ${(bytes.length / 1024).toFixed(0)} KiB`);
  }
}
