import type { ViteUserConfig } from "vitest/config";

/** Extra files a package's test run needs: vitest's `globalSetup` and `setupFiles`. */
export interface TestSetup {
  globalSetup?: string[];
  setupFiles?: string[];
}

/** One test configuration for every package: specs beside the code, real services, no retries. */
export function sharedTestConfig(_root: string, setup: TestSetup = {}): ViteUserConfig {
  return {
    test: {
      include: ["src/**/*.spec.ts", "test/**/*.spec.ts"],
      pool: "forks",
      testTimeout: 30_000,
      hookTimeout: 60_000,
      passWithNoTests: false,
      reporters: process.env.CI ? ["default"] : ["default"],
      ...setup,
    },
  };
}

/**
 * The configuration of a service app: one embedded PostgreSQL for the whole run unless TEST_DATABASE_URL points
 * at a server, and every server a spec starts runs the output contract check. With `outputCoverage`, the
 * OUTPUT_ONLY coverage is judged after a run of every spec file.
 */
export function serviceTestConfig(root: string, options: { outputCoverage: boolean }): ViteUserConfig {
  const globalSetup = ["@taskmaster/testing/global-setup"];
  if (options.outputCoverage) globalSetup.push("./src/output-coverage.test-util.ts");
  return sharedTestConfig(root, { globalSetup, setupFiles: ["./src/output-contract.test-util.ts"] });
}
