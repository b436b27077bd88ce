/**
 * Wire formats of the unary fast path (fast-path.ts), byte for byte what connect-es's handlers read and
 * write for a unary call, for the cases the fast path takes:
 *
 * - which requests qualify (`unaryProtocol`): POST, identity encoding, a well-formed timeout header, and one
 *   of Connect unary `application/proto` / `application/json`, gRPC-Web `application/grpc-web(+proto)`,
 *   native gRPC `application/grpc(+proto)` over HTTP/2;
 * - reading the body with the size limit enforced while reading (`readRequestMessage`), envelope parsed for
 *   gRPC / gRPC-Web, with connect-es's error codes and messages;
 * - writing an answer or an error per protocol (`writeMessage`, `writeError`), with connect-es's own
 *   encoders (Connect error JSON, gRPC status trailers incl. `grpc-status-details-bin`); answers of 1 KiB
 *   or more compressed as the router does (gzip or brotli, by the client's accept list, in its order).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { JsonWriteOptions } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Compression, mergeNonProtocolHeaders } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { type AnyRequest, type AnyResponse, asResponse } from "./listener.js";

export type UnaryProtocol = "connect-proto" | "connect-json" | "grpc-web" | "grpc";

/** The protocol of a request the fast path can serve, and its timeout (ms; undefined: none); else undefined. */
export function unaryProtocol(
  req: AnyRequest,
): { protocol: UnaryProtocol; timeoutMs: number | undefined } | undefined {
  const h = req.headers;
  let protocol: UnaryProtocol;
  switch (h["content-type"]) {
    case "application/proto":
      protocol = "connect-proto";
      break;
    case "application/json":
      protocol = "connect-json";
      break;
    case "application/grpc-web":
    case "application/grpc-web+proto":
      protocol = "grpc-web";
      break;
    case "application/grpc":
    case "application/grpc+proto":
      if (req.httpVersionMajor !== 2) return undefined;
      protocol = "grpc";
      break;
    default:
      return undefined;
  }
  let timeoutMs: number | undefined;
  if (protocol === "connect-proto" || protocol === "connect-json") {
    if (!isIdentity(h["content-encoding"])) return undefined;
    const version = header(h, "connect-protocol-version");
    if (version !== undefined && version !== "1") return undefined;
    const timeout = header(h, "connect-timeout-ms");
    if (timeout !== undefined) {
      if (!/^\d{1,10}$/.test(timeout)) return undefined;
      timeoutMs = Number(timeout);
    }
  } else {
    if (!isIdentity(header(h, "grpc-encoding"))) return undefined;
    const timeout = header(h, "grpc-timeout");
    if (timeout !== undefined) {
      timeoutMs = parseGrpcTimeout(timeout);
      if (timeoutMs === undefined) return undefined;
    }
  }
  return { protocol, timeoutMs };
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? undefined : v;
}

function isIdentity(encoding: string | undefined): boolean {
  return encoding === undefined || encoding === "identity";
}

const GRPC_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return undefined;
  return Number(m[1]) * (GRPC_UNIT_MS[m[2] as string] as number);
}

/** The router's response compressions and threshold (connect-node's defaults, node-adapter.ts). */
const COMPRESSIONS: readonly Compression[] = [compressionGzip, compressionBrotli];
const COMPRESS_MIN_BYTES = 1024;

/** The compression the router would answer with: the first of the client's accepted ones it knows. */
export function responseCompression(req: AnyRequest, protocol: UnaryProtocol): Compression | undefined {
  const accepted = header(req.headers, enveloped(protocol) ? "grpc-accept-encoding" : "accept-encoding");
  if (accepted === undefined || accepted === "") return undefined;
  for (const name of accepted.split(",")) {
    const found = COMPRESSIONS.find((c) => c.name === name.trim());
    if (found !== undefined) return found;
  }
  return undefined;
}

const enveloped = (p: UnaryProtocol) => p === "grpc" || p === "grpc-web";

function tooLarge(size: number, readMaxBytes: number): ConnectError {
  return new ConnectError(
    `message size ${size} is larger than configured readMaxBytes ${readMaxBytes}`,
    Code.ResourceExhausted,
  );
}

/**
 * The request message's bytes (gRPC / gRPC-Web: the one enveloped message). Stops at the first byte over
 * the limit (a declared length over it: at once). Rejects with connect-es's ConnectErrors.
 */
export function readRequestMessage(
  req: AnyRequest,
  protocol: UnaryProtocol,
  readMaxBytes: number,
): Promise<Buffer> {
  const framed = enveloped(protocol);
  // Connect: the whole body is the message; gRPC: a 5-byte prefix plus the message.
  const limit = framed ? readMaxBytes + 5 : readMaxBytes;
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (!framed && declared > readMaxBytes) return Promise.reject(tooLarge(declared, readMaxBytes));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let sizeChecked = false;
    const fail = (err: ConnectError) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onFail);
      req.off("aborted", onFail);
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.byteLength;
      if (framed && !sizeChecked && length >= 5) {
        sizeChecked = true;
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, length);
        const size = head.readUInt32BE(1);
        if (size > readMaxBytes) return fail(tooLarge(size, readMaxBytes));
      }
      if (length > limit) {
        fail(
          framed
            ? new ConnectError(
                "protocol error: received extra input message for unary method",
                Code.Unimplemented,
              )
            : new ConnectError(
                `message size is larger than configured readMaxBytes ${readMaxBytes}`,
                Code.ResourceExhausted,
              ),
        );
      }
    };
    const onEnd = () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
      if (!framed) return resolve(body);
      try {
        resolve(unwrapEnvelope(body));
      } catch (err) {
        reject(err);
      }
    };
    const onFail = () => fail(new ConnectError("request body not received", Code.Aborted));
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onFail);
    req.once("aborted", onFail);
  });
}

