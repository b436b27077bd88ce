/**
 * Undecodable request messages are the client's fault: INVALID_ARGUMENT, not INTERNAL.
 *
 * connect-es decodes a request before any interceptor runs (unary) and reports a binary protobuf it
 * cannot decode as `ConnectError("parse binary: ...", Code.Internal)` (JSON it cannot parse is already
 * InvalidArgument). The code is fixed inside its serialization, so no interceptor or option can change it
 * before the error is written. What connect-es does offer: every protocol handler first aborts the call's
 * context with the error (`context.abort(error)`), synchronously, then serializes that same error object.
 * The request gate (run for every call, before the body is read) listens for that abort and re-classifies
 * a parse failure in place. Server errors (a response that cannot be serialized) are untouched.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";

const BINARY_PARSE = "parse binary: ";

/** Turns connect-es's binary parse failure into INVALID_ARGUMENT with a clear message; true if it did. */
export function reclassifyParseError(reason: unknown): boolean {
  if (!(reason instanceof ConnectError) || reason.code !== Code.Internal) return false;
  if (!reason.rawMessage.startsWith(BINARY_PARSE)) return false;
  const detail = reason.rawMessage.slice(BINARY_PARSE.length);
  const message = `invalid request message: not a valid protobuf binary encoding (${detail})`;
  // ConnectError's fields are plain properties; `readonly` is a TypeScript promise we break on purpose here.
  const mutable = reason as { code: Code; rawMessage: string; message: string };
  mutable.code = Code.InvalidArgument;
  mutable.rawMessage = message;
  mutable.message = `[invalid_argument] ${message}`;
  return true;
}

/** A connect-es `requestGate` installing the re-classification for one call. */
export function parseErrorGate(context: HandlerContext): void {
  const signal = context.signal;
  signal.addEventListener("abort", () => reclassifyParseError(signal.reason), { once: true });
}
