import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, describeConfig, formatConfigError, loadConfig, resolveProfile } from "./config.js";
import { intVar } from "./env-vars.js";
import { maskUrl } from "./mask.js";
import { createMaskingPolicy } from "./masking.js";

const PG = "postgres://app:s3cr3t@db.internal:5432/taskmaster";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("uses development defaults when nothing is set", () => {
    const c = loadConfig(undefined, {});
    expect(c.profile).toBe("development");
    expect(c.database.url).toBeUndefined();
    expect(c.database.pool).toEqual({ min: 1, max: 5, idleTimeoutMs: 10_000, acquireTimeoutMs: 30_000 });
    expect(c.database.queryTimeoutMs).toBe(60_000);
    expect(c.database.retry).toEqual({ attempts: 3, initialDelayMs: 1_000, factor: 2, maxDelayMs: 30_000 });
    expect(c.server.healthPort).toBe(8080);
    expect(c.server.metricsPort).toBe(8081);
    expect(c.log.level).toBe("debug");
  });

  it("MIGRATION_DATABASE_URL is the owner's connection, DATABASE_URL when unset, and validated like it", () => {
    const owner = "postgres://owner:pw@db.internal:5432/taskmaster";
    expect(loadConfig(undefined, { DATABASE_URL: PG }).database).toMatchObject({ url: PG, migrationUrl: PG });
    expect(loadConfig(undefined, { DATABASE_URL: PG, MIGRATION_DATABASE_URL: owner }).database).toMatchObject(
      { url: PG, migrationUrl: owner },
    );
    expect(
      configError(() => loadConfig(undefined, { MIGRATION_DATABASE_URL: "mysql://x@y/z" })).message,
    ).toMatch(/^invalid configuration: MIGRATION_DATABASE_URL must use the postgres:\/\/ scheme/);
  });

  it("applies per-profile pool defaults", () => {
    expect(loadConfig(undefined, { TASKMASTER_PROFILE: "test" }).database.pool).toMatchObject({
      min: 1,
      max: 3,
    });
    const staging = loadConfig(undefined, { TASKMASTER_PROFILE: "staging", DATABASE_URL: PG });
    expect(staging.database.pool).toMatchObject({ min: 2, max: 15 });
    const prod = loadConfig(undefined, { NODE_ENV: "production", DATABASE_URL: PG });
    expect(prod.profile).toBe("production");
    expect(prod.database.pool).toEqual({ min: 2, max: 10, idleTimeoutMs: 10_000, acquireTimeoutMs: 30_000 });
    expect(prod.database.ssl.mode).toBe("require");
  });

  it("TASKMASTER_PROFILE wins over NODE_ENV", () => {
    expect(resolveProfile({ TASKMASTER_PROFILE: "test", NODE_ENV: "production" })).toBe("test");
  });

  it("requires DATABASE_URL in production", () => {
    const err = configError(() => loadConfig(undefined, { TASKMASTER_PROFILE: "production" }));
    expect(err.message).toBe("invalid configuration: DATABASE_URL is required in the production profile");
  });

  it("rejects a malformed DATABASE_URL in one line naming the variable", () => {
    const err = configError(() => loadConfig(undefined, { DATABASE_URL: "not a url" }));
    expect(err.message).toMatch(/^invalid configuration: DATABASE_URL is not a valid URL/);
    expect(err.message).not.toContain("\n");
    const scheme = configError(() => loadConfig(undefined, { DATABASE_URL: "mysql://u:hunter2@h/db" }));
    expect(scheme.message).toContain('must use the postgres:// scheme (got "mysql://")');
    expect(scheme.message).not.toContain("hunter2");
  });

  it("rejects an unknown profile", () => {
    const err = configError(() => loadConfig(undefined, { TASKMASTER_PROFILE: "qa" }));
    expect(err.message).toBe(
      'invalid configuration: TASKMASTER_PROFILE "qa" is not a known profile (expected one of development, test, staging, production)',
    );
    expect(() => loadConfig(undefined, { NODE_ENV: "prod" })).toThrow(/NODE_ENV "prod"/);
  });

  it("reports numbers out of range and not numbers, all at once", () => {
    const err = configError(() =>
      loadConfig(undefined, { GRPC_PORT: "70000", DB_POOL_MAX: "ten", LOG_LEVEL: "loud" }),
    );
    expect(err.issues.map((i) => i.variable).sort()).toEqual(["DB_POOL_MAX", "GRPC_PORT", "LOG_LEVEL"]);
    expect(err.message).toContain('GRPC_PORT must be between 0 and 65535 (got "70000")');
    expect(err.message).toContain('DB_POOL_MAX must be an integer (got "ten")');
    expect(err.message).not.toContain("\n");
  });

  it("checks pool min <= max", () => {
    expect(() => loadConfig(undefined, { DB_POOL_MIN: "8", DB_POOL_MAX: "4" })).toThrow(
      /DB_POOL_MIN\/DB_POOL_MAX min \(8\) must not exceed max \(4\)/,
    );
  });

  it("validates the service's own schema alongside the common one", () => {
    const schema = z.object({ PAGE_SIZE_MAX: intVar(1, 1000).default(100) });
    const c = loadConfig(schema, { GRPC_PORT: "50052" }, { service: "task-service" });
    expect(c.service.PAGE_SIZE_MAX).toBe(100);
    expect(c.server).toMatchObject({ name: "task-service", grpcPort: 50052 });
    const err = configError(() => loadConfig(schema, { PAGE_SIZE_MAX: "0", GRPC_PORT: "-1" }));
    expect(err.issues).toHaveLength(2);
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig(undefined, { DATABASE_URL: "", GRPC_PORT: "" }).database.url).toBeUndefined();
  });
});

