// Global set-up of a test run: a folder for the one production build of the studio that every
// e2e file shares (test/support/e2e.ts builds it on first use, under a lock), removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the shared e2e build goes (made on first use). */
    e2eBuildRoot: string;
  }
}

export default function setup(project: TestProject): () => void {
  const root = mkdtempSync(join(tmpdir(), 'prefstudio-e2e-build-'));
  project.provide('e2eBuildRoot', root);
  return () => rmSync(root, { recursive: true, force: true });
}
