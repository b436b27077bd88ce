#!/usr/bin/env node
/** Composition root of the template service. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { createServer } from "./server.js";

runDatabaseService({ name: "template-service", defaultGrpcPort: 50052, createServer });
