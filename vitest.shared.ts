import type { ViteUserConfig } from "vitest/config";

/** One test configuration for every package: specs beside the code, real services, no retries. */
export function sharedTestConfig(_root: string): ViteUserConfig {
  return {
    test: {
      include: ["src/**/*.spec.ts", "test/**/*.spec.ts"],
      pool: "forks",
      testTimeout: 30_000,
      hookTimeout: 60_000,
      passWithNoTests: false,
      reporters: process.env.CI ? ["default"] : ["default"],
    },
  };
}
