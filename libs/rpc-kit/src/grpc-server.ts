/**
 * A grpc-js server for Connect-style service implementations: error interceptor built in (outermost),
 * grpc.health.v1 and reflection registered, limits and keepalive applied. Returned NOT listening, so
 * tests start it on port 0.
 */
import { channel } from "node:diagnostics_channel";
import type { DescService } from "@bufbuild/protobuf";
import type { ContextValues, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { Server, ServerCredentials, type ServerOptions, setLogger } from "@grpc/grpc-js";
import { Health } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import type { Logger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics, type ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createAuditContextInterceptor } from "./audit-context.js";
import { createErrorInterceptor, type ErrorMap } from "./error-interceptor.js";
import { adaptService } from "./grpc-adapter.js";
import type { GrpcCallInfo } from "./grpc-handler-context.js";
import { createHealthService, HealthRegistry, ServingStatus } from "./health.js";
import { createIdentityInterceptor, type IdentityInterceptorOptions } from "./identity.js";
import { type LifecycleMember, startMembers, stopMembers } from "./lifecycle-member.js";
import { createMetricsInterceptor } from "./metrics-interceptor.js";
import { addReflection } from "./reflection.js";
import {
  createRequestChecker,
  createRequestCheckInterceptor,
  type RequestCheckLimits,
} from "./request-check.js";
import { createServerTracingInterceptor } from "./tracing-interceptor.js";

/** A service and its implementation. Build with `serviceRegistration()` for type checking. */
export interface ServiceRegistration {
  readonly service: DescService;
  readonly impl: object;
}

/** Type-checked `{ service, impl }` pair: every RPC of `service` implemented (a missing one does not compile). */
export function serviceRegistration<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
): ServiceRegistration {
  return { service, impl };
}

/**
 * A stub for specs: only some RPCs implemented, the others answer UNIMPLEMENTED. Services use
 * `serviceRegistration`.
 */
export function partialServiceRegistration<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
): ServiceRegistration {
  return { service, impl };
}

export interface GrpcLimits {
  /** Largest accepted request message (bytes). grpc-js default 4 MiB. */
  readonly maxReceiveMessageLength?: number | undefined;
  /** Largest response message (bytes). */
  readonly maxSendMessageLength?: number | undefined;
}

export interface GrpcKeepalive {
  /** Server pings idle clients after this long (ms). */
  readonly timeMs?: number | undefined;
  /** ...and drops them when the ping is not answered within this (ms). */
  readonly timeoutMs?: number | undefined;
  /** Minimum interval between client pings the server tolerates (ms). Default 10 s. */
  readonly minPingIntervalMs?: number | undefined;
  /** Close connections idle for this long (ms). */
  readonly maxConnectionIdleMs?: number | undefined;
  /** Close connections older than this (ms), to rebalance behind load balancers. */
  readonly maxConnectionAgeMs?: number | undefined;
  readonly maxConnectionAgeGraceMs?: number | undefined;
}

