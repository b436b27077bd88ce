#!/usr/bin/env node
/** Composition root of the monitoring service. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { createServer } from "./server.js";

runDatabaseService({ name: "monitoring-service", defaultGrpcPort: 50053, createServer });
