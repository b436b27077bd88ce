/**
 * Domain errors. Handlers and services throw these; the error interceptor (error-interceptor.ts) turns them
 * into ConnectErrors with google.rpc details, so every client language sees the same structured error.
 */
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { ErrorReason } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import { clipBytes, clipChars, ERROR_BOUNDS } from "./error-bounds.js";

/** ErrorInfo.domain of every error Taskmaster raises. */
export const ERROR_DOMAIN = "taskmaster.dev";

/**
 * An `ErrorInfo.reason`: a value name of `taskmaster.common.v1.ErrorReason` without its prefix. Every domain
 * error takes this type, so a reason that errors.proto does not declare does not compile.
 */
export type ErrorReasonName = Exclude<keyof typeof ErrorReason, "UNSPECIFIED">;

/** Whether `reason` is declared in `taskmaster.common.v1.ErrorReason` (runtime check for hand-built errors). */
export function isDeclaredReason(reason: string): reason is ErrorReasonName {
  return reason !== "UNSPECIFIED" && typeof (ErrorReason as Record<string, unknown>)[reason] === "number";
}

/**
 * Declared INVALID_ARGUMENT reasons more specific than VALIDATION_FAILED: an InvalidArgumentError whose
 * field violations all carry one of these reasons sends it as its ErrorInfo reason.
 */
export const SPECIFIC_INVALID_ARGUMENT: ReadonlySet<string> = new Set<ErrorReasonName>([
  "INVALID_FILTER",
  "INVALID_PAGE_TOKEN",
  "MIME_TYPE_REJECTED",
  "TEMPLATE_VARIABLES",
  "TEMPLATE_SYNTAX",
  "SCHEMA_VALIDATION",
]);

/** One bad field (google.rpc.BadRequest.FieldViolation). `field` is a dotted path, e.g. `task.title`. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
  /** UPPER_SNAKE_CASE reason, e.g. `REQUIRED`, `TOO_LONG`. */
  readonly reason?: string | undefined;
}

/** One failed precondition (google.rpc.PreconditionFailure.Violation). */
export interface PreconditionViolation {
  readonly type: string;
  readonly subject: string;
  readonly description: string;
}

type Detail = { desc: DescMessage; value: MessageInitShape<DescMessage> };

function detail<D extends DescMessage>(desc: D, value: MessageInitShape<D>): Detail {
  return { desc, value: value as MessageInitShape<DescMessage> };
}

function errorInfo(reason: ErrorReasonName, metadata: Readonly<Record<string, string>> = {}): Detail {
  return detail(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata: { ...metadata } });
}

function retryInfo(retryAfterMs: number): Detail {
  const ms = Math.max(0, Math.round(retryAfterMs));
  return detail(RetryInfoSchema, {
    retryDelay: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 },
  });
}

/** Base of all domain errors: a gRPC code, a client-safe message and google.rpc details. */
export abstract class DomainError extends Error {
  abstract readonly code: Code;
  /** ErrorInfo.reason, declared in errors.proto. */
  readonly reason: ErrorReasonName;
  /** ErrorInfo.metadata. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(
    message: string,
    reason: ErrorReasonName,
    metadata: Readonly<Record<string, string>> = {},
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.reason = reason;
    this.metadata = metadata;
  }

  /** Details beyond ErrorInfo (BadRequest, RetryInfo, ...). */
  protected extraDetails(): Detail[] {
    return [];
  }

  /** The ConnectError sent to the client (message + ErrorInfo + extra details). */
  toConnectError(): ConnectError {
    return new ConnectError(
      this.message,
      this.code,
      undefined,
      [errorInfo(this.reason, this.metadata), ...this.extraDetails()],
      this,
    );
  }
}

/** NOT_FOUND: `task "0190..." not found`, ErrorInfo `NOT_FOUND` + ResourceInfo naming type and name. */
export class NotFoundError extends DomainError {
  override readonly name = "NotFoundError";
  readonly code = Code.NotFound;
  constructor(
    readonly resource: string,
    readonly id: string,
  ) {
    super(`${resource} "${id}" not found`, "NOT_FOUND", { resource, id });
  }
  protected override extraDetails(): Detail[] {
    return [
      detail(ResourceInfoSchema, {
        resourceType: this.resource,
        resourceName: this.id,
        description: this.message,
      }),
    ];
  }
}

