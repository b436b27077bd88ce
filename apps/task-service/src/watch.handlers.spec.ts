/**
 * WatchTasks end to end: events from the outbox in order, resume with a token after a disconnect (exactly
 * the missed events, once, in order), filters, uncommitted/rolled-back id gaps, validation, and the shared
 * LISTEN connection closing with the last stream. Real grpc-js + PostgreSQL; no sleeps.
 */
import { randomUUID } from "node:crypto";
import { fromJson, type MessageInitShape, toBinary, toJson } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { BadRequestSchema, ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import {
  type TaskChangeEvent,
  TaskChangeEventSchema,
  TaskEventKind,
} from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import type {
  TaskService,
  WatchTasksRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./workflow.test-util.js";

let harness: Harness;
let db: TestDatabase;
let orm: MikroORM;
let client: Client<typeof TaskService>;

beforeAll(async () => {
  harness = await startHarness({}, { applicationName: "watch-spec", service: "watch-test" });
  ({ db, orm, client } = harness);
});

afterAll(async () => {
  await harness?.close();
});

async function sql(query: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return orm.em.fork().getConnection().execute(query, params);
}
const latestToken = async () =>
  String((await sql(`select coalesce(max(id), 0)::text as id from outbox_events`))[0]?.id);

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A watch running in the background, collecting its events until stopped. */
function watch(req: MessageInitShape<typeof WatchTasksRequestSchema>) {
  const abort = new AbortController();
  const events: TaskChangeEvent[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const m of client.watchTasks(req, { signal: abort.signal })) {
        if (m.message.case === "event") events.push(m.message.value);
      }
    } catch (e) {
      error = e;
    }
  })();
  return {
    events,
    get error() {
      return error;
    },
    async stop() {
      abort.abort();
      await done;
    },
    done,
  };
}

/** A second connection in an open transaction that inserted an outbox event (its id taken, not committed). */
async function uncommittedEvent(taskId: string): Promise<pg.Client> {
  const held = new pg.Client({ connectionString: db.url });
  await held.connect();
  try {
    await held.query("begin");
    await held.query(
      `insert into outbox_events (aggregate_type, aggregate_id, event_kind) values ('task', $1, 'task.updated')`,
      [taskId],
    );
  } catch (error) {
    await held.end();
    throw error;
  }
  return held;
}

async function newTask(title: string): Promise<string> {
  return (await client.createTask({ task: { title } })).task?.name as string;
}

