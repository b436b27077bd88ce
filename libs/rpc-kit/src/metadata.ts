import { create, createRegistry, fromBinary, type JsonValue, toBinary, toJson } from "@bufbuild/protobuf";
import { type Any, AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import { file_google_rpc_error_details } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { StatusSchema } from "@taskmaster/proto/gen/google/rpc/status_pb";
import { boundConnectError } from "./error-bounds.js";

/** Trailer carrying a serialized `google.rpc.Status` with the error details (gRPC convention). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** Headers that belong to the transport and never travel as application metadata. */
const PROTOCOL_HEADERS = new Set([
  "grpc-status",
  "grpc-message",
  STATUS_DETAILS_KEY,
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "content-type",
  "content-length",
  "te",
  "user-agent",
  "accept-encoding",
  "connection",
  "transfer-encoding",
  "host",
  "trailer",
]);

/** grpc-js Metadata -> fetch Headers. Binary (`-bin`) values become unpadded-or-padded base64 (Connect convention). */
export function headersFromMetadata(metadata: Metadata | null | undefined, target = new Headers()): Headers {
  if (!metadata) return target;
  const map = metadata.toJSON();
  for (const key in map) {
    const values = map[key];
    if (values === undefined) continue;
    for (const v of values) target.append(key, typeof v === "string" ? v : v.toString("base64"));
  }
  return target;
}

/** fetch Headers -> grpc-js Metadata (skips protocol headers; `-bin` values decoded from base64). */
export function metadataFromHeaders(headers: Headers | undefined, target = new Metadata()): Metadata {
  if (headers === undefined) return target;
  headers.forEach((value, key) => {
    if (PROTOCOL_HEADERS.has(key) || key.startsWith("grpc-") || key.startsWith(":")) return;
    if (key.endsWith("-bin")) {
      for (const part of value.split(",")) target.add(key, Buffer.from(part.trim(), "base64"));
    } else {
      target.add(key, value);
    }
  });
  return target;
}

/** A Uint8Array as a Buffer without copying (grpc-js wants Buffers). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function detailsAsAny(error: ConnectError): Any[] {
  return error.details.map((d) =>
    "desc" in d
      ? anyPack(d.desc, create(d.desc, d.value))
      : // Incoming (wire) detail, e.g. from an upstream call: relayed as-is.
        create(AnySchema, { typeUrl: `type.googleapis.com/${d.type}`, value: d.value }),
  );
}

/**
 * ConnectError -> grpc-js status: `code`, `details` = the raw message, trailers = the call's response
 * trailers + the error's own metadata + `grpc-status-details-bin` (google.rpc.Status with every detail).
 */
export function statusFromConnectError(unbounded: ConnectError, trailer?: Headers): StatusObject {
  const error = boundConnectError(unbounded);
  const metadata = metadataFromHeaders(trailer);
  if (!error.isWireError) metadataFromHeaders(error.metadata, metadata);
  if (error.details.length > 0) {
    const status = create(StatusSchema, {
      code: error.code,
      message: error.rawMessage,
      details: detailsAsAny(error),
    });
    metadata.set(STATUS_DETAILS_KEY, asBuffer(toBinary(StatusSchema, status)));
  }
  return { code: error.code as number, details: error.rawMessage, metadata };
}

/** Detail types whose readable (JSON) form is relayed as the Connect `debug` field. */
const DETAIL_TYPES = createRegistry(file_google_rpc_error_details);

/**
 * The Connect `debug` form of a relayed detail (the detail as JSON), so a curl user of Connect JSON can read
 * the field violations without decoding base64 protobuf. connect-es writes `debug` only for details it
 * holds as messages; details relayed from a service arrive as bytes, hence this.
 */
function debugOf(type: string, value: Uint8Array): { debug?: JsonValue } {
  const desc = DETAIL_TYPES.getMessage(type);
  if (desc === undefined) return {};
  try {
    return { debug: toJson(desc, fromBinary(desc, value)) };
  } catch {
    return {};
  }
}

/** grpc-js status (or ServiceError) -> ConnectError with details decoded from `grpc-status-details-bin`. */
export function connectErrorFromStatus(status: {
  code: number;
  details?: string;
  metadata?: Metadata | null;
}): ConnectError {
  const metadata = headersFromMetadata(status.metadata);
  const raw = status.metadata?.get(STATUS_DETAILS_KEY)[0];
  const code = status.code in Code ? (status.code as Code) : Code.Unknown;
  let error: ConnectError | undefined;
  if (raw !== undefined && typeof raw !== "string") {
    try {
      const decoded = fromBinary(StatusSchema, raw);
      error = new ConnectError(decoded.message || (status.details ?? ""), code, metadata);
      error.details = decoded.details.map((any) => {
        const type = any.typeUrl.substring(any.typeUrl.lastIndexOf("/") + 1);
        return { type, value: any.value, ...debugOf(type, any.value) };
      });
    } catch {
      error = undefined;
    }
  }
  error ??= new ConnectError(status.details ?? "", code, metadata);
  error.isWireError = true;
  return error;
}
