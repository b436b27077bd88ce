/**
 * Workflow RPCs end to end (real grpc-js server, real PostgreSQL): TransitionTaskStatus, GetStatusTransitions,
 * ListStatusHistory, GetTimeInStatusReport, GetEstimateAccuracyReport.
 */
import { type Duration, durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { StatusTransitionDetailSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/history_pb";
import { TaskStatus } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { EstimateGrouping, TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createLogger } from "@taskmaster/telemetry/logger";
import { describe, expect, it } from "vitest";
import { createServer } from "./server.js";
import { DEFAULT_STATUS_TRANSITIONS, parseStatusTransitions } from "./status-transitions.js";
import { createWorkflowHandlers } from "./workflow.handlers.js";
import {
  errorReason,
  expectError,
  marker,
  NIL_TASK,
  newTask,
  RANDOM_UUID,
  useHarness,
} from "./workflow.test-util.js";

const h = useHarness();

const msOf = (d: Duration | undefined) => (d === undefined ? 0 : durationMs(d));
const hoursOf = (d: Duration | undefined) => msOf(d) / 3_600_000;

const idOf = (name: string) => name.split("/")[1] as string;

async function transition(name: string, status: TaskStatus, extra: Record<string, unknown> = {}) {
  return h.client.transitionTaskStatus({ name, status, ...extra });
}

async function relate(source: string, type: string, target: string): Promise<void> {
  await h.sql(
    "insert into task_relationships (id, source_task_id, target_task_id, type) values (?, ?, ?, ?)",
    [RANDOM_UUID(), idOf(source), idOf(target), type],
  );
}

describe("GetStatusTransitions", () => {
  it("returns one rule per status and the done statuses", async () => {
    const res = await h.client.getStatusTransitions({});
    expect(res.rules).toHaveLength(11);
    const pending = res.rules.find((r) => r.fromStatus === TaskStatus.PENDING);
    expect(pending?.toStatuses).toContain(TaskStatus.IN_PROGRESS);
    expect(res.doneStatuses).toEqual([TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.ARCHIVED]);
  });

  it("honours a configured override and refuses an invalid one at start-up", async () => {
    const table = JSON.stringify({ transitions: { pending: ["completed"] }, done: ["completed"] });
    const server = createServer({
      orm: h.orm,
      logger: createLogger({ service: "t", level: "silent" }),
      statusTransitions: table,
    });
    const { port } = await server.listen("127.0.0.1", 0);
    try {
      const client = createClient(TaskService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      const res = await client.getStatusTransitions({});
      expect(res.rules.find((r) => r.fromStatus === TaskStatus.PENDING)?.toStatuses).toEqual([
        TaskStatus.COMPLETED,
      ]);
      expect(res.rules.find((r) => r.fromStatus === TaskStatus.READY)?.toStatuses).toEqual([]);
      const task = await newTask(client);
      await expectError(
        client.transitionTaskStatus({ name: task.name, status: TaskStatus.READY }),
        Code.FailedPrecondition,
      );
      const done = await client.transitionTaskStatus({ name: task.name, status: TaskStatus.COMPLETED });
      expect(done.task?.status).toBe(TaskStatus.COMPLETED);
    } finally {
      await server.shutdown(1_000);
    }
    for (const bad of [
      "{not json",
      "[]",
      JSON.stringify({ transitions: { pending: ["nope"] } }),
      JSON.stringify({ transitions: { bogus: [] } }),
      JSON.stringify({ transitions: { pending: ["pending"] } }),
      JSON.stringify({ transitions: {}, done: ["x"], extra: 1 }),
    ]) {
      expect(() => parseStatusTransitions(bad)).toThrow(/TASK_STATUS_TRANSITIONS/);
      expect(() => createWorkflowHandlers({ orm: h.orm, statusTransitions: bad })).toThrow();
    }
    expect(parseStatusTransitions(JSON.stringify(DEFAULT_STATUS_TRANSITIONS))).toEqual(
      DEFAULT_STATUS_TRANSITIONS,
    );
  });
});

describe("TransitionTaskStatus: good paths", () => {
  it("moves a task along, writing history, outbox events, start and complete times", async () => {
    const who = marker("ada");
    const task = await newTask(h.client);
    expect(task.status).toBe(TaskStatus.PENDING);
    const ready = await h.as(who).transitionTaskStatus({
      name: task.name,
      status: TaskStatus.READY,
      reason: "specified",
      etag: task.etag,
    });
    expect(ready.task?.status).toBe(TaskStatus.READY);
    expect(ready.task?.etag).not.toBe(task.etag);
    expect(ready.task?.startTime).toBeUndefined();
    const change = ready.statusChange;
    expect(change?.name).toMatch(new RegExp(`^${task.name}/statusChanges/[0-9a-f-]{36}$`));
    expect(change?.fromStatus).toBe(TaskStatus.PENDING);
    expect(change?.toStatus).toBe(TaskStatus.READY);
    expect(change?.changedBy).toBe(who);
    expect(change?.reason).toBe("specified");
    expect(change?.forced).toBe(false);
    expect(change?.timeInPreviousStatus).toBeDefined();

    const started = await transition(task.name, TaskStatus.IN_PROGRESS);
    const startTime = started.task?.startTime;
    expect(startTime).toBeDefined();
    const done = await transition(task.name, TaskStatus.COMPLETED);
    expect(done.task?.completeTime).toBeDefined();
    const reopened = await transition(task.name, TaskStatus.IN_PROGRESS);
    expect(reopened.task?.completeTime).toBeUndefined();
    // start_time is set on the first IN_PROGRESS only.
    expect(reopened.task?.startTime).toEqual(startTime);

    const history = await h.client.listStatusHistory({ parent: task.name });
    expect(history.statusChanges.map((c) => c.toStatus)).toEqual([
      TaskStatus.PENDING,
      TaskStatus.READY,
      TaskStatus.IN_PROGRESS,
      TaskStatus.COMPLETED,
      TaskStatus.IN_PROGRESS,
    ]);
    expect(history.statusChanges[0]?.fromStatus).toBe(TaskStatus.UNSPECIFIED);
    expect(history.statusChanges[0]?.timeInPreviousStatus).toBeUndefined();
    const events = await h.sql(
      "select payload from outbox_events where aggregate_id = ? and event_kind = 'task.status_changed' order by id",
      [idOf(task.name)],
    );
    expect(events.map((e) => (e.payload as { to: string }).to)).toEqual([
      "ready",
      "in_progress",
      "completed",
      "in_progress",
    ]);
    const got = await h.client.getTask({ name: task.name });
    expect(got.task?.etag).toBe(reopened.task?.etag);
  });

  it("stores SQL metacharacters and unicode in the reason verbatim", async () => {
    const task = await newTask(h.client);
    const reason = `'); drop table tasks; -- "x" \\ % _ 😀 Ünïcødé 中文`;
    const res = await transition(task.name, TaskStatus.READY, { reason });
    expect(res.statusChange?.reason).toBe(reason);
    const history = await h.client.listStatusHistory({ parent: task.name, orderBy: "change_time desc" });
    expect(history.statusChanges[0]?.reason).toBe(reason);
  });

  it("replays a retried request_id instead of transitioning twice", async () => {
    const task = await newTask(h.client);
    const requestId = RANDOM_UUID();
    const first = await transition(task.name, TaskStatus.READY, { requestId });
    const again = await transition(task.name, TaskStatus.READY, { requestId });
    expect(again.statusChange?.name).toBe(first.statusChange?.name);
    const history = await h.client.listStatusHistory({ parent: task.name });
    expect(history.statusChanges).toHaveLength(2);
  });

  it("concurrent transitions with the same request_id transition once and all return it", async () => {
    // Three rounds: one round does not always interleave the calls.
    for (let round = 0; round < 3; round++) {
      const task = await newTask(h.client);
      const requestId = RANDOM_UUID();
      const all = await Promise.all(
        [1, 2, 3, 4].map(() => transition(task.name, TaskStatus.READY, { requestId })),
      );
      expect(new Set(all.map((r) => r.statusChange?.name)).size).toBe(1);
      expect(new Set(all.map((r) => r.task?.etag)).size).toBe(1);
      const history = await h.client.listStatusHistory({ parent: task.name });
      expect(history.statusChanges).toHaveLength(2);
    }
  });

  it("lets exactly one of two concurrent writers with the same etag win", async () => {
    const task = await newTask(h.client);
    const results = await Promise.allSettled([
      transition(task.name, TaskStatus.READY, { etag: task.etag }),
      transition(task.name, TaskStatus.DRAFT, { etag: task.etag }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected");
    await expectError(Promise.reject(rejected?.reason), Code.Aborted);
    const history = await h.client.listStatusHistory({ parent: task.name });
    expect(history.statusChanges).toHaveLength(2);
  });
});

describe("TransitionTaskStatus: refusals", () => {
  it("refuses an illegal transition with a StatusTransitionDetail; force with a reason overrides it", async () => {
    const task = await newTask(h.client, { status: TaskStatus.DRAFT });
    const error = await expectError(transition(task.name, TaskStatus.COMPLETED), Code.FailedPrecondition);
    expect(errorReason(error)).toBe("ILLEGAL_STATUS_TRANSITION");
    const [detail] = error.findDetails(StatusTransitionDetailSchema);
    expect(detail?.fromStatus).toBe(TaskStatus.DRAFT);
    expect(detail?.toStatus).toBe(TaskStatus.COMPLETED);
    expect(detail?.allowedStatuses).toEqual([
      TaskStatus.PENDING,
      TaskStatus.READY,
      TaskStatus.CANCELLED,
      TaskStatus.ARCHIVED,
    ]);
    const forced = await transition(task.name, TaskStatus.COMPLETED, {
      force: true,
      forceReason: "migrated from the old tracker",
    });
    expect(forced.statusChange?.forced).toBe(true);
    expect(forced.statusChange?.reason).toContain("migrated from the old tracker");
    const history = await h.client.listStatusHistory({ parent: task.name, filter: "forced = true" });
    expect(history.statusChanges).toHaveLength(1);
  });

  it("refuses IN_PROGRESS while a blocker or dependency is open, unless forced", async () => {
    const task = await newTask(h.client);
    const blocker = await newTask(h.client);
    const dependency = await newTask(h.client);
    const doneOne = await newTask(h.client);
    await relate(blocker.name, "blocks", task.name);
    await relate(task.name, "depends_on", dependency.name);
    await relate(doneOne.name, "blocks", task.name);
    await transition(doneOne.name, TaskStatus.CANCELLED);

    const error = await expectError(transition(task.name, TaskStatus.IN_PROGRESS), Code.FailedPrecondition);
    expect(errorReason(error)).toBe("OPEN_BLOCKERS");
    const [detail] = error.findDetails(StatusTransitionDetailSchema);
    expect([...(detail?.openBlockers ?? [])].sort()).toEqual([blocker.name, dependency.name].sort());

    await transition(blocker.name, TaskStatus.IN_PROGRESS);
    await transition(blocker.name, TaskStatus.COMPLETED);
    const still = await expectError(transition(task.name, TaskStatus.IN_PROGRESS), Code.FailedPrecondition);
    expect(still.findDetails(StatusTransitionDetailSchema)[0]?.openBlockers).toEqual([dependency.name]);

    const forced = await transition(task.name, TaskStatus.IN_PROGRESS, {
      force: true,
      forceReason: "hotfix now",
    });
    expect(forced.task?.status).toBe(TaskStatus.IN_PROGRESS);
    expect(forced.statusChange?.forced).toBe(true);
  });

  it("validates every field and names it", async () => {
    const task = await newTask(h.client);
    await expectError(h.client.transitionTaskStatus({ name: "", status: 0 }), Code.InvalidArgument, [
      "name",
      "status",
    ]);
    await expectError(transition("tasks/not-a-uuid", TaskStatus.READY), Code.InvalidArgument, ["name"]);
    await expectError(transition(`sprints/${RANDOM_UUID()}`, TaskStatus.READY), Code.InvalidArgument, [
      "name",
    ]);
    await expectError(transition(task.name, 99 as TaskStatus), Code.InvalidArgument, ["status"]);
    await expectError(
      transition(task.name, TaskStatus.READY, { reason: "x".repeat(2_001) }),
      Code.InvalidArgument,
      ["reason"],
    );
    await expectError(transition(task.name, TaskStatus.READY, { force: true }), Code.InvalidArgument, [
      "force_reason",
    ]);
    await expectError(
      transition(task.name, TaskStatus.READY, { force: true, forceReason: "no " }),
      Code.InvalidArgument,
      ["force_reason"],
    );
    await expectError(
      transition(task.name, TaskStatus.READY, { forceReason: "without force" }),
      Code.InvalidArgument,
      ["force_reason"],
    );
    await expectError(transition(task.name, TaskStatus.READY, { etag: "garbage" }), Code.InvalidArgument, [
      "etag",
    ]);
    await expectError(transition(task.name, TaskStatus.READY, { requestId: "nope" }), Code.InvalidArgument, [
      "request_id",
    ]);
    await expectError(transition(task.name, TaskStatus.READY, { reason: "nul\0" }), Code.InvalidArgument, [
      "reason",
    ]);
    await expectError(transition(task.name, TaskStatus.PENDING), Code.InvalidArgument, ["status"]);
  });

  it("NOT_FOUND for unknown tasks, ABORTED for stale etags", async () => {
    await expectError(transition(NIL_TASK, TaskStatus.READY), Code.NotFound);
    const task = await newTask(h.client);
    await transition(task.name, TaskStatus.READY);
    const stale = await expectError(
      transition(task.name, TaskStatus.PENDING, { etag: task.etag }),
      Code.Aborted,
    );
    expect(errorReason(stale)).toBe("ETAG_MISMATCH");
    await expectError(transition(task.name, TaskStatus.PENDING, { etag: 'W/"999"' }), Code.Aborted);
  });
});

describe("soft-deleted tasks", () => {
  it("refuse transitions, comments and time logs with FAILED_PRECONDITION", async () => {
    const task = await newTask(h.client);
    await h.sql("update tasks set deleted_at = now() where id = ?", [task.uid]);
    // Thunks, not promises: each call starts only when awaited, so no rejection is left unhandled.
    const refusals = [
      () => transition(task.name, TaskStatus.READY),
      () => h.client.createComment({ parent: task.name, comment: { content: "late" } }),
      () =>
        h.client.createTimeLog({
          parent: task.name,
          timeLog: { hours: 1, user: "u", logDate: { year: 2025, month: 1, day: 1 } },
        }),
    ];
    for (const call of refusals) {
      const error = await expectError(call(), Code.FailedPrecondition);
      expect(errorReason(error)).toBe("RESOURCE_DELETED");
    }
    // Its history stays readable.
    expect((await h.client.listStatusHistory({ parent: task.name })).statusChanges).toHaveLength(1);
  });
});

describe("ListStatusHistory", () => {
  it("pages in order, both directions, and across all tasks", async () => {
    const task = await newTask(h.client);
    const path = [
      TaskStatus.READY,
      TaskStatus.PENDING,
      TaskStatus.READY,
      TaskStatus.PENDING,
      TaskStatus.READY,
    ];
    for (const s of path) await transition(task.name, s);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const res = await h.client.listStatusHistory({ parent: task.name, pageSize: 2, pageToken });
      seen.push(...res.statusChanges.map((c) => c.name));
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken !== "");
    expect(pages).toBe(3);
    expect(seen).toHaveLength(6);
    const desc = await h.client.listStatusHistory({
      parent: task.name,
      orderBy: "change_time desc",
      pageSize: 1000,
    });
    expect(desc.statusChanges.map((c) => c.name)).toEqual([...seen].reverse());
    const filtered = await h.client.listStatusHistory({
      parent: task.name,
      filter: "to_status = READY AND from_status = TASK_STATUS_PENDING",
    });
    expect(filtered.statusChanges).toHaveLength(3);
    const all = await h.client.listStatusHistory({ parent: "tasks/-", pageSize: 5000 });
    expect(all.statusChanges.length).toBeGreaterThanOrEqual(6);
    expect(all.statusChanges.length).toBeLessThanOrEqual(1000);
    const since = await h.client.listStatusHistory({
      parent: "tasks/-",
      filter: `change_time >= "${new Date(Date.now() + 3_600_000).toISOString()}"`,
    });
    expect(since.statusChanges).toEqual([]);
  });

  it("rejects bad arguments and unknown tasks", async () => {
    const task = await newTask(h.client);
    await expectError(h.client.listStatusHistory({ parent: "" }), Code.InvalidArgument, ["parent"]);
    await expectError(h.client.listStatusHistory({ parent: "tasks/x" }), Code.InvalidArgument, ["parent"]);
    await expectError(h.client.listStatusHistory({ parent: task.name, pageSize: -1 }), Code.InvalidArgument, [
      "page_size",
    ]);
    await expectError(
      h.client.listStatusHistory({ parent: task.name, pageToken: "bogus" }),
      Code.InvalidArgument,
      ["page_token"],
    );
    for (const filter of [
      "status = READY",
      "to_status = NOPE",
      "to_status ~ READY",
      'forced = "maybe"',
      "to_status =",
    ]) {
      await expectError(h.client.listStatusHistory({ parent: task.name, filter }), Code.InvalidArgument, [
        "filter",
      ]);
    }
    await expectError(
      h.client.listStatusHistory({ parent: task.name, orderBy: "title" }),
      Code.InvalidArgument,
      ["order_by"],
    );
    await expectError(h.client.listStatusHistory({ parent: NIL_TASK }), Code.NotFound);
    // A token is bound to the request it came from.
    await transition(task.name, TaskStatus.READY);
    const first = await h.client.listStatusHistory({ parent: task.name, pageSize: 1 });
    expect(first.nextPageToken).not.toBe("");
    await expectError(
      h.client.listStatusHistory({
        parent: task.name,
        pageSize: 1,
        pageToken: first.nextPageToken,
        filter: "forced = false",
      }),
      Code.InvalidArgument,
      ["page_token"],
    );
  });
});

describe("GetTimeInStatusReport", () => {
  it("sums time per status from the history, clipped to the range", async () => {
    const task = await newTask(h.client);
    const id = idOf(task.name);
    await h.sql("update task_status_history set changed_at = '2026-01-01T00:00:00Z' where task_id = ?", [id]);
    for (const [from, to, at] of [
      ["pending", "in_progress", "2026-01-01T02:00:00Z"],
      ["in_progress", "review", "2026-01-01T05:00:00Z"],
      ["review", "in_progress", "2026-01-01T06:00:00Z"],
      ["in_progress", "completed", "2026-01-01T07:00:00Z"],
    ] as const) {
      await h.sql(
        "insert into task_status_history (id, task_id, from_status, to_status, changed_at) values (?, ?, ?, ?, ?)",
        [RANDOM_UUID(), id, from, to, at],
      );
    }
    const res = await h.client.getTimeInStatusReport({
      scope: { case: "task", value: task.name },
      timeRange: {
        startTime: timestampFromDate(new Date("2026-01-01T01:00:00Z")),
        endTime: timestampFromDate(new Date("2026-01-01T08:00:00Z")),
      },
    });
    expect(res.taskCount).toBe(1);
    const hours = Object.fromEntries(
      res.entries.map((e) => [TaskStatus[e.status], [hoursOf(e.totalDuration), e.entryCount]]),
    );
    expect(hours).toEqual({ PENDING: [1, 1], IN_PROGRESS: [4, 2], REVIEW: [1, 1], COMPLETED: [1, 1] });
    const inProgress = res.entries.find((e) => e.status === TaskStatus.IN_PROGRESS);
    expect(msOf(inProgress?.meanDuration)).toBe(2 * 3_600_000);

    const unbounded = await h.client.getTimeInStatusReport({ scope: { case: "task", value: task.name } });
    const completed = unbounded.entries.find((e) => e.status === TaskStatus.COMPLETED);
    // The open COMPLETED interval counts until now.
    expect(msOf(completed?.totalDuration)).toBeGreaterThan(3_600_000);
  });

  it("supports filter and sprint scopes and rejects bad requests", async () => {
    const who = marker("tis");
    const a = await newTask(h.client, { assignedTo: who });
    await newTask(h.client, { assignedTo: who });
    await transition(a.name, TaskStatus.READY);
    const res = await h.client.getTimeInStatusReport({
      scope: { case: "filter", value: `assigned_to = "${who}"` },
    });
    expect(res.taskCount).toBe(2);
    expect(res.entries.find((e) => e.status === TaskStatus.PENDING)?.entryCount).toBe(2);
    expect(res.entries.find((e) => e.status === TaskStatus.READY)?.entryCount).toBe(1);
    const none = await h.client.getTimeInStatusReport({
      scope: { case: "filter", value: `assigned_to = "nobody-${who}"` },
    });
    expect(none).toMatchObject({ taskCount: 0, entries: [] });

    await expectError(h.client.getTimeInStatusReport({}), Code.InvalidArgument, ["scope"]);
    await expectError(
      h.client.getTimeInStatusReport({ scope: { case: "task", value: "tasks/1" } }),
      Code.InvalidArgument,
      ["task"],
    );
    await expectError(
      h.client.getTimeInStatusReport({ scope: { case: "filter", value: "nope = 1" } }),
      Code.InvalidArgument,
      ["filter"],
    );
    await expectError(
      h.client.getTimeInStatusReport({
        scope: { case: "task", value: a.name },
        timeRange: {
          startTime: timestampFromDate(new Date(2_000)),
          endTime: timestampFromDate(new Date(1_000)),
        },
      }),
      Code.InvalidArgument,
      ["time_range.end_time"],
    );
    await expectError(
      h.client.getTimeInStatusReport({ scope: { case: "task", value: NIL_TASK } }),
      Code.NotFound,
    );
    await expectError(
      h.client.getTimeInStatusReport({ scope: { case: "sprint", value: `sprints/${RANDOM_UUID()}` } }),
      Code.NotFound,
    );
  });
});

describe("GetEstimateAccuracyReport", () => {
  it("compares estimates with logged hours, overall row first, then per group", async () => {
    const who = marker("est");
    const other = marker("est2");
    const today = new Date();
    const logDate = { year: today.getUTCFullYear(), month: today.getUTCMonth() + 1, day: today.getUTCDate() };
    const plan: [string, number, number][] = [
      [who, 4, 6],
      [who, 10, 8],
      [other, 2, 2],
    ];
    for (const [assignee, estimate, actual] of plan) {
      const t = await newTask(h.client, { assignedTo: assignee, estimatedHours: estimate });
      await h.client.createTimeLog({ parent: t.name, timeLog: { hours: actual, logDate, user: assignee } });
      await transition(t.name, TaskStatus.IN_PROGRESS);
      await transition(t.name, TaskStatus.COMPLETED);
    }
    // Not completed: excluded by the default scope.
    const open = await newTask(h.client, { assignedTo: who, estimatedHours: 1 });
    await h.client.createTimeLog({ parent: open.name, timeLog: { hours: 5, logDate, user: who } });

    const res = await h.client.getEstimateAccuracyReport({
      filter: `status = COMPLETED AND assigned_to = "${who}"`,
      groupBy: EstimateGrouping.ASSIGNEE,
    });
    expect(res.rows.map((r) => r.groupKey)).toEqual(["", who]);
    expect(res.rows[0]).toMatchObject({
      taskCount: 2,
      estimatedHours: 14,
      actualHours: 14,
      actualToEstimateRatio: 1,
    });
    expect(res.rows[0]?.meanAbsoluteErrorHours).toBe(2);

    const overall = await h.client.getEstimateAccuracyReport({
      timeRange: { startTime: timestampFromDate(new Date(Date.now() - 3_600_000)) },
      groupBy: EstimateGrouping.ASSIGNEE,
    });
    expect(overall.rows[0]?.groupKey).toBe("");
    expect(overall.rows.map((r) => r.groupKey)).toEqual(expect.arrayContaining([who, other]));
    const mine = overall.rows.find((r) => r.groupKey === who);
    expect(mine?.taskCount).toBe(2);

    await expectError(
      h.client.getEstimateAccuracyReport({ groupBy: 42 as EstimateGrouping }),
      Code.InvalidArgument,
      ["group_by"],
    );
    await expectError(h.client.getEstimateAccuracyReport({ filter: "status = NOPE" }), Code.InvalidArgument, [
      "filter",
    ]);
  });
});
