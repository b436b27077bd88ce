/**
 * Undecodable request messages are the client's fault: INVALID_ARGUMENT, not INTERNAL.
 *
 * connect-es decodes a request before any interceptor runs (unary) and reports a binary protobuf it
 * cannot decode as `ConnectError("parse binary: ...", Code.Internal)` (JSON it cannot parse is already
 * InvalidArgument). The code is fixed inside its serialization, so no interceptor or option can change it
 * before the error is written. What connect-es does offer: every protocol handler first aborts the call's
 * context with the error (`context.abort(error)`), synchronously, then serializes that same error object.
 * The request gate (run for every call, before the body is read) listens for that abort and re-classifies
 * a parse failure in place; a JSON request refused by strict decoding (unknown field or enum name) gets
 * the request check's field violations the same way. Server errors (a response that cannot be serialized) are untouched.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import { BadRequestSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { explainJsonFailure, type RequestChecker, requestRefused } from "@taskmaster/rpc-kit/request-check";

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

/** A connect-es `requestGate` installing the re-classification (and JSON explanation) for one call. */
export function parseErrorGate(context: HandlerContext, checker: RequestChecker): void {
  const signal = context.signal;
  signal.addEventListener(
    "abort",
    () => reclassifyParseError(signal.reason) || explainJsonParseError(signal.reason, context, checker),
    { once: true },
  );
}

/** The JSON request bytes the router read for this call (node-adapter.ts keeps them for JSON content types). */
export const jsonBodyKey = createContextKey<Uint8Array[] | undefined>(undefined, {
  description: "JSON request body chunks",
});

/**
 * Names the unknown field or enum value of a JSON request the router's strict decoding refused: connect-es
 * says only `cannot decode message X from JSON: key "k" is unknown` (no path, no accepted values). The
 * request check walks the body it kept (the first message of an enveloped stream) and adds the BadRequest
 * field violations to the same error object, before it is written.
 */
export function explainJsonParseError(
  reason: unknown,
  call: { readonly values: ContextValues; readonly requestHeader: Headers; readonly method: DescMethod },
  checker: RequestChecker,
): boolean {
  if (!(reason instanceof ConnectError) || reason.code !== Code.InvalidArgument) return false;
  if (!reason.rawMessage.includes("from JSON") || reason.findDetails(BadRequestSchema).length > 0)
    return false;
  const chunks = call.values.get(jsonBodyKey);
  if (chunks === undefined || chunks.length === 0) return false;
  const body = Buffer.concat(chunks);
  const enveloped = /^application\/(connect\+json|grpc-web\+json|grpc\+json)/.test(
    call.requestHeader.get("content-type") ?? "",
  );
  let text: string;
  if (!enveloped) text = body.toString("utf8");
  else {
    // Envelope: flags (1 byte, 0x01 = compressed) + big-endian length (4 bytes) + message.
    if (body.byteLength < 5 || (body[0] as number) & 0x01) return false;
    text = body.subarray(5, 5 + body.readUInt32BE(1)).toString("utf8");
  }
  const violations = explainJsonFailure(checker, call.method.input, text);
  if (violations.length === 0) return false;
  const refused = requestRefused(violations);
  const mutable = reason as { rawMessage: string; message: string; details: ConnectError["details"] };
  mutable.rawMessage = refused.rawMessage;
  mutable.message = refused.message;
  mutable.details = refused.details;
  return true;
}

/**
 * The same explanation for streaming requests: their messages are decoded while the handler reads them,
 * and the decoding error travels up through the interceptors rather than through the call's abort.
 */
export function createJsonExplainInterceptor(checker: RequestChecker): Interceptor {
  return (next) => async (req) => {
    if (!req.stream) return next(req);
    const source = req.message;
    const call = { values: req.contextValues, requestHeader: req.header, method: req.method };
    return next({
      ...req,
      message: (async function* explained() {
        try {
          yield* source;
        } catch (err) {
          explainJsonParseError(err, call, checker);
          throw err;
        }
      })(),
    });
  };
}
