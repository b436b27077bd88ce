import { describe, expect, it } from "vitest";
import { SERVICE_METRICS_ENV, serviceMetricsUrlsFromEnv } from "./service-metrics.js";

describe("serviceMetricsUrlsFromEnv", () => {
  it("maps every service's METRICS address to its /metrics URL, with the launcher's defaults", () => {
    expect(serviceMetricsUrlsFromEnv({ TASK_SERVICE_METRICS_ADDRESS: "task-service:8081" })).toEqual({
      "task-service": "http://task-service:8081/metrics",
      "template-service": "http://127.0.0.1:61052/metrics",
    });
  });

  it.each(Object.values(SERVICE_METRICS_ENV))("refuses a malformed %s naming it", (name) => {
    for (const bad of ["http://x:1", "x", "x:0", "x:70000", "x:1/metrics"]) {
      expect(() => serviceMetricsUrlsFromEnv({ [name]: bad })).toThrow(name);
    }
  });
});
