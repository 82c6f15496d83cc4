// Dumps the demo dataset tokenised exactly as `prefstudio train` does (TRL's way, max_length
// 24/32/48/64) for scripts/demo-model/dpo_sweep.py, into scripts/demo-model/.cache/.
//   npx tsx scripts/demo-model/dump-examples.ts [dataset.jsonl]
import { mkdirSync, writeFileSync } from 'node:fs';
import { configFrom, readModel, readRecords, tokenizeForRun } from '../../src/cli/train.js';

const out = new URL('./.cache/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const m = await readModel('public/models/demo-fortunes', 'dump-examples');
const recs = await readRecords(process.argv[2] ?? 'public/datasets/demo-fortunes-positive.jsonl', 'dump-examples');
for (const L of [24, 32, 48, 64]) {
  const ex = tokenizeForRun(recs, m, configFrom({ method: 'dpo', max_length: L }), 'dump-examples', 'x');
  const rows = ex.map((e) => ({ split: e.split, seqs: e.sequences.map((s) => [s.promptIds, s.completionIds]) }));
  writeFileSync(`${out}ex${L}.json`, JSON.stringify(rows));
}
