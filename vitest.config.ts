import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './scripts/chromium.mjs';
import { lavapipeIcd } from './scripts/lavapipe.mjs';

const supportDir = new URL('./test/support/', import.meta.url).pathname;

// Two software Vulkan adapters in Node. Mesa's lavapipe (set up by scripts/ensure-deps.mjs) is
// about five times faster than SwiftShader and has shader-f16, so every Node test runs there; the
// kernel suites run a second time on SwiftShader (no shader-f16: the f16 fallbacks, 1 GiB bindings
// where lavapipe has 128 MiB), most of them in the browser project. Chromium always uses its own SwiftShader (it ignores
// VK_ICD_FILENAMES), so the browser project and the e2e tests cover the browser path there.
// Without lavapipe everything runs on SwiftShader and the run says the f16 paths went untested.
const f16Icd = lavapipeIcd();
if (!f16Icd) console.warn('[prefstudio] no lavapipe (.cache/lavapipe): native f16 kernel paths are not tested in this run, and every Node test runs on SwiftShader');
const kernelSuites = 'test/engine/**/*.test.ts';
// The kernel suites the browser project runs too: on Chromium's SwiftShader they already cover the
// f16 fallbacks and 1 GiB bindings, so the Node SwiftShader pass runs only the other engine suites.
const browserKernelSuites = 'test/engine/{residual,matmul,matmul-nbits,lora,attention,rmsnorm,layernorm,rope,swiglu,gelu,softcap,embedding,logprobs,adamw,grad-norm}.test.ts';

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
          // One production build of the studio for every e2e file (test/support/e2e.ts).
          globalSetup: ['test/support/e2e-global.ts'],
          environment: 'node',
          // CLI children inherit the adapter through the environment.
          env: f16Icd ? { VK_ICD_FILENAMES: f16Icd, PREFSTUDIO_EXPECT_F16: '1' } : {},
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
                name: 'node-swiftshader',
                include: [kernelSuites],
                exclude: [browserKernelSuites, 'node_modules/**'],
                environment: 'node' as const,
                // Empty: the engine points Dawn at Chromium's SwiftShader (src/engine/gpu/node-device.ts).
                env: { VK_ICD_FILENAMES: '' },
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
            browserKernelSuites,
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
