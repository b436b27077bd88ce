/**
 * The caller context of the current call (actor, request id, trace id, client IP, user agent, deadline), taken from the
 * request headers by `createAuditContextInterceptor()` and kept for the whole call in the one caller-context
 * storage (`@taskmaster/telemetry/caller-context`). The persistence layer's transaction subscriber
 * (`@taskmaster/persistence/audit-context.subscriber`) reads it and copies it into transaction-local
 * PostgreSQL settings that the audit triggers record, so no handler has to pass it on.
 */
import { isIP } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { trace } from "@opentelemetry/api";
import { type CallerContext, withCallerContext } from "@taskmaster/telemetry/caller-context";
import { callDeadlineOf } from "./grpc-adapter.js";
import { ACTOR_HEADER } from "./identity.js";

export const CLIENT_IP_HEADER = "x-taskmaster-client-ip";
/** The original caller's user agent (gRPC clients replace `user-agent` with their own on every hop). */
export const USER_AGENT_HEADER = "x-taskmaster-user-agent";
export const REQUEST_ID_HEADER = "x-request-id";

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
  return (next) => (req) => {
    const h = req.header;
    const context: CallerContext = {
      actor: clean(h.get(ACTOR_HEADER), 255),
      requestId: clean(h.get(REQUEST_ID_HEADER), 255) ?? messageRequestId(req.message),
      traceId: traceIdOf(h.get("traceparent")),
      clientIp: normalizeClientIp(h.get(CLIENT_IP_HEADER)) ?? normalizeClientIp(h.get("x-forwarded-for")),
      userAgent: clean(h.get(USER_AGENT_HEADER), 1000) ?? clean(h.get("user-agent"), 1000),
      deadline: callDeadlineOf(req),
    };
    return withCallerContext(context, () => next(req));
  };
}
