/** Milestone RPCs end to end (real grpc-js server, real PostgreSQL). Tests run in order within this file. */
import { randomUUID } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { type Milestone, MilestoneState } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import type { Task } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { describe, expect, it } from "vitest";
import { createTask, errorExpecter, type Harness, useHarness, withoutWords } from "./workflow.test-util.js";

let sql: Harness["sql"];
let client: Client<typeof TaskService>;
useHarness((harness) => ({ sql, client } = harness));

const due = new Date("2026-04-01T12:00:00Z");

async function milestone(init: Partial<Omit<Milestone, "$typeName" | "$unknown">> = {}): Promise<Milestone> {
  const res = await client.createMilestone({
    milestone: { displayName: `M ${randomUUID().slice(0, 8)}`, ...init },
  });
  if (!res.milestone) throw new Error("no milestone");
  return res.milestone;
}

async function releaseName(): Promise<string> {
  const res = await client.createRelease({ release: { version: `v${randomUUID().slice(0, 12)}` } });
  return res.release?.name ?? "";
}

const task = (init: Partial<Omit<Task, "$typeName" | "$unknown">> = {}) => createTask(client, init);

const expectError = errorExpecter(
  withoutWords(["select", "insert", "update ", "constraint", "    at ", "violates", "milestones_"]),
);

describe("milestone CRUD", () => {
  it("creates, gets and round-trips fields verbatim", async () => {
    const description = `'; drop table milestones; -- 🚀 ünïcode\n"quoted" \\ back`;
    const release = await releaseName();
    const m = await milestone({
      displayName: "Beta 🚀 ' or 1=1",
      description,
      dueTime: timestampFromDate(due),
      release,
      taskCount: 9,
    });
    expect(m.name).toBe(`milestones/${m.uid}`);
    expect(m.state).toBe(MilestoneState.OPEN);
    expect(m.etag).toBe('W/"1"');
    const got = (await client.getMilestone({ name: m.name })).milestone;
    expect(got?.displayName).toBe("Beta 🚀 ' or 1=1");
    expect(got?.description).toBe(description);
    expect(got?.release).toBe(release);
    expect(got?.taskCount).toBe(0);
    expect(got?.dueTime && timestampDate(got.dueTime).toISOString()).toBe(due.toISOString());
    expect((await milestone({ state: MilestoneState.REACHED })).state).toBe(MilestoneState.REACHED);
  });

  it("validates create; request_id makes retries idempotent", async () => {
    await expectError(client.createMilestone({}), Code.InvalidArgument, ["milestone"]);
    await expectError(
      client.createMilestone({
        milestone: {
          displayName: "x".repeat(201),
          description: "d".repeat(10_001),
          dueTime: { seconds: -99_999_999_999n, nanos: 0 },
          release: "releases/not-a-uuid",
        },
        requestId: "nope",
      }),
      Code.InvalidArgument,
      [
        "milestone.display_name",
        "milestone.description",
        "milestone.due_time",
        "milestone.release",
        "request_id",
      ],
    );
    // Unknown enum numbers and NUL characters are refused by the request check (rpc-kit request-check.ts)
    // before the handler's validation runs, so each is its own call.
    await expectError(
      client.createMilestone({ milestone: { displayName: "M", state: 42 as MilestoneState } }),
      Code.InvalidArgument,
      ["milestone.state"],
    );
    await expectError(
      client.createMilestone({ milestone: { displayName: "M", description: "a\u0000b" } }),
      Code.InvalidArgument,
      ["milestone.description"],
    );
    await expectError(client.createMilestone({ milestone: { displayName: " \t " } }), Code.InvalidArgument, [
      "milestone.display_name",
    ]);
    expect((await milestone({ displayName: "🚀".repeat(200) })).displayName).toBe("🚀".repeat(200));
    await expectError(
      client.createMilestone({ milestone: { displayName: "M", release: `releases/${randomUUID()}` } }),
      Code.NotFound,
    );

    const requestId = randomUUID();
    const req = { milestone: { displayName: `Retry ${requestId}` }, requestId };
    const [a, b] = await Promise.all([client.createMilestone(req), client.createMilestone(req)]);
    expect(b.milestone?.name).toBe(a.milestone?.name);
    expect((await client.createMilestone(req)).milestone?.name).toBe(a.milestone?.name);
    const rows = await sql("select count(*)::int as n from milestones where name = ?", [
      `Retry ${requestId}`,
    ]);
    expect(rows[0]?.n).toBe(1);

    const dry = await client.createMilestone({ milestone: { displayName: "dry run" }, validateOnly: true });
    expect(dry.milestone).toBeUndefined();
    expect((await sql("select count(*)::int as n from milestones where name = 'dry run'"))[0]?.n).toBe(0);
  });

  it("is NOT_FOUND / INVALID_ARGUMENT for unknown / malformed names", async () => {
    await expectError(client.getMilestone({ name: `milestones/${randomUUID()}` }), Code.NotFound);
    await expectError(client.getMilestone({ name: "milestones/1; select 1" }), Code.InvalidArgument, [
      "name",
    ]);
    await expectError(client.getMilestone({ name: `releases/${randomUUID()}` }), Code.InvalidArgument, [
      "name",
    ]);
    await expectError(client.getMilestone({ name: "" }), Code.InvalidArgument, ["name"]);
  });
});

