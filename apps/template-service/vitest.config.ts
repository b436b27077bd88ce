import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

const shared = sharedTestConfig(import.meta.dirname);

// One embedded PostgreSQL for the whole run unless TEST_DATABASE_URL points at a server.
export default defineConfig({
  ...shared,
  test: { ...shared.test, globalSetup: ["@taskmaster/testing/global-setup"] },
});
