// `npm run bench -- --node`: our matmul kernel and our forward pass alone, in Node through Dawn
// (the `webgpu` package), for headless GPU servers without a browser. Loaded by scripts/bench.mjs
// through tsx.
import { createNodeEngine } from '../src/engine/node.js';
import { loadModel, type LoadedModel } from '../src/engine/model/load.js';
import type { Engine } from '../src/engine/gpu/engine.js';
import { nodeDirSource } from '../src/engine/model/source-node.js';
import { TransformerModel } from '../src/engine/transformer/model.js';
import { BENCH_LOAD_OPTIONS, benchOursForward, describeForward, forwardError, modelSummary, type BatchShape, type ForwardReport, type ForwardShapeResult } from './forward-core.js';
import { benchTrainShape, describeTrain, trainError, type TrainReport, type TrainSettings, type TrainShape, type TrainShapeResult } from './train-core.js';
import { benchOurs, benchTsLoop, describeResult, errorResult, flopOf, type AdapterInfo, type Method, type Shape, type ShapeResult, type TimingOptions } from './core.js';
import { measureCeiling, type Ceiling } from './peak.js';
import { variantList } from './variant-list.js';

export interface NodeConfig {
  shapes: Shape[];
  methods: Method[];
  timing: TimingOptions;
  /** Forward variants to time besides `ours` (names, or ['all'] for every applicable one). */
  variants?: string[];
}

export interface NodeReport {
  adapter: AdapterInfo;
  /** The adapter's measured FMA and bandwidth peaks (bench/peak.ts). */
  ceiling: Ceiling;
  results: ShapeResult[];
}


export async function runNode(config: NodeConfig, log: (msg: string) => void): Promise<NodeReport> {
  const engine = await createNodeEngine();
  try {
    const r = engine.report;
    log(`[bench] our adapter: ${r.vendor} / ${r.architecture} / ${r.description}`);
    const ceiling = await measureCeiling(engine, config.timing, log);
    const variants = variantList(engine, config.variants);
    const results: ShapeResult[] = [];
    for (const shape of config.shapes) {
      const row: ShapeResult = { ...shape, flop: flopOf(shape), methods: {} };
      results.push(row);
      if (config.methods.includes('ours')) row.methods.ours = await benchOurs(engine, shape, config.timing).catch(errorResult);
      if (config.methods.includes('ts-loop')) row.methods['ts-loop'] = await benchTsLoop(shape, config.timing).catch(errorResult);
      for (const [m, res] of Object.entries(row.methods)) log(`[bench] ${describeResult(shape, m as Method, res)}`);
      for (const v of variants) {
        if (v === 'subgroup' && shape.M > 16) continue; // a decoding layout: timed only for few rows
        (row.variants ??= {})[v] = await benchOurs(engine, shape, config.timing, v).catch(errorResult);
        log(`[bench] ${describeResult(shape, 'ours', row.variants[v]!)} [variant ${v}]`);
      }
    }
    return {
      ceiling,
      adapter: {
        vendor: r.vendor,
        architecture: r.architecture,
        description: r.description,
        isFallbackAdapter: r.isFallbackAdapter,
        features: r.features,
      },
      results,
    };
  } finally {
    engine.destroy();
  }
}

export interface NodeForwardConfig {
  modelDir: string;
  modelName: string;
  shapes: BatchShape[];
  timing: TimingOptions;
}

/**
 * Runs `bench` on the model in `modelDir`, on a Node engine made for it (adapter logged), and frees
 * both afterwards. `adapter` is the report's summary as the JSON records it.
 */
async function withNodeModel<T>(
  modelDir: string,
  log: (msg: string) => void,
  bench: (engine: Engine, model: TransformerModel, loaded: LoadedModel, adapter: AdapterInfo) => Promise<T>,
): Promise<T> {
  const engine = await createNodeEngine();
  const loaded = await loadModel(nodeDirSource(modelDir), BENCH_LOAD_OPTIONS);
  const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  try {
    const r = engine.report;
    log(`[bench] our adapter: ${r.vendor} / ${r.architecture} / ${r.description}`);
    const adapter = { vendor: r.vendor, architecture: r.architecture, description: r.description, isFallbackAdapter: r.isFallbackAdapter, features: r.features };
    return await bench(engine, model, loaded, adapter);
  } finally {
    model.destroy();
    engine.destroy();
  }
}

/** `--suite forward --node`: our forward pass alone (no onnxruntime column, no logits check). */
export function runNodeForward(config: NodeForwardConfig, log: (msg: string) => void): Promise<ForwardReport> {
  return withNodeModel(config.modelDir, log, async (engine, model, loaded, adapter) => {
    const results: ForwardShapeResult[] = [];
    for (const shape of config.shapes) {
      const res = await benchOursForward(engine, model, shape, config.timing, null).then((x) => x.result, forwardError);
      results.push({ ...shape, methods: { ours: res } });
      log(`[bench] ${describeForward(shape, 'ours', res)}`);
    }
    return { adapter, model: modelSummary(config.modelName, loaded), results };
  });
}

export interface NodeTrainConfig {
  modelDir: string;
  modelName: string;
  shapes: TrainShape[];
  settings: TrainSettings;
  timing: TimingOptions;
}

/** `--suite train --node`: DPO steps with cached reference log-probs against a forward, in Node. */
export function runNodeTrain(config: NodeTrainConfig, log: (msg: string) => void): Promise<TrainReport> {
  return withNodeModel(config.modelDir, log, async (engine, model, loaded, adapter) => {
    const results: TrainShapeResult[] = [];
    for (const shape of config.shapes) {
      const res = await benchTrainShape(engine, model, shape, config.settings, config.timing).catch(trainError);
      results.push({ ...shape, result: res });
      log(`[bench] ${describeTrain(shape, res)}`);
    }
    return { adapter, model: modelSummary(config.modelName, loaded), settings: config.settings, results };
  });
}