describe("milestone updates", () => {
  it("updates with a mask and etag; stale etag is ABORTED", async () => {
    const m = await milestone({ description: "old" });
    const release = await releaseName();
    const res = await client.updateMilestone({
      milestone: { name: m.name, description: "new ✓", displayName: "ignored", release, etag: m.etag },
      updateMask: { paths: ["description", "release"] },
    });
    expect(res.milestone?.description).toBe("new ✓");
    expect(res.milestone?.displayName).toBe(m.displayName);
    expect(res.milestone?.release).toBe(release);
    expect(res.milestone?.etag).toBe('W/"2"');
    const cleared = await client.updateMilestone({
      milestone: { name: m.name, release: "" },
      updateMask: { paths: ["release"] },
    });
    expect(cleared.milestone?.release).toBe("");
    await expectError(
      client.updateMilestone({
        milestone: { name: m.name, description: "again", etag: m.etag },
        updateMask: { paths: ["description"] },
      }),
      Code.Aborted,
    );
    await expectError(
      client.updateMilestone({ milestone: { name: m.name }, updateMask: { paths: ["task_count"] } }),
      Code.InvalidArgument,
      ["update_mask"],
    );
    await expectError(client.updateMilestone({ milestone: { name: m.name } }), Code.InvalidArgument, [
      "update_mask",
    ]);
    await expectError(
      client.updateMilestone({ milestone: { name: m.name, etag: "nope" }, updateMask: { paths: ["*"] } }),
      Code.InvalidArgument,
      ["milestone.etag", "milestone.display_name", "milestone.state"],
    );
    await expectError(
      client.updateMilestone({
        milestone: { name: m.name, release: `releases/${randomUUID()}` },
        updateMask: { paths: ["release"] },
      }),
      Code.NotFound,
    );
    await expectError(
      client.updateMilestone({
        milestone: { name: `milestones/${randomUUID()}`, description: "x" },
        updateMask: { paths: ["description"] },
      }),
      Code.NotFound,
    );
    const dry = await client.updateMilestone({
      milestone: { name: m.name, description: "dry" },
      updateMask: { paths: ["description"] },
      validateOnly: true,
    });
    expect(dry.milestone?.description).toBe("new ✓");
  });

  it("tracks reached_at with the state", async () => {
    const m = await milestone();
    const reached = await client.updateMilestone({
      milestone: { name: m.name, state: MilestoneState.REACHED },
      updateMask: { paths: ["state"] },
    });
    expect(reached.milestone?.state).toBe(MilestoneState.REACHED);
    const [row] = await sql("select reached_at from milestones where id = ?", [m.uid]);
    expect(row?.reached_at).not.toBeNull();
    await client.updateMilestone({
      milestone: { name: m.name, state: MilestoneState.REACHED },
      updateMask: { paths: ["state"] },
    });
    const [same] = await sql("select reached_at from milestones where id = ?", [m.uid]);
    expect(String(same?.reached_at)).toBe(String(row?.reached_at));
    const missed = await client.updateMilestone({
      milestone: { name: m.name, state: MilestoneState.MISSED },
      updateMask: { paths: ["state"] },
    });
    expect(missed.milestone?.state).toBe(MilestoneState.MISSED);
    const [after] = await sql("select reached_at from milestones where id = ?", [m.uid]);
    expect(after?.reached_at).toBeNull();
  });

  it("lets exactly one of two concurrent writers with the same etag win", async () => {
    const m = await milestone();
    const attempt = (description: string) =>
      client
        .updateMilestone({
          milestone: { name: m.name, description, etag: m.etag },
          updateMask: { paths: ["description"] },
        })
        .then(
          () => "ok",
          (e: unknown) => (e instanceof ConnectError ? Code[e.code] : "other"),
        );
    expect((await Promise.all([attempt("a"), attempt("b")])).sort()).toEqual(["Aborted", "ok"]);
  });
});

