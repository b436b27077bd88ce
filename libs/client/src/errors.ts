/**
 * Typed errors: every failed call surfaces as a {@link TaskmasterError} with the gRPC code (numeric and short
 * name), the server's message and the decoded `google.rpc` details (BadRequest field violations, ErrorInfo,
 * RetryInfo, PreconditionFailure, ResourceInfo, QuotaFailure), so callers branch on data, not on strings.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type BadRequest_FieldViolation,
  BadRequestSchema,
  type ErrorInfo,
  ErrorInfoSchema,
  type PreconditionFailure_Violation,
  PreconditionFailureSchema,
  type QuotaFailure_Violation,
  QuotaFailureSchema,
  type ResourceInfo,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "@taskmaster/proto/gen/google/rpc/error_details_pb";

/** Short, lower-case names of the gRPC codes (`not_found`, `invalid_argument`, ...). */
export type ErrorCodeName = Exclude<Lowercase<keyof typeof Code>, `${number}`> | "unknown";

/**
 * A failed call. It IS a ConnectError (so Connect passes it through unchanged and `instanceof ConnectError`
 * still holds), with the code's short name and the `google.rpc` details decoded.
 */
export class TaskmasterError extends ConnectError {
  /**
   * ConnectError's own check accepts any ConnectError-shaped value; a TaskmasterError is one built here. (Its
   * `name` stays "ConnectError" so Connect passes it through instead of wrapping it.)
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(TaskmasterError, value);
  }
  /** The code's short name, e.g. `not_found`. */
  readonly codeName: ErrorCodeName;
  /** google.rpc.BadRequest field violations (every invalid field at once). */
  readonly fieldViolations: readonly BadRequest_FieldViolation[];
  readonly errorInfo: ErrorInfo | undefined;
  /** Server-suggested wait before retrying, in milliseconds (google.rpc.RetryInfo). */
  readonly retryDelayMs: number | undefined;
  readonly preconditionViolations: readonly PreconditionFailure_Violation[];
  readonly quotaViolations: readonly QuotaFailure_Violation[];
  readonly resourceInfo: ResourceInfo | undefined;

  constructor(error: ConnectError) {
    // The details as received (decoded again on demand by findDetails).
    super(
      error.rawMessage,
      error.code,
      error.metadata,
      error.details as ConstructorParameters<typeof ConnectError>[3],
      error.cause ?? error,
    );
    this.codeName = codeName(error.code);
    const retry = error.findDetails(RetryInfoSchema)[0];
    this.fieldViolations = error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
    this.errorInfo = error.findDetails(ErrorInfoSchema)[0];
    this.retryDelayMs = retry?.retryDelay ? durationMs(retry.retryDelay) : undefined;
    this.preconditionViolations = error.findDetails(PreconditionFailureSchema).flatMap((d) => d.violations);
    this.quotaViolations = error.findDetails(QuotaFailureSchema).flatMap((d) => d.violations);
    this.resourceInfo = error.findDetails(ResourceInfoSchema)[0];
  }

  /**
   * `ErrorInfo.reason` when the server sent one: a value name of `taskmaster.common.v1.ErrorReason` without its
   * prefix, e.g. `ILLEGAL_STATUS_TRANSITION` (the list with gRPC codes: docs/api.md, "Error reasons").
   */
  get reason(): string | undefined {
    return this.errorInfo?.reason;
  }
}

export function codeName(code: Code): ErrorCodeName {
  const name = Code[code];
  if (name === undefined) return "unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase() as ErrorCodeName;
}

/** Any thrown value as a TaskmasterError (already-typed errors pass through unchanged). */
export function toTaskmasterError(error: unknown): TaskmasterError {
  if (error instanceof TaskmasterError) return error;
  return new TaskmasterError(ConnectError.from(error));
}
