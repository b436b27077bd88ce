/** vitest `globalSetup`: every OUTPUT_ONLY field TemplateService can send is set by a spec, or listed as unset. */
import { outputCoverageSetup } from "@taskmaster/testing/output-coverage";

export default outputCoverageSetup(["taskmaster.template.v1.TemplateService"], {
  // CreateTaskFromTemplate returns TaskService's Task as TaskService made it.
  relayedFrom: { "taskmaster.task.v1.": "relayed from TaskService; task-service's run judges them" },
});
