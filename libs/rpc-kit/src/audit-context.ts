/**
 * Audit context of the current call (actor, request id, trace id, client IP, user agent, deadline), taken
 * from the request headers by `createAuditContextInterceptor()` and kept in an AsyncLocalStorage for the whole call.
 * The persistence layer's transaction subscriber (`@taskmaster/persistence/audit-context.subscriber`) reads it
 * and copies it into transaction-local PostgreSQL settings that the audit triggers record, so no handler has
 * to pass it on.
 *
 * The storage lives under a `Symbol.for` global key: rpc-kit and persistence share it without depending on
 * each other (and without duplicate copies of a module splitting it).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { isIP } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { trace } from "@opentelemetry/api";
import { callDeadlineOf } from "./grpc-adapter.js";
import { ACTOR_HEADER } from "./identity.js";

export interface AuditContext {
  readonly actor?: string | undefined;
  readonly requestId?: string | undefined;
  readonly traceId?: string | undefined;
  readonly clientIp?: string | undefined;
  readonly userAgent?: string | undefined;
  /**
   * The call's deadline (epoch ms; undefined = none): work done for the call, such as retries of a database
   * transaction, stops when it would outlive it.
   */
  readonly deadline?: number | undefined;
}

export const CLIENT_IP_HEADER = "x-taskmaster-client-ip";
/** The original caller's user agent (gRPC clients replace `user-agent` with their own on every hop). */
export const USER_AGENT_HEADER = "x-taskmaster-user-agent";
export const REQUEST_ID_HEADER = "x-request-id";

const STORAGE_KEY = Symbol.for("taskmaster.audit-context");

/** The process-wide audit context storage (shared through a global symbol). */
export function auditContextStorage(): AsyncLocalStorage<AuditContext> {
  const g = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<AuditContext> };
  g[STORAGE_KEY] ??= new AsyncLocalStorage<AuditContext>();
  return g[STORAGE_KEY];
}

/** The audit context of the current call, if any. */
export function currentAuditContext(): AuditContext | undefined {
  return auditContextStorage().getStore();
}

function clean(value: string | null | undefined, max: number): string | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed.slice(0, max);
}

/** A valid IP address (the first `x-forwarded-for` hop), or undefined. Zone ids and ports are dropped. */
export function normalizeClientIp(value: string | null | undefined): string | undefined {
  const first = value?.split(",")[0]?.trim();
  if (!first) return undefined;
  let ip = first.replace(/%.*$/, "");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(ip);
  if (bracketed?.[1] !== undefined) ip = bracketed[1];
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(ip)) ip = ip.replace(/:\d+$/, "");
  return isIP(ip) === 0 ? undefined : ip;
}

/** The call's W3C trace id: the active span's, else the `traceparent` header's; undefined when neither is valid. */
export function traceIdOf(traceparent: string | null): string | undefined {
  const span = trace.getActiveSpan()?.spanContext();
  if (span !== undefined && /^[0-9a-f]{32}$/.test(span.traceId) && !/^0+$/.test(span.traceId)) {
    return span.traceId;
  }
  const id = traceparent?.split("-")[1];
  return id !== undefined && /^[0-9a-f]{32}$/.test(id) ? id : undefined;
}

function messageRequestId(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null || Symbol.asyncIterator in message) return undefined;
  const value = (message as { requestId?: unknown }).requestId;
  return typeof value === "string" ? clean(value, 255) : undefined;
}

/**
 * Stores the call's audit context for the rest of the call. Put it inside the identity interceptor (so the
 * actor is the verified one) — `createGrpcServer` adds it innermost.
 */
export function createAuditContextInterceptor(): Interceptor {
  const storage = auditContextStorage();
  return (next) => (req) => {
    const h = req.header;
    const context: AuditContext = {
      actor: clean(h.get(ACTOR_HEADER), 255),
      requestId: clean(h.get(REQUEST_ID_HEADER), 255) ?? messageRequestId(req.message),
      traceId: traceIdOf(h.get("traceparent")),
      clientIp: normalizeClientIp(h.get(CLIENT_IP_HEADER)) ?? normalizeClientIp(h.get("x-forwarded-for")),
      userAgent: clean(h.get(USER_AGENT_HEADER), 1000) ?? clean(h.get("user-agent"), 1000),
      deadline: callDeadlineOf(req),
    };
    return storage.run(context, () => next(req));
  };
}
