/**
 * Every service of the contract and a registry of every type they use (with their imports, transitively, and
 * the error detail types), for the output contract check and the OUTPUT_ONLY coverage check.
 */
import { createRegistry, type DescFile, type DescService, type Registry } from "@bufbuild/protobuf";
import { file_google_rpc_error_details } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { file_taskmaster_common_v1_errors } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";

export const CONTRACT_SERVICES: readonly DescService[] = [
  TaskService,
  TemplateService,
  MonitoringService,
  AuditService,
];

function withImports(files: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.set(f.name, f);
    for (const d of f.dependencies) visit(d);
  };
  for (const f of files) visit(f);
  return [...seen.values()];
}

/** Registry for JSON encoding (Any, error details) of everything the services can send. */
export function contractRegistry(): Registry {
  return createRegistry(
    ...withImports([
      ...CONTRACT_SERVICES.map((s) => s.file),
      file_google_rpc_error_details,
      file_taskmaster_common_v1_errors,
    ]),
  );
}

export function serviceByName(typeName: string): DescService | undefined {
  return CONTRACT_SERVICES.find((s) => s.typeName === typeName);
}
