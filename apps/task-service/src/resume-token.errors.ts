import { Code } from "@connectrpc/connect";
import { DomainError } from "@taskmaster/rpc-kit/errors";

/**
 * OUT_OF_RANGE, ErrorInfo `RESUME_TOKEN_EXPIRED`: events after the resume token were removed by the outbox
 * retention, so resuming from it would silently skip them. The client starts a new watch without a token
 * (and re-reads the tasks it cares about).
 */
export class ResumeTokenExpiredError extends DomainError {
  readonly code = Code.OutOfRange;
  constructor(resumeToken: string, oldestKept: string | null) {
    super(
      "resume_token is older than the outbox retention: start a new watch without a token",
      "RESUME_TOKEN_EXPIRED",
      {
        resumeToken,
        ...(oldestKept !== null && { oldestKeptToken: oldestKept }),
      },
    );
  }
}
