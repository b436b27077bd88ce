/** vitest `globalSetup`: every OUTPUT_ONLY field TaskService can send is set by a spec, or listed as unset. */
import { outputCoverageSetup } from "@taskmaster/testing/output-coverage";

export default outputCoverageSetup(["taskmaster.task.v1.TaskService"], {
  // Reports the missing fields after a full run; enforce once libs/testing/src/output-only-unset.ts lists
  // the intentionally unset ones with their reasons (the report is that list).
  enforce: false,
});
