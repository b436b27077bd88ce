#!/usr/bin/env node
/** Composition root of the task service: config -> logger -> database -> server -> listen; ordered shutdown. */
import { loadConfig } from "@taskmaster/config/config";
import { openServiceDatabase } from "@taskmaster/persistence/service-database";
import { runService } from "@taskmaster/rpc-kit/lifecycle";
import { createLogger, flushLogger, type Logger } from "@taskmaster/telemetry/logger";
import { createServer } from "./server.js";

const name = "task-service";
let logger: Logger | undefined;

runService({
  name,
  logger: () => logger,
  async start() {
    const config = loadConfig(undefined, process.env, { service: name, defaultGrpcPort: 50051 });
    logger = createLogger({ service: name, level: config.log.level });
    const orm = await openServiceDatabase(config.database, name);
    const server = createServer({
      orm,
      logger,
      limits: { maxReceiveMessageLength: config.grpc.maxReceiveMessageBytes, maxSendMessageLength: config.grpc.maxSendMessageBytes },
      maxDeadlineMs: config.grpc.maxDeadlineMs,
    });
    try {
      await server.listen(config.server.host, config.server.grpcPort);
    } catch (error) {
      await orm.close();
      throw error;
    }
    const log = logger;
    return {
      steps: [
        { name: "grpc", run: () => server.shutdown(config.shutdown.graceMs), timeoutMs: config.shutdown.graceMs + 1_000 },
        { name: "orm", run: () => orm.close() },
        { name: "logs", run: () => flushLogger(log) },
      ],
    };
  },
});
