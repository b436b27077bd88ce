/**
 * Wiring of the rendering, dependency, usage, analytics and task-from-template slices for server.ts: one
 * render engine (compiled-template cache) and one TaskService transport per server. The transport is built
 * for `taskServiceAddress` (main.ts: TASK_SERVICE_ADDRESS; default 127.0.0.1:50051) unless injected, over the
 * process's outgoing-channel TLS (`outbound.channel`, GRPC_CLIENT_TLS_*; plaintext without), and closed when
 * the server shuts down.
 * `outbound.signer` delegates the verified caller's identity to TaskService (task-from-template.handlers.ts).
 * One usage batcher per server (usage-batcher.ts): renders queue their usage logs there; usage and analytics
 * reads flush it first; shutdown flushes and stops it after draining the calls (before the ORM is closed).
 * One render-plan cache per server (render-plan.cache.ts, with its LISTEN connection, closed on shutdown) and
 * its interceptor (render-plan.interceptor.ts), which server.ts installs after authorization. Nothing starts
 * here: the batcher, the cache and the owned transport are `members` of the server (stopped after the drain).
 */

import type { Interceptor, Transport } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { MaskingPolicy } from "@taskmaster/config/masking";
import { createGrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import type { LifecycleMember } from "@taskmaster/rpc-kit/lifecycle-member";
import type { OutboundSecurity } from "@taskmaster/rpc-kit/outbound";
import { createAnalyticsHandlers } from "./analytics.handlers.js";
import type { SchemaChecker } from "./json-schema.js";
import { DEFAULT_RENDER_LIMITS, RenderEngine, type RenderLimits } from "./render.engine.js";
import { createRenderHandlers } from "./render.handlers.js";
import { RenderPlanCache, type RenderPlanCacheOptions } from "./render-plan.cache.js";
import { createRenderPlanInterceptor } from "./render-plan.interceptor.js";
import { createTaskFromTemplateHandlers } from "./task-from-template.handlers.js";
import { createTemplateDependencyHandlers } from "./template-dependency.handlers.js";
import { createUsageHandlers } from "./usage.handlers.js";
import { UsageBatcher, type UsageBatcherOptions } from "./usage-batcher.js";

export interface RenderWiringDeps {
  readonly orm: MikroORM;
  /** The server's JSON Schema checker (render plans compile the type's schema with it). */
  readonly schemas: SchemaChecker;
  /** TaskService transport; when absent one is created from `taskServiceAddress` and owned here. */
  readonly taskService?: Transport | undefined;
  readonly taskServiceAddress?: string | undefined;
  /** Outgoing TLS for the owned transport and the identity delegation signer (absent: plaintext, none). */
  readonly outbound?: OutboundSecurity | undefined;
  readonly renderLimits?: Partial<RenderLimits> | undefined;
  /** Usage batcher flush interval (default 200 ms; 0 = renders write their usage before responding). */
  readonly usageFlushMs?: number | undefined;
  /** Called with usage rows that could not be written. */
  readonly onUsageError?: UsageBatcherOptions["onError"];
  /** Render-plan cache options (render-plan.cache.ts); `{ enabled: false }` turns it off. */
  readonly renderPlans?: RenderPlanCacheOptions | undefined;
  /** The masking policy for stored usage inputs and error messages (default: the built-in one). */
  readonly masking?: MaskingPolicy | undefined;
}

/** The TemplateService RPCs this wiring implements (server.ts checks the whole service). */
export type RenderHandlers = ReturnType<typeof createRenderHandlers> &
  ReturnType<typeof createTemplateDependencyHandlers> &
  ReturnType<typeof createUsageHandlers> &
  ReturnType<typeof createAnalyticsHandlers> &
  ReturnType<typeof createTaskFromTemplateHandlers>;

export interface RenderWiring {
  readonly handlers: RenderHandlers;
  /** The server's usage batcher (renders queue their usage logs there). */
  readonly usage: UsageBatcher;
  /** The server's render-plan cache. */
  readonly plans: RenderPlanCache;
  /** Drops the render-plan cache after RPCs that may change templates (read-your-writes on this server). */
  readonly interceptor: Interceptor;
  /** Writes every usage queued so far. */
  flushUsage(): Promise<void>;
  /**
   * Stopped by the server after draining the calls, in this order: flush and stop the usage batcher (while
   * the ORM is open), close the render-plan cache's LISTEN connection, close the owned TaskService transport.
   */
  readonly members: readonly LifecycleMember[];
}

/** The template service's server: a GrpcServer that can also flush its queued usage logs. */
export interface TemplateGrpcServer extends GrpcServer {
  /** Writes every usage queued so far (tests, and readers wanting their renders counted). */
  flushUsage(): Promise<void>;
  /** The render-plan cache (tests and metrics). */
  readonly renderPlans: RenderPlanCache;
}

export function createRenderWiring(deps: RenderWiringDeps): RenderWiring {
  const engine = new RenderEngine({ ...DEFAULT_RENDER_LIMITS, ...deps.renderLimits });
  const owned =
    deps.taskService === undefined
      ? createGrpcJsTransport({
          address: deps.taskServiceAddress ?? "127.0.0.1:50051",
          ...(deps.outbound?.channel !== undefined && {
            credentials: deps.outbound.channel.credentials,
            channelOptions: deps.outbound.channel.channelOptions,
          }),
        })
      : undefined;
  const taskService = deps.taskService ?? (owned as Transport);
  const usage = new UsageBatcher({ orm: deps.orm, flushMs: deps.usageFlushMs, onError: deps.onUsageError });
  const flushUsage = () => usage.flush();
  const plans = new RenderPlanCache(deps.orm, engine, deps.schemas, deps.renderPlans);
  return {
    usage,
    plans,
    interceptor: createRenderPlanInterceptor(() => plans.invalidate("*")),
    handlers: {
      ...createRenderHandlers({
        orm: deps.orm,
        engine,
        schemas: deps.schemas,
        usage,
        plans,
        taskService,
        signer: deps.outbound?.signer,
        masking: deps.masking,
      }),
      ...createTemplateDependencyHandlers({ orm: deps.orm }),
      ...createUsageHandlers({ orm: deps.orm, flushUsage, masking: deps.masking }),
      ...createAnalyticsHandlers({ orm: deps.orm, flushUsage }),
      ...createTaskFromTemplateHandlers({
        orm: deps.orm,
        engine,
        schemas: deps.schemas,
        taskService,
        usage,
        plans,
        signer: deps.outbound?.signer,
        masking: deps.masking,
      }),
    },
    flushUsage,
    // Stopped in reverse order: usages first, then the LISTEN connection, then the transport.
    members: [
      { name: "task-service-transport", stop: () => owned?.close() },
      { name: "render-plan-cache", stop: () => plans.stop() },
      { name: "usage-batcher", stop: () => usage.stop() },
    ],
  };
}
