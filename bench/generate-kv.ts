// Generation with the KV cache in f32 against f16 (src/engine/transformer/kv-dtype.ts), in Node
// through Dawn on whatever adapter VK_ICD_FILENAMES gives (lavapipe: .cache/lavapipe/icd.json):
//   VK_ICD_FILENAMES=$PWD/.cache/lavapipe/icd.json npx tsx bench/generate-kv.ts \
//     [--model DIR, default the demo] [--batch 16] [--prompt 16] [--tokens 16] [--reps 3]
// Greedy, B rows of P seeded random prompt ids each generating N new tokens (no EOS), both caches
// in turn within each repetition (order alternating). Prints the median ms of a whole generation,
// new tokens/s, the cache's bytes, and how many rows the two caches generated alike (greedy
// near-ties can go either way once keys and values are rounded to halves).
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/engine/node.js';
import { loadModel } from '../src/engine/model/load.js';
import { nodeDirSource } from '../src/engine/model/source-node.js';
import { byteLength } from '../src/engine/gpu/tensor.js';
import { generate } from '../src/engine/transformer/generate.js';
import { TransformerModel } from '../src/engine/transformer/model.js';
import type { KvCacheDType } from '../src/engine/transformer/kv-dtype.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string', default: new URL('../public/models/demo-fortunes/', import.meta.url).pathname },
    batch: { type: 'string', default: '16' },
    prompt: { type: 'string', default: '16' },
    tokens: { type: 'string', default: '16' },
    reps: { type: 'string', default: '3' },
  },
});
const [B, P, N, reps] = [o.batch, o.prompt, o.tokens, o.reps].map(Number) as [number, number, number, number];

const engine = await createNodeEngine();
try {
  const r = engine.report;
  console.log(`adapter: ${r.vendor} / ${r.architecture} / ${r.description}; shader-f16 ${engine.hasF16}`);
  const loaded = await loadModel(nodeDirSource(o.model!));
  const c = loaded.config;
  const model = TransformerModel.create(engine, c, loaded.transformerWeights());
  let x = 12345;
  const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => ((x = (x * 1103515245 + 12345) >>> 0) % (c.vocabSize - 1)) + 1));
  const caches: KvCacheDType[] = ['f32', 'f16'];
  const ms = new Map<KvCacheDType, number[]>(caches.map((k) => [k, []]));
  const tokens = new Map<KvCacheDType, string[]>();
  const once = async (kvCache: KvCacheDType) => {
    const t0 = performance.now();
    const res = await generate(model, prompts, { maxNewTokens: N, temperature: 0, eosIds: [], kvCache });
    ms.get(kvCache)!.push(performance.now() - t0);
    tokens.set(kvCache, res.map((y) => y.tokens.join(',')));
  };
  for (const k of caches) await once(k); // compiles
  for (const k of caches) ms.get(k)!.length = 0;
  for (let i = 0; i < reps; i++) for (const k of i % 2 ? [...caches].reverse() : caches) await once(k);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`model ${o.model} (L ${c.layers}, NKV ${c.kvHeads}, HS ${c.headDim}), B ${B}, prompt ${P}, new ${N}, reps ${reps}`);
  for (const k of caches) {
    const bytes = 2 * c.layers * byteLength(k, B * (P + N) * c.kvHeads * c.headDim);
    const m = median(ms.get(k)!);
    console.log(`${k}: median ${m.toFixed(0)} ms (all ${ms.get(k)!.map((v) => v.toFixed(0)).join(', ')}), ${((B * N) / (m / 1000)).toFixed(1)} new tok/s, cache ${(bytes / 2 ** 20).toFixed(2)} MiB`);
  }
  const alike = tokens.get('f32')!.filter((t, b) => t === tokens.get('f16')![b]).length;
  console.log(`rows generated alike by both caches: ${alike} of ${B}`);
  model.destroy();
} finally {
  engine.destroy();
}
