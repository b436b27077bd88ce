import { describe, expect, it } from "vitest";
import { telemetrySettingsFromEnv } from "./otel.js";

const defaults = { serviceName: "task-service", serviceVersion: "0.1.0" };
const decide = (env: Record<string, string>) => telemetrySettingsFromEnv(env, defaults);

describe("telemetrySettingsFromEnv", () => {
  it("is off by default in development and test", () => {
    expect(decide({}).enabled).toBe(false);
    expect(decide({ TASKMASTER_PROFILE: "test" }).enabled).toBe(false);
    expect(decide({ TASKMASTER_PROFILE: "development" }).reason).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it("is on in development when an OTLP endpoint is set or OTEL_SDK_DISABLED=false", () => {
    expect(decide({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }).enabled).toBe(true);
    expect(decide({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/v1/traces" }).enabled).toBe(
      true,
    );
    expect(decide({ OTEL_SDK_DISABLED: "false" }).enabled).toBe(true);
    expect(decide({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " }).enabled).toBe(false);
  });

  it("is on in staging and production unless OTEL_SDK_DISABLED=true", () => {
    expect(decide({ TASKMASTER_PROFILE: "staging" }).enabled).toBe(true);
    expect(decide({ NODE_ENV: "production" }).enabled).toBe(true);
    expect(decide({ TASKMASTER_PROFILE: "production", OTEL_SDK_DISABLED: "true" }).enabled).toBe(false);
    expect(
      decide({ OTEL_SDK_DISABLED: "TRUE", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }).enabled,
    ).toBe(false);
  });

  it("names the resource: service.name (OTEL_SERVICE_NAME wins), version, deployment environment", () => {
    expect(decide({ TASKMASTER_PROFILE: "staging" })).toMatchObject({
      serviceName: "task-service",
      serviceVersion: "0.1.0",
      environment: "staging",
    });
    expect(
      decide({ OTEL_SERVICE_NAME: "tasks-eu", NODE_ENV: "test", TASKMASTER_PROFILE: "production" }),
    ).toMatchObject({ serviceName: "tasks-eu", environment: "production" });
    expect(decide({}).environment).toBe("development");
  });
});
