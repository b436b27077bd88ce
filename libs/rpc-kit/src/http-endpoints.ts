/**
 * Per-process HTTP endpoints next to the gRPC port:
 * - health port (HEALTH_PORT, default 8080): `GET /health`, `GET /health/database` (200 healthy / 503 not,
 *   JSON readable by a load balancer and a person) and `GET /status` (JSON);
 * - metrics port (METRICS_PORT, default 8081): `GET /metrics` (Prometheus text exposition).
 * When both ports are equal (and not 0) one listener serves everything. Port 0 = any free port (tests).
 * `startMetricsEndpoint` serves `GET /metrics` alone (the gateway's, apart from its public port).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { Registry } from "@taskmaster/telemetry/metrics";

/** A health answer: `healthy` decides 200 vs 503; `body` is sent as JSON. */
export interface HealthReport {
  readonly healthy: boolean;
  readonly body: Record<string, unknown>;
}

export interface HttpEndpointsOptions {
  readonly host: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly registry: Registry;
  readonly logger: Pick<Logger, "info" | "warn">;
  /** Overall process health (`/health`). */
  readonly health: () => Promise<HealthReport>;
  /** Database health (`/health/database`); 404 when absent. */
  readonly databaseHealth?: (() => Promise<HealthReport>) | undefined;
  /** Status document (`/status`); 404 when absent. */
  readonly status?: (() => Promise<unknown>) | undefined;
  /** Bound on one health/status evaluation; past it the answer is 503 (default 5 s). */
  readonly timeoutMs?: number | undefined;
}

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

export interface HttpEndpoints {
  readonly healthPort: number;
  readonly metricsPort: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, contentType = "application/json"): void {
  const text = typeof body === "string" ? body : `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    "content-type": contentType.includes("charset") ? contentType : `${contentType}; charset=utf-8`,
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split("\n")[0] ?? "").slice(0, 200);
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** `GET /metrics`: the Prometheus text exposition of `registry`. */
function metricsRoute(registry: Registry): Route {
  return async (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/metrics") return false;
    try {
      send(res, 200, await registry.metrics(), registry.contentType);
    } catch (err) {
      send(res, 500, `# metrics collection failed: ${firstLine(err)}\n`, "text/plain");
    }
    return true;
  };
}

/** A request listener answering GET/HEAD with the first route that takes the path; 404 when none does. */
function serve(routes: readonly Route[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, { error: "method not allowed" });
      return;
    }
    void (async () => {
      for (const route of routes) if (await route(req, res)) return;
      send(res, 404, { error: "not found" });
    })().catch((err) => {
      if (!res.headersSent) send(res, 500, { error: firstLine(err) });
    });
  };
}

function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function closeServers(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}

/** `GET /metrics` alone on its own listener (port 0 = any free port). */
export async function startMetricsEndpoint(options: {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
}): Promise<MetricsEndpoint> {
  const server = createServer(serve([metricsRoute(options.registry)]));
  const port = await listenOn(server, options.host, options.port);
  return { port, close: () => closeServers([server]) };
}

export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<HttpEndpoints> {
  const timeoutMs = options.timeoutMs ?? 5_000;

  const healthRoute = async (res: ServerResponse, fn: () => Promise<HealthReport>) => {
    try {
      const report = await withTimeout(fn(), timeoutMs);
      send(res, report.healthy ? 200 : 503, report.body);
    } catch (err) {
      send(res, 503, { status: "UNKNOWN", message: firstLine(err) });
    }
  };

  const healthHandler = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/health" || path === "/health/") {
      await healthRoute(res, options.health);
    } else if (path === "/health/database" && options.databaseHealth) {
      await healthRoute(res, options.databaseHealth);
    } else if (path === "/status" && options.status) {
      try {
        send(res, 200, await withTimeout(options.status(), timeoutMs));
      } catch (err) {
        send(res, 503, { status: "UNKNOWN", message: firstLine(err) });
      }
    } else return false;
    return true;
  };

  const metricsHandler = metricsRoute(options.registry);
  const servers: Server[] = [];
  const closeAll = () => closeServers(servers);
  const listen = (server: Server, port: number) => listenOn(server, options.host, port);

  try {
    if (options.healthPort === options.metricsPort && options.healthPort !== 0) {
      const server = createServer(serve([healthHandler, metricsHandler]));
      servers.push(server);
      const port = await listen(server, options.healthPort);
      options.logger.info({ port }, "health, status and metrics HTTP endpoints listening");
      return { healthPort: port, metricsPort: port, close: closeAll };
    }
    const healthServer = createServer(serve([healthHandler]));
    const metricsServer = createServer(serve([metricsHandler]));
    servers.push(healthServer, metricsServer);
    const healthPort = await listen(healthServer, options.healthPort);
    const metricsPort = await listen(metricsServer, options.metricsPort);
    options.logger.info({ healthPort, metricsPort }, "health/status and metrics HTTP endpoints listening");
    return { healthPort, metricsPort, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
