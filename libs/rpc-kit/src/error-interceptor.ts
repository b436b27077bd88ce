/**
 * ONE interceptor maps everything a handler throws to a ConnectError with google.rpc details:
 * domain errors (errors.ts), MikroORM / pg driver errors (matched by name and SQLSTATE, without importing
 * MikroORM), aborts, and unknown errors (INTERNAL "internal error"; the real error goes to the log with
 * the trace id). SQL text, constraint names and stack traces never reach the client. A hand-built ConnectError
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
import {
  AbortedError,
  AlreadyExistsError,
  DeadlineExceededError,
  DomainError,
  ERROR_DOMAIN,
  FailedPreconditionError,
  InvalidArgumentError,
  isDeclaredReason,
  UnavailableError,
} from "./errors.js";

export interface ErrorInterceptorOptions {
  /** Where unknown errors (level error) and infrastructure errors (warn) are logged. */
  readonly logger: Pick<Logger, "error" | "warn" | "debug">;
  /** Extra mapping tried first; return undefined to fall through to the standard rules. */
  readonly map?: ((error: unknown) => ConnectError | DomainError | undefined) | undefined;
}

interface DriverLike {
  name?: unknown;
  code?: unknown;
  sqlState?: unknown;
  errno?: unknown;
  cause?: unknown;
  message?: unknown;
}

function fields(error: unknown): DriverLike {
  return typeof error === "object" && error !== null ? (error as DriverLike) : {};
}

/** SQLSTATE / errno code of an error or its causes (MikroORM wraps the pg error as `cause`, keeps `code`). */
function sqlCodeOf(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const f = fields(e);
    if (typeof f.sqlState === "string") return f.sqlState;
    if (typeof f.code === "string") return f.code;
    e = f.cause;
  }
  return undefined;
}

function namesOf(error: unknown): string[] {
  const names: string[] = [];
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const f = fields(e);
    if (typeof f.name === "string") names.push(f.name);
    if (typeof e === "object" && e !== null && e.constructor?.name) names.push(e.constructor.name);
    e = f.cause;
  }
  return names;
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

/**
 * Map a database/driver error to a domain error, or undefined when it is not one we recognise.
 * `signal` tells a statement cancelled by the client (CANCELLED) from a timeout (DEADLINE_EXCEEDED).
 */
export function mapDatabaseError(
  error: unknown,
  signal?: AbortSignal,
): DomainError | ConnectError | undefined {
  const names = namesOf(error);
  const code = sqlCodeOf(error);
  const has = (n: string) => names.includes(n);

  if (has("OptimisticLockError")) return new AbortedError();
  if (has("UniqueConstraintViolationException") || code === "23505") {
    return new AlreadyExistsError(
      "resource",
      undefined,
      "a resource with the same unique key already exists",
    );
  }
  if (has("ForeignKeyConstraintViolationException") || code === "23503") {
    return new FailedPreconditionError("a referenced resource does not exist or is still referenced", {
      reason: "REFERENCE_CONSTRAINT",
    });
  }
  if (
    has("CheckConstraintViolationException") ||
    has("NotNullConstraintViolationException") ||
    code === "23514" ||
    code === "23502" ||
    code === "22001" || // string_data_right_truncation
    code === "22003" || // numeric_value_out_of_range
    code === "22P02" || // invalid_text_representation
    code === "22007" || // invalid_datetime_format
    code === "22008" // datetime_field_overflow
  ) {
    return new InvalidArgumentError([], "the request violates a data constraint");
  }
  if (has("DeadlockException") || has("LockWaitTimeoutException") || code === "40001" || code === "40P01") {
    return new AbortedError(
      "the operation conflicted with a concurrent transaction; retry",
      "CONCURRENT_MODIFICATION",
    );
  }
  if (code === "55P03") {
    return new AbortedError(
      "the resource is locked by a concurrent operation; retry",
      "CONCURRENT_MODIFICATION",
    );
  }
  if (code === "57014") return abortFromSignal(signal, true);
  if (
    has("ConnectionException") ||
    (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith("08"))) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(
      String(fields(error).message ?? ""),
    )
  ) {
    return new UnavailableError("database unavailable", 1_000, "DATABASE_UNAVAILABLE");
  }
  return undefined;
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
  extra?: ErrorInterceptorOptions["map"],
): { error: ConnectError; unknown: boolean; infrastructure: boolean } {
  const custom = extra?.(error);
  if (custom !== undefined) {
    return {
      error: custom instanceof DomainError ? custom.toConnectError() : custom,
      unknown: false,
      infrastructure: false,
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
  const name = fields(error).name;
  if (name === "AbortError" || name === "TimeoutError") {
    const mapped = abortFromSignal(signal, name === "TimeoutError");
    return {
      error: mapped instanceof DomainError ? mapped.toConnectError() : mapped,
      unknown: false,
      infrastructure: false,
    };
  }
  const db = mapDatabaseError(error, signal);
  if (db !== undefined) {
    return {
      error: db instanceof DomainError ? db.toConnectError() : db,
      unknown: false,
      infrastructure: db instanceof UnavailableError || db instanceof DeadlineExceededError,
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
