import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

const shared = sharedTestConfig(import.meta.dirname);

// One embedded PostgreSQL for the whole run unless TEST_DATABASE_URL points at a server. Every server a spec
// starts runs the output contract check; the OUTPUT_ONLY coverage is judged after a run of every spec file.
export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    globalSetup: ["@taskmaster/testing/global-setup", "./src/output-coverage.test-util.ts"],
    setupFiles: ["./src/output-contract.test-util.ts"],
  },
});
