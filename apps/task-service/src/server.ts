/**
 * `createServer(deps)`: the task service's gRPC server, built but not listening (tests start it on port 0).
 * TaskService is assembled from one handler factory per resource; each returns its slice of the service.
 */
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcServer, type GrpcServer, serviceRegistration } from "@taskmaster/rpc-kit/grpc-server";
import { databaseHealth } from "@taskmaster/service-runtime/database-health";
import type { ServiceDeps } from "@taskmaster/service-runtime/database-service";
import { createTaskHandlers } from "./task.handlers.js";

export type TaskServerDeps = Pick<ServiceDeps, "orm" | "logger"> &
  Partial<Pick<ServiceDeps, "limits" | "maxDeadlineMs">>;

export function createServer(deps: TaskServerDeps): GrpcServer {
  const slices = [
    createTaskHandlers(deps),
    // one line per resource's handler factory
  ];
  return createGrpcServer({
    logger: deps.logger,
    // Check/Watch reflect a live `SELECT 1`: the service is only as healthy as its database.
    health: databaseHealth(deps.orm, [TaskService.typeName]),
    limits: deps.limits,
    maxDeadlineMs: deps.maxDeadlineMs,
    services: [serviceRegistration(TaskService, Object.assign({}, ...slices))],
  });
}
