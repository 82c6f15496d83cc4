// `npm run bench -- --node`: our kernel alone, in Node through Dawn (the `webgpu` package), for
// headless GPU servers without a browser. Loaded by scripts/bench.mjs through tsx.
import { createNodeEngine } from '../src/engine/node.js';
import { benchOurs, benchTsLoop, describeResult, errorResult, flopOf, type AdapterInfo, type Method, type Shape, type ShapeResult, type TimingOptions } from './core.js';

export interface NodeConfig {
  shapes: Shape[];
  methods: Method[];
  timing: TimingOptions;
}

export interface NodeReport {
  adapter: AdapterInfo;
  results: ShapeResult[];
}

export async function runNode(config: NodeConfig, log: (msg: string) => void): Promise<NodeReport> {
  const engine = await createNodeEngine();
  try {
    const r = engine.report;
    log(`[bench] our adapter: ${r.vendor} / ${r.architecture} / ${r.description}`);
    const results: ShapeResult[] = [];
    for (const shape of config.shapes) {
      const row: ShapeResult = { ...shape, flop: flopOf(shape), methods: {} };
      results.push(row);
      if (config.methods.includes('ours')) row.methods.ours = await benchOurs(engine, shape, config.timing).catch(errorResult);
      if (config.methods.includes('ts-loop')) row.methods['ts-loop'] = await benchTsLoop(shape, config.timing).catch(errorResult);
      for (const [m, res] of Object.entries(row.methods)) log(`[bench] ${describeResult(shape, m as Method, res)}`);
    }
    return {
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
