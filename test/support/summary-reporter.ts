/**
 * Ends a run with one plain line, "N passed, N failed, N skipped", that CI logs can be read by,
 * after the size of the hostile-input corpus and how many of its requests got a 5xx.
 */
import type { Reporter, TestModule } from "vitest/node";

declare module "vitest" {
  interface TaskMeta {
    /** The HTTP status a hostile-input corpus case got (test/worker/hostile.test.ts). */
    hostileStatus?: number;
  }
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    const hostile: number[] = [];
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        counts[test.result().state]++;
        const status = test.meta().hostileStatus;
        if (status !== undefined) hostile.push(status);
      }
    }
    if (hostile.length > 0) console.log(`\nhostile-input corpus: ${hostile.length} requests run, ${hostile.filter((s) => s >= 500).length} answered 5xx`);
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  }
}
