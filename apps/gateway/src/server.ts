/**
 * `createGatewayServer(deps)`: the public door, one listener (not yet listening, listener.ts) that speaks
 * native gRPC (HTTP/2), Connect (JSON and binary) and gRPC-Web (HTTP/1.1 and HTTP/2) for every public
 * service and forwards each call over long-lived grpc-js channels; plus `/health`. Every RPC passes the
 * edge checks (edge.ts: concurrency, rate limits, authentication, authorization) and reaches
 * services with a gateway-signed identity (forward.ts). Unary calls in the common forms (Connect unary,
 * gRPC-Web, native gRPC; identity encoding) take the fast path (fast-path.ts: bytes passed on undecoded,
 * same checks, interceptors and errors; `unaryFastPath: false` turns it off); every other call is dispatched
 * by node-adapter.ts (connect-node's router, writing single-message answers in one piece). Undecodable
 * request messages are INVALID_ARGUMENT (parse-errors.ts; on the fast path the service's adapter says so). CORS for browser clients is opt-in by origin list. Slow or stuck requests are cut by
 * timeouts. With `tls` the listener is TLS with ALPN h2 + http/1.1; without, cleartext HTTP/1.1 and h2c
 * (prior knowledge, as gRPC clients do). With `upstreamTls` the grpc-js channels to the services use TLS,
 * or mTLS with a client certificate. Tunnel public hostnames carry no native gRPC (Connect/gRPC-Web
 * there); native gRPC is for private networks.
 */
import type { Server } from "node:net";
import {
  type ConnectRouter,
  cors as connectCors,
  createClient,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { Health } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { createErrorInterceptor } from "@taskmaster/rpc-kit/error-interceptor";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import { createMetricsInterceptor } from "@taskmaster/rpc-kit/metrics-interceptor";
import { createRequestChecker, createRequestCheckInterceptor } from "@taskmaster/rpc-kit/request-check";
import { type ClientTlsPem, channelCredentials } from "@taskmaster/rpc-kit/tls";
import { createServerTracingInterceptor } from "@taskmaster/rpc-kit/tracing-interceptor";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { cheapCallEnd } from "./call-end.js";
import {
  cidrList,
  clientInfo,
  clientKey,
  createEdgeChecks,
  createEdgeInterceptor,
  type EdgeOptions,
} from "./edge.js";
import { createUnaryFastPath } from "./fast-path.js";
import { forwardingImpl } from "./forward.js";
import { isHealthCall, registerGrpcHealth } from "./grpc-health.js";
import { checkUpstreams, type HealthTarget } from "./health-endpoint.js";
import { type AnyRequest, type AnyResponse, asResponse, createListener } from "./listener.js";
import { createNodeAdapter } from "./node-adapter.js";
import { createJsonExplainInterceptor, parseErrorGate } from "./parse-errors.js";
import { unknownMethodError, writeProtocolError } from "./protocol-errors.js";
import { createRpcHistory } from "./rpc-history.js";
import { createStatusEndpoints } from "./status-endpoints.js";
import type { Upstream } from "./upstreams.js";

export interface GatewayDeps {
  readonly logger: Logger;
  readonly upstreams: readonly Upstream[];
  /** Cap on deadlines passed on to services (ms). */
  readonly maxTimeoutMs: number;
  /** Largest accepted request body (bytes). */
  readonly readMaxBytes: number;
  /** Authentication, roles, rate and concurrency limits, security events. */
  readonly edge: EdgeOptions;
  /** Signs the caller identity for services (absent: development, actor header only). */
  readonly signer?: IdentitySigner | undefined;
  /** Peers whose `CF-Connecting-IP` is believed (the local cloudflared), as IPs/CIDRs. */
  readonly trustedProxies?: readonly string[] | undefined;
  /** Browser origins allowed by CORS (exact, e.g. `https://app.example.com`); empty = no CORS. */
  readonly corsOrigins?: readonly string[] | undefined;
  readonly http?: HttpTimeouts | undefined;
  /** Serve HTTPS with this certificate chain and key (PEM). Absent: plain HTTP (behind cloudflared). */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined;
  /** TLS to the services (mTLS with cert + key); `serverName` overrides the name checked in their certificates. */
  readonly upstreamTls?: (ClientTlsPem & { readonly serverName?: string | undefined }) | undefined;
  /** RPC counts/durations by procedure and code (`rpc_server_*`); absent: not measured. */
  readonly metrics?: ProcessMetrics | undefined;
  /** Serve unary calls by the fast path (fast-path.ts) before the Connect router. Default true. */
  readonly unaryFastPath?: boolean | undefined;
}

export interface HttpTimeouts {
  /** Whole request (headers + body) must arrive within this (ms). Default 60 s. */
  readonly requestTimeoutMs?: number | undefined;
  /** Headers must arrive within this (ms). Default 10 s. */
  readonly headersTimeoutMs?: number | undefined;
  /** Idle keep-alive connections close after this (ms). Default 65 s (above cloudflared's 90 s pool? set lower there). */
  readonly keepAliveTimeoutMs?: number | undefined;
  /** How often Node checks the two timeouts above (ms). Default 1 s. */
  readonly checkIntervalMs?: number | undefined;
  /** Open connections at most (extra ones are closed). Default 10 000. */
  readonly maxConnections?: number | undefined;
}

const CORS_ALLOW_METHODS = connectCors.allowedMethods.join(", ");
const CORS_ALLOW_HEADERS = [...connectCors.allowedHeaders, "Cf-Access-Jwt-Assertion", "Authorization"].join(
  ", ",
);
const CORS_EXPOSE_HEADERS = connectCors.exposedHeaders.join(", ");

/** Applies CORS; answers preflights. Returns true when the request was fully handled. */
function handleCors(origins: ReadonlySet<string>, req: AnyRequest, anyRes: AnyResponse): boolean {
  const res = asResponse(anyRes);
  const origin = req.headers.origin;
  const allowed = origin !== undefined && origins.has(origin);
  if (req.method === "OPTIONS") {
    if (!allowed) {
      res.writeHead(403).end();
      return true;
    }
    res
      .writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": CORS_ALLOW_METHODS,
        "access-control-allow-headers": CORS_ALLOW_HEADERS,
        "access-control-allow-credentials": "true",
        "access-control-max-age": "7200",
        vary: "Origin",
      })
      .end();
    return true;
  }
  if (allowed) {
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("access-control-allow-credentials", "true");
    res.setHeader("access-control-expose-headers", CORS_EXPOSE_HEADERS);
    res.setHeader("vary", "Origin");
  }
  return false;
}

