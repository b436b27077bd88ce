/** Time-log RPCs end to end (real grpc-js server, real PostgreSQL). */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { TimeLogGrouping } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { describe, expect, it } from "vitest";
import { expectError, marker, NIL_TASK, newTask, RANDOM_UUID, useHarness } from "./workflow.test-util.js";

const h = useHarness();

/** A UTC calendar day `offset` days from today as google.type.Date fields. */
function day(offset = 0) {
  const d = new Date(Date.now() + offset * 86_400_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}
const iso = (d: { year: number; month: number; day: number }) =>
  `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;

async function newSprint(): Promise<string> {
  const id = RANDOM_UUID();
  await h.sql("insert into sprints (id, name) values (?, ?)", [id, marker("sprint")]);
  return `sprints/${id}`;
}

async function log(parent: string, fields: Record<string, unknown>) {
  const res = await h.client.createTimeLog({
    parent,
    timeLog: { logDate: day(), user: "worker", ...fields },
  });
  if (!res.timeLog) throw new Error("no time log");
  return res;
}

describe("CreateTimeLog / GetTimeLog / DeleteTimeLog", () => {
  it("logs time, recomputes actual hours (bumping the task version) and records outbox events", async () => {
    const ada = marker("ada");
    const sprint = await newSprint();
    const task = await newTask(h.client, { sprint });
    const start = new Date(Date.now() - 3 * 3_600_000);
    const res = await h.as(ada).createTimeLog({
      parent: task.name,
      timeLog: {
        hours: 1.5,
        logDate: day(),
        description: `'); drop table task_time_logs; -- 😀 Ünïcødé`,
        billable: true,
        startTime: timestampFromDate(start),
        endTime: timestampFromDate(new Date(start.getTime() + 90 * 60_000)),
      },
    });
    const entry = res.timeLog;
    expect(entry?.name).toMatch(new RegExp(`^${task.name}/timeLogs/[0-9a-f-]{36}$`));
    expect(entry).toMatchObject({
      user: ada,
      activityType: "development",
      description: `'); drop table task_time_logs; -- 😀 Ünïcødé`,
      hours: 1.5,
      logDate: { year: day().year, month: day().month, day: day().day },
      billable: true,
      sprint,
    });
    expect(res.taskActualHours).toBe(1.5);
    const second = await log(task.name, { hours: 2.25, activityType: "review" });
    expect(second.taskActualHours).toBe(3.75);
    const after = await h.client.getTask({ name: task.name });
    expect(after.task?.actualHours).toBe(3.75);
    expect(after.task?.etag).not.toBe(task.etag);

    const got = await h.client.getTimeLog({ name: entry?.name ?? "" });
    expect(got.timeLog).toEqual(entry);
    const del = await h.client.deleteTimeLog({ name: entry?.name ?? "" });
    expect(del.taskActualHours).toBe(2.25);
    await expectError(h.client.getTimeLog({ name: entry?.name ?? "" }), Code.NotFound);
    await expectError(h.client.deleteTimeLog({ name: entry?.name ?? "" }), Code.NotFound);
    expect((await h.client.getTask({ name: task.name })).task?.actualHours).toBe(2.25);
    const events = await h.sql(
      "select payload->>'action' as action from outbox_events where aggregate_id = ? and event_kind = 'task.time_log' order by id",
      [task.uid],
    );
    expect(events.map((e) => e.action)).toEqual(["created", "created", "deleted"]);
  });

  it("keeps actual hours exact under concurrent logging", async () => {
    const task = await newTask(h.client);
    await Promise.all(Array.from({ length: 12 }, () => log(task.name, { hours: 0.25 })));
    expect((await h.client.getTask({ name: task.name })).task?.actualHours).toBe(3);
  });

  it("is idempotent on request_id and writes nothing with validate_only", async () => {
    const task = await newTask(h.client);
    const requestId = RANDOM_UUID();
    const req = { parent: task.name, timeLog: { hours: 1, logDate: day(), user: "u" }, requestId };
    const a = await h.client.createTimeLog(req);
    const b = await h.client.createTimeLog(req);
    expect(b.timeLog?.name).toBe(a.timeLog?.name);
    expect(b.taskActualHours).toBe(1);
    const dry = await h.client.createTimeLog({ ...req, requestId: "", validateOnly: true });
    expect(dry.timeLog).toBeUndefined();
    expect((await h.client.getTask({ name: task.name })).task?.actualHours).toBe(1);
    await expectError(
      h.client.createTimeLog({ ...req, parent: NIL_TASK, requestId: "", validateOnly: true }),
      Code.NotFound,
    );
  });

  it("accepts the bounds: 24 hours, today", async () => {
    const task = await newTask(h.client);
    const res = await log(task.name, { hours: 24 });
    expect(res.taskActualHours).toBe(24);
  });

  it("takes activity_type as free text of 1-50 characters (the ten usual values are suggestions)", async () => {
    const task = await newTask(h.client);
    const seed = await log(task.name, { hours: 2.5, activityType: "Initial research and planning" });
    expect(seed.timeLog?.activityType).toBe("Initial research and planning");
    const longest = await log(task.name, { hours: 1, activityType: "a".repeat(50) });
    expect(longest.timeLog?.activityType).toBe("a".repeat(50));
    const f = async (filter: string) =>
      (await h.client.listTimeLogs({ parent: task.name, filter })).timeLogs.map((l) => l.activityType);
    expect(await f('activity_type = "Initial research and planning"')).toEqual([
      "Initial research and planning",
    ]);
  });

  it("rejects invalid entries naming the fields", async () => {
    const task = await newTask(h.client);
    const bad = (timeLog: Record<string, unknown>, fields: string[]) =>
      expectError(
        h.client.createTimeLog({
          parent: task.name,
          timeLog: { hours: 1, logDate: day(), user: "u", ...timeLog },
        }),
        Code.InvalidArgument,
        fields,
      );
    await expectError(h.client.createTimeLog({ parent: "" }), Code.InvalidArgument, ["parent", "time_log"]);
    await bad({ hours: 0 }, ["time_log.hours"]);
    await bad({ hours: -1 }, ["time_log.hours"]);
    await bad({ hours: 24.01 }, ["time_log.hours"]);
    await bad({ hours: Number.NaN }, ["time_log.hours"]);
    await bad({ hours: 0.001 }, ["time_log.hours"]);
    await bad({ logDate: undefined }, ["time_log.log_date"]);
    await bad({ logDate: day(1) }, ["time_log.log_date"]);
    await bad({ logDate: { year: 2025, month: 2, day: 30 } }, ["time_log.log_date"]);
    await bad({ logDate: { year: 2025, month: 0, day: 0 } }, ["time_log.log_date"]);
    await bad({ startTime: timestampFromDate(new Date()) }, ["time_log.end_time"]);
    await bad({ endTime: timestampFromDate(new Date()) }, ["time_log.start_time"]);
    await bad(
      { startTime: timestampFromDate(new Date(2_000_000)), endTime: timestampFromDate(new Date(1_000_000)) },
      ["time_log.end_time"],
    );
    await bad({ activityType: "   " }, ["time_log.activity_type"]);
    await bad({ activityType: "x".repeat(51) }, ["time_log.activity_type"]);
    await bad({ description: "d".repeat(2_001) }, ["time_log.description"]);
    await bad({ description: "nul\0" }, ["time_log.description"]);
    await bad({ user: "   " }, ["time_log.user"]);
    await bad({ user: "u".repeat(256) }, ["time_log.user"]);
    await bad({ sprint: "sprints/x" }, ["time_log.sprint"]);
    // Without a caller identity the user must be given.
    await expectError(
      h.client.createTimeLog({ parent: task.name, timeLog: { hours: 1, logDate: day() } }),
      Code.InvalidArgument,
      ["time_log.user"],
    );
    await expectError(
      h.client.createTimeLog({
        parent: task.name,
        timeLog: { hours: 1, logDate: day(), user: "u" },
        requestId: "x",
      }),
      Code.InvalidArgument,
      ["request_id"],
    );
    await expectError(
      h.client.createTimeLog({ parent: NIL_TASK, timeLog: { hours: 1, logDate: day(), user: "u" } }),
      Code.NotFound,
    );
    await expectError(h.client.getTimeLog({ name: "tasks/x/timeLogs/y" }), Code.InvalidArgument, ["name"]);
    await expectError(h.client.getTimeLog({ name: `${task.name}/timeLogs/${RANDOM_UUID()}` }), Code.NotFound);
    await expectError(h.client.deleteTimeLog({ name: "" }), Code.InvalidArgument, ["name"]);
  });
});

