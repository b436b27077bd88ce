/**
 * The unary fast path in front of the Connect router: the same call semantics for unary RPCs at a fraction
 * of connect-node's per-call cost. It takes Connect unary POSTs (`application/proto`, `application/json`),
 * gRPC-Web (`application/grpc-web(+proto)`) and native gRPC over HTTP/2 (`application/grpc(+proto)`) with
 * identity encoding (fast-path-wire.ts); everything else (streaming RPCs, GET, compressed bodies,
 * grpc-web-text, JSON over gRPC, unknown paths, odd headers) returns false and goes to the router unchanged.
 *
 * Per call: the body is read with the size limit enforced (envelope parsed for gRPC/gRPC-Web); binary
 * messages are passed on as bytes without decoding (the service's adapter answers INVALID_ARGUMENT for
 * undecodable ones); JSON is decoded once with the router's own serialization (same errors) and encoded to
 * binary, the answer decoded and written back as JSON. The call then runs through the same interceptors as
 * the router's calls (server tracing span, metrics, error mapping), the same edge checks (edge.ts
 * `EdgeChecks`: limits, authn, authz, security events; shared state with the router), the same identity
 * headers and deadline (forward.ts), and the upstream call is made on the same grpc-js channel with identity
 * (de)serializers, inside the same client tracing interceptor as the router's transport. Errors and
 * `grpc-status-details-bin` details go back in each protocol's form (fast-path-wire.ts).
 */
import {
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  type MethodSerializationLookup,
} from "@connectrpc/connect/protocol";
import type { Client as GrpcClient, StatusObject } from "@grpc/grpc-js";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import { asBuffer, connectErrorFromStatus, metadataFromHeaders } from "@taskmaster/rpc-kit/metadata";
import { parseJsonRequest, type RequestChecker } from "@taskmaster/rpc-kit/request-check";
import { createClientTracingInterceptor } from "@taskmaster/rpc-kit/tracing-interceptor";
import { type ClientInfo, clientKey, type EdgeChecks } from "./edge.js";
import {
  readRequestMessage,
  responseCompression,
  type UnaryProtocol,
  unaryProtocol,
  writeError,
  writeMessage,
} from "./fast-path-wire.js";
import { upstreamHeaders, upstreamTimeoutMs } from "./forward.js";
import { type AnyRequest, type AnyResponse, asResponse } from "./listener.js";

export interface FastPathUpstream {
  readonly service: DescService;
  /** The grpc-js client (channel) the router's transport uses for this service. */
  readonly client: GrpcClient;
  /** `host:port` (client span attributes). */
  readonly address: string;
}

export interface FastPathOptions {
  readonly upstreams: readonly FastPathUpstream[];
  /** The edge checks the router's edge interceptor runs (one instance: shared limits). */
  readonly edge: EdgeChecks;
  /** The router's interceptors outside the edge (tracing, metrics, error mapping), outermost first. */
  readonly interceptors: readonly Interceptor[];
  readonly clientInfo: (req: AnyRequest) => ClientInfo;
  readonly maxTimeoutMs: number;
  readonly readMaxBytes: number;
  readonly signer?: IdentitySigner | undefined;
  /** The request check (JSON requests are decoded strictly with it; binary ones pass on to the services). */
  readonly checker: RequestChecker;
  /** A call that failed outside the protocol (a write error, not an RPC error). */
  readonly onError: (rpc: string, error: unknown) => void;
}

/** Bytes in, bytes out: the `message` of the requests and responses inside the fast path's interceptor chain. */
type BytesCall = (req: UnaryRequest) => Promise<UnaryResponse>;

interface Route {
  readonly method: DescMethod;
  readonly path: string;
  readonly serialization: MethodSerializationLookup<DescMessage, DescMessage>;
  readonly call: BytesCall;
}

const passBytes = (b: Buffer): Buffer => b;

/** The exchange ended before the answer (the client went away). */
const CLIENT_GONE = new ConnectError("request closed", Code.Canceled);

