/**
 * vitest `globalSetup`: every OUTPUT_ONLY field MonitoringService and AuditService can send is set by a spec,
 * or listed as unset.
 */
import { outputCoverageSetup } from "@taskmaster/testing/output-coverage";

export default outputCoverageSetup([
  "taskmaster.monitoring.v1.MonitoringService",
  "taskmaster.audit.v1.AuditService",
]);
