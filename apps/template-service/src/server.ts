/**
 * `createServer(deps)`: the template service's gRPC server, built but not listening.
 *
 * Implements every TemplateService RPC, each behind the one authorization interceptor (authorization.ts),
 * and serves `grpc.health.v1` (tied to its database) and reflection. Render usage logs are batched
 * (render.wiring.ts); `flushUsage()` writes the queued ones, shutdown writes them before returning. No side
 * effects: the batcher, the render-plan cache and the owned TaskService transport are server members.
 */

import type { ServiceImpl } from "@connectrpc/connect";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcServer, serviceRegistration } from "@taskmaster/rpc-kit/grpc-server";
import { mapDatabaseError } from "@taskmaster/service-runtime/database-error-map";
import { databaseHealth } from "@taskmaster/service-runtime/database-health";
import type { ServiceDeps } from "@taskmaster/service-runtime/database-service";
import { createAuthorizationInterceptor } from "./authorization.js";
import { createSchemaChecker } from "./json-schema.js";
import { createTemplatePermissionHandlers } from "./permission.handlers.js";
import { createRenderWiring, type RenderWiringDeps, type TemplateGrpcServer } from "./render.wiring.js";
import { createTemplateReviewHandlers } from "./review.handlers.js";
import { createTemplateHandlers } from "./template.handlers.js";
import { createTemplateCategoryHandlers } from "./template-category.handlers.js";
import { createTemplateSlugInterceptor } from "./template-slug.interceptor.js";
import { createTemplateTypeHandlers } from "./template-type.handlers.js";

/**
 * `internalToken` (main.ts: env TASKMASTER_INTERNAL_TOKEN) makes `service:*` callers carrying it in
 * `x-taskmaster-internal-token` trusted; see authorization.ts for the caller headers and the policy table.
 */
export function createServer(
  deps: Pick<ServiceDeps, "orm" | "logger"> &
    Partial<ServiceDeps> & {
      internalToken?: string | undefined;
      /** TaskService transport (CreateTaskFromTemplate); default: one to `taskServiceAddress`, closed on shutdown. */
      taskService?: RenderWiringDeps["taskService"];
      /** TaskService address when no transport is given (main.ts: env TASK_SERVICE_ADDRESS; default 127.0.0.1:50051). */
      taskServiceAddress?: string | undefined;
      /** Usage batcher flush interval (default 200 ms; 0 = renders write their usage log before responding). */
      usageFlushMs?: number | undefined;
    },
): TemplateGrpcServer {
  const schemas = createSchemaChecker();
  const rendering = createRenderWiring({
    orm: deps.orm,
    schemas,
    taskService: deps.taskService,
    taskServiceAddress: deps.taskServiceAddress,
    outbound: deps.outbound,
    usageFlushMs: deps.usageFlushMs,
    masking: deps.masking,
    onUsageError: (err, rows) =>
      deps.logger.error(
        { err: err instanceof Error ? err.message : String(err), rows: rows.length },
        "cannot record template usage",
      ),
    renderPlans: {
      onError: (err) =>
        deps.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "render-plan cache: LISTEN template_changed lost, renders read the database until it is back",
        ),
    },
  });
  const impl: ServiceImpl<typeof TemplateService> = {
    ...createTemplateHandlers({ orm: deps.orm, schemas }),
    ...createTemplateCategoryHandlers({ orm: deps.orm }),
    ...createTemplateTypeHandlers({ orm: deps.orm, schemas }),
    ...createTemplatePermissionHandlers({ orm: deps.orm }),
    ...createTemplateReviewHandlers({ orm: deps.orm }),
    ...rendering.handlers,
  };
  const server = createGrpcServer({
    security: deps.security,
    errorMap: mapDatabaseError,
    logger: deps.logger,
    health: databaseHealth(deps.orm, [TemplateService.typeName]),
    limits: deps.limits,
    maxDeadlineMs: deps.maxDeadlineMs,
    metrics: deps.metrics,
    interceptors: [
      createTemplateSlugInterceptor(deps.orm),
      createAuthorizationInterceptor({
        orm: deps.orm,
        implementation: impl,
        internalToken: deps.internalToken,
      }),
      rendering.interceptor,
    ],
    services: [serviceRegistration(TemplateService, impl)],
    members: rendering.members,
  });
  return { ...server, flushUsage: rendering.flushUsage, renderPlans: rendering.plans };
}
