import type { DescService } from "@bufbuild/protobuf";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";

/** A service the gateway serves and where it lives. */
export interface Upstream {
  readonly service: DescService;
  /** `host:port` of the grpc-js server. */
  readonly address: string;
}

export const PUBLIC_SERVICES = [TaskService, TemplateService, MonitoringService, AuditService] as const;

/** The process serving each public service (AuditService is served by the monitoring service). */
export const SERVICE_HOST: Readonly<Record<string, "task" | "template" | "monitoring">> = {
  [TaskService.typeName]: "task",
  [TemplateService.typeName]: "template",
  [MonitoringService.typeName]: "monitoring",
  [AuditService.typeName]: "monitoring",
};

/** Every public service routed to the address of the process that serves it. */
export function publicUpstreams(addresses: {
  readonly task: string;
  readonly template: string;
  readonly monitoring: string;
}): Upstream[] {
  return PUBLIC_SERVICES.map((service) => ({
    service,
    address: addresses[SERVICE_HOST[service.typeName] as "task" | "template" | "monitoring"],
  }));
}
