import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

const shared = sharedTestConfig(import.meta.dirname);

// One embedded PostgreSQL for the whole run unless TEST_DATABASE_URL points at a server. Every service a spec
// starts in-process runs the output contract check.
export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    globalSetup: ["@taskmaster/testing/global-setup"],
    setupFiles: ["./src/output-contract.test-util.ts"],
  },
});
