// prefstudio gpu: the adapter the engine gets in Node; with --tune, the kernel variants chosen
// for a model's (or given) matmul shapes on it, measured or from the tuning cache, and why.
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../engine/node.js';
import { isModelLoadError } from '../engine/model/errors.js';
import { openModel } from './hub-model.js';
import { modelAttentionShapes, type AttentionShape } from '../engine/tuning/attention-runner.js';
import { modelMatmulShapes, tuneMatmuls, type MatmulShape } from '../engine/tuning/matmul-runner.js';
import { modelLogprobsShapes, modelLoraShapes, type LogprobsShape, type LoraShape } from '../engine/tuning/lora-runner.js';
import { TUNED_KERNELS, VARIANTS, applicableVariants, whyNotApplicable, type TunedKernel } from '../engine/tuning/variants.js';
import { fileTuneCache, tuneCachePath } from './tune-cache.js';

const HELP = `prefstudio gpu [options]: the WebGPU adapter the engine gets in Node
  --json              the adapter report as JSON
  --tune              choose the kernel variants for --model's (or --shapes') matmuls on this
                      adapter: from the tuning cache, or measured (a few seconds), then print
                      each choice and why (also on software adapters, which train and logprobs
                      leave untuned unless PREFSTUDIO_TUNE=on)
  --model DIR|ORG/NAME
                      model folder whose layer shapes are tuned (M = --rows), or a Hugging
                      Face Hub id (fetched once into PREFSTUDIO_CACHE)
  --rows M            activation rows (batch x tokens) of the products (default 256)
  --shapes LIST       MxCxOC,... instead of --model
  --kernels LIST      ${TUNED_KERNELS.join(',')} (default: all; attention
                      and logprobs_forward need --model: one sequence of --rows tokens, and
                      decoding; the LM head in chunks of 32 MiB of logits)
  --lora-rank R       with --model: also the LoRA passes (lora_xa, lora_dyb, lora_grad) of an
                      adapter of rank R on every linear layer but the LM head
  --tune-cache FILE   the tuning cache (default PREFSTUDIO_TUNE_CACHE, else
                      ~/.cache/prefstudio/kernel-tuning.json; "off": measure, keep nothing)
  --budget-ms MS      time for the measurements (default 3000)
Forced variants (debugging, benchmarks): PREFSTUDIO_KERNEL_VARIANTS=matmul_forward=tiled8,...`;

