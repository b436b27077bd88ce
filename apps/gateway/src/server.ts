/**
 * `createGatewayServer(deps)`: the public door, an HTTP/1.1 server (not yet listening) that speaks Connect
 * (JSON and binary) and gRPC-Web for every public service and forwards each call over long-lived grpc-js
 * channels; plus `/health`. Authentication, rate limits, TLS and native gRPC on the edge arrive with issue 7.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import { type ConnectRouter, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { createErrorInterceptor } from "@taskmaster/rpc-kit/error-interceptor";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { Logger } from "@taskmaster/telemetry/logger";
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
      transport = createGrpcJsTransport({ address, maxTimeoutMs: deps.maxTimeoutMs });
      transports.set(address, transport);
    }
    return transport;
  };

  const routes = (router: ConnectRouter) => {
    for (const upstream of deps.upstreams) {
      const client = createClient(upstream.service, transportFor(upstream.address));
      router.service(
        upstream.service,
        forwardingImpl(upstream.service, client, { maxTimeoutMs: deps.maxTimeoutMs }),
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
    interceptors: [createErrorInterceptor({ logger: deps.logger })],
    fallback: notFound as NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>,
  });

  const server = createServer((req, res) => {
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
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;

  return {
    server,
    close() {
      for (const transport of transports.values()) transport.close();
    },
  };
}
