// Prints the test time of each project and the slowest test files (so a CI log's tail shows where
// the time goes), then the closing line CI reads: "N passed, N failed" (", N skipped" when any).
// Every file's time goes to .cache/test-times.json for a closer look.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A file that failed to load has no tests but is a failure.
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
    }
    failed += unhandledErrors.length;
    const files = testModules
      .map((m) => ({ project: m.project.name, file: m.relativeModuleId, s: (m.diagnostic().duration + m.diagnostic().collectDuration) / 1000 }))
      .sort((a, b) => b.s - a.s);
    const byProject = new Map<string, { files: number; s: number }>();
    for (const f of files) {
      const p = byProject.get(f.project) ?? { files: 0, s: 0 };
      byProject.set(f.project, { files: p.files + 1, s: p.s + f.s });
    }
    const projects = [...byProject].map(([name, p]) => `  ${p.s.toFixed(0).padStart(7)}  ${name} (${p.files} files)`);
    const slowest = files.slice(0, 15).map((f) => `  ${f.s.toFixed(1).padStart(7)}  ${f.project} ${f.file}`);
    process.stdout.write(`\ntest time by project (tests + import, s, summed over workers):\n${projects.join('\n')}\n`);
    process.stdout.write(`\nslowest files (tests + import, s):\n${slowest.join('\n')}\n`);
    try {
      mkdirSync('.cache', { recursive: true });
      writeFileSync('.cache/test-times.json', `${JSON.stringify(files, null, 1)}\n`);
    } catch {
      // a read-only checkout: the printed summary is enough
    }
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}
