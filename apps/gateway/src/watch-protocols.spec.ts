/**
 * WatchTasks for every client: one event of every TaskEventKind (enumerated from the descriptor) is delivered
 * with its payload to a native gRPC client (grpc-js, straight to task-service), a Connect JSON client and a
 * gRPC-Web JSON client (both through the gateway), each of which disconnects halfway and resumes from the
 * last resume token. JSON clients are where a payload without a JSON form (e.g. a camelCase FieldMask path)
 * breaks the stream. Real task-service + gateway + PostgreSQL on real sockets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import {
  type TaskChangeEvent,
  TaskEventKind,
  TaskEventKindSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import { RelationshipType } from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import { TaskStatus, TaskType } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import {
  TaskService,
  type UploadAttachmentRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenGateway, openEdge } from "./gateway.test-util.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });

let db: TestDatabase;
let orm: MikroORM;
let taskServer: GrpcServer;
let gateway: Gateway;
let gatewayUrl: string;
let taskAddress: string;
let attachmentDir: string;
/** Resume token before the scenario, the watched task, and its events' expected kinds in order. */
let startToken: string;
let watched: string;
let expectedKinds: TaskEventKind[];

/** What each kind's event must carry besides its header. Missing a kind here fails the enumeration test. */
const PAYLOAD: Readonly<Record<string, (e: TaskChangeEvent) => void>> = {
  CREATED: (e) => expect(e.taskSnapshot?.name).toBe(e.task),
  UPDATED: (e) => expect(e.changedFields?.paths).toEqual(["story_points"]),
  STATUS_CHANGED: (e) => {
    expect(e.oldStatus).toBe(TaskStatus.PENDING);
    expect(e.newStatus).toBe(TaskStatus.READY);
  },
  DELETED: (e) => expect(e.taskSnapshot?.name).toBe(e.task),
  UNDELETED: (e) => expect(e.taskSnapshot?.name).toBe(e.task),
  MOVED: (e) => expect(e.taskSnapshot?.parent).toMatch(/^tasks\//),
  COMMENT: (e) => expect(e.comment?.content).toBe("watch me"),
  TIME_LOG: (e) => expect(e.timeLog?.hours).toBe(2.5),
  RELATIONSHIP: (e) => expect(e.relatedResource).toMatch(new RegExp(`^${e.task}/relationships/`)),
  CLAIM: (e) => expect(e.taskSnapshot?.name).toBe(e.task),
  ATTACHMENT: (e) => expect(e.relatedResource).toMatch(new RegExp(`^${e.task}/attachments/`)),
};

const ALL_KINDS = TaskEventKindSchema.values.filter((v) => v.number !== TaskEventKind.UNSPECIFIED);

async function sql(query: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return orm.em.fork().getConnection().execute(query, params);
}

/** One event of every kind on one task, through the task service's RPCs. */
async function produceEveryKind(client: Client<typeof TaskService>): Promise<void> {
  const tag = `watch-${Date.now()}`;
  const epic =
    (await client.createTask({ task: { title: "new home", type: TaskType.EPIC } })).task?.name ?? "";
  const other = (await client.createTask({ task: { title: "blocker" } })).task?.name ?? "";
  startToken = String((await sql("select coalesce(max(id), 0)::text as id from outbox_events"))[0]?.id);
  watched =
    (await client.createTask({ task: { title: "watched by every client", tags: [tag] } })).task?.name ?? "";
  await client.updateTask({
    task: { name: watched, storyPoints: 3 },
    updateMask: { paths: ["story_points"] },
  });
  await client.transitionTaskStatus({ name: watched, status: TaskStatus.READY });
  await client.createComment({ parent: watched, comment: { content: "watch me" } });
  const today = new Date();
  await client.createTimeLog({
    parent: watched,
    timeLog: {
      hours: 2.5,
      user: "watcher",
      logDate: { year: today.getUTCFullYear(), month: today.getUTCMonth() + 1, day: today.getUTCDate() },
    },
  });
  await client.createRelationship({
    parent: watched,
    relationship: { targetTask: other, type: RelationshipType.RELATES_TO },
  });
  await client.claimNextTask({ selector: { tags: [tag] } });
  const upload = async function* (): AsyncIterable<MessageInitShape<typeof UploadAttachmentRequestSchema>> {
    yield {
      payload: {
        case: "metadata",
        value: { parent: watched, attachment: { filename: "a.txt", mimeType: "text/plain" } },
      },
    };
    yield { payload: { case: "chunk", value: new TextEncoder().encode("attached") } };
  };
  await client.uploadAttachment(upload());
  await client.moveTask({ name: watched, newParent: epic });
  await client.deleteTask({ name: watched });
  await client.undeleteTask({ name: watched });
  expectedKinds = [
    TaskEventKind.CREATED,
    TaskEventKind.UPDATED,
    TaskEventKind.STATUS_CHANGED,
    TaskEventKind.COMMENT,
    TaskEventKind.TIME_LOG,
    TaskEventKind.RELATIONSHIP,
    TaskEventKind.CLAIM,
    TaskEventKind.ATTACHMENT,
    TaskEventKind.MOVED,
    TaskEventKind.DELETED,
    TaskEventKind.UNDELETED,
  ];
}

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  attachmentDir = mkdtempSync(join(tmpdir(), "watch-protocols-"));
  taskServer = createTaskServer({ orm, logger, attachmentDir });
  taskAddress = (await taskServer.listen("127.0.0.1", 0)).address;
  gateway = createGatewayServer({
    logger,
    upstreams: [{ service: TaskService, address: taskAddress }],
    maxTimeoutMs: 30_000,
    readMaxBytes: 64 * 1024,
    edge: openEdge(logger),
  });
  gatewayUrl = `http://127.0.0.1:${await listenGateway(gateway)}`;
  await produceEveryKind(createClient(TaskService, createGrpcJsTransport({ address: taskAddress })));
});

