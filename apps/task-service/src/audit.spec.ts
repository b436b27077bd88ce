/**
 * Every mutating TaskService RPC (from the descriptor: every method whose idempotency level is not
 * NO_SIDE_EFFECTS, so a new RPC cannot be forgotten) writes the expected audit rows, in the same transaction,
 * with the context of the call: actor from `x-taskmaster-actor`, request id, trace id, client IP, user agent.
 * A failed call leaves no audit row. The outbox events and status-history rows of a write record the same
 * caller. Real grpc-js server + PostgreSQL (audit triggers of the database).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { RelationshipType } from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import { TaskStatus } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import {
  AUDIT_TRACE_ID,
  type AuditCallContext,
  auditHeaders,
  auditRowsOf,
  expectAuditPairs,
  expectCallContext,
  expectScenarioPerRpc,
  mutatingMethods,
  runAuditScenario,
} from "@taskmaster/testing/audit-trail";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let client: Client<typeof TaskService>;
let sql: pg.Client;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } });
  dir = mkdtempSync(join(tmpdir(), "tm-audit-"));
  server = createServer({
    orm,
    logger: createLogger({ service: "audit-test", level: "silent" }),
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

type CallContext = AuditCallContext;

const headers = (ctx: CallContext) => auditHeaders(ctx);

const setup = () => headers({ actor: "setup", requestId: `setup-${randomUUID()}` });
const uuid = (name: string) => name.split("/").at(-1) as string;

async function newTask(init: Record<string, unknown> = {}) {
  const res = await client.createTask(
    { task: { title: `Audited ${randomUUID().slice(0, 8)}`, ...init } },
    setup(),
  );
  if (!res.task) throw new Error("no task");
  return res.task;
}

async function newSprint() {
  const now = Date.now();
  const res = await client.createSprint(
    {
      sprint: {
        displayName: `Sprint ${randomUUID().slice(0, 8)}`,
        startTime: { seconds: BigInt(Math.floor(now / 1000)) },
        endTime: { seconds: BigInt(Math.floor(now / 1000) + 14 * 86_400) },
      },
    },
    setup(),
  );
  if (!res.sprint) throw new Error("no sprint");
  return res.sprint;
}

function day() {
  const d = new Date();
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

async function* upload(parent: string) {
  yield {
    payload: {
      case: "metadata" as const,
      value: { parent, attachment: { filename: "notes.txt", mimeType: "text/plain" } },
    },
  };
  yield { payload: { case: "chunk" as const, value: new TextEncoder().encode("audited bytes") } };
}

/** A task claimed by the call's actor (claims are per claimant). */
async function claimable(c: CallContext) {
  const tag = `audit-${randomUUID().slice(0, 8)}`;
  await newTask({ tags: [tag], status: TaskStatus.READY });
  const res = await client.claimNextTask({ selector: { tags: [tag] } }, headers(c));
  if (!res.task?.claim) throw new Error("nothing claimed");
  return { name: res.task.name, claimId: res.task.claim.claimId };
}

type Expected = readonly (readonly [entityType: string, action: string])[];

/**
 * One scenario per mutating RPC: `run` performs the call (fixtures made with the `setup` actor) and the
 * audit rows written under the call's actor must include `expected`.
 */