function parseShapes(text: string): MatmulShape[] {
  return text.split(',').map((s) => {
    const m = /^(\d+)x(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new Error(`--shapes: "${s}" is not MxCxOC (e.g. 256x576x1536)`);
    const [M, C, OC] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (!(M > 0 && C > 0 && OC > 0)) throw new Error(`--shapes: "${s}" has a zero dimension`);
    return { M, C, OC };
  });
}

export async function run(args: string[]): Promise<number> {
  const { values: o } = parseArgs({
    args,
    options: {
      json: { type: 'boolean', default: false },
      tune: { type: 'boolean', default: false },
      model: { type: 'string' },
      rows: { type: 'string', default: '256' },
      shapes: { type: 'string' },
      kernels: { type: 'string' },
      'lora-rank': { type: 'string' },
      'tune-cache': { type: 'string' },
      'budget-ms': { type: 'string', default: '3000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (o.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const rows = Number(o.rows);
  if (!Number.isInteger(rows) || rows < 1 || rows > 1 << 20) throw new Error(`--rows ${o.rows}: a whole number from 1 to ${1 << 20}`);
  const budgetMs = Number(o['budget-ms']);
  if (!(budgetMs > 0 && budgetMs <= 600_000)) throw new Error(`--budget-ms ${o['budget-ms']}: a number of milliseconds from 1 to 600000`);
  const kernels = (o.kernels ?? TUNED_KERNELS.join(',')).split(',').map((k) => k.trim()) as TunedKernel[];
  for (const k of kernels) {
    if (!(TUNED_KERNELS as readonly string[]).includes(k)) throw new Error(`--kernels: no tuned kernel "${k}" (kernels: ${TUNED_KERNELS.join(', ')})`);
  }
  if (o.tune && !o.model && !o.shapes) throw new Error('--tune needs --model DIR or --shapes MxCxOC,...');
  let shapes: MatmulShape[] = [];
  let attention: AttentionShape[] = [];
  let logprobs: LogprobsShape[] = [];
  let lora: LoraShape[] = [];
  const loraRank = o['lora-rank'] === undefined ? null : Number(o['lora-rank']);
  if (loraRank !== null && !(Number.isInteger(loraRank) && loraRank >= 1 && loraRank <= 1024)) throw new Error(`--lora-rank ${o['lora-rank']}: a whole number from 1 to 1024`);
  if (loraRank !== null && !o.model) throw new Error('--lora-rank needs --model DIR (the layers it adapts)');
  if (o.shapes) shapes = parseShapes(o.shapes);
  else if (o.model) {
    const model = o.model;
    const { model: loaded } = await openModel(model, { readWeights: false, acknowledge: ['tokenizer-vocab-mismatch'] }, (l) => process.stderr.write(`gpu: ${l}\n`)).catch((e: unknown) => {
      throw isModelLoadError(e) ? new Error(`cannot load --model ${model}: ${e.message} [${e.code}]`) : e;
    });
    shapes = modelMatmulShapes(loaded.config, rows);
    attention = modelAttentionShapes(loaded.config, rows);
    logprobs = modelLogprobsShapes(loaded.config, rows);
    if (loraRank !== null) lora = modelLoraShapes(loaded.config, rows, loraRank);
  }

  const engine = await createNodeEngine();
  try {
    const r = engine.report;
    if (!o.tune) {
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      } else {
        process.stdout.write(
          `adapter: ${r.vendor || '?'} / ${r.architecture || '?'}${r.isFallbackAdapter ? ' (fallback)' : ''}\n` +
            `features: shader-f16=${r.features.shaderF16} subgroups=${r.features.subgroups} timestamp-query=${r.features.timestampQuery}\n` +
            Object.entries(r.limits)
              .map(([k, v]) => `${k}: ${v}`)
              .join('\n') +
            '\n',
        );
      }
      return 0;
    }
    const path = tuneCachePath(o['tune-cache']);
    const outcome = await tuneMatmuls(engine, shapes, path ? fileTuneCache(path) : null, {
      budgetMs,
      kernels,
      attention,
      logprobs,
      lora,
      onProgress: (p) => process.stderr.write(`tuning ${p.done}/${p.total}: ${p.note}\n`),
    });
    const variants = Object.fromEntries(kernels.map((k) => [k, VARIANTS.filter((v) => v.kernel === k).map((v) => ({
      name: v.name, about: v.about, applicable: applicableVariants(k, r).some((a) => a.name === v.name), why_not: whyNotApplicable(v, r),
    }))]));
    const result = {
      adapter: { vendor: r.vendor, architecture: r.architecture, description: r.description, driver: r.driver ?? '' },
      cache: path,
      from_cache: outcome.fromCache,
      ms: Math.round(outcome.ms),
      forced: engine.choices.forced,
      choices: engine.choices.all(),
      variants,
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      process.stdout.write(
        `adapter: ${r.vendor || '?'} / ${r.architecture || '?'} / ${r.description || '?'}\n` +
          `tuning: ${outcome.fromCache ? 'from the cache' : `measured in ${(outcome.ms / 1000).toFixed(1)} s`}${path ? ` (${path})` : ' (no cache)'}\n`,
      );
      for (const c of engine.choices.all()) process.stdout.write(`${c.kernel} ${c.shapeClass}: ${c.variant} — ${c.why}\n`);
    }
    return 0;
  } finally {
    engine.destroy();
  }
}
