// The model loader fuzz pass (models.test.ts), run in a worker by fuzzInWorkers: every seed
// folder unchanged, then mutated folders, each loaded (loadModel) and judged here.
import { ModelLoadError } from '../../src/engine/model/errors.js';
import { loadModel, type LoadOptions } from '../../src/engine/model/load.js';
import { tensorByteLength } from '../../src/engine/model/onnx.js';
import { memorySource } from '../../src/engine/model/source.js';
import {
  hostileValue,
  mutateBytes,
  mutateJsonValue,
  mutateText,
  mutateWire,
  prototypePolluted,
  Rng,
  stringifyHostile,
  unclearMessage,
  wireSpots,
  withTimeLimit,
  type CaseMaker,
  type Outcome,
  type WireSpot,
} from '../support/fuzz.js';
import { folderFiles, GPT2_SHARED, LLAMA_FP16, onnx, TINY_GPT2, TINY_LLAMA, TINY_QWEN2, type ModelProto } from '../model/helpers.js';

const DEMO = new URL('../../public/models/demo-fortunes/', import.meta.url).pathname;

interface ModelSeed {
  name: string;
  files: Record<string, Uint8Array>;
  onnxPath: string;
  spots: WireSpot[];
  /** Big tokenizers are skipped (a 3 MB tokenizer.json costs more than the rest of the load). */
  options: LoadOptions;
  weight: number;
}

