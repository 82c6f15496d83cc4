import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './scripts/chromium.mjs';
import { lavapipeIcd } from './scripts/lavapipe.mjs';

const supportDir = new URL('./test/support/', import.meta.url).pathname;

// SwiftShader has no shader-f16; Mesa's lavapipe (set up by scripts/ensure-deps.mjs) has, so
// the kernel suites with native f16 paths run a second time there. The demo learning check
// (whole training runs) and the whole-model PyTorch comparison also go there: lavapipe is about
// five times faster than SwiftShader (both run on SwiftShader where lavapipe is missing).
const f16Icd = lavapipeIcd();
if (!f16Icd) console.warn('[prefstudio] no lavapipe (.cache/lavapipe): native f16 kernel paths are not tested in this run, and the demo check runs on SwiftShader');
const f16Suites = 'test/engine/{matmul,embedding,lora}.test.ts';
// Whole training runs and the whole-model PyTorch comparison (about 20 eval --grads runs); the
// architecture replicas' forward and LoRA checks (issue 12: seven models with head sizes 128-256);
// the Loop page's store (issue 13: two-round loops with generation and training on the demo).
const lavapipeSuites = ['test/demo/**/*.test.ts', 'test/ui/loop-store.test.ts', 'test/training/pytorch.test.ts', 'test/model/architectures.test.ts', 'test/transformer/lora-architectures.test.ts', 'test/transformer/greedy-architectures.test.ts', 'test/export/architectures.test.ts', 'test/cli/architectures.test.ts', 'test/training/qlora.test.ts'];

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
          // One production build of the studio for every e2e file (test/support/e2e.ts).
          globalSetup: ['test/support/e2e-global.ts'],
          exclude: ['test/browser/**', 'node_modules/**', ...(f16Icd ? lavapipeSuites : [])],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file gets its own Dawn device; two cores, so two forks.
          pool: 'forks',
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      ...(f16Icd
        ? [
            {
              extends: true as const,
              resolve: { alias: { '#test-engine': `${supportDir}engine.node.ts` } },
              test: {
                name: 'node-f16',
                include: [f16Suites, ...lavapipeSuites],
                environment: 'node' as const,
                env: { VK_ICD_FILENAMES: f16Icd, PREFSTUDIO_EXPECT_F16: '1' },
                testTimeout: 60_000,
                pool: 'forks' as const,
                maxWorkers: 2,
                sequence: { groupOrder: 0 },
              },
            },
          ]
        : []),
      {
        extends: true,
        resolve: { alias: { '#test-engine': `${supportDir}engine.browser.ts` } },
        test: {
          name: 'chromium',
          // Kernel tests that also run in the browser, to prove the browser path.
          include: [
            'test/engine/{residual,matmul,matmul-nbits,lora,attention,rmsnorm,layernorm,rope,swiglu,gelu,softcap,embedding,logprobs,adamw,grad-norm}.test.ts',
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
