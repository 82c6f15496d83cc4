// `prefstudio <command> ...`: the engine headless in Node. Each command lives in its own module
// and is loaded only when asked for, so `prefstudio --help` starts fast.

import { OutputError } from './output.js';

interface Command {
  summary: string;
  load: () => Promise<{ run: (args: string[]) => Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  gpu: { summary: 'show the WebGPU adapter the engine gets in Node', load: () => import('./gpu.js') },
  inspect: { summary: 'show what the model loader recognises in a model folder', load: () => import('./inspect.js') },
  logprobs: {
    summary: 'summed completion log-probs of a preference dataset under a model (our WGSL engine), as JSON lines',
    load: () => import('./logprobs.js'),
  },
  train: { summary: 'LoRA preference tuning (DPO, KTO, ORPO, SimPO, ...): writes a PEFT adapter and metrics.jsonl', load: () => import('./train.js') },
  generate: {
    summary: 'K candidates for every prompt of a prompt set (batched, seeded per candidate), as records awaiting judgement',
    load: () => import('./generate.js'),
  },
  judge: {
    summary: 'judge candidate sets (a model, a rule, or an adapter\'s implicit reward) and make preference pairs',
    load: () => import('./judge.js'),
  },
  loop: { summary: 'on-policy rounds: generate, judge, train, evaluate, again (--config loop.json)', load: () => import('./loop.js') },
  sample: { summary: 'sampled completions of a model, with a PEFT LoRA adapter if given (same seed, same random stream)', load: () => import('./sample.js') },
  eval: { summary: 'loss, TRL metrics and LoRA gradients of a PEFT adapter on a dataset, without training', load: () => import('./eval.js') },
  export: {
    summary: 'take a PEFT adapter elsewhere: merged ONNX, llama.cpp GGUF LoRA, PEFT zip, TRL hand-off folder',
    load: () => import('./export.js'),
  },
  convert: {
    summary: 'convert a preference dataset (JSON/JSONL/CSV/Parquet, .gz) to TRL JSONL or Parquet',
    load: () => import('./convert.js'),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: prefstudio <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`prefstudio: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (e) {
    process.stderr.write(`prefstudio ${name}: ${(e as Error).message}\n`);
    if (process.env.PREFSTUDIO_DEBUG) console.error(e);
    // An output path that cannot be used (a folder where a file is wanted, a missing folder, an
    // input, an existing output without --force) is a usage error: exit 2 (src/cli/output.ts).
    return e instanceof OutputError ? 2 : 1;
  }
}