describe("listing milestones", () => {
  it("pages, filters and orders", async () => {
    const release = await releaseName();
    const tag = randomUUID().slice(0, 8);
    const a = await milestone({
      displayName: `${tag} a`,
      release,
      dueTime: timestampFromDate(new Date("2030-01-01T00:00:00Z")),
    });
    const b = await milestone({
      displayName: `${tag} b`,
      release,
      state: MilestoneState.REACHED,
      dueTime: timestampFromDate(new Date("2029-01-01T00:00:00Z")),
    });

    const names = new Set<string>();
    let pageToken = "";
    let pages = 0;
    do {
      const res = await client.listMilestones({ pageSize: 2, pageToken, orderBy: "display_name desc" });
      expect(res.milestones.length).toBeLessThanOrEqual(2);
      for (const m of res.milestones) names.add(m.name);
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 100);
    const all = await client.listMilestones({ pageSize: 5000 });
    expect(names.size).toBe(all.milestones.length);

    const inRelease = await client.listMilestones({ filter: `release = "${release}"` });
    expect(inRelease.milestones.map((m) => m.name)).toEqual([b.name, a.name]);
    const open = await client.listMilestones({ filter: `release = "${release}" AND state = OPEN` });
    expect(open.milestones.map((m) => m.name)).toEqual([a.name]);
    const window = await client.listMilestones({
      filter: `due_time >= 2029-06-01T00:00:00Z AND release = "${release}"`,
    });
    expect(window.milestones.map((m) => m.name)).toEqual([a.name]);
    const none = await client.listMilestones({ filter: `release = ""` });
    expect(none.milestones.every((m) => m.release === "")).toBe(true);
    expect(none.milestones.length).toBeGreaterThan(0);

    await expectError(client.listMilestones({ pageSize: -5 }), Code.InvalidArgument, ["page_size"]);
    await expectError(client.listMilestones({ filter: "state = DONE" }), Code.InvalidArgument, ["filter"]);
    await expectError(client.listMilestones({ filter: `release = "sprints/x"` }), Code.InvalidArgument, [
      "filter",
    ]);
    await expectError(client.listMilestones({ filter: "state = OPEN OR 1 = 1" }), Code.InvalidArgument, [
      "filter",
    ]);
    await expectError(client.listMilestones({ orderBy: "release" }), Code.InvalidArgument, ["order_by"]);
    await expectError(client.listMilestones({ pageToken: "zzz" }), Code.InvalidArgument, ["page_token"]);
  });
});

describe("deleting milestones", () => {
  it("refuses while tasks reference it; force clears Task.milestone with a version bump and an event", async () => {
    const m = await milestone();
    const t1 = await task({ milestone: m.name });
    const t2 = await task({ milestone: m.name });
    await sql("update tasks set status = 'completed' where id = ?", [t2.uid]);
    const got = (await client.getMilestone({ name: m.name })).milestone;
    expect([got?.taskCount, got?.completedTaskCount]).toEqual([2, 1]);

    await expectError(client.deleteMilestone({ name: m.name }), Code.FailedPrecondition);
    await expectError(client.deleteMilestone({ name: m.name, etag: 'W/"99"', force: true }), Code.Aborted);
    await expectError(client.deleteMilestone({ name: m.name, etag: "bogus" }), Code.InvalidArgument, [
      "etag",
    ]);
    await expectError(client.deleteMilestone({ name: `milestones/${randomUUID()}` }), Code.NotFound);
    expect((await client.getTask({ name: t1.name })).task?.milestone).toBe(m.name);

    const res = await client.deleteMilestone({ name: m.name, etag: got?.etag ?? "", force: true });
    expect(res.unassignedTaskCount).toBe(2);
    const after = (await client.getTask({ name: t1.name })).task;
    expect(after?.milestone).toBe("");
    expect(after?.etag).not.toBe(t1.etag);
    const events = await sql(
      "select payload from outbox_events where aggregate_id = ? and event_kind = 'task.updated'",
      [t1.uid],
    );
    expect(events.some((e) => JSON.stringify(e.payload).includes('"milestone"'))).toBe(true);
    await expectError(client.getMilestone({ name: m.name }), Code.NotFound);
    await expectError(client.deleteMilestone({ name: m.name }), Code.NotFound);
  });

  it("deletes an unreferenced milestone without force", async () => {
    const m = await milestone();
    expect((await client.deleteMilestone({ name: m.name })).unassignedTaskCount).toBe(0);
    await expectError(client.getMilestone({ name: m.name }), Code.NotFound);
  });
});
