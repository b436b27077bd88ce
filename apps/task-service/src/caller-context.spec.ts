/**
 * What a TaskService write records about its caller, through the real grpc-js server: the outbox event's
 * actor / request_id / trace_id and the status-history row's actor, for a create, an update and a status
 * transition called with an actor, a traceparent, an `x-request-id` header and (where the request has one)
 * a `request_id` field. The outbox's request_id is the request's `request_id` field (null where the request
 * has none), never the header.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { TaskStatus } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

const TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4736";
const ACTOR = "user:caller-context";

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let client: Client<typeof TaskService>;
let sql: pg.Client;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.appUrl, pool: { min: 0, max: 4 } });
  dir = mkdtempSync(join(tmpdir(), "tm-caller-"));
  server = createServer({
    orm,
    logger: createLogger({ service: "caller-context-test", level: "silent" }),
    attachmentDir: dir,
  });
  const { port } = await server.listen("127.0.0.1", 0);
  client = createClient(TaskService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const headerRequestId = `hdr-${randomUUID()}`;
const headers = {
  headers: {
    "x-taskmaster-actor": ACTOR,
    "x-request-id": headerRequestId,
    traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`,
  },
};

async function outbox(taskId: string, kind: string) {
  const { rows } = await sql.query(
    `select actor, request_id, trace_id from outbox_events
      where aggregate_id = $1 and event_kind = $2 order by id`,
    [taskId, kind],
  );
  return rows;
}

async function history(taskId: string) {
  const { rows } = await sql.query(
    `select from_status, to_status, changed_by from task_status_history where task_id = $1 order by changed_at, id`,
    [taskId],
  );
  return rows;
}

describe("the caller recorded by task writes", () => {
  it("create, update and status transition record the caller's actor and trace id, and the request_id field", async () => {
    const createRequestId = randomUUID();
    const created = await client.createTask(
      { task: { title: "Caller context" }, requestId: createRequestId },
      headers,
    );
    const id = created.task?.name.split("/").at(-1) as string;

    await client.updateTask(
      {
        task: { name: created.task?.name ?? "", title: "Caller context 2" },
        updateMask: { paths: ["title"] },
      },
      headers,
    );
    const transitionRequestId = randomUUID();
    await client.transitionTaskStatus(
      { name: created.task?.name ?? "", status: TaskStatus.READY, requestId: transitionRequestId },
      headers,
    );

    expect(await outbox(id, "task.created")).toEqual([
      { actor: ACTOR, request_id: createRequestId, trace_id: TRACE_ID },
    ]);
    expect(await outbox(id, "task.updated")).toEqual([
      { actor: ACTOR, request_id: null, trace_id: TRACE_ID },
    ]);
    expect(await outbox(id, "task.status_changed")).toEqual([
      { actor: ACTOR, request_id: transitionRequestId, trace_id: TRACE_ID },
    ]);
    expect(await history(id)).toEqual([
      { from_status: null, to_status: "pending", changed_by: ACTOR },
      { from_status: "pending", to_status: "ready", changed_by: ACTOR },
    ]);
  });

  it("a claim records the caller and the request_id field; a lease expiry it runs records the system", async () => {
    const tag = `cc-${randomUUID().slice(0, 8)}`;
    const created = await client.createTask({ task: { title: "Claimed", tags: [tag] } });
    const name = created.task?.name ?? "";
    const id = name.split("/").at(-1) as string;
    await client.transitionTaskStatus({ name, status: TaskStatus.READY });
    const claimRequestId = randomUUID();
    await client.claimNextTask(
      { selector: { tags: [tag] }, start: true, requestId: claimRequestId },
      headers,
    );
    expect(await outbox(id, "task.claim")).toEqual([
      { actor: ACTOR, request_id: claimRequestId, trace_id: TRACE_ID },
    ]);
    await sql.query("update tasks set lease_expires_at = now() - interval '1 second' where id = $1", [id]);
    await client.claimNextTask({ selector: { tags: ["no-such-tag"] } }, headers);
    expect((await outbox(id, "task.claim")).slice(1)).toEqual([
      { actor: "system", request_id: null, trace_id: null },
    ]);
    expect((await outbox(id, "task.status_changed")).slice(1)).toEqual([
      { actor: ACTOR, request_id: claimRequestId, trace_id: TRACE_ID },
      { actor: "system", request_id: null, trace_id: null },
    ]);
    expect((await history(id)).slice(2)).toEqual([
      { from_status: "ready", to_status: "in_progress", changed_by: ACTOR },
      { from_status: "in_progress", to_status: "ready", changed_by: "system" },
    ]);
  });

  it("a call without actor and traceparent records nulls", async () => {
    const created = await client.createTask({ task: { title: "Anonymous" } });
    const id = created.task?.name.split("/").at(-1) as string;
    await client.transitionTaskStatus({ name: created.task?.name ?? "", status: TaskStatus.READY });
    expect(await outbox(id, "task.created")).toEqual([{ actor: null, request_id: null, trace_id: null }]);
    expect(await outbox(id, "task.status_changed")).toEqual([
      { actor: null, request_id: null, trace_id: null },
    ]);
    expect(await history(id)).toEqual([
      { from_status: null, to_status: "pending", changed_by: null },
      { from_status: "pending", to_status: "ready", changed_by: null },
    ]);
  });
});