/** ALREADY_EXISTS (reason `DUPLICATE` unless given), e.g. a duplicate unique key; ResourceInfo names it. */
export class AlreadyExistsError extends DomainError {
  override readonly name = "AlreadyExistsError";
  readonly code = Code.AlreadyExists;
  constructor(
    readonly resource: string,
    readonly id?: string,
    message?: string,
    reason: ErrorReasonName = "DUPLICATE",
  ) {
    super(
      message ?? (id === undefined ? `${resource} already exists` : `${resource} "${id}" already exists`),
      reason,
      id === undefined ? { resource } : { resource, id },
    );
  }
  protected override extraDetails(): Detail[] {
    return [detail(ResourceInfoSchema, { resourceType: this.resource, resourceName: this.id ?? "" })];
  }
}

export interface FailedPreconditionOptions {
  readonly reason: ErrorReasonName;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly violations?: readonly PreconditionViolation[];
}

/** FAILED_PRECONDITION: the system is not in a state the operation needs (e.g. a task with open subtasks). */
export class FailedPreconditionError extends DomainError {
  override readonly name = "FailedPreconditionError";
  readonly code = Code.FailedPrecondition;
  readonly violations: readonly PreconditionViolation[];
  constructor(message: string, options: FailedPreconditionOptions) {
    super(message, options.reason, options.metadata);
    this.violations = options.violations ?? [];
  }
  protected override extraDetails(): Detail[] {
    return this.violations.length === 0
      ? []
      : [detail(PreconditionFailureSchema, { violations: this.violations.map((v) => ({ ...v })) })];
  }
}

/** ABORTED: concurrency conflict; the client should re-read and retry. */
export class AbortedError extends DomainError {
  override readonly name: string = "AbortedError";
  readonly code = Code.Aborted;
  constructor(
    message = "the operation was aborted because of a concurrent modification; re-read and retry",
    reason: ErrorReasonName = "CONCURRENT_MODIFICATION",
    metadata: Readonly<Record<string, string>> = {},
  ) {
    super(message, reason, metadata);
  }
}

/** ABORTED: the request's etag does not match the current one (AIP-154). */
export class StaleEtagError extends AbortedError {
  override readonly name = "StaleEtagError";
  constructor(resource: string, id?: string) {
    super(
      `the etag of ${resource}${id === undefined ? "" : ` "${id}"`} is stale; re-read the resource and retry`,
      "ETAG_MISMATCH",
      id === undefined ? { resource } : { resource, id },
    );
  }
}

/**
 * INVALID_ARGUMENT with its field violations (google.rpc.BadRequest), bounded (error-bounds.ts): the first
 * 20 violations are listed (message and BadRequest; the message then says "and N more"), each field path
 * and description clipped, the message at most 1 KiB. `fieldViolations` keeps every violation (server side).
 * ErrorInfo reason: `reason` if given, else the violations' common reason when it is a specific declared one
 * (INVALID_PAGE_TOKEN, INVALID_FILTER, ...), else VALIDATION_FAILED.
 */
export class InvalidArgumentError extends DomainError {
  override readonly name = "InvalidArgumentError";
  readonly code = Code.InvalidArgument;
  readonly fieldViolations: readonly FieldViolation[];
  constructor(fieldViolations: readonly FieldViolation[], message?: string, reason?: ErrorReasonName) {
    super(
      clipBytes(message ?? violationsMessage(fieldViolations), ERROR_BOUNDS.maxMessageBytes),
      reason ?? invalidArgumentReason(fieldViolations),
    );
    this.fieldViolations = fieldViolations;
  }
  protected override extraDetails(): Detail[] {
    return [
      detail(BadRequestSchema, {
        fieldViolations: this.fieldViolations.slice(0, ERROR_BOUNDS.maxViolations).map((v) => ({
          field: clipChars(v.field),
          description: clipChars(v.description),
          reason: clipChars(v.reason ?? "", 64),
        })),
      }),
    ];
  }
}