const scenarios: Record<string, { run: (ctx: CallContext) => Promise<unknown>; expected: Expected }> = {
  createTask: {
    run: (c) => client.createTask({ task: { title: "Created" } }, headers(c)),
    expected: [["task", "create"]],
  },
  batchCreateTasks: {
    run: (c) =>
      client.batchCreateTasks(
        { requests: [{ task: { title: "Batch one" } }, { task: { title: "Batch two" } }] },
        headers(c),
      ),
    expected: [
      ["task", "create"],
      ["task", "create"],
    ],
  },
  updateTask: {
    run: async (c) => {
      const t = await newTask();
      return client.updateTask(
        { task: { name: t.name, title: "Updated title" }, updateMask: { paths: ["title"] } },
        headers(c),
      );
    },
    expected: [["task", "update"]],
  },
  deleteTask: {
    run: async (c) => client.deleteTask({ name: (await newTask()).name }, headers(c)),
    expected: [["task", "delete"]],
  },
  undeleteTask: {
    run: async (c) => {
      const t = await newTask();
      await client.deleteTask({ name: t.name }, setup());
      return client.undeleteTask({ name: t.name }, headers(c));
    },
    expected: [["task", "restore"]],
  },
  moveTask: {
    run: async (c) => {
      const [parent, child] = [await newTask(), await newTask()];
      return client.moveTask({ name: child.name, newParent: parent.name }, headers(c));
    },
    expected: [["task", "update"]],
  },
  transitionTaskStatus: {
    run: async (c) =>
      client.transitionTaskStatus({ name: (await newTask()).name, status: TaskStatus.READY }, headers(c)),
    expected: [["task", "status_change"]],
  },
  createSprint: {
    run: (c) =>
      client.createSprint(
        {
          sprint: {
            displayName: `S ${randomUUID().slice(0, 8)}`,
            startTime: { seconds: 1_900_000_000n },
            endTime: { seconds: 1_900_864_000n },
          },
        },
        headers(c),
      ),
    expected: [["sprint", "create"]],
  },
  updateSprint: {
    run: async (c) =>
      client.updateSprint(
        { sprint: { name: (await newSprint()).name, goal: "Ship audit" }, updateMask: { paths: ["goal"] } },
        headers(c),
      ),
    expected: [["sprint", "update"]],
  },
  deleteSprint: {
    run: async (c) => client.deleteSprint({ name: (await newSprint()).name }, headers(c)),
    expected: [["sprint", "delete"]],
  },
  startSprint: {
    run: async (c) => {
      const s = await newSprint();
      const res = await client.startSprint({ name: s.name }, headers(c));
      await client.closeSprint({ name: s.name }, setup()); // one active sprint at a time
      return res;
    },
    expected: [["sprint", "status_change"]],
  },
  closeSprint: {
    run: async (c) => {
      const s = await newSprint();
      await client.startSprint({ name: s.name }, setup());
      return client.closeSprint({ name: s.name }, headers(c));
    },
    expected: [["sprint", "status_change"]],
  },
  assignTasksToSprint: {
    run: async (c) =>
      client.assignTasksToSprint(
        { sprint: (await newSprint()).name, tasks: [(await newTask()).name] },
        headers(c),
      ),
    expected: [["task", "update"]],
  },
  createRelease: {
    run: (c) => client.createRelease({ release: { version: `v${randomUUID().slice(0, 12)}` } }, headers(c)),
    expected: [["release", "create"]],
  },
  updateRelease: {
    run: async (c) => {
      const r = await client.createRelease(
        { release: { version: `v${randomUUID().slice(0, 12)}` } },
        setup(),
      );
      return client.updateRelease(
        {
          release: { name: r.release?.name ?? "", description: "Notes" },
          updateMask: { paths: ["description"] },
        },
        headers(c),
      );
    },
    expected: [["release", "update"]],
  },
  deleteRelease: {
    run: async (c) => {
      const r = await client.createRelease(
        { release: { version: `v${randomUUID().slice(0, 12)}` } },
        setup(),
      );
      return client.deleteRelease({ name: r.release?.name ?? "" }, headers(c));
    },
    expected: [["release", "delete"]],
  },
  createMilestone: {
    run: (c) => client.createMilestone({ milestone: { displayName: "M1" } }, headers(c)),
    expected: [["milestone", "create"]],
  },
  updateMilestone: {
    run: async (c) => {
      const m = await client.createMilestone({ milestone: { displayName: "M2" } }, setup());
      return client.updateMilestone(
        {
          milestone: { name: m.milestone?.name ?? "", displayName: "M2 renamed" },
          updateMask: { paths: ["display_name"] },
        },
        headers(c),
      );
    },
    expected: [["milestone", "update"]],
  },
  deleteMilestone: {
    run: async (c) => {
      const m = await client.createMilestone({ milestone: { displayName: "M3" } }, setup());
      return client.deleteMilestone({ name: m.milestone?.name ?? "" }, headers(c));
    },
    expected: [["milestone", "delete"]],
  },
  createRelationship: {
    run: async (c) =>
      client.createRelationship(
        {
          parent: (await newTask()).name,
          relationship: { targetTask: (await newTask()).name, type: RelationshipType.RELATES_TO },
        },
        headers(c),
      ),
    expected: [["task_relationship", "create"]],
  },
  deleteRelationship: {
    run: async (c) => {
      const r = await client.createRelationship(
        {
          parent: (await newTask()).name,
          relationship: { targetTask: (await newTask()).name, type: RelationshipType.RELATES_TO },
        },
        setup(),
      );
      return client.deleteRelationship({ name: r.relationship?.name ?? "" }, headers(c));
    },
    expected: [["task_relationship", "delete"]],
  },
  createComment: {
    run: async (c) =>
      client.createComment({ parent: (await newTask()).name, comment: { content: "Hi" } }, headers(c)),
    expected: [["task_comment", "create"]],
  },
  updateComment: {
    run: async (c) => {
      // Only the author may edit or delete a comment: the auditor writes it first.
      const cm = await client.createComment(
        { parent: (await newTask()).name, comment: { content: "v1" } },
        headers(c),
      );
      return client.updateComment(
        { comment: { name: cm.comment?.name ?? "", content: "v2" }, updateMask: { paths: ["content"] } },
        headers(c),
      );
    },
    expected: [["task_comment", "update"]],
  },
  deleteComment: {
    run: async (c) => {
      // Only the author may edit or delete a comment: the auditor writes it first.
      const cm = await client.createComment(
        { parent: (await newTask()).name, comment: { content: "bye" } },
        headers(c),
      );
      return client.deleteComment({ name: cm.comment?.name ?? "" }, headers(c));
    },
    expected: [["task_comment", "delete"]],
  },
  uploadAttachment: {
    run: async (c) => client.uploadAttachment(upload((await newTask()).name), headers(c)),
    expected: [["task_attachment", "create"]],
  },
  deleteAttachment: {
    run: async (c) => {
      const a = await client.uploadAttachment(upload((await newTask()).name), setup());
      return client.deleteAttachment({ name: a.attachment?.name ?? "" }, headers(c));
    },
    expected: [["task_attachment", "delete"]],
  },
  createTimeLog: {
    run: async (c) =>
      client.createTimeLog(
        { parent: (await newTask()).name, timeLog: { logDate: day(), user: "worker", hours: 1.5 } },
        headers(c),
      ),
    expected: [
      ["task_time_log", "create"],
      ["task", "update"],
    ],
  },
  deleteTimeLog: {
    run: async (c) => {
      const tl = await client.createTimeLog(
        { parent: (await newTask()).name, timeLog: { logDate: day(), user: "worker", hours: 2 } },
        setup(),
      );
      return client.deleteTimeLog({ name: tl.timeLog?.name ?? "" }, headers(c));
    },
    expected: [["task_time_log", "delete"]],
  },
  claimNextTask: {
    run: async (c) => {
      const tag = `audit-${randomUUID().slice(0, 8)}`;
      await newTask({ tags: [tag], status: TaskStatus.READY });
      return client.claimNextTask({ selector: { tags: [tag] } }, headers(c));
    },
    expected: [["task", "update"]],
  },
  renewTaskClaim: {
    run: async (c) => {
      const { name, claimId } = await claimable(c);
      return client.renewTaskClaim({ name, claimId, leaseDuration: { seconds: 3600n } }, headers(c));
    },
    expected: [["task", "update"]],
  },
  releaseTaskClaim: {
    run: async (c) => {
      const { name, claimId } = await claimable(c);
      return client.releaseTaskClaim({ name, claimId }, headers(c));
    },
    expected: [["task", "update"]],
  },
};