function seed(name: string, dir: string, weight: number, options: LoadOptions = {}): ModelSeed {
  const files = folderFiles(dir, /^(reference|weights|vocab)\.json$|\.md$/);
  const onnxPath = Object.keys(files).find((p) => p.endsWith('.onnx'))!;
  return { name, files, onnxPath, spots: wireSpots(files[onnxPath]!) ?? [], options, weight };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An edit of the decoded graph through onnx-proto: tensors, external data, nodes, opsets. */
function editGraph(m: ModelProto, rng: Rng, files: Record<string, Uint8Array>, onnxPath: string): string {
  const g = m.graph!;
  const inits = g.initializer ?? [];
  const nodes = g.node ?? [];
  const r = rng.int(9);
  if (r <= 2 && inits.length) {
    const t = rng.pick(inits);
    const ext = t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
    if (r === 0 || !ext) {
      const choice = rng.int(5);
      if (choice === 0) t.dims = (t.dims ?? []).map(() => rng.pick([0, -1, 1, 3, 2 ** 31, 2 ** 40]));
      else if (choice === 1) t.dims = [...(t.dims ?? []), rng.pick([2, 0, -3])];
      else if (choice === 2) t.dataType = rng.int(26);
      else if (choice === 3 && t.rawData?.length) t.rawData = t.rawData.subarray(0, rng.int(t.rawData.length));
      else {
        // Marked external with entries that do not add up.
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        t.externalData = rng.chance(0.3) ? [] : [onnx.StringStringEntryProto.create({ key: 'location', value: rng.pick(['missing.bin', '../escape.bin', '/etc/passwd', 'config.json', onnxPath.split('/').pop()!, '']) })];
      }
      return `initializer ${t.name}: dims [${(t.dims ?? []).join(',')}], type ${t.dataType}, location ${t.dataLocation}`;
    }
    const entries = t.externalData ?? [];
    const size = Object.entries(files).find(([p]) => p.endsWith(entries.find((e) => e.key === 'location')?.value ?? '\u0000'))?.[1]?.length ?? 1000;
    const key = rng.pick(['offset', 'length', 'location']);
    const value =
      key === 'location'
        ? rng.pick(['missing.bin', '../escape.bin', '/abs.bin', 'config.json', '', 'a/../../b'])
        : String(rng.pick([-8, -1, 0, size, size + 1, size - 1, 2 ** 53, 1e30, 'abc', '0x10', '1.5', ' 12', '', 'NaN', 'Infinity']));
    const e = entries.find((x) => x.key === key);
    if (e) e.value = value;
    else entries.push(onnx.StringStringEntryProto.create({ key, value }));
    t.externalData = entries;
    return `initializer ${t.name}: external ${key} = ${JSON.stringify(value)}`;
  }
  if (r <= 5 && nodes.length) {
    const n = rng.pick(nodes);
    const choice = rng.int(6);
    if (choice === 0) n.opType = rng.pick(['Foo', '', 'MatMulInteger', 'Loop', 'Add', 'MatMul', 'Gather', 'Constant']);
    else if (choice === 1 && n.input?.length) n.input.splice(rng.int(n.input.length), 1);
    else if (choice === 2 && n.input?.length) n.input[rng.int(n.input.length)] = rng.pick(['nowhere', '', n.output?.[0] ?? 'x', rng.pick(nodes).output?.[0] ?? 'y']);
    else if (choice === 3 && n.output?.length) n.output[0] = rng.pick(['', 'renamed', rng.pick(nodes).output?.[0] ?? 'z']);
    else if (choice === 4 && n.attribute?.length) {
      const a = rng.pick(n.attribute);
      a.type = rng.int(15);
    } else nodes.splice(rng.int(nodes.length), 1);
    return `node ${n.name} (${n.opType}) edit ${choice}`;
  }
  if (r === 6) {
    m.opsetImport = rng.chance(0.5) ? [] : [onnx.OperatorSetIdProto.create({ domain: rng.pick(['', 'ai.onnx', 'com.microsoft']), version: rng.pick([1, 7, 99, -1]) })];
    return 'opsets rewritten';
  }
  if (r === 7) {
    const list = rng.chance(0.5) ? g.input ?? [] : g.output ?? [];
    if (list.length) {
      const v = rng.pick(list);
      if (rng.chance(0.5)) list.splice(list.indexOf(v), 1);
      else if (v.type?.tensorType) v.type.tensorType.elemType = rng.int(30);
    }
    return 'graph input/output edited';
  }
  // Duplicate an initializer name: two tensors, one name.
  if (inits.length > 1) inits[rng.int(inits.length)]!.name = inits[0]!.name;
  return 'initializer names collide';
}

function mutateModel(s: ModelSeed, rng: Rng): { files: Record<string, Uint8Array>; what: string } {
  const files = { ...s.files };
  const onnxBytes = files[s.onnxPath]!;
  const r = rng.int(10);
  if (r <= 1) {
    const m = mutateBytes(onnxBytes, rng);
    files[s.onnxPath] = m.bytes;
    return { files, what: `${s.onnxPath}: ${m.what}` };
  }
  if (r <= 3 && s.spots.length) {
    const m = mutateWire(onnxBytes, s.spots, rng);
    files[s.onnxPath] = m.bytes;
    return { files, what: `${s.onnxPath}: ${m.what}` };
  }
  if (r <= 5) {
    const m = onnx.ModelProto.decode(onnxBytes);
    const times = 1 + rng.int(2);
    const whats: string[] = [];
    for (let i = 0; i < times; i++) whats.push(editGraph(m, rng, files, s.onnxPath));
    files[s.onnxPath] = onnx.ModelProto.encode(m).finish();
    return { files, what: `${s.onnxPath}: ${whats.join('; ')}` };
  }
  const data = Object.keys(files).filter((p) => /\.(data|onnx_data|bin)$/.test(p));
  if (r === 6 && data.length) {
    const p = rng.pick(data);
    const m = mutateBytes(files[p]!, rng);
    files[p] = m.bytes;
    return { files, what: `${p}: ${m.what}` };
  }
  if (r === 7 && rng.chance(0.5)) {
    const p = rng.pick(Object.keys(files));
    delete files[p];
    return { files, what: `${p} removed` };
  }
  const jsons = Object.keys(files).filter((p) => p.endsWith('.json') && !(s.options.tokenizer === false && /^tokenizer/.test(p)));
  if (!jsons.length) return { files, what: 'unchanged' };
  const p = rng.pick(jsons);
  const text = dec.decode(files[p]!);
  if (rng.chance(0.3)) {
    const t = mutateText(text, rng, 'json');
    files[p] = enc.encode(t.text);
    return { files, what: `${p}: ${t.what}` };
  }
  let v: unknown = JSON.parse(text);
  const times = 1 + rng.int(3);
  for (let i = 0; i < times; i++) v = rng.chance(0.1) ? hostileValue(rng) : mutateJsonValue(v, rng);
  files[p] = enc.encode(stringifyHostile(v));
  return { files, what: `${p}: ${times} JSON value mutation(s)` };
}

function checkModelError(e: unknown, files: Record<string, Uint8Array>): string | null {
  if (!(e instanceof ModelLoadError)) return `not a ModelLoadError: ${(e as Error)?.name}: ${(e as Error)?.message}`;
  const unclear = unclearMessage(e.message);
  if (unclear) return unclear;
  // Where: a file of the folder (or the folder itself, for "no .onnx model in ...").
  const names = new Set(['memory', ...Object.keys(files), ...Object.keys(files).map((p) => p.split('/').pop()!), 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat template']);
  if (![...names].some((n) => e.message.includes(n))) return `message names no file: "${e.message}"`;
  return null;
}

const POSITIVE = ['vocabSize', 'hidden', 'layers', 'heads', 'kvHeads', 'headDim', 'intermediate'] as const;

async function modelOutcome(limitMs: number, s: ModelSeed, files: Record<string, Uint8Array>): Promise<Outcome> {
  const r = await withTimeLimit(limitMs, () => loadModel(memorySource(files), s.options));
  if (prototypePolluted()) return { kind: 'bug', why: 'Object.prototype was polluted', ms: r.ms };
  if (r.error !== undefined) {
    const why = checkModelError(r.error, files);
    return why ? { kind: 'bug', why, error: r.error, ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
  }
  const model = r.value!;
  for (const k of POSITIVE) {
    const v = model.config[k];
    if (!(Number.isInteger(v) && v > 0)) return { kind: 'bug', why: `loaded with config.${k} = ${v}`, ms: r.ms };
  }
  for (const [name, w] of model.weights) {
    const have = model.storedBytes(name).byteLength;
    const want = tensorByteLength(w.tensor);
    if (have !== want) return { kind: 'bug', why: `loaded weight ${name} with ${have} bytes, its shape needs ${want}`, ms: r.ms };
    if (w.shape.reduce((a, b) => a * b, 1) > w.tensor.dims.reduce((a, b) => a * b, 1)) return { kind: 'bug', why: `weight ${name} [${w.shape}] is larger than its tensor [${w.tensor.dims}]`, ms: r.ms };
  }
  return { kind: 'ok', ms: r.ms };
}

/** The seed folders, with how often each is picked for a mutation. */
const SEED_FOLDERS: [name: string, dir: string, weight: number, options?: LoadOptions][] = [
  ['tiny-llama', TINY_LLAMA, 4],
  ['tiny-gpt2', TINY_GPT2, 3],
  ['tiny-qwen2', TINY_QWEN2, 3],
  ['tiny-random-llama-fp16', LLAMA_FP16, 2, { tokenizer: false }],
  ['tiny-random-gpt2', GPT2_SHARED, 1, { tokenizer: false }],
  ['demo-fortunes', DEMO, 1],
];

/** Inputs 0..seeds-1: every seed unchanged (must load); then mutated folders. */
export function modelPlan(limitMs: number): CaseMaker {
  const seeds = SEED_FOLDERS.map(([name, dir, weight, options]) => seed(name, dir, weight, options));
  const weighted = seeds.flatMap((s) => Array<ModelSeed>(s.weight).fill(s));
  return (rng, i) => {
    const unchanged = seeds[i];
    if (unchanged) {
      return {
        what: `${unchanged.name} unchanged`,
        show: () => unchanged.name,
        run: async () => {
          const o = await modelOutcome(limitMs, unchanged, unchanged.files);
          return o.kind === 'refused' ? { kind: 'bug', why: 'the unchanged folder was refused', error: o.error, ms: o.ms } : o;
        },
      };
    }
    const s = rng.pick(weighted);
    const m = mutateModel(s, rng);
    return { what: `${s.name}: ${m.what}`, show: () => m.what, run: () => modelOutcome(limitMs, s, m.files) };
  };
}
