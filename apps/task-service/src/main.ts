#!/usr/bin/env node
/** Composition root of the task service: its settings from the environment, then the shared runtime. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { attachmentConfigFromEnv } from "./attachment-store.js";
import { createServer } from "./server.js";
import { statusTransitionsFromEnv } from "./status-transitions.js";

runDatabaseService({
  name: "task-service",
  defaultGrpcPort: 50051,
  createServer: (deps) =>
    createServer({
      ...deps,
      ...attachmentConfigFromEnv(process.env),
      statusTransitions: statusTransitionsFromEnv(process.env),
    }),
});
