import { writeSync } from 'node:fs';

// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped") as the
// very last output: Jest always appends its own summary reporter after custom ones, so
// the line is written when the process exits. A suite that fails to load counts as a
// failure even though no test in it ran.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests} skipped\n`;
    process.once('exit', () => writeSync(2, line));
  }
}