afterAll(async () => {
  gateway?.closeAllConnections();
  await new Promise((resolve) => gateway?.server.close(resolve));
  gateway?.close();
  await taskServer?.shutdown(1_000);
  await orm?.close();
  await db?.drop();
  rmSync(attachmentDir, { recursive: true, force: true });
});

/** Reads `count` events of the watched task from `resumeToken`, then disconnects. */
async function readEvents(client: Client<typeof TaskService>, resumeToken: string, count: number) {
  const abort = new AbortController();
  const events: TaskChangeEvent[] = [];
  try {
    for await (const m of client.watchTasks({ resumeToken, tasks: [watched] }, { signal: abort.signal })) {
      if (m.message.case !== "event") continue;
      events.push(m.message.value);
      if (events.length === count) abort.abort();
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  }
  return events;
}

const CLIENTS: Record<string, () => Transport> = {
  "native gRPC (grpc-js, direct)": () => createGrpcJsTransport({ address: taskAddress }),
  "Connect JSON (gateway)": () =>
    createConnectTransport({ baseUrl: gatewayUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "gRPC-Web JSON (gateway)": () =>
    createGrpcWebTransport({ baseUrl: gatewayUrl, httpVersion: "1.1", useBinaryFormat: false }),
};

describe("WatchTasks delivers every event kind with its payload", () => {
  it("the scenario covers every TaskEventKind of the contract, each with a payload check", () => {
    expect(new Set(expectedKinds)).toEqual(new Set(ALL_KINDS.map((v) => v.number)));
    for (const v of ALL_KINDS) expect(PAYLOAD[v.localName], v.name).toBeTypeOf("function");
  });

  for (const [label, transport] of Object.entries(CLIENTS)) {
    it(`to a ${label} client, across a disconnect and a resume from the token`, async () => {
      const client = createClient(TaskService, transport());
      const half = Math.floor(expectedKinds.length / 2);
      const first = await readEvents(client, startToken, half);
      const token = first.at(-1)?.header?.resumeToken ?? "";
      expect(token).toMatch(/^[0-9]+$/);
      const rest = await readEvents(client, token, expectedKinds.length - half);
      const events = [...first, ...rest];
      expect(events.map((e) => TaskEventKindSchema.value[e.kind]?.localName)).toEqual(
        expectedKinds.map((k) => TaskEventKindSchema.value[k]?.localName),
      );
      for (const e of events) {
        const kind = TaskEventKindSchema.value[e.kind]?.localName ?? "";
        expect(e.task, kind).toBe(watched);
        PAYLOAD[kind]?.(e);
      }
    });
  }
});
