// The JavaScript rule sandbox in Node (engine/loop/rules.ts RuleSandbox): each call runs in a
// fresh worker thread, where the rule is compiled in a bare vm context, one that holds the
// language's built-ins and nothing else: no require, import, process, fs, fetch, timers or
// console. The rule gets the response and the prompt as strings (primitives: no object of the
// host realm to climb out through) and its results leave as JSON. The worker has a small heap
// (64 MiB) and is terminated when the call runs past its time limit, so a rule that loops forever
// or allocates without end is stopped and reported, and the caller goes on.
import { Worker } from 'node:worker_threads';
import { RuleError, type RuleInput, type RuleSandbox } from '../engine/loop/rules.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const vm = require('node:vm');
const { source, inputs } = workerData;
let results;
try {
  const context = vm.createContext(Object.create(null), { codeGeneration: { strings: false, wasm: false } });
  const rule = new vm.Script('(function (response, prompt) {\\n' + source + '\\n})', { filename: 'rule.js' }).runInContext(context);
  results = [];
  for (let i = 0; i < inputs.length; i++) {
    let value;
    try {
      value = rule(inputs[i].response, inputs[i].prompt);
    } catch (e) {
      parentPort.postMessage({ error: 'threw', candidate: i, message: String(e && e.message !== undefined ? e.message : e) });
      process.exit(0);
    }
    results.push(typeof value === 'number' || typeof value === 'boolean' ? value : { not: value === null ? 'null' : typeof value });
  }
} catch (e) {
  parentPort.postMessage({ error: 'threw', candidate: null, message: String(e && e.message !== undefined ? e.message : e) });
  process.exit(0);
}
parentPort.postMessage({ results });
`;

interface Reply {
  results?: (number | boolean | { not: string })[];
  error?: 'threw';
  candidate?: number | null;
  message?: string;
}

export const nodeRuleSandbox: RuleSandbox = {
  run(source: string, inputs: readonly RuleInput[], timeoutMs: number): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, {
        eval: true,
        workerData: { source, inputs: inputs.map((x) => ({ response: String(x.response), prompt: String(x.prompt) })) },
        resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
        env: {},
        stdout: true,
        stderr: true,
      });
      let settled = false;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void worker.terminate();
        f();
      };
      const timer = setTimeout(
        () => finish(() => reject(new RuleError('timeout', `the rule ran past its time limit of ${timeoutMs} ms (an endless loop?) and was stopped`))),
        timeoutMs,
      );
      worker.on('message', (m: Reply) =>
        finish(() => {
          if (m.error) reject(new RuleError('threw', `the rule threw: ${m.message}`, m.candidate ?? null));
          else resolve((m.results ?? []).map((r) => (typeof r === 'object' ? `(${r.not})` : r)));
        }),
      );
      worker.on('error', (e) => finish(() => reject(new RuleError('threw', `the rule could not run: ${e.message}`))));
      worker.on('exit', (code) => finish(() => reject(new RuleError('threw', `the rule's worker stopped (exit ${code}) before it answered`))));
    });
  },
};
