/** Sprint RPCs end to end (real grpc-js server, real PostgreSQL). Tests run in order within this file. */
import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { SprintState } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import { type Task, TaskStatus } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { describe, expect, it } from "vitest";
import { errorExpecter, useHarness, withoutWords } from "./workflow.test-util.js";

let orm: MikroORM;
let client: Client<typeof TaskService>;
useHarness((harness) => ({ orm, client } = harness));

const start = new Date("2026-01-05T09:00:00Z");
const end = new Date("2026-01-19T17:00:00Z");

async function sprint(displayName = `Sprint ${randomUUID().slice(0, 8)}`) {
  const res = await client.createSprint({
    sprint: { displayName, startTime: timestampFromDate(start), endTime: timestampFromDate(end) },
  });
  if (!res.sprint) throw new Error("no sprint");
  return res.sprint;
}

async function task(title = "Some task", storyPoints?: number): Promise<Task> {
  const res = await client.createTask({ task: { title, ...(storyPoints !== undefined && { storyPoints }) } });
  if (!res.task) throw new Error("no task");
  return res.task;
}

const expectError = errorExpecter(withoutWords(["select", "insert", "constraint", "    at ", "violates"]));

async function setStatus(t: Task, status: string): Promise<void> {
  await orm.em.getConnection().execute("update tasks set status = ? where id = ?", [status, t.uid]);
}

