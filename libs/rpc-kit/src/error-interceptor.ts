/**
 * ONE interceptor maps everything a handler throws to a ConnectError with google.rpc details:
 * domain errors (errors.ts), whatever the `map` option recognises (services pass the database-error
 * classifier of `@taskmaster/persistence/db-errors` there, through service-runtime's mapDatabaseError), aborts,
 * and unknown errors (INTERNAL "internal error"; the real error goes to the log with the trace id). SQL text, constraint names and stack traces never reach the client. A hand-built ConnectError
 * whose ErrorInfo (domain taskmaster.dev) names a reason errors.proto does not declare is a bug: it answers
 * INTERNAL too (every spec run thus checks the reasons it triggers).
 */
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type UnaryRequest,
} from "@connectrpc/connect";
import { ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import type { Logger } from "@taskmaster/telemetry/logger";
import { boundConnectError } from "./error-bounds.js";
import { DeadlineExceededError, DomainError, ERROR_DOMAIN, isDeclaredReason } from "./errors.js";

export interface ErrorInterceptorOptions {
  /** Where unknown errors (level error) and infrastructure errors (warn) are logged. */
  readonly logger: Pick<Logger, "error" | "warn" | "debug">;
  /**
   * Extra mapping tried first (the database-error classifier); return undefined to fall through to the
   * standard rules. An INTERNAL answer is logged like an unknown error; UNAVAILABLE / DEADLINE_EXCEEDED as
   * infrastructure.
   */
  readonly map?: ErrorMap | undefined;
}

/** Maps an error a handler threw to a client-safe error; `signal` is the call's (cancelled or timed out). */
export type ErrorMap = (error: unknown, signal?: AbortSignal) => ConnectError | DomainError | undefined;

function isInfrastructure(code: Code): boolean {
  return code === Code.Unavailable || code === Code.DeadlineExceeded;
}

function abortFromSignal(
  signal: AbortSignal | undefined,
  timeoutByDefault: boolean,
): ConnectError | DomainError {
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof ConnectError) return reason;
    return new ConnectError("call cancelled", Code.Canceled);
  }
  return timeoutByDefault
    ? new DeadlineExceededError("the operation took too long", "QUERY_TIMEOUT")
    : new ConnectError("operation cancelled", Code.Canceled);
}

/**
 * Map anything to a client-safe ConnectError. Unknown errors -> INTERNAL "internal error"
 * (`unknown: true` tells the caller to log the original).
 */
export function toConnectError(
  error: unknown,
  signal?: AbortSignal,
  extra?: ErrorMap,
): { error: ConnectError; unknown: boolean; infrastructure: boolean } {
  const custom = extra?.(error, signal);
  if (custom !== undefined) {
    const mapped = custom instanceof DomainError ? custom.toConnectError() : custom;
    return {
      error: mapped.code === Code.Internal ? internal(error) : mapped,
      unknown: mapped.code === Code.Internal,
      infrastructure: isInfrastructure(mapped.code),
    };
  }
  if (error instanceof DomainError)
    return { error: error.toConnectError(), unknown: false, infrastructure: false };
  if (error instanceof ConnectError) {
    // ConnectError.from(randomError) yields Code.Unknown carrying the raw message: treat as unknown.
    if (error.code === Code.Unknown && !error.isWireError) {
      return { error: internal(error), unknown: true, infrastructure: false };
    }
    // Errors from an upstream (wire errors) are passed on: a newer peer may know newer reasons.
    if (!error.isWireError && undeclaredReason(error) !== undefined) {
      return { error: internal(error), unknown: true, infrastructure: false };
    }
    return { error, unknown: false, infrastructure: false };
  }
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  if (name === "AbortError" || name === "TimeoutError") {
    const mapped = abortFromSignal(signal, name === "TimeoutError");
    return {
      error: mapped instanceof DomainError ? mapped.toConnectError() : mapped,
      unknown: false,
      infrastructure: false,
    };
  }
  return { error: internal(error), unknown: true, infrastructure: false };
}

/** The first taskmaster.dev ErrorInfo reason of `error` that errors.proto does not declare, if any. */
export function undeclaredReason(error: ConnectError): string | undefined {
  return error
    .findDetails(ErrorInfoSchema)
    .find((info) => info.domain === ERROR_DOMAIN && !isDeclaredReason(info.reason))?.reason;
}

function internal(cause: unknown): ConnectError {
  return new ConnectError("internal error", Code.Internal, undefined, undefined, cause);
}

function rpcName(req: UnaryRequest | StreamRequest): string {
  return `${req.service.typeName}/${req.method.name}`;
}

/**
 * The error interceptor. Put it FIRST (outermost) in the interceptor list so it also maps errors thrown by
 * other interceptors. Works unchanged in grpc-js (rpc-kit adapter), connect-node and createRouterTransport.
 */
export function createErrorInterceptor(options: ErrorInterceptorOptions): Interceptor {
  const { logger, map } = options;
  const handle = (err: unknown, req: UnaryRequest | StreamRequest): ConnectError => {
    const { error, unknown, infrastructure } = toConnectError(err, req.signal, map);
    if (unknown) {
      logger.error({ err, rpc: rpcName(req) }, "unhandled error in RPC handler");
    } else if (infrastructure) {
      logger.warn({ err, rpc: rpcName(req), code: Code[error.code] }, "RPC failed: infrastructure");
    } else {
      logger.debug({ rpc: rpcName(req), code: Code[error.code], reason: error.rawMessage }, "RPC failed");
    }
    return boundConnectError(error);
  };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const source = res.message;
      return {
        ...res,
        message: (async function* mapStreamErrors() {
          try {
            yield* source;
          } catch (err) {
            throw handle(err, req);
          }
        })(),
      };
    } catch (err) {
      throw handle(err, req);
    }
  };
}
