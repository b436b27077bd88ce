#!/usr/bin/env node
/** Composition root of the template service: its settings from the environment, then the shared runtime. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { createServer } from "./server.js";

// delegatesIdentity: CreateTaskFromTemplate calls TaskService as its caller (TASKMASTER_IDENTITY_SIGNING_KEY_FILE).
runDatabaseService({
  name: "template-service",
  defaultGrpcPort: 50052,
  delegatesIdentity: true,
  createServer: (deps) =>
    createServer({
      ...deps,
      internalToken: process.env.TASKMASTER_INTERNAL_TOKEN,
      taskServiceAddress: process.env.TASK_SERVICE_ADDRESS,
    }),
});
