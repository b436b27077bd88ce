/** vitest `globalSetup`: every OUTPUT_ONLY field TaskService can send is set by a spec, or listed as unset. */
import { outputCoverageSetup } from "@taskmaster/testing/output-coverage";

export default outputCoverageSetup(["taskmaster.task.v1.TaskService"]);
