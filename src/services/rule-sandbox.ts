// The browser's JavaScript rule sandbox (engine/loop/rules.ts RuleSandbox): each call runs the
// rule in a fresh dedicated Worker (src/worker/rule.worker.ts, locked down before the rule is
// compiled) and terminates it when the call runs past its time limit, so a rule that loops forever
// is stopped and reported and the page goes on.
import { RuleError, type RuleInput, type RuleSandbox } from '../engine/loop/rules.js';

interface Reply {
  results?: unknown[];
  error?: 'threw';
  candidate?: number | null;
  message?: string;
}

let override: RuleSandbox | null = null;

/** Tests in Node: another sandbox with the same contract (src/cli/rule-sandbox.ts's worker thread). */
export function useRuleSandbox(s: RuleSandbox | null): void {
  override = s;
}

/** The sandbox the page's rule judges run in. */
export function ruleSandbox(): RuleSandbox {
  return override ?? browserRuleSandbox;
}

export const browserRuleSandbox: RuleSandbox = {
  run(source: string, inputs: readonly RuleInput[], timeoutMs: number): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('../worker/rule.worker.ts', import.meta.url), { type: 'module', name: 'prefstudio-rule' });
      let settled = false;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.terminate();
        f();
      };
      const timer = setTimeout(() => finish(() => reject(new RuleError('timeout', `the rule ran past its time limit of ${timeoutMs} ms (an endless loop?) and was stopped`))), timeoutMs);
      worker.onmessage = (e: MessageEvent<Reply>) =>
        finish(() => {
          if (e.data.error) reject(new RuleError('threw', `the rule threw: ${e.data.message}`, e.data.candidate ?? null));
          else resolve(e.data.results ?? []);
        });
      worker.onerror = (e) => finish(() => reject(new RuleError('threw', `the rule could not run: ${e.message || 'a script error'}`)));
      worker.postMessage({ source, inputs: inputs.map((x) => ({ response: x.response, prompt: x.prompt })) });
    });
  },
};