describe("masking", () => {
  it("masks passwords in URLs and secret-named keys", () => {
    expect(maskUrl(PG)).toBe("postgres://app:***@db.internal:5432/taskmaster");
    expect(maskUrl("postgres://h/db?user=a&password=x")).toBe("postgres://h/db?user=a&password=***");
    const c = loadConfig(undefined, { DATABASE_URL: PG });
    const text = JSON.stringify(describeConfig({ ...c, apiToken: "abc", nested: { DB_PASSWORD: "pw" } }));
    expect(text).not.toContain("s3cr3t");
    expect(text).not.toContain('"abc"');
    expect(text).not.toContain('"pw"');
    expect(text).toContain("postgres://app:***@db.internal:5432/taskmaster");
  });
});

describe("formatConfigError", () => {
  it("gives one line for any error", () => {
    expect(formatConfigError(new ConfigError([{ variable: "X", message: "is bad" }]))).toBe(
      "invalid configuration: X is bad",
    );
    const e = Object.assign(new Error("listen EADDRINUSE: address already in use\n    at foo"), {
      code: "EADDRINUSE",
    });
    expect(formatConfigError(e)).toBe("listen EADDRINUSE: address already in use");
    expect(formatConfigError(Object.assign(new Error("connect refused"), { code: "ECONNREFUSED" }))).toBe(
      "ECONNREFUSED: connect refused",
    );
  });
});

describe("loadConfig: TASKMASTER_MASK_KEYS / TASKMASTER_MASK_PATTERNS", () => {
  it("has no extra keys or patterns when neither is set", () => {
    const c = loadConfig(undefined, {});
    expect(c.masking.extraKeys).toEqual([]);
    expect(c.masking.extraPatterns).toEqual([]);
  });

  it("reads comma-separated keys and ;;-separated patterns into a policy", () => {
    const c = loadConfig(undefined, {
      TASKMASTER_MASK_KEYS: " tenant_pin , badge-code ",
      TASKMASTER_MASK_PATTERNS: String.raw`acct-\d{4};;ZZ[0-9]+`,
    });
    expect(c.masking.extraKeys).toEqual(["tenant_pin", "badge-code"]);
    const policy = createMaskingPolicy(c.masking);
    expect(policy.maskObject({ tenantPin: "4711", other: "acct-1234 and zz99, x" })).toEqual({
      tenantPin: "***",
      other: "*** and ***, x",
    });
  });

  it("refuses a pattern that is not a regular expression, naming the variable", () => {
    const err = configError(() => loadConfig(undefined, { TASKMASTER_MASK_PATTERNS: "ok;;(unclosed" }));
    expect(err.issues.map((i) => i.variable)).toEqual(["TASKMASTER_MASK_PATTERNS"]);
    expect(err.message).toMatch(/TASKMASTER_MASK_PATTERNS .*\(unclosed/);
  });
});