/** "invalid argument: a: x; b: y; and N more": as many violations as fit in ~900 bytes, at most 20. */
function violationsMessage(violations: readonly FieldViolation[]): string {
  if (violations.length === 0) return "invalid argument";
  let message = "invalid argument: ";
  let listed = 0;
  for (const v of violations.slice(0, ERROR_BOUNDS.maxViolations)) {
    const part = `${listed === 0 ? "" : "; "}${clipChars(v.field)}: ${clipChars(v.description)}`;
    if (
      listed > 0 &&
      Buffer.byteLength(message) + Buffer.byteLength(part) > ERROR_BOUNDS.maxMessageBytes - 124
    )
      break;
    message += part;
    listed++;
  }
  const more = violations.length - listed;
  return more > 0 ? `${message}; and ${more} more` : message;
}

/** ErrorInfo reason of an InvalidArgumentError without an explicit one. */
const GENERIC_INVALID_ARGUMENT: ErrorReasonName = "VALIDATION_FAILED";

function invalidArgumentReason(violations: readonly FieldViolation[]): ErrorReasonName {
  const first = violations[0]?.reason;
  return first !== undefined &&
    SPECIFIC_INVALID_ARGUMENT.has(first) &&
    isDeclaredReason(first) &&
    violations.every((v) => v.reason === first)
    ? first
    : GENERIC_INVALID_ARGUMENT;
}

/** PERMISSION_DENIED: authenticated, but not allowed. */
export class PermissionDeniedError extends DomainError {
  override readonly name = "PermissionDeniedError";
  readonly code = Code.PermissionDenied;
  constructor(
    message = "permission denied",
    reason: ErrorReasonName = "PERMISSION_DENIED",
    metadata?: Record<string, string>,
  ) {
    super(message, reason, metadata);
  }
}

/** UNAUTHENTICATED: no or invalid credentials. */
export class UnauthenticatedError extends DomainError {
  override readonly name = "UnauthenticatedError";
  readonly code = Code.Unauthenticated;
  constructor(
    message = "unauthenticated",
    reason: ErrorReasonName = "UNAUTHENTICATED",
    metadata?: Record<string, string>,
  ) {
    super(message, reason, metadata);
  }
}

/** RESOURCE_EXHAUSTED (rate limit / quota), with RetryInfo when `retryAfterMs` is known. */
export class ResourceExhaustedError extends DomainError {
  override readonly name = "ResourceExhaustedError";
  readonly code = Code.ResourceExhausted;
  constructor(
    readonly retryAfterMs?: number,
    message = "rate limit exceeded",
    reason: ErrorReasonName = "RATE_LIMITED",
  ) {
    super(message, reason);
  }
  protected override extraDetails(): Detail[] {
    return this.retryAfterMs === undefined ? [] : [retryInfo(this.retryAfterMs)];
  }
}

/** UNAVAILABLE (the database is down: the one dependency a service reports itself): retry with backoff. */
export class UnavailableError extends DomainError {
  override readonly name = "UnavailableError";
  readonly code = Code.Unavailable;
  constructor(
    message = "service temporarily unavailable",
    readonly retryAfterMs: number | undefined = 1_000,
    reason: ErrorReasonName = "DATABASE_UNAVAILABLE",
    cause?: unknown,
  ) {
    super(message, reason, {}, cause);
  }
  protected override extraDetails(): Detail[] {
    return this.retryAfterMs === undefined ? [] : [retryInfo(this.retryAfterMs)];
  }
}

/** OUT_OF_RANGE: a position (e.g. a resume token) outside what the server still keeps. */
export class OutOfRangeError extends DomainError {
  override readonly name = "OutOfRangeError";
  readonly code = Code.OutOfRange;
  constructor(message: string, reason: ErrorReasonName, metadata?: Record<string, string>) {
    super(message, reason, metadata);
  }
}

/** DEADLINE_EXCEEDED. */
export class DeadlineExceededError extends DomainError {
  override readonly name = "DeadlineExceededError";
  readonly code = Code.DeadlineExceeded;
  constructor(message = "deadline exceeded", reason: ErrorReasonName = "QUERY_TIMEOUT") {
    super(message, reason);
  }
}

/**
 * `mapped(work)` for a handler file: runs `work` and rethrows what `translate` makes of its error (the file's
 * repository errors -> domain errors; anything it returns unchanged goes on to the error interceptor).
 */
export function errorTranslator(
  translate: (err: unknown) => unknown,
): <T>(work: () => Promise<T>) => Promise<T> {
  return async (work) => {
    try {
      return await work();
    } catch (err) {
      throw translate(err);
    }
  };
}
