import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

// One embedded PostgreSQL for the whole run unless TEST_DATABASE_URL points at a server.
export default defineConfig(
  sharedTestConfig(import.meta.dirname, { globalSetup: ["./src/global-setup.ts"] }),
);
