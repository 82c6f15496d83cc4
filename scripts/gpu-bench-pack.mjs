#!/usr/bin/env node
// Packs what `npm run bench -- --node` needs at run time into .cache/gpu-bench/node_modules.tar.gz
// (git-ignored), for a GPU machine that has no network (scripts/gpu-bench.sh unpacks it there):
// the production dependencies' closure plus tsx, without onnxruntime-web (the --node suites do not
// load it) and with only webgpu's linux-x64 Dawn. Prints the archive's size.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nm = join(root, 'node_modules');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const SKIP = new Set(['onnxruntime-web', '@huggingface/transformers', 'react', 'react-dom', 'uplot', '@tanstack/react-virtual', 'comlink', 'dexie']);

const seen = new Set();
const queue = [...Object.keys(pkg.dependencies ?? {}), 'tsx'].filter((n) => !SKIP.has(n));
while (queue.length > 0) {
  const name = queue.shift();
  if (seen.has(name) || SKIP.has(name)) continue;
  const dir = join(nm, name);
  if (!existsSync(join(dir, 'package.json'))) continue; // an optional dependency not installed here
  seen.add(name);
  // The package and the packages nested in its own node_modules (archived with it) may each
  // need top-level ones (onnx-proto's own protobufjs needs @protobufjs/*).
  for (const pj of [join(dir, 'package.json'), ...nestedPackageFiles(join(dir, 'node_modules'))]) {
    const p = JSON.parse(readFileSync(pj, 'utf8'));
    queue.push(...Object.keys(p.dependencies ?? {}), ...Object.keys(p.optionalDependencies ?? {}), ...Object.keys(p.peerDependencies ?? {}).filter((d) => existsSync(join(nm, d))));
  }
}

function nestedPackageFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir)) {
    if (e.startsWith('.')) continue;
    const names = e.startsWith('@') ? readdirSync(join(dir, e)).map((n) => join(e, n)) : [e];
    for (const n of names) {
      const pj = join(dir, n, 'package.json');
      if (existsSync(pj)) out.push(pj, ...nestedPackageFiles(join(dir, n, 'node_modules')));
    }
  }
  return out;
}
const out = join(root, '.cache', 'gpu-bench', 'node_modules.tar.gz');
mkdirSync(dirname(out), { recursive: true });
const paths = [...seen].sort().map((n) => `node_modules/${n}`);
const r = spawnSync('tar', [
  'czf', out, '-C', root,
  '--exclude=node_modules/webgpu/dist/win32-x64', '--exclude=node_modules/webgpu/dist/win32-arm64',
  '--exclude=node_modules/webgpu/dist/darwin-universal', '--exclude=node_modules/webgpu/dist/linux-arm64',
  ...(existsSync(join(nm, '.bin')) ? ['node_modules/.bin'] : []),
  ...paths,
], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
console.log(`${out}: ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB, ${seen.size} packages`);
