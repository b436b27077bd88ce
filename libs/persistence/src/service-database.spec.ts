import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "@taskmaster/config/config";
import { afterAll, describe, expect, it } from "vitest";
import { ormOptionsFromConfig, sslOption } from "./service-database.js";

const dir = mkdtempSync(join(tmpdir(), "taskmaster-pg-ssl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("PostgreSQL TLS modes (DB_SSL_MODE / DB_SSL_CA)", () => {
  it("disable: no ssl option at all", () => {
    expect(sslOption({ mode: "disable", caPath: undefined })).toBeUndefined();
    const config = loadConfig(undefined, { DATABASE_URL: "postgres://u@db:5432/t", DB_SSL_MODE: "disable" });
    expect("ssl" in ormOptionsFromConfig({ ...config.database, url: "postgres://u@db:5432/t" }, "x")).toBe(
      false,
    );
  });

  it("require: encrypted, certificate not verified", () => {
    expect(sslOption({ mode: "require", caPath: undefined })).toEqual({ rejectUnauthorized: false });
  });

  it("staging and production default to require", () => {
    const config = loadConfig(undefined, {
      TASKMASTER_PROFILE: "staging",
      DATABASE_URL: "postgres://u@db:5432/t",
    });
    expect(config.database.ssl).toEqual({ mode: "require", caPath: undefined });
  });

  it("verify-full: the CA file's contents, certificate and host name verified", () => {
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n");
    const config = loadConfig(undefined, {
      DATABASE_URL: "postgres://u@db:5432/t",
      DB_SSL_MODE: "verify-full",
      DB_SSL_CA: ca,
    });
    const options = ormOptionsFromConfig(
      { ...config.database, url: "postgres://u@db:5432/t" },
      "task-service",
    );
    expect(options.ssl).toEqual({
      rejectUnauthorized: true,
      ca: "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n",
    });
  });

  it("verify-full without a CA is one clear config line", () => {
    let error: unknown;
    try {
      loadConfig(undefined, { DATABASE_URL: "postgres://u@db:5432/t", DB_SSL_MODE: "verify-full" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      "invalid configuration: DB_SSL_CA is required when DB_SSL_MODE is verify-full",
    );
  });

  it("an unknown mode names the allowed ones", () => {
    expect(() => loadConfig(undefined, { DB_SSL_MODE: "prefer" })).toThrow(
      /DB_SSL_MODE must be one of disable, require, verify-full/,
    );
  });
});
