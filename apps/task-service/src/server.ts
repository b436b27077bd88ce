/**
 * `createServer(deps)`: the task service's gRPC server, built but not listening (tests start it on port 0).
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import { databasePing } from "@taskmaster/persistence/service-database";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcServer, type GrpcServer, type GrpcLimits, serviceRegistration } from "@taskmaster/rpc-kit/grpc-server";
import { HealthRegistry } from "@taskmaster/rpc-kit/health";
import type { Logger } from "@taskmaster/telemetry/logger";
import { createTaskHandlers } from "./task.handlers.js";

export interface TaskServerDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly limits?: GrpcLimits;
  readonly maxDeadlineMs?: number;
}

export function createServer(deps: TaskServerDeps): GrpcServer {
  const health = new HealthRegistry();
  // The service is only as healthy as its database: Check/Watch reflect a live `SELECT 1`.
  health.addCheck(TaskService.typeName, "database", async () => {
    await databasePing(deps.orm);
    return true;
  });
  return createGrpcServer({
    logger: deps.logger,
    health,
    limits: deps.limits,
    maxDeadlineMs: deps.maxDeadlineMs,
    services: [serviceRegistration(TaskService, createTaskHandlers({ orm: deps.orm }))],
  });
}
