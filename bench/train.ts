// The training benchmark in the page (bench/index.html), driven by scripts/bench.mjs: DPO steps
// with LoRA and cached reference log-probs on our engine (createBrowserEngine), the same suite as
// `--suite train --node` (bench/train-core.ts), beside the other suites in this one page.
// The runner calls `window.runTrainBench(config)`.
import { createBrowserEngine } from '../src/engine/browser.js';
import { loadModel } from '../src/engine/model/load.js';
import { urlSource } from '../src/engine/model/source.js';
import { TransformerModel } from '../src/engine/transformer/model.js';
import type { TimingOptions } from './core.js';
import { BENCH_LOAD_OPTIONS, modelSummary } from './forward-core.js';
import { benchTrainShape, describeTrain, trainError, type TrainReport, type TrainSettings, type TrainShape, type TrainShapeResult } from './train-core.js';

export interface TrainPageConfig {
  /** URL of the model folder (served by the runner) and the files in it. */
  modelUrl: string;
  modelFiles: string[];
  modelName: string;
  shapes: TrainShape[];
  settings: TrainSettings;
  timing: TimingOptions;
}

export interface TrainPageReport extends TrainReport {
  userAgent: string;
  crossOriginIsolated: boolean;
}

const log = (msg: string) => console.log(`[bench] ${msg}`);

async function run(config: TrainPageConfig): Promise<TrainPageReport> {
  const engine = await createBrowserEngine();
  const r = engine.report;
  log(`our adapter: ${r.vendor} / ${r.architecture} / ${r.description}`);
  const loaded = await loadModel(urlSource(config.modelUrl, { files: config.modelFiles }), BENCH_LOAD_OPTIONS);
  const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  try {
    const results: TrainShapeResult[] = [];
    for (const shape of config.shapes) {
      const res = await benchTrainShape(engine, model, shape, config.settings, config.timing).catch(trainError);
      results.push({ ...shape, result: res });
      log(describeTrain(shape, res));
    }
    return {
      userAgent: navigator.userAgent,
      crossOriginIsolated,
      adapter: { vendor: r.vendor, architecture: r.architecture, description: r.description, isFallbackAdapter: r.isFallbackAdapter, features: r.features },
      model: modelSummary(config.modelName, loaded),
      settings: config.settings,
      results,
    };
  } finally {
    model.destroy();
    engine.destroy();
  }
}

declare global {
  interface Window {
    runTrainBench?: (config: TrainPageConfig) => Promise<TrainPageReport>;
  }
}

window.runTrainBench = run;
