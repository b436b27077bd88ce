import { Code, ConnectError, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService, failure, memoryLogger } from "./echo-service.test-util.js";
import { createErrorInterceptor } from "./error-interceptor.js";
import {
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  StaleEtagError,
  UnauthenticatedError,
  UnavailableError,
} from "./errors.js";
import { createGrpcClient } from "./grpc-client.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";
import { STATUS_DETAILS_KEY } from "./metadata.js";
import { validator } from "./validation.js";

const SQL = `insert into "tasks" ("id", "title") values ('0190', 'x') - duplicate key value violates unique constraint "tasks_title_key"`;

const failures: Record<string, () => Error> = {
  notFound: () => new NotFoundError("task", "0190b5a4-7d1c-7000-8000-000000000001"),
  invalid: () => {
    const v = validator();
    v.required("task.title", "");
    v.uuid("task.parent", "nope");
    try {
      v.check();
    } catch (e) {
      return e as Error;
    }
    return new Error("unreachable");
  },
  precondition: () =>
    new FailedPreconditionError("task has open subtasks", {
      reason: "HAS_DEPENDANTS",
      metadata: { openSubtasks: "3" },
      violations: [{ type: "SUBTASKS", subject: "tasks/1", description: "3 open subtasks" }],
    }),
  stale: () => new StaleEtagError("task", "1"),
  rateLimited: () => new ResourceExhaustedError(2_500),
  denied: () => new PermissionDeniedError(),
  unauthenticated: () => new UnauthenticatedError(),
  unavailable: () => new UnavailableError("database unavailable", 1_000, "DATABASE_UNAVAILABLE"),
  // Without a `map` (services pass the database classifier), a driver error is a bug: INTERNAL.
  unmappedDriver: () => Object.assign(new Error(`${SQL}`), { code: "23505" }),
  unknown: () =>
    new TypeError("Cannot read properties of undefined (reading 'id') in SELECT * FROM secret_table"),
  connectUnknown: () => ConnectError.from(new Error("SELECT password FROM users")),
  undeclaredReason: () =>
    new ConnectError("hand-built", Code.FailedPrecondition, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "SOMETHING_NEW", domain: "taskmaster.dev" } },
    ]),
  otherDomain: () =>
    new ConnectError("from a library", Code.FailedPrecondition, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "SOMETHING_ELSE", domain: "example.com" } },
    ]),
};

const impl: Partial<ServiceImpl<typeof EchoService>> = {
  echo(req) {
    const make = failures[req.text];
    if (make === undefined) return { text: "ok" };
    throw make();
  },
};

let server: GrpcServer;
let address: string;
const mem = memoryLogger();

beforeAll(async () => {
  server = createGrpcServer({
    logger: mem.logger,
    services: [partialServiceRegistration(EchoService, impl)],
  });
  ({ address } = await server.listen("127.0.0.1", 0));
});
afterAll(async () => {
  await server.shutdown(500);
});