describe("WatchTasks", () => {
  it("streams events in order and resumes after a disconnect with exactly the missed events", async () => {
    const start = await latestToken();
    const a = await newTask("watched A; drop table tasks;-- ü🚀");
    const w1 = watch({ resumeToken: start, tasks: [] });
    await until(() => w1.events.some((e) => e.task === a), "the first event");
    const created = w1.events.find((e) => e.task === a) as TaskChangeEvent;
    expect(created.kind).toBe(TaskEventKind.CREATED);
    expect(created.taskSnapshot?.title).toBe("watched A; drop table tasks;-- ü🚀");
    expect(created.header?.resumeToken).toMatch(/^[0-9]+$/);
    expect(created.header?.eventId).toMatch(/^[0-9a-f-]{36}$/);
    const b = await newTask("watched B");
    await until(() => w1.events.some((e) => e.task === b), "the second event");
    const token = w1.events.at(-1)?.header?.resumeToken as string;
    await w1.stop();

    const missed = [await newTask("missed 1"), await newTask("missed 2"), await newTask("missed 3")];
    const w2 = watch({ resumeToken: token });
    await until(() => w2.events.length >= 3, "the missed events");
    const more = await newTask("live after resume");
    await until(() => w2.events.length >= 4, "the live event");
    await w2.stop();
    expect(w2.events.map((e) => e.task)).toEqual([...missed, more]);
    const seqs = w2.events.map((e) => e.header?.sequence as bigint);
    expect([...seqs].sort((x, y) => (x < y ? -1 : 1))).toEqual(seqs);
    expect(new Set(w2.events.map((e) => e.header?.eventId)).size).toBe(4);
  });

  it("filters by kinds, tasks and the ListTasks filter", async () => {
    const start = await latestToken();
    const who = `watcher-${randomUUID().slice(0, 8)}`;
    const t1 = await newTask("task one");
    const t2 = (await client.createTask({ task: { title: "task two", assignedTo: who } })).task
      ?.name as string;
    await sql(
      `insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload) values ('task', ?, 'task.attachment', '{"attachmentId":"00000000-0000-0000-0000-000000000001"}')`,
      [t1.split("/")[1]],
    );
    const byTask = watch({ resumeToken: start, tasks: [t1] });
    const byKind = watch({ resumeToken: start, kinds: [TaskEventKind.ATTACHMENT] });
    const byFilter = watch({ resumeToken: start, filter: `assigned_to = "${who}"` });
    await until(
      () => byTask.events.length >= 2 && byKind.events.length >= 1 && byFilter.events.length >= 1,
      "filtered events",
    );
    await Promise.all([byTask.stop(), byKind.stop(), byFilter.stop()]);
    expect(byTask.events.map((e) => e.kind)).toEqual([TaskEventKind.CREATED, TaskEventKind.ATTACHMENT]);
    expect(byKind.events.map((e) => [e.task, e.relatedResource])).toEqual([
      [t1, `${t1}/attachments/00000000-0000-0000-0000-000000000001`],
    ]);
    expect(byFilter.events.map((e) => e.task)).toEqual([t2]);
  });

  it("never skips an id committed late, and skips rolled-back ids", async () => {
    const start = await latestToken();
    const held = new pg.Client({ connectionString: db.url });
    await held.connect();
    try {
      const w = watch({ resumeToken: start });
      const early = await newTask("early");
      await held.query("begin");
      const id = (await sql(`select id from tasks where id = ?`, [early.split("/")[1]]))[0]?.id;
      await held.query(
        `insert into outbox_events (aggregate_type, aggregate_id, event_kind) values ('task', $1, 'task.updated')`,
        [id],
      );
      const later = await newTask("later, committed first");
      await until(() => w.events.some((e) => e.task === early), "the early event");
      await held.query("commit");
      await until(() => w.events.some((e) => e.task === later), "the later event");
      expect(w.events.map((e) => [e.task, e.kind])).toEqual([
        [early, TaskEventKind.CREATED],
        [early, TaskEventKind.UPDATED],
        [later, TaskEventKind.CREATED],
      ]);
      await held.query("begin");
      await held.query(
        `insert into outbox_events (aggregate_type, aggregate_id, event_kind) values ('task', $1, 'task.updated')`,
        [id],
      );
      await held.query("rollback");
      const after = await newTask("after a rollback");
      await until(
        () => w.events.some((e) => e.task === after),
        `the event after the rolled-back id ${String(w.error)}`,
      );
      await w.stop();
      expect(w.events).toHaveLength(4);
    } finally {
      await held.end();
    }
  });

  it("validates the request and refuses tokens older than the retention", async () => {
    const bad = watch({
      kinds: [0 as TaskEventKind],
      tasks: ["tasks/x"],
      resumeToken: "abc",
      heartbeatInterval: { seconds: 1n },
    });
    await bad.done;
    expect(bad.error).toBeInstanceOf(ConnectError);
    const err = bad.error as ConnectError;
    expect(err.code).toBe(Code.InvalidArgument);
    expect(
      err
        .findDetails(BadRequestSchema)
        .flatMap((b) => b.fieldViolations.map((v) => v.field))
        .sort(),
    ).toEqual(["heartbeat_interval", "kinds[0]", "resume_token", "tasks[0]"].sort());
    const badFilter = watch({ filter: "status = = =" });
    await badFilter.done;
    expect((badFilter.error as ConnectError).code).toBe(Code.InvalidArgument);

    await newTask("so the outbox is not empty");
    await sql(`delete from outbox_events where id = (select min(id) from outbox_events)`);
    const old = watch({ resumeToken: "0" });
    await old.done;
    expect((old.error as ConnectError).code).toBe(Code.OutOfRange);
    expect((old.error as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("RESUME_TOKEN_EXPIRED");
  });

  it("refuses an old token when retention emptied the outbox, and still accepts the newest one", async () => {
    await newTask("an event that retention will prune");
    const newest = await latestToken();
    const before = String(BigInt(newest) - 1n);
    await sql("delete from outbox_events");
    const old = watch({ resumeToken: before });
    await old.done;
    expect((old.error as ConnectError | undefined)?.code).toBe(Code.OutOfRange);
    expect((old.error as ConnectError).findDetails(ErrorInfoSchema)[0]).toMatchObject({
      reason: "RESUME_TOKEN_EXPIRED",
      metadata: { resumeToken: before, oldestKeptToken: newest },
    });
    // The newest token lost nothing: it resumes with the next event.
    const current = watch({ resumeToken: newest });
    const next = await newTask("after pruning");
    await until(() => current.events.some((e) => e.task === next), "the event after pruning");
    expect(current.error).toBeUndefined();
    await current.stop();
  });

  it("accepts the newest token on an emptied outbox while another transaction holds an uncommitted event", async () => {
    const task = await newTask("its event is pruned, then another one is in flight");
    const newest = await latestToken();
    await sql("delete from outbox_events");
    // The id sequence moves past the newest token before the insert commits. The lock on tasks stops the
    // stream's first read (it joins tasks) until the commit, so the token is judged while the insert is open.
    const held = await uncommittedEvent(task.split("/")[1] as string);
    try {
      await held.query("lock table tasks in access exclusive mode");
      const heldPid = (await held.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid;
      const current = watch({ resumeToken: newest });
      await until(
        async () =>
          current.error !== undefined ||
          Number(
            (
              await sql(
                `select count(*)::int as n from pg_stat_activity where ? = any(pg_blocking_pids(pid))`,
                [heldPid],
              )
            )[0]?.n,
          ) > 0,
        "the stream to read past the token check (or fail it)",
      );
      expect(current.error).toBeUndefined();
      await held.query("commit");
      await until(
        () => current.events.some((e) => e.task === task) || current.error !== undefined,
        "the event committed after the resume",
      );
      expect(current.error).toBeUndefined();
      expect(current.events.map((e) => [e.task, e.kind])).toEqual([[task, TaskEventKind.UPDATED]]);
      await current.stop();
    } finally {
      await held.end();
    }
  });

  it("accepts a token followed by a rolled-back id when retention pruned up to the token", async () => {
    await newTask("pruned up to here");
    const token = await latestToken();
    const held = await uncommittedEvent(randomUUID());
    try {
      await held.query("rollback");
    } finally {
      await held.end();
    }
    const next = await newTask("after the gap");
    await sql(`delete from outbox_events where id <= ?`, [token]);
    const w = watch({ resumeToken: token });
    await until(
      () => w.events.some((e) => e.task === next) || w.error !== undefined,
      "the event after the gap",
    );
    expect(w.error).toBeUndefined();
    expect(w.events.map((e) => e.task)).toEqual([next]);
    await w.stop();
    // One before the pruned event is expired, and the error names the oldest token that still resumes.
    const old = watch({ resumeToken: String(BigInt(token) - 1n) });
    await old.done;
    expect((old.error as ConnectError | undefined)?.code).toBe(Code.OutOfRange);
    expect((old.error as ConnectError).findDetails(ErrorInfoSchema)[0]).toMatchObject({
      reason: "RESUME_TOKEN_EXPIRED",
      metadata: { resumeToken: String(BigInt(token) - 1n), oldestKeptToken: token },
    });
  });

  it("sends heartbeats when idle and closes the shared LISTEN connection with the last stream", async () => {
    const listeners = async () =>
      Number(
        (
          await sql(
            `select count(*)::int as n from pg_stat_activity where application_name like '%-listen' and datname = current_database()`,
          )
        )[0]?.n,
      );
    const abort = new AbortController();
    const seen: string[] = [];
    const run = (req: MessageInitShape<typeof WatchTasksRequestSchema>) =>
      (async () => {
        try {
          for await (const m of client.watchTasks(req, { signal: abort.signal }))
            seen.push(m.message.case ?? "");
        } catch {
          // cancelled below
        }
      })();
    const running = [run({ heartbeatInterval: { seconds: 5n } }), run({})];
    await until(() => seen.includes("heartbeat"), "a heartbeat", 10_000);
    expect(await listeners()).toBe(1);
    abort.abort();
    await Promise.all(running);
    await until(async () => (await listeners()) === 0, "the LISTEN connection to close");
  });
});

/** The event survives JSON (the Connect / gRPC-Web JSON encoding) and binary unchanged. */
function expectJsonRoundTrip(event: TaskChangeEvent): void {
  const json = toJson(TaskChangeEventSchema, event);
  expect(toBinary(TaskChangeEventSchema, fromJson(TaskChangeEventSchema, json))).toEqual(
    toBinary(TaskChangeEventSchema, event),
  );
}

describe("WatchTasks payloads", () => {
  it("UPDATED carries changed_fields as proto paths, also for outbox rows stored with camelCase paths", async () => {
    const start = await latestToken();
    const name = await newTask("field mask");
    await client.updateTask({
      task: { name, storyPoints: 5, dueTime: { seconds: 2_000_000_000n } },
      updateMask: { paths: ["story_points", "due_time"] },
    });
    // An event as servers before the fix stored it: persistence keys, not proto paths.
    await sql(
      `insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload)
       values ('task', ?, 'task.updated', '{"fields":["storyPoints","dueDate","sprintId","testCoverageTarget"]}')`,
      [name.split("/")[1]],
    );
    const w = watch({ resumeToken: start, tasks: [name], kinds: [TaskEventKind.UPDATED] });
    await until(() => w.events.length >= 2, "both UPDATED events");
    await w.stop();
    expect(w.events.map((e) => e.changedFields?.paths)).toEqual([
      ["story_points", "due_time"],
      ["story_points", "due_time", "sprint", "test_coverage_target"],
    ]);
    for (const e of w.events) expectJsonRoundTrip(e);
  });

  it("COMMENT and TIME_LOG events carry the comment and the time log (deleted ones too)", async () => {
    const start = await latestToken();
    const name = await newTask("collaboration");
    const comment = (await client.createComment({ parent: name, comment: { content: "looks good" } }))
      .comment;
    const now = new Date();
    const log = (
      await client.createTimeLog({
        parent: name,
        timeLog: {
          hours: 1.5,
          user: "worker",
          logDate: { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1, day: now.getUTCDate() },
        },
      })
    ).timeLog;
    await client.deleteTimeLog({ name: log?.name ?? "" });
    const w = watch({
      resumeToken: start,
      tasks: [name],
      kinds: [TaskEventKind.COMMENT, TaskEventKind.TIME_LOG],
    });
    await until(() => w.events.length >= 3, "the comment and time log events");
    await w.stop();
    const [commented, logged, unlogged] = w.events;
    expect(commented?.kind).toBe(TaskEventKind.COMMENT);
    expect(commented?.comment).toEqual(comment);
    expect(logged?.kind).toBe(TaskEventKind.TIME_LOG);
    expect(logged?.timeLog).toEqual(log);
    expect(unlogged?.kind).toBe(TaskEventKind.TIME_LOG);
    expect(unlogged?.timeLog).toEqual(log);
    for (const e of w.events) expectJsonRoundTrip(e);
  });
});
