/**
 * Deadline propagation: an outgoing call made while handling an RPC must not outlive the incoming one.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";

/** Call options for an outgoing call (Connect `CallOptions` subset; also accepted by rpc-kit's grpc client). */
export interface PropagatedDeadline {
  /** Remaining time of the incoming call, capped at `maxMs`. */
  readonly timeoutMs: number;
  /** The incoming call's signal: cancelling the caller cancels the callee. */
  readonly signal: AbortSignal;
}

/**
 * Remaining time of the incoming call (or `maxMs` when it has no deadline), capped at `maxMs`, plus its
 * signal. Throws DEADLINE_EXCEEDED when no time is left, so we do not start work nobody waits for.
 *
 * @example
 *   await templateClient.getTemplate({ name }, deadlineFromContext(ctx, 5_000));
 */
export function deadlineFromContext(
  ctx: Pick<HandlerContext, "timeoutMs" | "signal">,
  maxMs: number,
): PropagatedDeadline {
  const remaining = ctx.timeoutMs();
  const timeoutMs = remaining === undefined ? maxMs : Math.min(remaining, maxMs);
  if (timeoutMs <= 0)
    throw new ConnectError("deadline exceeded before the outgoing call", Code.DeadlineExceeded);
  return { timeoutMs: Math.floor(timeoutMs), signal: ctx.signal };
}
