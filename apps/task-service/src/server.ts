/**
 * `createServer(deps)`: the task service's gRPC server, built but not listening (tests start it on port 0);
 * no side effects. TaskService is assembled from one handler factory per resource, each returning its slice;
 * the assembled object is checked against the full `ServiceImpl`, so a missing RPC does not compile.
 */

import type { ServiceImpl } from "@connectrpc/connect";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcServer, type GrpcServer, serviceRegistration } from "@taskmaster/rpc-kit/grpc-server";
import { mapDatabaseError } from "@taskmaster/service-runtime/database-error-map";
import { databaseHealth } from "@taskmaster/service-runtime/database-health";
import type { ServiceDeps } from "@taskmaster/service-runtime/database-service";
import { createAttachmentHandlers } from "./attachment.handlers.js";
import { createCommentHandlers } from "./comment.handlers.js";
import { createMilestoneHandlers } from "./milestone.handlers.js";
import { createPlanningHandlers } from "./planning.handlers.js";
import { createRelationshipHandlers } from "./relationship.handlers.js";
import { createReleaseHandlers } from "./release.handlers.js";
import { createSearchHandlers } from "./search.handlers.js";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { createTaskHandlers } from "./task.handlers.js";
import { createTimeLogHandlers } from "./time-log.handlers.js";
import { createWatchHandlers } from "./watch.handlers.js";
import { createWorkQueueHandlers } from "./work-queue.handlers.js";
import { createWorkflowHandlers } from "./workflow.handlers.js";

export type TaskServerDeps = Pick<ServiceDeps, "orm" | "logger"> &
  Partial<Pick<ServiceDeps, "limits" | "maxDeadlineMs" | "metrics" | "security">> & {
    /** Content-addressed attachment store directory (default `.data/attachments`). */
    readonly attachmentDir?: string | undefined;
    /** Attachment size limit in bytes (default 25 MiB). */
    readonly attachmentMaxBytes?: number | undefined;
    /** Status transition table (object or JSON, validated); default: the built-in one (main.ts reads env). */
    readonly statusTransitions?: StatusTransitionTable | string | undefined;
  };

export function createServer(options: TaskServerDeps): GrpcServer {
  const deps = { ...options, statusTransitions: resolveStatusTransitions(options.statusTransitions) };
  const impl: ServiceImpl<typeof TaskService> = {
    ...createTaskHandlers(deps),
    ...createRelationshipHandlers(deps),
    ...createPlanningHandlers(deps),
    ...createAttachmentHandlers(deps),
    ...createSearchHandlers(deps),
    ...createWorkQueueHandlers(deps),
    ...createWatchHandlers(deps),
    ...createWorkflowHandlers(deps),
    ...createCommentHandlers(deps),
    ...createTimeLogHandlers(deps),
    ...createReleaseHandlers(deps),
    ...createMilestoneHandlers(deps),
    // one line per resource's handler factory
  };
  return createGrpcServer({
    errorMap: mapDatabaseError,
    logger: deps.logger,
    // Check/Watch reflect a live `SELECT 1`: the service is only as healthy as its database.
    health: databaseHealth(deps.orm, [TaskService.typeName]),
    limits: deps.limits,
    maxDeadlineMs: deps.maxDeadlineMs,
    metrics: deps.metrics,
    security: deps.security,
    services: [serviceRegistration(TaskService, impl)],
  });
}
