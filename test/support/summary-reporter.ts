// Prints the slowest test files (so a CI log's tail shows where the time goes), then the closing
// line CI reads: "N passed, N failed" (", N skipped" when any).
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
    const slowest = testModules
      .map((m) => ({ name: `${m.project.name} ${m.relativeModuleId}`, s: (m.diagnostic().duration + m.diagnostic().collectDuration) / 1000 }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 15);
    process.stdout.write(`\nslowest files (tests + import, s):\n${slowest.map((f) => `  ${f.s.toFixed(1).padStart(7)}  ${f.name}`).join('\n')}\n`);
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}