describe("sprint CRUD", () => {
  it("creates, gets and round-trips fields verbatim", async () => {
    const goal = `'; drop table sprints; -- 🚀 ünïcode`;
    const res = await client.createSprint({
      sprint: {
        displayName: "Sprint 🚀 1",
        goal,
        startTime: timestampFromDate(start),
        endTime: timestampFromDate(end),
        capacityPoints: 40,
        state: SprintState.CLOSED, // output only: ignored
      },
    });
    const s = res.sprint;
    expect(s?.name).toMatch(/^sprints\/[0-9a-f-]{36}$/);
    expect(s?.state).toBe(SprintState.PLANNED);
    expect(s?.etag).toBe('W/"1"');
    const got = (await client.getSprint({ name: s?.name ?? "" })).sprint;
    expect(got?.goal).toBe(goal);
    expect(got?.displayName).toBe("Sprint 🚀 1");
    expect(got?.capacityPoints).toBe(40);
    expect(got?.taskCount).toBe(0);
  });

  it("validates create and refuses duplicate names; request_id makes retries idempotent", async () => {
    await expectError(client.createSprint({}), Code.InvalidArgument, ["sprint"]);
    await expectError(
      client.createSprint({
        sprint: {
          displayName: "x".repeat(101),
          goal: "g".repeat(2001),
          startTime: timestampFromDate(end),
          endTime: timestampFromDate(start),
          capacityPoints: 10001,
        },
        requestId: "nope",
      }),
      Code.InvalidArgument,
      ["sprint.display_name", "sprint.goal", "sprint.end_time", "sprint.capacity_points", "request_id"],
    );
    await expectError(client.createSprint({ sprint: { displayName: " " } }), Code.InvalidArgument, [
      "sprint.display_name",
      "sprint.start_time",
      "sprint.end_time",
    ]);
    const s = await sprint();
    await expectError(sprint(s.displayName), Code.AlreadyExists);
    const requestId = randomUUID();
    const req = {
      sprint: {
        displayName: `Retry ${requestId}`,
        startTime: timestampFromDate(start),
        endTime: timestampFromDate(end),
      },
      requestId,
    };
    const a = await client.createSprint(req);
    const b = await client.createSprint(req);
    expect(b.sprint?.name).toBe(a.sprint?.name);
  });

  it("is NOT_FOUND / INVALID_ARGUMENT for unknown / malformed names", async () => {
    await expectError(client.getSprint({ name: `sprints/${randomUUID()}` }), Code.NotFound);
    await expectError(client.getSprint({ name: "sprints/1; select 1" }), Code.InvalidArgument, ["name"]);
    await expectError(client.getSprint({ name: "" }), Code.InvalidArgument, ["name"]);
  });

  it("updates with a mask and etag; stale etag is ABORTED", async () => {
    const s = await sprint();
    const res = await client.updateSprint({
      sprint: { name: s.name, goal: "new goal", displayName: "ignored", etag: s.etag },
      updateMask: { paths: ["goal"] },
    });
    expect(res.sprint?.goal).toBe("new goal");
    expect(res.sprint?.displayName).toBe(s.displayName);
    expect(res.sprint?.etag).toBe('W/"2"');
    await expectError(
      client.updateSprint({
        sprint: { name: s.name, goal: "again", etag: s.etag },
        updateMask: { paths: ["goal"] },
      }),
      Code.Aborted,
    );
    await expectError(
      client.updateSprint({ sprint: { name: s.name }, updateMask: { paths: ["state"] } }),
      Code.InvalidArgument,
      ["update_mask"],
    );
    await expectError(client.updateSprint({ sprint: { name: s.name } }), Code.InvalidArgument, [
      "update_mask",
    ]);
    await expectError(
      client.updateSprint({
        sprint: { name: `sprints/${randomUUID()}`, goal: "x" },
        updateMask: { paths: ["goal"] },
      }),
      Code.NotFound,
    );
  });

  it("lists with paging, filter and order", async () => {
    const names = new Set<string>();
    let pageToken = "";
    do {
      const res = await client.listSprints({ pageSize: 2, pageToken, orderBy: "display_name" });
      for (const s of res.sprints) names.add(s.name);
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    const all = await client.listSprints({ pageSize: 1000 });
    expect(names.size).toBe(all.sprints.length);
    const planned = await client.listSprints({
      filter: `state = PLANNED AND start_time >= "2026-01-01T00:00:00Z"`.replaceAll('"', ""),
    });
    expect(planned.sprints.length).toBe(all.sprints.length);
    await expectError(client.listSprints({ pageSize: -1 }), Code.InvalidArgument, ["page_size"]);
    await expectError(client.listSprints({ filter: "state = BOGUS" }), Code.InvalidArgument, ["filter"]);
    await expectError(client.listSprints({ orderBy: "goal" }), Code.InvalidArgument, ["order_by"]);
    await expectError(client.listSprints({ pageToken: "zzz" }), Code.InvalidArgument, ["page_token"]);
  });
});

describe("sprint lifecycle", () => {
  it("assigns tasks atomically, starts one sprint at a time and closes moving open tasks", async () => {
    const s1 = await sprint();
    const s2 = await sprint();
    const [a, b, c] = [await task("Task a", 3), await task("Task b", 5), await task("Task c", 8)];

    await expectError(
      client.assignTasksToSprint({ sprint: s1.name, tasks: [a.name, `tasks/${randomUUID()}`] }),
      Code.NotFound,
    );
    expect((await client.getSprint({ name: s1.name })).sprint?.taskCount).toBe(0);
    await expectError(client.assignTasksToSprint({ sprint: s1.name, tasks: [] }), Code.InvalidArgument, [
      "tasks",
    ]);
    await expectError(
      client.assignTasksToSprint({ sprint: s1.name, tasks: [a.name, a.name] }),
      Code.InvalidArgument,
      ["tasks[1]"],
    );

    const assigned = await client.assignTasksToSprint({ sprint: s1.name, tasks: [c.name, a.name, b.name] });
    expect(assigned.tasks.map((t) => t.name)).toEqual([c.name, a.name, b.name]);
    expect(assigned.tasks.every((t) => t.sprint === s1.name)).toBe(true);
    expect(assigned.tasks[0]?.etag).not.toBe(c.etag);
    await setStatus(c, "completed");
    const got = (await client.getSprint({ name: s1.name })).sprint;
    expect([got?.taskCount, got?.plannedPoints, got?.completedPoints]).toEqual([3, 16, 8]);

    await expectError(client.deleteSprint({ name: s1.name }), Code.FailedPrecondition);

    const started = await client.startSprint({ name: s1.name, etag: got?.etag ?? "" });
    expect(started.sprint?.state).toBe(SprintState.ACTIVE);
    await expectError(client.startSprint({ name: s2.name }), Code.FailedPrecondition);
    await expectError(client.startSprint({ name: s1.name }), Code.FailedPrecondition);
    await expectError(client.closeSprint({ name: s1.name, etag: 'W/"1"' }), Code.Aborted);
    await expectError(
      client.closeSprint({ name: s1.name, destinationSprint: s1.name }),
      Code.InvalidArgument,
      ["destination_sprint"],
    );
    await expectError(
      client.closeSprint({ name: s1.name, destinationSprint: `sprints/${randomUUID()}` }),
      Code.NotFound,
    );

    const requestId = randomUUID();
    const closed = await client.closeSprint({ name: s1.name, destinationSprint: s2.name, requestId });
    expect(closed.sprint?.state).toBe(SprintState.CLOSED);
    expect(closed.sprint?.closeTime).toBeDefined();
    expect(new Set(closed.movedTasks)).toEqual(new Set([a.name, b.name]));
    expect(closed.completedTaskCount).toBe(1);
    const retry = await client.closeSprint({ name: s1.name, destinationSprint: s2.name, requestId });
    expect(new Set(retry.movedTasks)).toEqual(new Set([a.name, b.name]));
    expect((await client.getTask({ name: a.name })).task?.sprint).toBe(s2.name);
    expect((await client.getTask({ name: c.name })).task?.status).toBe(TaskStatus.COMPLETED);
    expect((await client.getTask({ name: c.name })).task?.sprint).toBe(s1.name);

    await expectError(client.closeSprint({ name: s1.name }), Code.FailedPrecondition);
    await expectError(
      client.assignTasksToSprint({ sprint: s1.name, tasks: [a.name] }),
      Code.FailedPrecondition,
    );
    // Now s2 may start.
    expect((await client.startSprint({ name: s2.name })).sprint?.state).toBe(SprintState.ACTIVE);
    // Close to the backlog.
    const toBacklog = await client.closeSprint({ name: s2.name });
    expect(toBacklog.movedTasks.length).toBe(2);
    expect((await client.getTask({ name: b.name })).task?.sprint).toBe("");
  });

  it("concurrent closes with the same request_id close once and all return the moved tasks", async () => {
    // Three rounds: one round does not always interleave the calls.
    for (let round = 0; round < 3; round++) {
      const s = await sprint();
      const [a, b] = [await task("Close a"), await task("Close b")];
      await client.assignTasksToSprint({ sprint: s.name, tasks: [a.name, b.name] });
      const req = { name: s.name, requestId: randomUUID() };
      const all = await Promise.all([1, 2, 3, 4].map(() => client.closeSprint(req)));
      for (const res of all) {
        expect(new Set(res.movedTasks)).toEqual(new Set([a.name, b.name]));
        expect(res.completedTaskCount).toBe(0);
        expect(res.sprint?.etag).toBe(all[0]?.sprint?.etag);
        expect(res.sprint?.state).toBe(SprintState.CLOSED);
      }
    }
  });

  it("deletes with force, moving tasks to the backlog", async () => {
    const s = await sprint();
    const t = await task();
    await client.assignTasksToSprint({ sprint: s.name, tasks: [t.name] });
    await expectError(client.deleteSprint({ name: s.name, etag: 'W/"99"' }), Code.Aborted);
    await expectError(client.deleteSprint({ name: s.name, etag: "bogus" }), Code.InvalidArgument, ["etag"]);
    const res = await client.deleteSprint({ name: s.name, force: true });
    expect(res.unassignedTaskCount).toBe(1);
    expect((await client.getTask({ name: t.name })).task?.sprint).toBe("");
    await expectError(client.getSprint({ name: s.name }), Code.NotFound);
    await expectError(client.deleteSprint({ name: s.name }), Code.NotFound);
    // Backlog assignment with an empty sprint.
    const u = await task();
    const moved = await client.assignTasksToSprint({ sprint: "", tasks: [u.name] });
    expect(moved.tasks[0]?.sprint).toBe("");
  });
});