/** The message of the one envelope in `body`, as connect-es's envelope reader judges it. */
function unwrapEnvelope(body: Buffer): Buffer {
  if (body.length === 0) {
    throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  if (body.length < 5) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  const flags = body[0] as number;
  const size = body.readUInt32BE(1);
  if (body.length < 5 + size)
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  if (body.length > 5 + size) {
    const rest = body.length - 5 - size;
    if (rest < 5 || rest < 5 + body.readUInt32BE(6 + size)) {
      throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
    }
    throw new ConnectError(
      "protocol error: received extra input message for unary method",
      Code.Unimplemented,
    );
  }
  if ((flags & 0b01) === 0b01) {
    throw new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
  }
  if (flags !== 0) throw new ConnectError("unexpected end flag", Code.InvalidArgument);
  return body.subarray(5);
}

function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, 5);
  return out;
}

const GRPC_WEB_OK_TRAILER = envelope(0x80, trailerSerialize(new Headers({ "grpc-status": "0" })));

const CONTENT_TYPE: Readonly<Record<UnaryProtocol, string>> = {
  "connect-proto": "application/proto",
  "connect-json": "application/json",
  "grpc-web": "application/grpc-web+proto",
  grpc: "application/grpc+proto",
};

/** Whether the answer can still be written (the client did not go away). */
function writable(res: AnyResponse): boolean {
  return !res.destroyed && !res.writableEnded && !res.headersSent;
}

/** The response headers before the body: content type, and `grpc-encoding` once negotiated (as the router). */
function baseHeaders(protocol: UnaryProtocol, compression: Compression | undefined): Record<string, string> {
  return compression === undefined || !enveloped(protocol)
    ? { "content-type": CONTENT_TYPE[protocol] }
    : { "content-type": CONTENT_TYPE[protocol], "grpc-encoding": compression.name };
}

/** A successful answer (`message`: the response message, binary or JSON per protocol). */
export async function writeMessage(
  res: AnyResponse,
  protocol: UnaryProtocol,
  message: Uint8Array,
  compression: Compression | undefined,
): Promise<void> {
  const compress = compression !== undefined && message.byteLength >= COMPRESS_MIN_BYTES;
  const payload = compress ? await compression.compress(message) : message;
  if (!writable(res)) return;
  const r = asResponse(res);
  const headers: Record<string, string | number> = baseHeaders(protocol, compression);
  switch (protocol) {
    case "connect-proto":
    case "connect-json":
      if (compress) headers["content-encoding"] = compression.name;
      headers["content-length"] = payload.byteLength;
      r.writeHead(200, headers);
      r.end(payload);
      return;
    case "grpc-web": {
      const body = Buffer.concat([envelope(compress ? 1 : 0, payload), GRPC_WEB_OK_TRAILER]);
      headers["content-length"] = body.byteLength;
      r.writeHead(200, headers);
      r.end(body);
      return;
    }
    case "grpc":
      r.writeHead(200, headers);
      r.addTrailers({ "grpc-status": "0" });
      r.end(envelope(compress ? 1 : 0, payload));
      return;
  }
}

/** An error answer: Connect error JSON with the HTTP status of the code; gRPC-Web / gRPC status trailers. */
export function writeError(
  res: AnyResponse,
  protocol: UnaryProtocol,
  error: ConnectError,
  compression: Compression | undefined,
  jsonOptions?: Partial<JsonWriteOptions>,
): void {
  if (!writable(res)) return;
  const r = asResponse(res);
  if (protocol === "connect-proto" || protocol === "connect-json") {
    const headers = new Headers({ "content-type": "application/json" });
    // As connect-es: metadata of errors raised here goes out as headers; errors from the wire keep theirs.
    if (!error.isWireError) mergeNonProtocolHeaders(headers, error.metadata);
    const body = errorToJsonBytes(error, jsonOptions ?? {});
    headers.set("content-length", String(body.byteLength));
    r.writeHead(codeToHttpStatus(error.code), Object.fromEntries(headers));
    r.end(body);
    return;
  }
  const trailer = setTrailerStatus(new Headers(), error);
  const headers: Record<string, string | number> = baseHeaders(protocol, compression);
  if (protocol === "grpc-web") {
    const body = envelope(0x80, trailerSerialize(trailer));
    headers["content-length"] = body.byteLength;
    r.writeHead(200, headers);
    r.end(body);
    return;
  }
  r.writeHead(200, headers);
  r.addTrailers(Object.fromEntries(trailer));
  r.end();
}
