import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './scripts/chromium.mjs';

const supportDir = new URL('./test/support/', import.meta.url).pathname;

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        resolve: { alias: { '#test-engine': `${supportDir}engine.node.ts` } },
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/browser/**', 'node_modules/**'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file gets its own Dawn device; two cores, so two forks.
          pool: 'forks',
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        resolve: { alias: { '#test-engine': `${supportDir}engine.browser.ts` } },
        test: {
          name: 'chromium',
          // Kernel tests that also run in the browser, to prove the browser path.
          include: [
            'test/engine/{residual,matmul,attention,rmsnorm,layernorm,rope,swiglu,gelu,embedding,logprobs,adamw,grad-norm}.test.ts',
            'test/browser/**/*.test.ts',
          ],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // After the Node project: the two would fight over two cores.
          sequence: { groupOrder: 1 },
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: chromiumPath(), args: chromiumArgs() } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
