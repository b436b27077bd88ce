/** vitest `globalSetup`: every OUTPUT_ONLY field TemplateService can send is set by a spec, or listed as unset. */
import { outputCoverageSetup } from "@taskmaster/testing/output-coverage";

export default outputCoverageSetup(["taskmaster.template.v1.TemplateService"], {
  // Reports the missing fields after a full run; enforce once libs/testing/src/output-only-unset.ts lists
  // the intentionally unset ones with their reasons (the report is that list).
  enforce: false,
});