export interface Gateway {
  /** The one listener (not yet listening): `listen`, `address`, `close`. */
  readonly server: Server;
  /** Idle HTTP/1.1 connections and HTTP/2 sessions (graceful: open calls finish). */
  closeIdleConnections(): void;
  /** Every client connection, at once. */
  closeAllConnections(): void;
  /** Close upstream channels (after the HTTP server stopped). */
  close(): void;
}

export function createGatewayServer(deps: GatewayDeps): Gateway {
  const transports = new Map<string, GrpcJsTransport>();
  const transportFor = (address: string): GrpcJsTransport => {
    let transport = transports.get(address);
    if (!transport) {
      transport = createGrpcJsTransport({
        address,
        maxTimeoutMs: deps.maxTimeoutMs,
        credentials: channelCredentials(deps.upstreamTls),
        ...(deps.upstreamTls?.serverName !== undefined && {
          channelOptions: { "grpc.ssl_target_name_override": deps.upstreamTls.serverName },
        }),
      });
      transports.set(address, transport);
    }
    return transport;
  };

  const routes = (router: ConnectRouter) => {
    registerGrpcHealth(router, { targets: health });
    for (const upstream of deps.upstreams) {
      const client = createClient(upstream.service, transportFor(upstream.address));
      router.service(
        upstream.service,
        forwardingImpl(upstream.service, client, { maxTimeoutMs: deps.maxTimeoutMs, signer: deps.signer }),
      );
    }
  };
  const health: HealthTarget[] = deps.upstreams.map((u) => ({
    name: u.service.typeName,
    address: u.address,
    client: createClient(Health, transportFor(u.address)),
  }));

  // An unknown service or method: UNIMPLEMENTED in the caller's protocol, naming it (protocol-errors.ts).
  const services = deps.upstreams.map((u) => u.service);
  const notFound = (req: AnyRequest, res: AnyResponse) =>
    writeProtocolError(req, res, unknownMethodError(req.url ?? "", services), 404);
  // The request check (rpc-kit request-check.ts): JSON decoded strictly on both paths, with the unknown
  // field or enum value named; decoded messages checked on the router (binary on the fast path is checked
  // by the services, which check every request).
  const checker = createRequestChecker();
  // One set of edge checks (limits, caches) for the router and the unary fast path; the same interceptors.
  const edge = createEdgeChecks(deps.edge);
  const outerInterceptors = [
    // Tracing outermost: a SERVER span per call (parent of the upstream CLIENT span), W3C traceparent honoured.
    createServerTracingInterceptor({ system: "connect_rpc" }),
    // Metrics outside the error interceptor: final codes, edge refusals (rate limits, auth) included.
    ...(deps.metrics === undefined ? [] : [createMetricsInterceptor(deps.metrics)]),
    createErrorInterceptor({ logger: deps.logger }),
  ];
  const trustedProxies = cidrList(deps.trustedProxies ?? []);
  const clientInfoOf = (req: AnyRequest) => clientInfo(req, trustedProxies);
  const fastPath =
    deps.unaryFastPath === false
      ? undefined
      : createUnaryFastPath({
          upstreams: deps.upstreams.map((u) => ({
            service: u.service,
            client: transportFor(u.address).client,
            address: u.address,
          })),
          edge,
          interceptors: outerInterceptors,
          clientInfo: clientInfoOf,
          maxTimeoutMs: deps.maxTimeoutMs,
          readMaxBytes: deps.readMaxBytes,
          signer: deps.signer,
          checker,
          onError: (rpc, err) => deps.logger.warn({ err, rpc }, "RPC response not written"),
        });
  // /health/database and /status, answered by the monitoring service (status-endpoints.ts).
  const monitoringUpstream = deps.upstreams.find((u) => u.service.typeName === MonitoringService.typeName);
  const rpcHistory = deps.metrics === undefined ? undefined : createRpcHistory({ metrics: deps.metrics });
  const statusEndpoints = createStatusEndpoints({
    rpcHistory,
    monitoring:
      monitoringUpstream === undefined
        ? undefined
        : createClient(MonitoringService, transportFor(monitoringUpstream.address)),
    edge,
    clientInfo: clientInfoOf,
    signer: deps.signer,
  });
  const rpc = createNodeAdapter({
    routes,
    readMaxBytes: deps.readMaxBytes,
    grpc: true,
    // Before the body is read: undecodable request messages become INVALID_ARGUMENT (parse-errors.ts).
    // A shared reason for the end of each call, instead of a fresh DOMException (call-end.ts).
    requestGate(context) {
      parseErrorGate(context, checker);
      cheapCallEnd(context);
    },
    grpcWeb: true,
    connect: true,
    // Unknown JSON fields and enum names are refused (connect-es ignores them by default).
    jsonOptions: { ignoreUnknownFields: false },
    interceptors: [
      ...outerInterceptors,
      exceptHealth(createEdgeInterceptor(edge)),
      createJsonExplainInterceptor(checker),
      createRequestCheckInterceptor(checker),
    ],
    contextValues: (req) => createContextValues().set(clientKey, clientInfoOf(req)),
    fallback: notFound,
    onError: (rpc, err) => deps.logger.warn({ err, rpc }, "RPC response not written"),
  });

  const http = deps.http ?? {};
  const corsOrigins = new Set(deps.corsOrigins ?? []);
  const listener = createListener({
    tls: deps.tls,
    requestTimeoutMs: http.requestTimeoutMs ?? 60_000,
    headersTimeoutMs: http.headersTimeoutMs ?? 10_000,
    keepAliveTimeoutMs: http.keepAliveTimeoutMs ?? 65_000,
    checkIntervalMs: http.checkIntervalMs ?? 1_000,
    maxConnections: http.maxConnections ?? 10_000,
    // The edge interceptor enforces the per-connection call limit; HTTP/2 refuses streams beyond it first.
    maxConcurrentStreams: deps.edge.limits.maxInFlightPerConnection,
    maxHeaderBytes: 16 * 1024,
    onRequest(req, res) {
      if (corsOrigins.size > 0 || req.method === "OPTIONS") {
        if (handleCors(corsOrigins, req, res)) return;
      }
      if (req.method === "GET" && (req.url === "/health" || req.url === "/healthz")) {
        const r = asResponse(res);
        checkUpstreams(health, 2_000).then(
          (report) => {
            r.writeHead(report.status === "SERVING" ? 200 : 503, {
              "content-type": "application/json",
              "cache-control": "no-store",
            });
            r.end(JSON.stringify(report));
          },
          () => r.writeHead(503).end(),
        );
        return;
      }
      if (statusEndpoints(req, res)) return;
      if (fastPath?.(req, res) === true) return;
      rpc(req, res);
    },
    onRefused(reason, ip) {
      deps.edge.events.record({ kind: "suspicious_input", reason, ip });
    },
  });

  return {
    server: listener.server,
    closeIdleConnections: () => listener.closeIdleConnections(),
    closeAllConnections: () => listener.closeAllConnections(),
    close() {
      rpcHistory?.close();
      for (const transport of transports.values()) transport.close();
    },
  };
}

/** Health probes carry no credentials and must answer under load: the edge checks skip grpc.health.v1. */
function exceptHealth(interceptor: Interceptor): Interceptor {
  return (next) => {
    const checked = interceptor(next);
    return (req) => (isHealthCall(req.service.typeName) ? next(req) : checked(req));
  };
}