/** Returns a handler that serves a request and returns true, or returns false at once (router's turn). */
export function createUnaryFastPath(o: FastPathOptions): (req: AnyRequest, res: AnyResponse) => boolean {
  const routes = new Map<string, Route>();
  const checker = o.checker;
  const utf8 = new TextDecoder();
  for (const upstream of o.upstreams) {
    const call = chain(o, upstream);
    for (const method of upstream.service.methods) {
      if (method.methodKind !== "unary") continue;
      const path = `/${upstream.service.typeName}/${method.name}`;
      routes.set(path, {
        method,
        path,
        serialization: createMethodSerializationLookup(method, undefined, undefined, {
          readMaxBytes: o.readMaxBytes,
          writeMaxBytes: 0xffffffff,
        }),
        call,
      });
    }
  }

  return (req, res) => {
    if (req.method !== "POST") return false;
    const route = routes.get(req.url ?? "");
    if (route === undefined) return false;
    const kind = unaryProtocol(req);
    if (kind === undefined) return false;
    const authority = "stream" in req ? req.authority : req.headers.host;
    if (authority === undefined || authority === "") return false;
    const url = `${(req.socket as { encrypted?: boolean }).encrypted === true ? "https" : "http"}://${authority}${route.path}`;
    if (!URL.canParse(url)) return false;
    serve(route, kind.protocol, kind.timeoutMs, url, req, res).catch((err: unknown) => {
      asResponse(res).destroy();
      o.onError(route.path, err);
    });
    return true;
  };

  async function serve(
    route: Route,
    protocol: UnaryProtocol,
    timeoutMs: number | undefined,
    url: string,
    req: AnyRequest,
    res: AnyResponse,
  ): Promise<void> {
    const started = Date.now();
    const controller = new AbortController();
    const onClose = () => controller.abort(CLIENT_GONE);
    res.once("close", onClose);
    try {
      let message: Uint8Array = await readRequestMessage(req, protocol, o.readMaxBytes);
      const json = protocol === "connect-json";
      // Strict: unknown fields and enum names are refused, naming them (rpc-kit request-check.ts).
      if (json)
        message = toBinary(
          route.method.input,
          parseJsonRequest(checker, route.method.input, utf8.decode(message)),
        );
      const header = requestHeaders(req);
      const timeout = upstreamTimeoutMs(timeoutMs, o.maxTimeoutMs);
      const uReq = {
        stream: false,
        service: route.method.parent,
        method: route.method,
        requestMethod: "POST",
        url,
        header,
        contextValues: createContextValues()
          .set(clientKey, o.clientInfo(req))
          .set(deadlineKey, started + timeout),
        message,
        signal: controller.signal,
      } as unknown as UnaryRequest;
      const answer = (await route.call(uReq)).message as unknown as Buffer;
      await writeMessage(
        res,
        protocol,
        json ? route.serialization.getO(false).serialize(decodeAnswer(route.method, answer)) : answer,
        responseCompression(req, protocol),
      );
    } catch (err) {
      const error = err instanceof ConnectError ? err : internal(err);
      writeError(res, protocol, error, responseCompression(req, protocol));
    } finally {
      res.off("close", onClose);
    }
  }
}

/** A response the service sent that does not decode (JSON answers only; binary ones pass through). */
function decodeAnswer(method: DescMethod, bytes: Buffer) {
  try {
    return fromBinary(method.output, bytes);
  } catch (err) {
    throw internal(err);
  }
}

function internal(cause: unknown): ConnectError {
  return new ConnectError("internal error", Code.Internal, undefined, undefined, cause);
}

/** When the call's deadline is (epoch ms), from its arrival plus the capped timeout. */
const deadlineKey = createContextKey<number>(0, { description: "fast path deadline" });

/** The request headers as a Fetch `Headers` (pseudo-headers left out), as connect-node builds them. */
export function requestHeaders(req: AnyRequest): Headers {
  const header = new Headers();
  const raw = req.headers;
  for (const name in raw) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const value = raw[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) header.append(name, v);
    else header.append(name, value);
  }
  return header;
}

/**
 * One upstream's call: the router's interceptors around the edge checks around the upstream call (with the
 * transport's client tracing interceptor around the grpc-js call itself).
 */
function chain(o: FastPathOptions, upstream: FastPathUpstream): BytesCall {
  const service = upstream.service.typeName;
  const grpcCall: BytesCall = (req) =>
    new Promise<UnaryResponse>((resolve, reject) => {
      let value: Buffer | undefined;
      const call = upstream.client.makeUnaryRequest<Buffer, Buffer>(
        `/${service}/${req.method.name}`,
        passBytes,
        passBytes,
        asBuffer(req.message as unknown as Uint8Array),
        metadataFromHeaders(req.header),
        { deadline: req.contextValues.get(deadlineKey) },
        (_err, v) => {
          value = v;
        },
      );
      const onAbort = () => call.cancel();
      req.signal.addEventListener("abort", onAbort, { once: true });
      call.on("status", (s: StatusObject) => {
        req.signal.removeEventListener("abort", onAbort);
        if (s.code !== 0) reject(connectErrorFromStatus(s));
        else if (value === undefined) reject(new ConnectError("missing response message", Code.Internal));
        else
          resolve({
            stream: false,
            service: req.service,
            method: req.method,
            header: new Headers(),
            trailer: new Headers(),
            message: value,
          } as unknown as UnaryResponse);
      });
    });
  const traced = createClientTracingInterceptor({ address: upstream.address })(
    grpcCall as never,
  ) as BytesCall;

  // The edge checks, then the identity headers for the service: what the edge interceptor + forward.ts do.
  const edged: BytesCall = async (req) => {
    const client = req.contextValues.get(clientKey);
    const { caller, release } = await o.edge.admit({
      client,
      method: req.method,
      header: req.header,
      signal: req.signal,
    });
    try {
      const header = await upstreamHeaders(service, req.header, caller, o.signer, client);
      return await traced({ ...req, header } as UnaryRequest);
    } finally {
      release();
    }
  };
  let next = edged;
  for (let i = o.interceptors.length - 1; i >= 0; i--) {
    next = (o.interceptors[i] as Interceptor)(next as never) as BytesCall;
  }
  return next;
}
