/**
 * THE database-error classifier: every error that comes out of PostgreSQL, the `pg` driver, its pool or
 * MikroORM is sorted into one of four kinds, and mapped to the client's gRPC code by the error interceptor
 * through its `map` option (`createGrpcServer({ errorMap: mapDatabaseError })`). Handlers never translate
 * database errors.
 *
 * - transient (UNAVAILABLE, retryable): the connection or the server failed (class 08, 57P0x, 53xxx, 58xxx,
 *   node socket errors, pg's "Connection terminated" / "not queryable", pool acquire timeout).
 * - invalid input (INVALID_ARGUMENT): the data was refused (class 22 incl. 22P05 / 22021: NUL and bad
 *   unicode; 23502 / 23514 / 23000).
 * - conflict: ALREADY_EXISTS (23505, 23P01), FAILED_PRECONDITION (23503 reference), ABORTED (40001
 *   serialization, 40P01 deadlock, 55P03 lock not available, optimistic lock), DEADLINE_EXCEEDED /
 *   CANCELLED (57014 statement timeout or cancel).
 * - bug (INTERNAL, detail only in the log): everything else from the database (42xxx, 0A, XX, 25P02 ...).
 */
export type DatabaseErrorKind =
  | "transient"
  | "invalid_input"
  | "already_exists"
  | "reference"
  | "conflict"
  | "timeout"
  | "bug";

interface DriverLike {
  name?: unknown;
  code?: unknown;
  sqlState?: unknown;
  cause?: unknown;
  message?: unknown;
}

function fields(error: unknown): DriverLike {
  return typeof error === "object" && error !== null ? (error as DriverLike) : {};
}

/** SQLSTATE / errno code of an error or its causes (MikroORM wraps the pg error as `cause`, keeps `code`). */
export function sqlStateOf(error: unknown): string | undefined {
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

function messagesOf(error: unknown): string {
  const out: string[] = [];
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const m = fields(e).message;
    if (typeof m === "string") out.push(m);
    e = fields(e).cause;
  }
  return out.join("\n");
}

/** Node socket errors: the database could not be reached or the connection broke. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/** Messages of `pg` / `pg-pool` errors that carry no code. */
const TRANSIENT_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|Cannot use a pool after calling end|terminating connection/i;

/** The kind of a SQLSTATE (undefined: not a SQLSTATE we know, e.g. no code at all). */
export function kindOfSqlState(code: string): DatabaseErrorKind | undefined {
  if (SOCKET_CODES.has(code)) return "transient";
  if (!/^[0-9A-Z]{5}$/.test(code)) return undefined;
  switch (code) {
    case "23505": // unique_violation
    case "23P01": // exclusion_violation
      return "already_exists";
    case "23503": // foreign_key_violation
      return "reference";
    case "40001": // serialization_failure
    case "40P01": // deadlock_detected
    case "55P03": // lock_not_available
      return "conflict";
    case "57014": // query_canceled (statement_timeout or cancel)
      return "timeout";
    case "25006": // read_only_sql_transaction: a standby during failover
    case "57P01": // admin_shutdown
    case "57P02": // crash_shutdown
    case "57P03": // cannot_connect_now
    case "57P05": // idle_session_timeout
    case "25P03": // idle_in_transaction_session_timeout
      return "transient";
  }
  const cls = code.slice(0, 2);
  switch (cls) {
    case "08": // connection_exception
    case "53": // insufficient_resources (too many connections, disk full, out of memory)
    case "58": // system_error (I/O)
      return "transient";
    case "22": // data_exception: bad value, NUL / untranslatable character (22P05, 22021), overflow ...
    case "23": // integrity_constraint_violation (not null, check, ...)
      return "invalid_input";
    case "40": // transaction_rollback
      return "conflict";
  }
  return "bug";
}

/** Kind of any error that came from the database layer; undefined when it is not a database error. */
export function classifyDatabaseError(error: unknown): DatabaseErrorKind | undefined {
  const names = namesOf(error);
  const has = (n: string) => names.includes(n);
  if (has("OptimisticLockError")) return "conflict";
  if (has("UniqueConstraintViolationException")) return "already_exists";
  if (has("ForeignKeyConstraintViolationException")) return "reference";
  if (has("NotNullConstraintViolationException") || has("CheckConstraintViolationException"))
    return "invalid_input";
  if (has("DeadlockException") || has("LockWaitTimeoutException")) return "conflict";
  const code = sqlStateOf(error);
  const byCode = code === undefined ? undefined : kindOfSqlState(code);
  if (byCode !== undefined) return byCode;
  if (has("ConnectionException") || TRANSIENT_MESSAGES.test(messagesOf(error))) return "transient";
  if (has("DatabaseError") || has("DriverException")) return "bug";
  return undefined;
}

/** A whole transaction that failed this way rolled back and may run again (serialization, deadlock). */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = sqlStateOf(error);
  return code === "40001" || code === "40P01" || classifyDatabaseError(error) === "transient";
}

/** The constraint (or unique index) an integrity error names: pg's `constraint` field, on the error or a cause. */
export function constraintOf(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const c = (fields(e) as { constraint?: unknown }).constraint;
    if (typeof c === "string") return c;
    e = fields(e).cause;
  }
  return undefined;
}

/**
 * The classifier says a unique (or exclusion) constraint refused the write, and when `constraint` is given
 * it is that one. Repositories use this to throw their domain error (e.g. "slug taken") for the constraints
 * they know; any other unique violation reaches the error interceptor as ALREADY_EXISTS.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return (
    classifyDatabaseError(error) === "already_exists" &&
    (constraint === undefined || constraintOf(error) === constraint)
  );
}

/** The classifier says a foreign key refused the write, and when `constraint` is given it is that one. */
export function isReferenceViolation(error: unknown, constraint?: string): boolean {
  return (
    classifyDatabaseError(error) === "reference" &&
    (constraint === undefined || constraintOf(error) === constraint)
  );
}

/**
 * What the client is told about a database error: the gRPC outcome, never SQL or values. Each `reason` is a
 * `taskmaster.common.v1.ErrorReason` name (ErrorInfo.reason; error-reasons.spec scans this file).
 */
export type DatabaseErrorAnswer =
  | { readonly kind: "transient"; readonly reason: "DATABASE_UNAVAILABLE"; readonly retryAfterMs: number }
  | { readonly kind: "invalid_input" }
  | { readonly kind: "already_exists" }
  | { readonly kind: "reference"; readonly reason: "REFERENCE_CONSTRAINT" }
  | { readonly kind: "conflict"; readonly reason: "CONCURRENT_MODIFICATION"; readonly locked: boolean }
  | { readonly kind: "timeout"; readonly reason: "QUERY_TIMEOUT" }
  | { readonly kind: "bug" };

/** The answer for a database error, or undefined when `error` is not one. */
export function answerForDatabaseError(error: unknown): DatabaseErrorAnswer | undefined {
  const kind = classifyDatabaseError(error);
  switch (kind) {
    case undefined:
      return undefined;
    case "transient":
      return { kind, reason: "DATABASE_UNAVAILABLE", retryAfterMs: 1_000 };
    case "reference":
      return { kind, reason: "REFERENCE_CONSTRAINT" };
    case "conflict":
      return { kind, reason: "CONCURRENT_MODIFICATION", locked: sqlStateOf(error) === "55P03" };
    case "timeout":
      return { kind, reason: "QUERY_TIMEOUT" };
    default:
      return { kind };
  }
}
