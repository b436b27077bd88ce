/**
 * The spec harnesses' output contract check (libs/testing, installed by output-contract.test-util.ts on every
 * server of this package's specs) really fails calls: a server that sends a FieldMask with a camelCase path
 * (no JSON form), a unary response that cannot encode, or an error detail that is not a contract type. And the
 * OUTPUT_ONLY coverage verdict names fields no scenario set. Real grpc-js server on port 0, no database.
 */
import { create } from "@bufbuild/protobuf";
import { AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TaskEventKind } from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { judgeCoverage } from "@taskmaster/testing/output-coverage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let server: GrpcServer;
let client: ReturnType<typeof createClient<typeof TaskService>>;

beforeAll(async () => {
  server = createGrpcServer({
    logger: createLogger({ service: "output-contract-test", level: "silent" }),
    reflection: false,
    services: [
      partialServiceRegistration(TaskService, {
        async *watchTasks() {
          yield { message: { case: "event", value: { kind: TaskEventKind.CREATED, task: "tasks/a" } } };
          yield {
            message: {
              case: "event",
              value: {
                kind: TaskEventKind.UPDATED,
                task: "tasks/a",
                changedFields: { paths: ["storyPoints"] },
              },
            },
          };
        },
        getTask() {
          // A Struct value JSON cannot carry (NaN).
          return { task: { name: "tasks/a", metadata: { n: Number.NaN } } };
        },
        listTasks() {
          throw new ConnectError("bad detail", Code.FailedPrecondition, undefined, [
            {
              desc: AnySchema,
              value: anyPack(AnySchema, create(AnySchema, { typeUrl: "type.googleapis.com/x.Unknown" })),
            },
          ]);
        },
        lookupTask() {
          return { task: { name: "tasks/a", title: "fine" } };
        },
      }),
    ],
  });
  const { port } = await server.listen("127.0.0.1", 0);
  client = createClient(TaskService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
});

afterAll(async () => {
  await server?.shutdown(1_000);
});

const failure = (p: Promise<unknown>) => p.then(() => null, ConnectError.from);

describe("output contract check", () => {
  it("ends a stream at the first message without a JSON form, naming the RPC and the cause", async () => {
    const kinds: TaskEventKind[] = [];
    const error = await failure(
      (async () => {
        for await (const m of client.watchTasks({}))
          if (m.message.case === "event") kinds.push(m.message.value.kind);
      })(),
    );
    expect(kinds).toEqual([TaskEventKind.CREATED]);
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toContain("taskmaster.task.v1.TaskService/WatchTasks");
    expect(error?.rawMessage).toContain("storyPoints");
  });

  it("fails a unary response that does not survive JSON, and an error detail that does not encode", async () => {
    const got = await failure(client.getTask({ name: "tasks/a" }));
    expect(got?.code).toBe(Code.Internal);
    expect(got?.rawMessage).toContain("TaskService/GetTask");
    const listed = await failure(client.listTasks({}));
    expect(listed?.code).toBe(Code.Internal);
    expect(listed?.rawMessage).toContain("TaskService/ListTasks");
    expect((await client.lookupTask({})).task?.title).toBe("fine");
  });
});

describe("OUTPUT_ONLY coverage verdict", () => {
  it("names every OUTPUT_ONLY field of the service that no scenario set", () => {
    const { missing } = judgeCoverage(["taskmaster.task.v1.TaskService"], new Set());
    expect(missing).toContain("taskmaster.task.v1.Task.child_count");
    expect(missing).toContain("taskmaster.task.v1.TaskClaim.claim_id");
    expect(missing.length).toBeGreaterThan(30);
    const { missing: after } = judgeCoverage(
      ["taskmaster.task.v1.TaskService"],
      new Set(["taskmaster.task.v1.Task.child_count"]),
    );
    expect(after).not.toContain("taskmaster.task.v1.Task.child_count");
  });

  it("leaves messages a service only relays (relayedFrom) to the package of the service that owns them", () => {
    const template = ["taskmaster.template.v1.TemplateService"];
    const own = judgeCoverage(template, new Set()).missing;
    // CreateTaskFromTemplate relays TaskService's Task.
    expect(own).toContain("taskmaster.task.v1.Task.child_count");
    const relayed = judgeCoverage(template, new Set(), { "taskmaster.task.v1.": "TaskService judges them" });
    expect(relayed.missing.filter((f) => f.startsWith("taskmaster.task.v1."))).toEqual([]);
    expect(relayed.missing).toEqual(own.filter((f) => !f.startsWith("taskmaster.task.v1.")));
    expect(relayed.missing).toContain("taskmaster.template.v1.TemplateVersion.approved");
    expect(() => judgeCoverage(template, new Set(), { "taskmaster.nothing.v1.": "stale" })).toThrow(
      /match no OUTPUT_ONLY field: taskmaster.nothing.v1./,
    );
  });
});
