#!/usr/bin/env node
/** Composition root of the task service. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { attachmentConfigFromEnv } from "./attachment-store.js";
import { createServer } from "./server.js";

runDatabaseService({
  name: "task-service",
  defaultGrpcPort: 50051,
  createServer: (deps) => createServer({ ...deps, ...attachmentConfigFromEnv(process.env) }),
});
