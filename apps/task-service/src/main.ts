#!/usr/bin/env node
/** Composition root of the task service. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { createServer } from "./server.js";

runDatabaseService({ name: "task-service", defaultGrpcPort: 50051, createServer });
