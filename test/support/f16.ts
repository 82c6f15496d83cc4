import { it } from 'vitest';
import { testEngine } from '#test-engine';

/**
 * `it` on an adapter with `shader-f16`, else null: native f16 tests are defined only where they
 * can run (not reported as skipped elsewhere). The node project runs on lavapipe, which has the
 * feature (node-swiftshader runs the kernel suites again without it), and sets PREFSTUDIO_EXPECT_F16 so a broken setup fails here
 * instead of silently dropping those tests.
 */
export async function itWithF16(): Promise<typeof it | null> {
  const { hasF16 } = await testEngine();
  const expected = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.PREFSTUDIO_EXPECT_F16 === '1';
  if (expected && !hasF16) throw new Error('PREFSTUDIO_EXPECT_F16=1 but the adapter has no shader-f16 (check VK_ICD_FILENAMES / .cache/lavapipe)');
  return hasF16 ? it : null;
}