async function callFail(text: string): Promise<ConnectError> {
  const client = createGrpcClient(EchoService, { address });
  try {
    await client.echo({ text });
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected an error");
}

const expected: Record<string, Code> = {
  notFound: Code.NotFound,
  invalid: Code.InvalidArgument,
  precondition: Code.FailedPrecondition,
  stale: Code.Aborted,
  rateLimited: Code.ResourceExhausted,
  denied: Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  unavailable: Code.Unavailable,
  unmappedDriver: Code.Internal,
  unknown: Code.Internal,
  connectUnknown: Code.Internal,
};

describe("error mapping over a real socket", () => {
  it.each(Object.entries(expected))("%s -> %s", async (name, code) => {
    const err = await callFail(name);
    expect(Code[err.code]).toBe(Code[code]);
    const text = `${err.message} ${JSON.stringify(err.details)} ${[...err.metadata.entries()].join(" ")}`;
    for (const leak of [
      "insert into",
      "SELECT",
      "secret_table",
      "tasks_title_key",
      "secret title",
      "hunter2",
      "    at ",
    ]) {
      expect(text).not.toContain(leak);
    }
  });

  it("InvalidArgument carries every field violation (BadRequest) and ErrorInfo", async () => {
    const err = await callFail("invalid");
    const [bad] = err.findDetails(BadRequestSchema);
    expect(bad?.fieldViolations.map((v) => [v.field, v.reason])).toEqual([
      ["task.title", "REQUIRED"],
      ["task.parent", "INVALID_UUID"],
    ]);
    expect(err.findDetails(ErrorInfoSchema)[0]).toMatchObject({
      reason: "VALIDATION_FAILED",
      domain: "taskmaster.dev",
    });
  });

  it("NotFound, FailedPrecondition and ResourceExhausted carry ErrorInfo / PreconditionFailure / RetryInfo", async () => {
    const nf = await callFail("notFound");
    expect(nf.rawMessage).toBe('task "0190b5a4-7d1c-7000-8000-000000000001" not found');
    expect(nf.findDetails(ErrorInfoSchema)[0]).toMatchObject({
      reason: "NOT_FOUND",
      domain: "taskmaster.dev",
      metadata: { resource: "task", id: "0190b5a4-7d1c-7000-8000-000000000001" },
    });
    expect(nf.findDetails(ResourceInfoSchema)[0]).toMatchObject({
      resourceType: "task",
      resourceName: "0190b5a4-7d1c-7000-8000-000000000001",
    });
    const fp = await callFail("precondition");
    expect(fp.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({ openSubtasks: "3" });
    expect(fp.findDetails(PreconditionFailureSchema)[0]?.violations[0]?.type).toBe("SUBTASKS");
    const re = await callFail("rateLimited");
    expect(re.findDetails(RetryInfoSchema)[0]?.retryDelay).toMatchObject({ seconds: 2n, nanos: 500_000_000 });
    const unavailable = await callFail("unavailable");
    expect(unavailable.findDetails(RetryInfoSchema)).toHaveLength(1);
  });

  it("a hand-built ErrorInfo with a reason errors.proto does not declare answers INTERNAL", async () => {
    const err = await callFail("undeclaredReason");
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe("internal error");
    const logged = mem.lines.filter((l) => l.msg === "unhandled error in RPC handler");
    expect(logged.some((l) => JSON.stringify(l).includes("hand-built"))).toBe(true);
    const other = await callFail("otherDomain");
    expect(other.code).toBe(Code.FailedPrecondition);
  });

  it("unknown errors answer 'internal error' and log the real one", async () => {
    const err = await callFail("unknown");
    expect(err.rawMessage).toBe("internal error");
    expect(err.details).toHaveLength(0);
    const line = mem.lines.find(
      (l) =>
        l.msg === "unhandled error in RPC handler" &&
        l.rpc === "rpckit.test.v1.EchoService/Echo" &&
        JSON.stringify(l).includes("secret_table"),
    );
    expect(line).toBeDefined();
  });

  it("puts google.rpc.Status into grpc-status-details-bin for any gRPC client", async () => {
    const { Client, credentials } = await import("@grpc/grpc-js");
    const raw = new Client(address, credentials.createInsecure());
    const status = await new Promise<{ code: number; metadata: Metadata }>((resolve) => {
      const call = raw.makeUnaryRequest(
        "/rpckit.test.v1.EchoService/Echo",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0x07, ...Buffer.from("invalid")]),
        new Metadata(),
        () => {},
      );
      call.on("status", resolve);
    });
    raw.close();
    expect(status.code).toBe(3);
    expect(status.metadata.get(STATUS_DETAILS_KEY)[0]).toBeInstanceOf(Buffer);
  });
});

describe("the same interceptor in createRouterTransport", () => {
  it("maps errors identically in-process", async () => {
    const { logger } = memoryLogger();
    const transport = createRouterTransport(({ service }) => service(EchoService, impl), {
      router: { interceptors: [createErrorInterceptor({ logger })] },
    });
    const client = createGrpcClient(EchoService, transport);
    const err = await failure(client.echo({ text: "notFound" }));
    expect(err.code).toBe(Code.NotFound);
    const driver = await failure(client.echo({ text: "unmappedDriver" }));
    expect(driver).toMatchObject({ code: Code.Internal, rawMessage: "internal error" });
    const unknown = await failure(client.echo({ text: "unknown" }));
    expect(unknown).toMatchObject({ code: Code.Internal, rawMessage: "internal error" });
  });
});
