#!/usr/bin/env node
/** Composition root of the gateway: config -> upstream channels -> HTTP server -> listen; ordered shutdown. */
import { intVar, loadConfig, portVar } from "@taskmaster/config/config";
import { runService } from "@taskmaster/rpc-kit/lifecycle";
import { createLogger, flushLogger, type Logger } from "@taskmaster/telemetry/logger";
import { z } from "zod";
import { createGatewayServer } from "./server.js";
import { PUBLIC_SERVICES } from "./upstreams.js";

const name = "gateway";
const address = z.string().regex(/^[^:\s]+:\d{1,5}$/, "must be host:port");
const schema = z.object({
  GATEWAY_PORT: portVar().default(8080),
  GATEWAY_READ_MAX_BYTES: intVar(1_024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  TASK_SERVICE_ADDRESS: address.default("127.0.0.1:50051"),
  TEMPLATE_SERVICE_ADDRESS: address.default("127.0.0.1:50052"),
  MONITORING_SERVICE_ADDRESS: address.default("127.0.0.1:50053"),
});
let logger: Logger | undefined;

runService({
  name,
  logger: () => logger,
  async start() {
    const config = loadConfig(schema, process.env, { service: name });
    const log = createLogger({ service: name, level: config.log.level });
    logger = log;
    const s = config.service;
    const addresses = [s.TASK_SERVICE_ADDRESS, s.TEMPLATE_SERVICE_ADDRESS, s.MONITORING_SERVICE_ADDRESS];
    const gateway = createGatewayServer({
      logger: log,
      upstreams: PUBLIC_SERVICES.map((service, i) => ({ service, address: addresses[i] as string })),
      maxTimeoutMs: config.grpc.maxDeadlineMs,
      readMaxBytes: s.GATEWAY_READ_MAX_BYTES,
    });
    await new Promise<void>((resolve, reject) => {
      gateway.server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "EADDRINUSE"
            ? Object.assign(
                new Error(`cannot listen on ${config.server.host}:${s.GATEWAY_PORT}: address already in use`),
                { code: error.code },
              )
            : error,
        ),
      );
      gateway.server.listen(s.GATEWAY_PORT, config.server.host, () => resolve());
    });
    log.info({ address: `http://${config.server.host}:${s.GATEWAY_PORT}` }, "gateway listening");
    const grace = config.shutdown.graceMs;
    return {
      steps: [
        {
          name: "http",
          timeoutMs: grace + 1_000,
          run: () =>
            new Promise<void>((resolve) => {
              gateway.server.close(() => resolve());
              gateway.server.closeIdleConnections();
              setTimeout(() => gateway.server.closeAllConnections(), grace).unref();
            }),
        },
        { name: "upstreams", run: () => gateway.close() },
        { name: "logs", run: () => flushLogger(log) },
      ],
    };
  },
});