describe("ListTimeLogs", () => {
  it("lists a task's logs newest day first, with other orders, filters and paging", async () => {
    const task = await newTask(h.client);
    const sprint = await newSprint();
    const other = await newTask(h.client, { sprint });
    const who = marker("w");
    await log(task.name, { hours: 1, logDate: day(-2), user: who });
    await log(task.name, { hours: 3, logDate: day(0), user: who, billable: true });
    await log(task.name, { hours: 2, logDate: day(-1), user: "someone", activityType: "meeting" });
    await log(other.name, { hours: 4, logDate: day(-1), user: who });
    const hoursOf = (res: { timeLogs: { hours: number }[] }) => res.timeLogs.map((t) => t.hours);

    expect(hoursOf(await h.client.listTimeLogs({ parent: task.name }))).toEqual([3, 2, 1]);
    expect(hoursOf(await h.client.listTimeLogs({ parent: task.name, orderBy: "hours" }))).toEqual([1, 2, 3]);
    expect(hoursOf(await h.client.listTimeLogs({ parent: task.name, orderBy: "create_time desc" }))).toEqual([
      2, 3, 1,
    ]);
    const paged: number[] = [];
    let pageToken = "";
    do {
      const res = await h.client.listTimeLogs({
        parent: task.name,
        pageSize: 2,
        pageToken,
        orderBy: "hours desc",
      });
      paged.push(...hoursOf(res));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    expect(paged).toEqual([3, 2, 1]);
    const f = async (filter: string, parent = task.name) =>
      hoursOf(await h.client.listTimeLogs({ parent, filter }));
    expect(await f(`user = "${who}"`)).toEqual([3, 1]);
    expect(await f("billable = true")).toEqual([3]);
    expect(await f(`log_date >= "${iso(day(-1))}"`)).toEqual([3, 2]);
    expect(await f(`log_date < ${iso(day(-1))} AND user != "someone"`)).toEqual([1]);
    expect(await f('activity_type = "meeting"')).toEqual([2]);
    expect(await f(`user = "${who}"`, "tasks/-")).toEqual([3, 4, 1]);
    expect(await f(`sprint = "${sprint}"`, "tasks/-")).toEqual([4]);
  });

  it("rejects bad arguments", async () => {
    const task = await newTask(h.client);
    await expectError(h.client.listTimeLogs({ parent: "" }), Code.InvalidArgument, ["parent"]);
    await expectError(h.client.listTimeLogs({ parent: "tasks/*" }), Code.InvalidArgument, ["parent"]);
    await expectError(h.client.listTimeLogs({ parent: task.name, pageSize: -1 }), Code.InvalidArgument, [
      "page_size",
    ]);
    await expectError(h.client.listTimeLogs({ parent: task.name, orderBy: "user" }), Code.InvalidArgument, [
      "order_by",
    ]);
    for (const filter of [
      "hours = 1",
      "log_date = 2024-13-01",
      `activity_type = "${"x".repeat(51)}"`,
      "billable = maybe",
      "user",
    ]) {
      await expectError(h.client.listTimeLogs({ parent: task.name, filter }), Code.InvalidArgument, [
        "filter",
      ]);
    }
    await expectError(h.client.listTimeLogs({ parent: task.name, pageToken: "%%%" }), Code.InvalidArgument, [
      "page_token",
    ]);
    await expectError(h.client.listTimeLogs({ parent: NIL_TASK }), Code.NotFound);
    const big = await h.client.listTimeLogs({ parent: task.name, pageSize: 5_000 });
    expect(big.timeLogs).toEqual([]);
  });
});

describe("SummarizeTimeLogs", () => {
  it("sums by user, sprint, task and date, overall first, over a date range", async () => {
    const ann = marker("ann");
    const ben = marker("ben");
    const sprint = await newSprint();
    const label = marker("lbl").toLowerCase();
    const a = await newTask(h.client, { sprint, assignedTo: label });
    const b = await newTask(h.client, { assignedTo: label });
    await log(a.name, { hours: 2, user: ann, logDate: day(-3), billable: true });
    await log(a.name, { hours: 1, user: ben, logDate: day(-1) });
    await log(b.name, { hours: 4, user: ann, logDate: day(0), billable: true });
    await log(b.name, { hours: 8, user: ann, logDate: day(-40) });
    const users = [ann, ben];
    const byUser = await h.client.summarizeTimeLogs({
      users,
      startDate: day(-7),
      groupBy: TimeLogGrouping.USER,
    });
    expect(byUser.rows.map((r) => [r.groupKey, r.hours, r.billableHours, r.entryCount])).toEqual([
      ["", 7, 6, 3],
      [ann, 6, 6, 2],
      [ben, 1, 0, 1],
    ]);
    const bySprint = await h.client.summarizeTimeLogs({ users, groupBy: TimeLogGrouping.SPRINT });
    expect(bySprint.rows.map((r) => [r.groupKey, r.hours])).toEqual([
      ["", 15],
      ["-", 12],
      [sprint, 3],
    ]);
    const byTask = await h.client.summarizeTimeLogs({
      users,
      groupBy: TimeLogGrouping.TASK,
      endDate: day(-1),
    });
    expect(byTask.rows.map((r) => [r.groupKey, r.hours])).toEqual([
      ["", 11],
      [b.name, 8],
      [a.name, 3],
    ]);
    const byDate = await h.client.summarizeTimeLogs({
      users,
      groupBy: TimeLogGrouping.DATE,
      startDate: day(-3),
    });
    expect(byDate.rows.map((r) => [r.groupKey, r.hours])).toEqual([
      ["", 7],
      [iso(day(0)), 4],
      [iso(day(-3)), 2],
      [iso(day(-1)), 1],
    ]);
    const billable = await h.client.summarizeTimeLogs({ users, billableOnly: true });
    expect(billable.rows.map((r) => [r.groupKey, r.hours])).toEqual([["", 6]]);
    const inSprint = await h.client.summarizeTimeLogs({ sprint });
    expect(inSprint.rows[0]?.hours).toBe(3);
    const filtered = await h.client.summarizeTimeLogs({
      taskFilter: `assigned_to = "${label}" AND sprint = "${sprint}"`,
    });
    expect(filtered.rows[0]?.hours).toBe(3);
    const nothing = await h.client.summarizeTimeLogs({ users: [marker("nobody")] });
    expect(nothing.rows).toEqual([expect.objectContaining({ groupKey: "", hours: 0, entryCount: 0 })]);
  });

  it("rejects bad arguments", async () => {
    await expectError(
      h.client.summarizeTimeLogs({ startDate: day(0), endDate: day(-1) }),
      Code.InvalidArgument,
      ["end_date"],
    );
    await expectError(
      h.client.summarizeTimeLogs({ startDate: { year: 2025, month: 13, day: 1 } }),
      Code.InvalidArgument,
      ["start_date"],
    );
    await expectError(h.client.summarizeTimeLogs({ groupBy: 9 as TimeLogGrouping }), Code.InvalidArgument, [
      "group_by",
    ]);
    await expectError(h.client.summarizeTimeLogs({ sprint: "sprints/1" }), Code.InvalidArgument, ["sprint"]);
    await expectError(h.client.summarizeTimeLogs({ users: [""] }), Code.InvalidArgument, ["users[0]"]);
    await expectError(h.client.summarizeTimeLogs({ taskFilter: "title = x" }), Code.InvalidArgument, [
      "task_filter",
    ]);
    await expectError(h.client.summarizeTimeLogs({ sprint: `sprints/${RANDOM_UUID()}` }), Code.NotFound);
  });
});
