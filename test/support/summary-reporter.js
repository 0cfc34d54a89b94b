// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped").
// A suite that fails to load counts as a failure even though no test in it ran.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stderr.write(
      `tests: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests} skipped\n`,
    );
  }
}
