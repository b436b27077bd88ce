/**
 * Every error a client receives is bounded, whatever the input: at most `maxViolations` field violations
 * (then "and N more"), a message of at most 1 KiB, all details together at most 4 KiB (well under the
 * 8 KiB metadata limit many gRPC clients use; details travel in the `grpc-status-details-bin` trailer), and
 * no text from the request echoed at length (each violation's field and description are clipped).
 *
 * `InvalidArgumentError` (errors.ts) applies the violation and text bounds when it is built;
 * `boundConnectError` is the last word for any ConnectError (the error interceptor and the grpc-js adapter
 * run it before an error is written).
 */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  BadRequest_FieldViolationSchema,
  BadRequestSchema,
} from "@taskmaster/proto/gen/google/rpc/error_details_pb";

export const ERROR_BOUNDS = {
  /** Field violations listed at most (the rest are counted in the message). */
  maxViolations: 20,
  /** UTF-8 bytes of the error message at most. */
  maxMessageBytes: 1024,
  /** Bytes of all details together with the message (the encoded google.rpc.Status trailer) at most. */
  maxDetailsBytes: 4096,
  /** Characters of one violation's field path or description at most. */
  maxTextChars: 200,
} as const;

/** `text` cut to at most `maxBytes` UTF-8 bytes (with "…" when cut), never splitting a character. */
export function clipBytes(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const budget = maxBytes - 3; // "…" is 3 bytes
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > budget) break;
    bytes += n;
    end += ch.length;
  }
  return `${text.slice(0, end)}…`;
}

/** `text` cut to at most `maxChars` UTF-16 units (with "…" when cut), never splitting a surrogate pair. */
export function clipChars(text: string, maxChars: number = ERROR_BOUNDS.maxTextChars): string {
  if (text.length <= maxChars) return text;
  let end = maxChars - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

type Detail = ConnectError["details"][number];

function detailBytes(d: Detail): Uint8Array {
  return "desc" in d ? toBinary(d.desc, create(d.desc, d.value)) : d.value;
}

/** A typed BadRequest detail cut to the violations that fit in `budget` bytes (one encoding per violation). */
function fitBadRequest(d: Detail, budget: number): Detail {
  if (!("desc" in d) || d.desc.typeName !== BadRequestSchema.typeName) return d;
  const value = create(BadRequestSchema, d.value as MessageInitShape<typeof BadRequestSchema>);
  let used = 0;
  let keep = 0;
  for (const v of value.fieldViolations) {
    // The violation's bytes plus its tag and length prefix.
    const n = toBinary(BadRequest_FieldViolationSchema, v).byteLength + 4;
    if (used + n > budget) break;
    used += n;
    keep++;
  }
  value.fieldViolations = value.fieldViolations.slice(0, keep);
  return { desc: BadRequestSchema as DescMessage, value };
}

/** Details within `maxBytes`: BadRequest violations trimmed first, then trailing details dropped. */
function boundDetails(details: readonly Detail[], maxBytes: number): Detail[] | undefined {
  // Each detail travels as an Any: its type URL and a few bytes of framing besides the value.
  const size = (d: Detail) =>
    detailBytes(d).byteLength + 26 + ("desc" in d ? d.desc.typeName.length : d.type.length);
  const sizes = details.map(size);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total <= maxBytes) return undefined;
  const out = [...details];
  let over = total - maxBytes;
  for (let i = 0; i < out.length && over > 0; i++) {
    const before = sizes[i] as number;
    const fitted = fitBadRequest(out[i] as Detail, Math.max(0, before - over - 64));
    if (fitted === out[i]) continue;
    out[i] = fitted;
    sizes[i] = size(fitted);
    over -= before - (sizes[i] as number);
  }
  while (over > 0 && out.length > 0) {
    out.pop();
    over -= sizes.pop() ?? 0;
  }
  return out;
}

/** The same error when it is within the bounds, else a bounded copy (code, metadata and cause kept). */
export function boundConnectError(error: ConnectError): ConnectError {
  // Well-formed text only (lone surrogates from the input become U+FFFD): grpc-js percent-encodes the
  // message with encodeURI, which throws on a lone surrogate, out of the server's reach (the process died).
  const message = clipBytes(error.rawMessage.toWellFormed(), ERROR_BOUNDS.maxMessageBytes);
  // The details trailer (google.rpc.Status) repeats the message: both together stay within maxDetailsBytes.
  const budget = ERROR_BOUNDS.maxDetailsBytes - Buffer.byteLength(message) - 16;
  const details = error.details.length === 0 ? undefined : boundDetails(error.details, budget);
  if (message === error.rawMessage && details === undefined) return error;
  const bounded = new ConnectError(message, error.code, error.metadata, undefined, error.cause);
  bounded.details = details ?? error.details;
  bounded.isWireError = error.isWireError;
  return bounded;
}