export interface CreateGrpcServerOptions {
  readonly logger: Logger;
  readonly services: readonly ServiceRegistration[];
  /** Interceptors after the built-in error interceptor (first = outermost). */
  readonly interceptors?: readonly Interceptor[] | undefined;
  /** Built-in error interceptor (default true). Turn off only to supply your own. */
  readonly errorInterceptor?: boolean | undefined;
  /**
   * The error interceptor's `map`: services with a database pass `mapDatabaseError` from
   * `@taskmaster/persistence/db-errors` (the one database-error classifier).
   */
  readonly errorMap?: ErrorMap | undefined;
  /** Limits of the built-in request check (request-check.ts: unknown enum values, NUL, sizes; always on). */
  readonly requestCheck?: RequestCheckLimits | undefined;
  /** Per-call context values factory. */
  readonly contextValues?: ((call: GrpcCallInfo) => ContextValues) | undefined;
  /** Health registry to serve (default: a new one). `false` = no health service. */
  readonly health?: HealthRegistry | false | undefined;
  /** Server reflection v1 + v1alpha (default true). */
  readonly reflection?: boolean | undefined;
  readonly limits?: GrpcLimits | undefined;
  readonly keepalive?: GrpcKeepalive | undefined;
  /** Cap on deadlines handlers see; calls without a deadline get this one. */
  readonly maxDeadlineMs?: number | undefined;
  /** Extra raw grpc-js server options. */
  readonly serverOptions?: ServerOptions | undefined;
  /** Transport security for `listen` (default: the process default, else insecure). See tls.ts. */
  readonly credentials?: ServerCredentials | undefined;
  /**
   * Verify the gateway-signed identity token (identity.ts) on every call except grpc.health.v1 (default: the
   * process default, else none). `false` = never, even when a process default is set.
   */
  readonly identity?: IdentityInterceptorOptions | false | undefined;
  /**
   * Credentials, identity verification and interceptors the runtime builds from config for every server of
   * the process (`runDatabaseService` passes them in `deps.security`); `credentials` and `identity` above win.
   */
  readonly security?: ServerSecurityDefaults | undefined;
  /**
   * Interceptors outside the error interceptor, so they see exactly what is sent, errors included (a spec
   * harness's checks; subscribers of {@link SERVER_CREATE_CHANNEL} add theirs in front of these).
   */
  readonly outerInterceptors?: readonly Interceptor[] | undefined;
  /**
   * The process's metrics (`rpc_server_requests_total`, `rpc_server_duration_seconds`), created by the
   * composition root (runDatabaseService); absent (tests): a fresh set of this server's own.
   */
  readonly metrics?: ProcessMetrics | undefined;
  /**
   * Background work this server owns: started in order once it listens, stopped in reverse order on
   * shutdown (`stopBeforeDrain` ones before the drain, the others after it). See lifecycle-member.ts.
   */
  readonly members?: readonly LifecycleMember[] | undefined;
}

/** Security of every server of a process (one service per process), built by the runtime from config. */
export interface ServerSecurityDefaults {
  readonly credentials?: ServerCredentials | undefined;
  readonly identity?: IdentityInterceptorOptions | undefined;
  /**
   * Interceptors every server of this process runs after identity verification and before the app's own
   * (e.g. the suspicious-input recorder `runDatabaseService` installs).
   */
  readonly interceptors?: readonly Interceptor[] | undefined;
}

/**
 * The diagnostics channel (`node:diagnostics_channel`) on which every `createGrpcServer` announces itself
 * with a {@link ServerCreateEvent} before it builds its interceptor chain, when the channel has subscribers.
 * For test harnesses and instrumentation that must see every server of a process without being passed to
 * each: the spec files' output contract check (libs/testing output-contract.setup.ts) subscribes here.
 */
export const SERVER_CREATE_CHANNEL = "taskmaster:grpc-server:create";

/** What a new server announces: subscribers may add interceptors it runs outside the error interceptor. */
export interface ServerCreateEvent {
  /** The services the server registers (type names). */
  readonly services: readonly string[];
  /** Interceptors to run outside the error interceptor, in front of the options' `outerInterceptors`. */
  readonly outerInterceptors: Interceptor[];
}

const serverCreate = channel(SERVER_CREATE_CHANNEL);

/** The identity interceptor, skipping grpc.health.v1 (probes from load balancers and the gateway carry no identity). */
function identityExceptHealth(options: IdentityInterceptorOptions): Interceptor {
  const verify = createIdentityInterceptor(options);
  return (next) => {
    const verified = verify(next);
    return (req) => (req.service.typeName === Health.typeName ? next(req) : verified(req));
  };
}

