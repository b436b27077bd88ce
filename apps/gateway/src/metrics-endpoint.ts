/**
 * The gateway's own Prometheus endpoint: `GET /metrics` (text exposition of the process registry) on a
 * separate listener (`METRICS_PORT`, default 8081; 0 = any free port), apart from the public port so the
 * edge never serves it. Anything else answers 404 (405 for other methods).
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "@taskmaster/telemetry/metrics";

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, {
    "content-type": contentType,
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export async function startMetricsEndpoint(options: {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
}): Promise<MetricsEndpoint> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "method not allowed\n", "text/plain; charset=utf-8");
      return;
    }
    if (new URL(req.url ?? "/", "http://localhost").pathname !== "/metrics") {
      send(res, 404, "not found\n", "text/plain; charset=utf-8");
      return;
    }
    options.registry.metrics().then(
      (text) => send(res, 200, text, options.registry.contentType),
      (err: Error) =>
        send(res, 500, `# metrics collection failed: ${err.message.split("\n")[0]}\n`, "text/plain"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
