/**
 * Wiring of the rendering, dependency, usage, analytics and task-from-template slices for server.ts: one
 * render engine (compiled-template cache) and one TaskService transport per server. The transport is built
 * from TASK_SERVICE_ADDRESS (default 127.0.0.1:50051) unless injected, and closed when the server shuts down.
 */
import type { ServiceImpl, Transport } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createAnalyticsHandlers } from "./analytics.handlers.js";
import { DEFAULT_RENDER_LIMITS, RenderEngine, type RenderLimits } from "./render.engine.js";
import { createRenderHandlers } from "./render.handlers.js";
import { createTaskFromTemplateHandlers } from "./task-from-template.handlers.js";
import { createTemplateDependencyHandlers } from "./template-dependency.handlers.js";
import { createUsageHandlers } from "./usage.handlers.js";

export interface RenderWiringDeps {
  readonly orm: MikroORM;
  /** TaskService transport; when absent one is created from `taskServiceAddress` and owned here. */
  readonly taskService?: Transport | undefined;
  readonly taskServiceAddress?: string | undefined;
  readonly renderLimits?: Partial<RenderLimits> | undefined;
}

export interface RenderWiring {
  readonly handlers: Partial<ServiceImpl<typeof TemplateService>>;
  /** Returns `server` with a shutdown that also closes the owned TaskService transport. */
  attach(server: GrpcServer): GrpcServer;
}

export function createRenderWiring(deps: RenderWiringDeps): RenderWiring {
  const engine = new RenderEngine({ ...DEFAULT_RENDER_LIMITS, ...deps.renderLimits });
  const owned =
    deps.taskService === undefined
      ? createGrpcJsTransport({
          address: deps.taskServiceAddress ?? process.env.TASK_SERVICE_ADDRESS ?? "127.0.0.1:50051",
        })
      : undefined;
  const taskService = deps.taskService ?? (owned as Transport);
  return {
    handlers: {
      ...createRenderHandlers({ orm: deps.orm, engine }),
      ...createTemplateDependencyHandlers({ orm: deps.orm }),
      ...createUsageHandlers({ orm: deps.orm }),
      ...createAnalyticsHandlers({ orm: deps.orm }),
      ...createTaskFromTemplateHandlers({ orm: deps.orm, engine, taskService }),
    },
    attach(server) {
      if (owned === undefined) return server;
      return {
        server: server.server,
        health: server.health,
        listen: (host, port) => server.listen(host, port),
        async shutdown(graceMs) {
          try {
            return await server.shutdown(graceMs);
          } finally {
            owned.close();
          }
        },
      };
    },
  };
}