export interface GrpcServer {
  readonly server: Server;
  /** The health registry served (undefined with `health: false`). */
  readonly health: HealthRegistry | undefined;
  /** Bind and start serving. `port` 0 = any free port. Rejects with ListenError (e.g. EADDRINUSE). */
  listen(host: string, port: number): Promise<{ port: number; address: string }>;
  /**
   * Graceful stop: health NOT_SERVING, stop accepting, drain in-flight calls for at most `graceMs`, then
   * abort handlers' signals (UNAVAILABLE) and force-close. Resolves `{ forced }`.
   */
  shutdown(graceMs: number): Promise<{ forced: boolean }>;
}

/** Listening failed. `message` is one line, e.g. `cannot listen on 127.0.0.1:50051: address already in use`. */
export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    message: string,
    readonly code: string,
    readonly address: string,
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

function formatAddress(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

function listenError(address: string, err: Error): ListenError {
  const text = err.message;
  if (/EADDRINUSE|address already in use/i.test(text)) {
    return new ListenError(`cannot listen on ${address}: address already in use`, "EADDRINUSE", address, err);
  }
  if (/EACCES|permission denied/i.test(text)) {
    return new ListenError(`cannot listen on ${address}: permission denied`, "EACCES", address, err);
  }
  if (/EADDRNOTAVAIL|ENOTFOUND|Name resolution failed/i.test(text)) {
    return new ListenError(
      `cannot listen on ${address}: address not available`,
      "EADDRNOTAVAIL",
      address,
      err,
    );
  }
  const first = text.split("\n")[0] ?? text;
  return new ListenError(`cannot listen on ${address}: ${first}`, "LISTEN_FAILED", address, err);
}

/**
 * Send grpc-js's own log output (normally raw lines on stderr) to the structured logger at debug level.
 * Whatever matters also surfaces as a call error or a ListenError; this keeps startup failures to one line.
 * Process-global (grpc-js has one logger); createGrpcServer calls it.
 */
export function routeGrpcJsLogs(logger: Pick<Logger, "debug">): void {
  const write = (...args: unknown[]) => logger.debug({ component: "grpc-js" }, args.map(String).join(" "));
  setLogger({ error: write, info: write, debug: write });
}

export function createGrpcServer(options: CreateGrpcServerOptions): GrpcServer {
  const { logger } = options;
  routeGrpcJsLogs(logger);
  const limits = options.limits ?? {};
  const ka = options.keepalive ?? {};
  const serverOptions: ServerOptions = {
    ...(limits.maxReceiveMessageLength !== undefined && {
      "grpc.max_receive_message_length": limits.maxReceiveMessageLength,
    }),
    ...(limits.maxSendMessageLength !== undefined && {
      "grpc.max_send_message_length": limits.maxSendMessageLength,
    }),
    ...(ka.timeMs !== undefined && { "grpc.keepalive_time_ms": ka.timeMs }),
    ...(ka.timeoutMs !== undefined && { "grpc.keepalive_timeout_ms": ka.timeoutMs }),
    "grpc.http2.min_ping_interval_without_data_ms": ka.minPingIntervalMs ?? 10_000,
    ...(ka.maxConnectionIdleMs !== undefined && { "grpc.max_connection_idle_ms": ka.maxConnectionIdleMs }),
    ...(ka.maxConnectionAgeMs !== undefined && { "grpc.max_connection_age_ms": ka.maxConnectionAgeMs }),
    ...(ka.maxConnectionAgeGraceMs !== undefined && {
      "grpc.max_connection_age_grace_ms": ka.maxConnectionAgeGraceMs,
    }),
    ...options.serverOptions,
  };
  const server = new Server(serverOptions);
  const security = options.security ?? {};
  const identity = options.identity === false ? undefined : (options.identity ?? security.identity);
  const credentials = options.credentials ?? security.credentials ?? ServerCredentials.createInsecure();
  const members = options.members ?? [];
  const shutdownController = new AbortController();
  const announced: ServerCreateEvent = {
    services: options.services.map((r) => r.service.typeName),
    outerInterceptors: [],
  };
  if (serverCreate.hasSubscribers) serverCreate.publish(announced);
  const interceptors = [
    // Tracing outermost (the span covers everything and parents the handler's work), then metrics: both
    // record the final gRPC code the error interceptor produced.
    createServerTracingInterceptor(),
    createMetricsInterceptor(options.metrics ?? createProcessMetrics({ defaultMetrics: false })),
    ...announced.outerInterceptors,
    ...(options.outerInterceptors ?? []),
    ...(options.errorInterceptor === false
      ? []
      : [createErrorInterceptor({ logger, map: options.errorMap })]),
    // Every request message of every RPC, once, before anything reads it (request-check.ts).
    createRequestCheckInterceptor(createRequestChecker(options.requestCheck)),
    // Identity before the app's interceptors: authorization and handlers see only verified actor headers.
    ...(identity === undefined ? [] : [identityExceptHealth(identity)]),
    ...(security.interceptors ?? []),
    ...(options.interceptors ?? []),
    // Innermost: the audit context sees the verified actor the identity interceptor left in the headers.
    createAuditContextInterceptor(),
  ];
  const adapterOptions = {
    interceptors,
    contextValues: options.contextValues,
    maxDeadlineMs: options.maxDeadlineMs,
    shutdownSignal: shutdownController.signal,
    onUnexpectedError: (err: unknown, ctx: { service: DescService; method: { name: string } }) =>
      logger.error({ err, rpc: `${ctx.service.typeName}/${ctx.method.name}` }, "unhandled error in RPC"),
  };

  const health = options.health === false ? undefined : (options.health ?? new HealthRegistry());
  const all: ServiceRegistration[] = [...options.services];
  if (health !== undefined) all.push({ service: Health, impl: createHealthService(health) });
  for (const { service, impl } of all) {
    const adapted = adaptService(service, impl as Partial<ServiceImpl<DescService>>, adapterOptions);
    server.addService(adapted.definition, adapted.implementation);
    // Known to health as SERVING unless the caller already set a status for it (e.g. NOT_SERVING while warming up).
    if (health !== undefined && service !== Health && health.getStatus(service.typeName) === undefined) {
      health.setStatus(service.typeName, ServingStatus.SERVING);
    }
  }
  if (options.reflection !== false)
    addReflection(
      server,
      all.map((s) => s.service),
    );

  let listening: string | undefined;
  return {
    server,
    health,
    listen(host, port) {
      const address = formatAddress(host, port);
      return new Promise((resolve, reject) => {
        server.bindAsync(address, credentials, (err, boundPort) => {
          if (err) {
            reject(listenError(address, err));
            return;
          }
          listening = formatAddress(host, boundPort);
          logger.info({ address: listening, tls: credentials._isSecure() }, "gRPC server listening");
          startMembers(members);
          resolve({ port: boundPort, address: listening });
        });
      });
    },
    async shutdown(graceMs) {
      // Stop advertising first (synchronously: a probe right after shutdown() sees NOT_SERVING).
      health?.shutdown();
      const onError = (member: LifecycleMember, err: unknown) =>
        logger.error({ err, member: member.name }, "cannot stop server member");
      await stopMembers(
        members.filter((m) => m.stopBeforeDrain === true),
        onError,
      );
      try {
        return await drain(graceMs);
      } finally {
        await stopMembers(
          members.filter((m) => m.stopBeforeDrain !== true),
          onError,
        );
      }
    },
  };

  function drain(graceMs: number): Promise<{ forced: boolean }> {
    return new Promise((resolve) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        logger.warn({ graceMs }, "gRPC drain timed out; cancelling in-flight calls");
        shutdownController.abort();
        server.forceShutdown();
        resolve({ forced: true });
      }, graceMs);
      timer.unref();
      server.tryShutdown(() => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (listening !== undefined) logger.info({ address: listening }, "gRPC server stopped");
        resolve({ forced: false });
      });
    });
  }
}
