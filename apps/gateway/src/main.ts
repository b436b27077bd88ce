#!/usr/bin/env node
/** Composition root of the gateway: config -> upstream channels -> HTTP server -> listen; ordered shutdown. */
import { createMaskingPolicy } from "@taskmaster/config/masking";
import { startMetricsEndpoint } from "@taskmaster/rpc-kit/http-endpoints";
import { createIdentitySigner, importIdentitySigningKey } from "@taskmaster/rpc-kit/identity";
import { runService } from "@taskmaster/rpc-kit/lifecycle";
import { createLogger, flushLogger, type Logger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createAuthenticator } from "./authn.js";
import { createRoleResolver } from "./authz.js";
import { loadGatewayConfig } from "./gateway-config.js";
import { createSecurityEvents } from "./security-events.js";
import { createGatewayServer } from "./server.js";
import { publicUpstreams } from "./upstreams.js";

const name = "gateway";
let logger: Logger | undefined;

runService({
  name,
  logger: () => logger,
  async start() {
    const gc = loadGatewayConfig(process.env);
    const config = gc.common;
    const log = createLogger({
      service: name,
      level: config.log.level,
      masking: createMaskingPolicy(config.masking),
    });
    logger = log;
    const s = { GATEWAY_PORT: gc.port };
    if (gc.authn.mode === "none")
      log.warn("GATEWAY_AUTH=none: authentication is DISABLED (development only)");
    const metrics = createProcessMetrics();
    const events = createSecurityEvents({
      logger: log,
      databaseUrl: config.database.url,
      registry: metrics.registry,
    });
    const signer =
      gc.identityKeyPem === undefined
        ? undefined
        : createIdentitySigner(await importIdentitySigningKey(gc.identityKeyPem));
    const gateway = createGatewayServer({
      logger: log,
      upstreams: publicUpstreams(gc.addresses),
      maxTimeoutMs: config.grpc.maxDeadlineMs,
      readMaxBytes: gc.readMaxBytes,
      edge: {
        authenticator: createAuthenticator(gc.authn),
        resolveRoles: createRoleResolver(gc.roleMap),
        events,
        limits: gc.limits,
      },
      signer,
      trustedProxies: gc.trustedProxies,
      corsOrigins: gc.corsOrigins,
      http: gc.http,
      tls: gc.tls,
      upstreamTls: gc.upstreamTls,
      metrics,
      unaryFastPath: gc.unaryFastPath,
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
    const metricsEndpoint = await startMetricsEndpoint({
      host: config.server.host,
      port: config.server.metricsPort,
      registry: metrics.registry,
    });
    log.info(
      {
        address: `${gc.tls === undefined ? "http" : "https"}://${config.server.host}:${s.GATEWAY_PORT}`,
        upstreamTls:
          gc.upstreamTls === undefined ? "off" : gc.upstreamTls.cert === undefined ? "tls" : "mtls",
        metricsPort: metricsEndpoint.port,
      },
      "gateway listening",
    );
    const grace = config.shutdown.graceMs;
    return {
      steps: [
        {
          name: "http",
          timeoutMs: grace + 1_000,
          run: () =>
            new Promise<void>((resolve) => {
              gateway.server.close(() => resolve());
              gateway.closeIdleConnections();
              setTimeout(() => gateway.closeAllConnections(), grace).unref();
            }),
        },
        { name: "upstreams", run: () => gateway.close() },
        { name: "metrics", run: () => metricsEndpoint.close() },
        { name: "security-events", run: () => events.close() },
        { name: "logs", run: () => flushLogger(log) },
      ],
    };
  },
});
