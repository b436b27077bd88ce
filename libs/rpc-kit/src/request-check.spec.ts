/**
 * The request check on its own (pure): what it refuses and how it names it, and the error bounds. The
 * descriptor-driven walk of every RPC over every protocol is apps/gateway/src/request-contract.spec.ts.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { TaskPriority, TaskSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { CreateTaskRequestSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { describe, expect, it } from "vitest";
import { boundConnectError, clipBytes, ERROR_BOUNDS } from "./error-bounds.js";
import { InvalidArgumentError } from "./errors.js";
import { statusFromConnectError } from "./metadata.js";
import { createRequestChecker, parseJsonRequest } from "./request-check.js";

const checker = createRequestChecker({ maxStringChars: 100, maxElements: 5, maxDepth: 8 });
const fields = (vs: { field: string }[]) => vs.map((v) => v.field).sort();

describe("checkMessage", () => {
  it("passes a valid request", () => {
    const ok = create(CreateTaskRequestSchema, {
      task: { title: "ok", priority: TaskPriority.HIGH, tags: ["a"], metadata: { k: ["v", 1] } },
    });
    expect(checker.checkMessage(CreateTaskRequestSchema, ok)).toEqual([]);
  });

  it("names unknown enum numbers, listing the accepted names", () => {
    const bad = create(CreateTaskRequestSchema, { task: { title: "x", priority: 99 as TaskPriority } });
    const [v] = checker.checkMessage(CreateTaskRequestSchema, bad);
    expect(v?.field).toBe("task.priority");
    expect(v?.reason).toBe("UNKNOWN_ENUM_VALUE");
    expect(v?.description).toMatch(
      /unknown value 99 .*accepted: TASK_PRIORITY_UNSPECIFIED, TASK_PRIORITY_CRITICAL/,
    );
  });

  it("names a NUL in strings, lists, maps and JSON (Struct) fields", () => {
    const bad = create(CreateTaskRequestSchema, {
      requestId: "a\0",
      task: { title: "t\0", tags: ["ok", "x\0"], metadata: { "k\0": 1, n: { deep: ["\0"] } } },
    });
    expect(fields(checker.checkMessage(CreateTaskRequestSchema, bad))).toEqual(
      ["request_id", "task.metadata", "task.metadata", "task.tags[1]", "task.title"].sort(),
    );
  });

  it("bounds sizes and nesting", () => {
    const long = create(TaskSchema, { title: "x".repeat(101), tags: ["1", "2", "3", "4", "5", "6"] });
    const vs = checker.checkMessage(TaskSchema, long);
    expect(vs.map((v) => `${v.field}:${v.reason}`).sort()).toEqual(["tags:TOO_MANY", "title:TOO_LONG"]);
    let deep: unknown = "leaf";
    for (let i = 0; i < 12; i++) deep = [deep];
    const nested = create(TaskSchema, { metadata: { d: deep as never } });
    expect(checker.checkMessage(TaskSchema, nested).map((v) => v.reason)).toEqual(["TOO_DEEP"]);
  });
});

describe("parseJsonRequest", () => {
  const parse = (json: unknown) => parseJsonRequest(checker, CreateTaskRequestSchema, JSON.stringify(json));
  const refusal = (json: unknown) => {
    try {
      parse(json);
    } catch (err) {
      return ConnectError.from(err);
    }
    throw new Error("accepted");
  };

  it("decodes a valid request (JSON and proto field names)", () => {
    expect(parse({ task: { title: "x", priority: "TASK_PRIORITY_HIGH" }, request_id: "r" })).toMatchObject({
      requestId: "r",
      task: { title: "x", priority: TaskPriority.HIGH },
    });
  });

  it("refuses the issue's misspelled field and unknown enum name, naming both", () => {
    const e = refusal({ task: { title: "x", type: "feature", priorty: "TASK_PRIORITY_HIGH" } });
    expect(e.code).toBe(Code.InvalidArgument);
    const [bad] = e.findDetails(BadRequestSchema);
    expect(fields(bad?.fieldViolations ?? [])).toEqual(["task.priorty", "task.type"]);
    expect(bad?.fieldViolations.find((v) => v.field === "task.type")?.description).toMatch(
      /accepted: TASK_TYPE_UNSPECIFIED, /,
    );
    expect(e.findDetails(ErrorInfoSchema)[0]?.reason).toBe("VALIDATION_FAILED");
  });

  it("keeps connect-es's message for JSON that is malformed in other ways", () => {
    expect(refusal({ task: { title: 5 } }).code).toBe(Code.InvalidArgument);
    expect(refusal({ task: { title: 5 } }).findDetails(BadRequestSchema)).toEqual([]);
    expect(() => parseJsonRequest(checker, CreateTaskRequestSchema, "{")).toThrow(/cannot decode/);
  });
});

describe("error bounds", () => {
  const many = Array.from({ length: 200 }, (_, i) => ({
    field: `services[${i}]`,
    description: `unknown service ${"y".repeat(500)}`,
  }));

  it("InvalidArgumentError lists at most 20 violations, then 'and N more', in at most 1 KiB", () => {
    const e = new InvalidArgumentError(many).toConnectError();
    expect(Buffer.byteLength(e.rawMessage)).toBeLessThanOrEqual(ERROR_BOUNDS.maxMessageBytes);
    expect(e.rawMessage).toMatch(/; and \d+ more$/);
    const [bad] = e.findDetails(BadRequestSchema);
    expect(bad?.fieldViolations.length).toBeLessThanOrEqual(ERROR_BOUNDS.maxViolations);
    for (const v of bad?.fieldViolations ?? []) expect(v.description.length).toBeLessThanOrEqual(200);
  });

  it("the gRPC status (message and details trailer) stays within the bounds", () => {
    const status = statusFromConnectError(new InvalidArgumentError(many).toConnectError());
    expect(Buffer.byteLength(status.details)).toBeLessThanOrEqual(1024);
    const bin = status.metadata.get("grpc-status-details-bin")[0] as Buffer;
    expect(bin.byteLength).toBeLessThanOrEqual(ERROR_BOUNDS.maxDetailsBytes);
  });

  it("any ConnectError is bounded (message clipped, details trimmed), a small one is left alone", () => {
    const small = new ConnectError("fine", Code.NotFound);
    expect(boundConnectError(small)).toBe(small);
    const huge = new ConnectError("é".repeat(5000), Code.InvalidArgument, undefined, [
      { desc: BadRequestSchema, value: { fieldViolations: many } },
    ]);
    const b = boundConnectError(huge);
    expect(Buffer.byteLength(b.rawMessage)).toBeLessThanOrEqual(1024);
    expect(b.findDetails(BadRequestSchema)[0]?.fieldViolations.length).toBeGreaterThan(0);
    expect(b.code).toBe(Code.InvalidArgument);
    expect(clipBytes("😀😀😀", 7)).toBe("😀…");
  });
});
