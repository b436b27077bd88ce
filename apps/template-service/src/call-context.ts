/** Per-call context shared by the handler factories: caller identity and tracing from request headers. */
import type { HandlerContext } from "@connectrpc/connect";

/** Caller identity as passed on by the gateway (verified there); absent for direct internal calls. */
export function actor(ctx: HandlerContext): string | null {
  const value = ctx.requestHeader.get("x-taskmaster-actor");
  return value === null || value.trim() === "" ? null : value;
}

/** Who is calling: the gateway's `x-taskmaster-actor`, else the internal service identity. */
export function callerOf(ctx: HandlerContext): string {
  return actor(ctx) ?? "service:internal";
}

/** Trace id of the W3C `traceparent` header, if any. */
export function traceId(ctx: HandlerContext): string | null {
  const traceparent = ctx.requestHeader.get("traceparent");
  return traceparent?.split("-")[1] ?? null;
}

/** Actor, request id and trace id for history rows and outbox events. */
export function changeContext(
  ctx: HandlerContext,
  requestId = "",
): { actor: string | null; requestId: string | null; traceId: string | null } {
  return { actor: actor(ctx), requestId: requestId === "" ? null : requestId, traceId: traceId(ctx) };
}
