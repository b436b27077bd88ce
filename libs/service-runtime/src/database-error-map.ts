/**
 * The error interceptor's `map` for errors out of the persistence layer: the answer of the one
 * database-error classifier (`@taskmaster/persistence/db-errors`) as a client-safe domain error, and a bad
 * page token (`@taskmaster/persistence/page-token`) as INVALID_ARGUMENT on `page_token`. No SQL, constraint
 * name or value reaches the client; a bug answers INTERNAL and the interceptor logs the real error.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { answerForDatabaseError } from "@taskmaster/persistence/db-errors";
import { InvalidPageTokenError } from "@taskmaster/persistence/page-token";
import {
  AbortedError,
  AlreadyExistsError,
  DeadlineExceededError,
  type DomainError,
  FailedPreconditionError,
  InvalidArgumentError,
  UnavailableError,
} from "@taskmaster/rpc-kit/errors";

/** `signal` tells a statement cancelled by the client (CANCELLED) from a timeout (DEADLINE_EXCEEDED). */
export function mapDatabaseError(
  error: unknown,
  signal?: AbortSignal,
): DomainError | ConnectError | undefined {
  if (error instanceof ConnectError) return undefined;
  if (error instanceof InvalidPageTokenError) {
    return new InvalidArgumentError([
      {
        field: "page_token",
        description: "is not a token from a previous response to the same request",
        reason: "INVALID_PAGE_TOKEN",
      },
    ]);
  }
  const answer = answerForDatabaseError(error);
  switch (answer?.kind) {
    case undefined:
      return undefined;
    case "transient":
      return new UnavailableError("database unavailable", answer.retryAfterMs, "DATABASE_UNAVAILABLE");
    case "invalid_input":
      return new InvalidArgumentError([], "the request violates a data constraint");
    case "already_exists":
      return new AlreadyExistsError(
        "resource",
        undefined,
        "a resource with the same unique key already exists",
      );
    case "reference":
      return new FailedPreconditionError("a referenced resource does not exist or is still referenced", {
        reason: "REFERENCE_CONSTRAINT",
      });
    case "conflict":
      return answer.locked
        ? new AbortedError(
            "the resource is locked by a concurrent operation; retry",
            "CONCURRENT_MODIFICATION",
          )
        : new AbortedError(
            "the operation conflicted with a concurrent transaction; retry",
            "CONCURRENT_MODIFICATION",
          );
    case "timeout":
      if (signal?.aborted) {
        const reason: unknown = signal.reason;
        return reason instanceof ConnectError ? reason : new ConnectError("call cancelled", Code.Canceled);
      }
      return new DeadlineExceededError("the operation took too long", "QUERY_TIMEOUT");
    case "bug":
      return new ConnectError("internal error", Code.Internal, undefined, undefined, error);
  }
}
