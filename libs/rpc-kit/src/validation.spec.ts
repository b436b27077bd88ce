import { HealthCheckResponse_ServingStatusSchema } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "./errors.js";
import { parseResourceName, validator } from "./validation.js";

const ID = "0190B5A4-7D1C-7000-8000-000000000001";

describe("validator", () => {
  it("collects every violation and throws them together", () => {
    const v = validator();
    v.required("task.title", "   ");
    v.length("task.title", "   ", 1, 10); // skipped: already invalid
    v.length("task.description", "x".repeat(11), 0, 10);
    v.uuid("task.parent", "not-a-uuid");
    v.range("task.priority", 9, 1, 5);
    v.enumDefined("status", 0, HealthCheckResponse_ServingStatusSchema);
    v.enumDefined("status2", 42, HealthCheckResponse_ServingStatusSchema);
    v.pattern("task.key", "a b", /^\S+$/, "must not contain spaces");
    v.oneOf("order_by", "colour", ["title", "created_at"]);
    let err: unknown;
    try {
      v.check();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const fields = (err as InvalidArgumentError).fieldViolations.map((f) => f.field);
    expect(fields).toEqual([
      "task.title",
      "task.description",
      "task.parent",
      "task.priority",
      "status",
      "status2",
      "task.key",
      "order_by",
    ]);
    expect((err as InvalidArgumentError).fieldViolations[1]?.description).toBe(
      "must be at most 10 characters (got 11)",
    );
  });

  it("counts characters, not UTF-16 units or bytes", () => {
    const v = validator();
    v.length("t", "😀".repeat(5), 1, 5);
    v.length("u", "ünïcödé", 1, 7);
    expect(v.ok).toBe(true);
  });

  it("accepts good input without throwing", () => {
    const v = validator();
    v.required("a", "x");
    v.uuid("b", ID);
    v.range("c", 3, 1, 5);
    v.enumDefined("d", 1, HealthCheckResponse_ServingStatusSchema);
    expect(() => v.check()).not.toThrow();
  });

  it("page size follows AIP-158", () => {
    const v = validator();
    expect(v.pageSize("page_size", 0)).toBe(50);
    expect(v.pageSize("page_size", 5000, { max: 100 })).toBe(100);
    expect(v.pageSize("page_size", 20)).toBe(20);
    expect(v.ok).toBe(true);
    v.pageSize("page_size", -1);
    expect(v.violations[0]).toMatchObject({ field: "page_size", reason: "OUT_OF_RANGE" });
  });

  it("resource names yield the id or a violation", () => {
    const v = validator();
    expect(v.resourceName("name", "tasks/{task}", `tasks/${ID}`)).toBe(ID.toLowerCase());
    expect(v.resourceName("name2", "tasks/{task}", "tasks/123")).toBeUndefined();
    expect(v.resourceName("name3", "tasks/{task}", `templates/${ID}`)).toBeUndefined();
    expect(v.resourceName("name4", "tasks/{task}", "")).toBeUndefined();
    expect(v.resourceName("name5", "tasks/{task}", "tasks/'; DROP TABLE tasks;--")).toBeUndefined();
    expect(v.violations.map((x) => x.reason)).toEqual([
      "INVALID_RESOURCE_NAME",
      "INVALID_RESOURCE_NAME",
      "REQUIRED",
      "INVALID_RESOURCE_NAME",
    ]);
    expect(
      parseResourceName("templates/{template}/versions/{version}", `templates/${ID}/versions/${ID}`),
    ).toEqual({
      ok: true,
      ids: { template: ID.toLowerCase(), version: ID.toLowerCase() },
    });
  });
});