const rowsOf = (actor: string) => auditRowsOf(sql, actor);

const mutating = mutatingMethods(TaskService);

describe("audit trail of TaskService", () => {
  it("has a scenario for every mutating RPC of the contract", () => {
    expect(mutating.length).toBeGreaterThan(20);
    expectScenarioPerRpc(
      mutating.map((m) => m.localName),
      scenarios,
    );
  });

  for (const method of mutating) {
    it(`${method.name} writes audit rows with the caller's context`, async () => {
      const { rows, ctx, expected } = await runAuditScenario(sql, scenarios, method.localName);
      expectAuditPairs(rows, expected);
      expectCallContext(rows, ctx);
    });
  }

  it("a failed call leaves no audit row (the whole transaction rolls back)", async () => {
    const existing = await newTask();
    const ctx = { actor: "auditor.failed@example.com", requestId: `req-${randomUUID()}` };
    // The first task is inserted, the second collides with an existing id: the batch fails as a whole.
    const failed = await client
      .batchCreateTasks(
        {
          requests: [
            { taskId: randomUUID(), task: { title: "Never" } },
            { taskId: uuid(existing.name), task: { title: "Dup" } },
          ],
        },
        headers(ctx),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(failed).toBeInstanceOf(ConnectError);
    // A stale etag fails inside the update transaction.
    const stale = await client
      .updateTask(
        { task: { name: existing.name, title: "Stale", etag: 'W/"999"' }, updateMask: { paths: ["title"] } },
        headers(ctx),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(stale).toBeInstanceOf(ConnectError);
    expect(await rowsOf(ctx.actor)).toEqual([]);
  });

  it("the chain over all of it verifies", async () => {
    await sql.query("select audit_seal()");
    expect((await sql.query("select * from audit_verify(5)")).rows).toEqual([]);
  });
});

const CALLER = { actor: "user:caller-context", requestId: `hdr-${randomUUID()}` };
const ACTOR = CALLER.actor;
const TRACE_ID = AUDIT_TRACE_ID;
const callerHeaders = auditHeaders(CALLER);

/*
 * What a write records about its caller besides the audit rows: the outbox event's actor / request_id /
 * trace_id and the status-history row's actor, for calls with an actor, a traceparent, an `x-request-id`
 * header and (where the request has one) a `request_id` field. The outbox's request_id is the request's
 * `request_id` field (null where the request has none), never the header.
 */
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

describe("the caller recorded in the outbox and the status history", () => {
  it("create, update and status transition record the caller's actor and trace id, and the request_id field", async () => {
    const createRequestId = randomUUID();
    const created = await client.createTask(
      { task: { title: "Caller context" }, requestId: createRequestId },
      callerHeaders,
    );
    const id = created.task?.name.split("/").at(-1) as string;

    await client.updateTask(
      {
        task: { name: created.task?.name ?? "", title: "Caller context 2" },
        updateMask: { paths: ["title"] },
      },
      callerHeaders,
    );
    const transitionRequestId = randomUUID();
    await client.transitionTaskStatus(
      { name: created.task?.name ?? "", status: TaskStatus.READY, requestId: transitionRequestId },
      callerHeaders,
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
      callerHeaders,
    );
    expect(await outbox(id, "task.claim")).toEqual([
      { actor: ACTOR, request_id: claimRequestId, trace_id: TRACE_ID },
    ]);
    await sql.query("update tasks set lease_expires_at = now() - interval '1 second' where id = $1", [id]);
    await client.claimNextTask({ selector: { tags: ["no-such-tag"] } }, callerHeaders);
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
