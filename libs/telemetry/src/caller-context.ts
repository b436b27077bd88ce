/**
 * The caller context of the current call: who is calling (actor), the client's request id, the trace id,
 * client IP, user agent and the call's deadline. rpc-kit's audit-context interceptor sets it for the whole call; the persistence
 * layer's transaction subscriber copies it into transaction-local PostgreSQL settings the audit triggers
 * record; handlers read it to pass it on. This module owns the one AsyncLocalStorage holding it.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface CallerContext {
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

const storage = new AsyncLocalStorage<CallerContext>();

/** The caller context of the current call, if any. */
export function currentCallerContext(): CallerContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `context` as the caller context (the RPC interceptor; jobs, tools and tests outside an RPC). */
export function withCallerContext<T>(context: CallerContext, fn: () => T): T {
  return storage.run(context, fn);
}
