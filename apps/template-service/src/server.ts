/**
 * `createServer(deps)`: the template service's gRPC server, built but not listening.
 *
 * Its RPCs arrive with issue 5; until then every RPC answers UNIMPLEMENTED while the process starts, serves
 * `grpc.health.v1` (tied to its database) and reflection, so the stack and its operators see it.
 */
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcServer, type GrpcServer, serviceRegistration } from "@taskmaster/rpc-kit/grpc-server";
import { databaseHealth } from "@taskmaster/service-runtime/database-health";
import type { ServiceDeps } from "@taskmaster/service-runtime/database-service";
import { createTemplateHandlers } from "./template.handlers.js";
import { createTemplateCategoryHandlers } from "./template-category.handlers.js";
import { createTemplateTypeHandlers } from "./template-type.handlers.js";

export function createServer(deps: Pick<ServiceDeps, "orm" | "logger"> & Partial<ServiceDeps>): GrpcServer {
  return createGrpcServer({
    logger: deps.logger,
    health: databaseHealth(deps.orm, [TemplateService.typeName]),
    limits: deps.limits,
    maxDeadlineMs: deps.maxDeadlineMs,
    services: [
      serviceRegistration(TemplateService, {
        ...createTemplateHandlers({ orm: deps.orm }),
        ...createTemplateCategoryHandlers({ orm: deps.orm }),
        ...createTemplateTypeHandlers({ orm: deps.orm }),
      }),
    ],
  });
}
