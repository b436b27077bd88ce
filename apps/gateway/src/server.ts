/**
 * `createGatewayServer(deps)`: the public door, an HTTP/1.1 server (not yet listening) that speaks Connect
 * (JSON and binary) and gRPC-Web for every public service and forwards each call over long-lived grpc-js
 * channels; plus `/health`. Every RPC passes the edge interceptor (edge.ts: concurrency, rate limits,
 * authentication, authorization) and reaches services with a gateway-signed identity (forward.ts).
 * CORS for browser clients is opt-in by origin list. Slow or stuck requests are cut by server timeouts.
 * With `tls` the listener is HTTPS (HTTP/1.1 over TLS); with `upstreamTls` the grpc-js channels to the
 * services use TLS, or mTLS with a client certificate. Native gRPC on the edge is not here yet.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type ConnectRouter, cors as connectCors, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { createErrorInterceptor } from "@taskmaster/rpc-kit/error-interceptor";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import { createMetricsInterceptor } from "@taskmaster/rpc-kit/metrics-interceptor";
import { type ClientTlsPem, channelCredentials } from "@taskmaster/rpc-kit/tls";
import { createServerTracingInterceptor } from "@taskmaster/rpc-kit/tracing-interceptor";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { cidrList, clientContextValues, createEdgeInterceptor, type EdgeOptions } from "./edge.js";
import { forwardingImpl } from "./forward.js";
import { checkUpstreams, type HealthTarget } from "./health-endpoint.js";
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
function handleCors(origins: ReadonlySet<string>, req: IncomingMessage, res: ServerResponse): boolean {
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
  readonly server: Server;
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

  const notFound = (_req: unknown, res: ServerResponse) => {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
  };
  const rpc = connectNodeAdapter({
    routes,
    readMaxBytes: deps.readMaxBytes,
    grpc: false,
    grpcWeb: true,
    connect: true,
    // Tracing outermost: a SERVER span per call (parent of the upstream CLIENT span), W3C traceparent honoured.
    interceptors: [
      createServerTracingInterceptor({ system: "connect_rpc" }),
      // Metrics outside the error interceptor: final codes, edge refusals (rate limits, auth) included.
      ...(deps.metrics === undefined ? [] : [createMetricsInterceptor(deps.metrics)]),
      createErrorInterceptor({ logger: deps.logger }),
      createEdgeInterceptor(deps.edge),
    ],
    contextValues: clientContextValues(cidrList(deps.trustedProxies ?? [])),
    fallback: notFound as NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>,
  });

  const http = deps.http ?? {};
  const corsOrigins = new Set(deps.corsOrigins ?? []);
  const serverOptions = {
    requestTimeout: http.requestTimeoutMs ?? 60_000,
    headersTimeout: http.headersTimeoutMs ?? 10_000,
    keepAliveTimeout: http.keepAliveTimeoutMs ?? 65_000,
    connectionsCheckingInterval: http.checkIntervalMs ?? 1_000,
    maxHeaderSize: 16 * 1024,
  };
  const server: Server =
    deps.tls === undefined
      ? createServer(serverOptions)
      : createHttpsServer({
          ...serverOptions,
          cert: deps.tls.cert,
          key: deps.tls.key,
          minVersion: "TLSv1.2",
        });
  server.maxConnections = http.maxConnections ?? 10_000;
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (corsOrigins.size > 0 || req.method === "OPTIONS") {
      if (handleCors(corsOrigins, req, res)) return;
    }
    if (req.method === "GET" && (req.url === "/health" || req.url === "/healthz")) {
      checkUpstreams(health, 2_000).then(
        (report) => {
          res.writeHead(report.status === "SERVING" ? 200 : 503, {
            "content-type": "application/json",
            "cache-control": "no-store",
          });
          res.end(JSON.stringify(report));
        },
        () => res.writeHead(503).end(),
      );
      return;
    }
    rpc(req, res);
  });
  // A malformed request line or headers: answer 400 and drop the connection, never crash.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    const status =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : err.code === "HPE_HEADER_OVERFLOW"
          ? "431 Request Header Fields Too Large"
          : "400 Bad Request";
    if (err.code !== "ECONNRESET") {
      deps.edge.events.record({
        kind: "suspicious_input",
        reason: err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "slow_request" : "malformed_http",
        ip: (socket as { remoteAddress?: string }).remoteAddress,
      });
    }
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });

  return {
    server,
    close() {
      for (const transport of transports.values()) transport.close();
    },
  };
}
