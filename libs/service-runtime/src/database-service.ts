/**
 * The one `main()` of every database-backed gRPC service: validated config -> logger -> database (fail fast
 * with one line when unreachable) -> server from the app's `createServer` -> listen; on SIGTERM/SIGINT stop
 * accepting and drain (bounded), close the ORM, flush logs — in that order.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import { type CommonConfig, loadConfig } from "@taskmaster/config/config";
import { openServiceDatabase } from "@taskmaster/persistence/service-database";
import type { GrpcLimits, GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { type RunningService, runService } from "@taskmaster/rpc-kit/lifecycle";
import { createLogger, flushLogger, type Logger } from "@taskmaster/telemetry/logger";

/** What every service's `createServer(deps)` receives. */
export interface ServiceDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly config: CommonConfig;
  readonly limits: GrpcLimits;
  readonly maxDeadlineMs: number;
}

export interface DatabaseServiceOptions {
  /** Process name for logs and `application_name`, e.g. "task-service". */
  readonly name: string;
  /** `GRPC_PORT` default. The launcher and compose pass the port explicitly. */
  readonly defaultGrpcPort: number;
  readonly createServer: (deps: ServiceDeps) => GrpcServer;
}

export function runDatabaseService(options: DatabaseServiceOptions): RunningService {
  let logger: Logger | undefined;
  return runService({
    name: options.name,
    logger: () => logger,
    async start() {
      const config = loadConfig(undefined, process.env, {
        service: options.name,
        defaultGrpcPort: options.defaultGrpcPort,
      });
      const log = createLogger({ service: options.name, level: config.log.level });
      logger = log;
      const orm = await openServiceDatabase(config.database, options.name);
      const server = options.createServer({
        orm,
        logger: log,
        config,
        limits: {
          maxReceiveMessageLength: config.grpc.maxReceiveMessageBytes,
          maxSendMessageLength: config.grpc.maxSendMessageBytes,
        },
        maxDeadlineMs: config.grpc.maxDeadlineMs,
      });
      try {
        await server.listen(config.server.host, config.server.grpcPort);
      } catch (error) {
        await orm.close();
        throw error;
      }
      const grace = config.shutdown.graceMs;
      // Per-process HTTP /health, /health/database, /status (HEALTH_PORT) and /metrics (METRICS_PORT).
      const { startProcessEndpoints } = await import("./process-endpoints.js");
      const http = await startProcessEndpoints({ orm, config, health: server.health, logger: log }).catch(
        async (error: unknown) => {
          await server.shutdown(0);
          await orm.close();
          throw error;
        },
      );
      return {
        steps: [
          { name: "http", run: () => http.close() },
          { name: "grpc", run: () => server.shutdown(grace), timeoutMs: grace + 1_000 },
          { name: "orm", run: () => orm.close() },
          { name: "logs", run: () => flushLogger(log) },
        ],
      };
    },
  });
}
