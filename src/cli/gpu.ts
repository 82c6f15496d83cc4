import { createNodeEngine } from '../engine/node.js';

export async function run(args: string[]): Promise<number> {
  const engine = await createNodeEngine();
  try {
    const json = args.includes('--json');
    const r = engine.report;
    if (json) {
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
  } finally {
    engine.destroy();
  }
}
