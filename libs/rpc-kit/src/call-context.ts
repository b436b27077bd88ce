/**
 * Caller identity for handler factories, from the request headers (the actor header is the verified one:
 * the identity interceptor runs before any handler). Repositories read the caller (actor, trace id) from
 * the caller context (`@taskmaster/telemetry/caller-context`) themselves.
 */
import type { HandlerContext } from "@connectrpc/connect";
import { ACTOR_HEADER } from "./identity.js";

/** Caller identity as passed on by the gateway (verified there); absent for direct internal calls. */
export function actor(ctx: HandlerContext): string | null {
  const value = ctx.requestHeader.get(ACTOR_HEADER);
  return value === null || value.trim() === "" ? null : value;
}

/** Who is calling: the gateway's `x-taskmaster-actor`, else the internal service identity. */
export function callerOf(ctx: HandlerContext): string {
  return actor(ctx) ?? "service:internal";
}
