import type { DescService } from "@bufbuild/protobuf";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";

/** A service the gateway serves and where it lives. */
export interface Upstream {
  readonly service: DescService;
  /** `host:port` of the grpc-js server. */
  readonly address: string;
}

export const PUBLIC_SERVICES = [TaskService, TemplateService, MonitoringService] as const;
