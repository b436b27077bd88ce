/**
 * Errors the gateway answers before any RPC handler runs, in the caller's protocol (a Connect error body,
 * or gRPC / gRPC-Web status headers) instead of bare HTTP:
 * - an unknown service or method: UNIMPLEMENTED naming what was asked for and where the API is described;
 * - a missing or unsupported content type: INVALID_ARGUMENT naming the content types the method accepts
 *   (HTTP 415, as the Connect protocol has it, with a Connect error body).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { asResponse } from "./listener.js";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/** Where a caller finds the services and methods (the gateway itself serves no reflection). */
export const API_POINTERS =
  "see docs/api.md for the services and methods, or use gRPC server reflection (grpc.reflection.v1) on the services";

/** What a unary Connect request may be sent as; streaming and gRPC forms follow. */
export const ACCEPTED_CONTENT_TYPES = [
  "application/json",
  "application/proto",
  "application/connect+json",
  "application/connect+proto",
  "application/grpc",
  "application/grpc+proto",
  "application/grpc+json",
  "application/grpc-web",
  "application/grpc-web+proto",
  "application/grpc-web+json",
  "application/grpc-web-text",
] as const;

/** The UNIMPLEMENTED error for a path that names no RPC of `services`. */
export function unknownMethodError(path: string, services: readonly DescService[]): ConnectError {
  const match = /^\/([^/]+)\/([^/?]*)/.exec(path);
  const service = services.find((s) => s.typeName === match?.[1]);
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 199)}…` : path);
  const message =
    match === null
      ? `no RPC at ${shown}: RPC paths are /<package>.<Service>/<Method>; ${API_POINTERS}`
      : service === undefined
        ? `unknown service ${JSON.stringify(match[1]?.slice(0, 200))}: this gateway serves ${services.map((s) => s.typeName).join(", ")}; ${API_POINTERS}`
        : `unknown method ${JSON.stringify(match[2]?.slice(0, 200))} of ${service.typeName}; ${API_POINTERS}`;
  return new ConnectError(message, Code.Unimplemented);
}

/** The INVALID_ARGUMENT error for a request without a content type the RPC can be called with. */
export function unsupportedContentTypeError(contentType: string | undefined): ConnectError {
  const got =
    contentType === undefined || contentType === ""
      ? "no content type"
      : `content type ${JSON.stringify(contentType.slice(0, 100))}`;
  return new ConnectError(
    `unsupported request: ${got}; expected one of ${ACCEPTED_CONTENT_TYPES.join(", ")}`,
    Code.InvalidArgument,
  );
}

/**
 * Write `error` as the caller's protocol expects: gRPC / gRPC-Web get a trailers-only answer (status in the
 * headers); everyone else, and an unsupported content type (HTTP 415, as gRPC servers answer it too), a
 * Connect error body.
 */
export function writeProtocolError(
  req: NodeRequest,
  anyRes: NodeResponse,
  error: ConnectError,
  httpStatus: number,
): void {
  const res = asResponse(anyRes);
  const contentType = req.headers["content-type"] ?? "";
  if (contentType.startsWith("application/grpc") && httpStatus !== 415) {
    // Trailers-only response: gRPC and gRPC-Web clients read the status from the headers.
    res
      .writeHead(200, {
        "content-type": contentType.startsWith("application/grpc-web")
          ? "application/grpc-web+proto"
          : "application/grpc",
        "grpc-status": String(error.code),
        "grpc-message": encodeURIComponent(error.rawMessage),
      })
      .end();
    return;
  }
  const body = errorToJsonBytes(error, {});
  res
    .writeHead(httpStatus, { "content-type": "application/json", "content-length": String(body.byteLength) })
    .end(body);
}
