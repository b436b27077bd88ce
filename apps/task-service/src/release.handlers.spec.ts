/** Release RPCs end to end (real grpc-js server, real PostgreSQL). Tests run in order within this file. */
import { randomUUID } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { type Release, ReleaseState } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import type { Task } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { describe, expect, it } from "vitest";
import { createTask, errorExpecter, type Harness, useHarness, withoutWords } from "./workflow.test-util.js";

let sql: Harness["sql"];
let client: Client<typeof TaskService>;
useHarness((harness) => ({ sql, client } = harness));

const target = new Date("2026-03-01T12:00:00Z");

async function release(init: Partial<Omit<Release, "$typeName" | "$unknown">> = {}): Promise<Release> {
  const res = await client.createRelease({ release: { version: `v${randomUUID().slice(0, 12)}`, ...init } });
  if (!res.release) throw new Error("no release");
  return res.release;
}

const task = (init: Partial<Omit<Task, "$typeName" | "$unknown">> = {}) => createTask(client, init);

const expectError = errorExpecter(
  withoutWords(["select", "insert", "update ", "constraint", "    at ", "violates", "releases_"]),
);

describe("release CRUD", () => {
  it("creates, gets and round-trips fields verbatim", async () => {
    const description = `'; drop table releases; -- 🚀 ünïcode\n"quoted" \\ back`;
    const version = `2.1.0-🚀'; --${randomUUID().slice(0, 6)}`;
    const r = await release({ version, description, targetTime: timestampFromDate(target), taskCount: 7 });
    expect(r.name).toMatch(/^releases\/[0-9a-f-]{36}$/);
    expect(r.name).toBe(`releases/${r.uid}`);
    expect(r.state).toBe(ReleaseState.PLANNED);
    expect(r.etag).toBe('W/"1"');
    expect(r.releaseTime).toBeUndefined();
    const got = (await client.getRelease({ name: r.name })).release;
    expect(got?.version).toBe(version);
    expect(got?.description).toBe(description);
    expect(got?.taskCount).toBe(0);
    expect(got?.completedTaskCount).toBe(0);
    expect(got?.targetTime && timestampDate(got.targetTime).toISOString()).toBe(target.toISOString());
    expect(got?.createTime).toBeDefined();
  });

  it("sets release_time when created RELEASED, keeping a given one", async () => {
    const auto = await release({ state: ReleaseState.RELEASED });
    expect(auto.state).toBe(ReleaseState.RELEASED);
    expect(auto.releaseTime).toBeDefined();
    const given = new Date("2025-12-24T18:00:00Z");
    const r = await release({ state: ReleaseState.RELEASED, releaseTime: timestampFromDate(given) });
    expect(r.releaseTime && timestampDate(r.releaseTime).toISOString()).toBe(given.toISOString());
  });

  it("validates create, refuses duplicate versions, and request_id makes retries idempotent", async () => {
    await expectError(client.createRelease({}), Code.InvalidArgument, ["release"]);
    await expectError(
      client.createRelease({
        release: {
          version: "x".repeat(51),
          description: "d".repeat(100_001),
          targetTime: { seconds: 999_999_999_999n, nanos: 0 },
        },
        requestId: "not-a-uuid",
      }),
      Code.InvalidArgument,
      ["release.version", "release.description", "release.target_time", "request_id"],
    );
    // Unknown enum numbers and NUL characters are refused by the request check (rpc-kit request-check.ts)
    // before the handler's validation runs, so each is its own call.
    await expectError(
      client.createRelease({ release: { version: "v1", state: 99 as ReleaseState } }),
      Code.InvalidArgument,
      ["release.state"],
    );
    await expectError(
      client.createRelease({ release: { version: "v1", description: "nul\u0000byte" } }),
      Code.InvalidArgument,
      ["release.description"],
    );
    await expectError(
      client.createRelease({ release: { version: "  ", releaseTime: timestampFromDate(target) } }),
      Code.InvalidArgument,
      ["release.version", "release.release_time"],
    );
    // 50 emoji are 50 characters.
    expect((await release({ version: "🚀".repeat(50) })).version).toBe("🚀".repeat(50));
    const r = await release();
    await expectError(client.createRelease({ release: { version: r.version } }), Code.AlreadyExists);
    await expectError(client.createRelease({ release: { version: ` ${r.version} ` } }), Code.AlreadyExists);

    const requestId = randomUUID();
    const req = { release: { version: `retry-${requestId}` }, requestId };
    const [a, b] = await Promise.all([client.createRelease(req), client.createRelease(req)]);
    expect(b.release?.name).toBe(a.release?.name);
    expect((await client.createRelease(req)).release?.name).toBe(a.release?.name);

    const validateOnly = await client.createRelease({
      release: { version: "dry-run-1" },
      validateOnly: true,
    });
    expect(validateOnly.release).toBeUndefined();
    const listed = await client.listReleases({ filter: 'version = "dry-run-1"' });
    expect(listed.releases).toHaveLength(0);
  });

  it("is NOT_FOUND / INVALID_ARGUMENT for unknown / malformed names", async () => {
    await expectError(client.getRelease({ name: `releases/${randomUUID()}` }), Code.NotFound);
    await expectError(client.getRelease({ name: "releases/1' or '1'='1" }), Code.InvalidArgument, ["name"]);
    await expectError(client.getRelease({ name: `sprints/${randomUUID()}` }), Code.InvalidArgument, ["name"]);
    await expectError(client.getRelease({ name: "" }), Code.InvalidArgument, ["name"]);
  });
});

describe("release updates", () => {
  it("updates with a mask and etag; stale etag is ABORTED", async () => {
    const r = await release({ description: "old" });
    const res = await client.updateRelease({
      release: { name: r.name, description: "new ✓", version: "ignored", etag: r.etag },
      updateMask: { paths: ["description"] },
    });
    expect(res.release?.description).toBe("new ✓");
    expect(res.release?.version).toBe(r.version);
    expect(res.release?.etag).toBe('W/"2"');
    await expectError(
      client.updateRelease({
        release: { name: r.name, description: "again", etag: r.etag },
        updateMask: { paths: ["description"] },
      }),
      Code.Aborted,
    );
    await expectError(
      client.updateRelease({ release: { name: r.name, etag: "W/1" }, updateMask: { paths: ["task_count"] } }),
      Code.InvalidArgument,
      ["update_mask", "release.etag"],
    );
    await expectError(client.updateRelease({ release: { name: r.name } }), Code.InvalidArgument, [
      "update_mask",
    ]);
    await expectError(
      client.updateRelease({ updateMask: { paths: ["description"] } }),
      Code.InvalidArgument,
      ["release"],
    );
    await expectError(
      client.updateRelease({ release: { name: "releases/x" }, updateMask: { paths: ["version"] } }),
      Code.InvalidArgument,
      ["release.name", "release.version"],
    );
    await expectError(
      client.updateRelease({ release: { name: r.name }, updateMask: { paths: ["state"] } }),
      Code.InvalidArgument,
      ["release.state"],
    );
    await expectError(
      client.updateRelease({
        release: { name: `releases/${randomUUID()}`, description: "x" },
        updateMask: { paths: ["description"] },
      }),
      Code.NotFound,
    );
    const other = await release();
    await expectError(
      client.updateRelease({
        release: { name: r.name, version: other.version },
        updateMask: { paths: ["version"] },
      }),
      Code.AlreadyExists,
    );
    // validate_only changes nothing.
    const dry = await client.updateRelease({
      release: { name: r.name, description: "dry" },
      updateMask: { paths: ["description"] },
      validateOnly: true,
    });
    expect(dry.release?.description).toBe("new ✓");
    expect((await client.getRelease({ name: r.name })).release?.etag).toBe('W/"2"');
  });

  it("keeps release_time consistent with the state", async () => {
    const r = await release();
    await expectError(
      client.updateRelease({
        release: { name: r.name, releaseTime: timestampFromDate(target) },
        updateMask: { paths: ["release_time"] },
      }),
      Code.FailedPrecondition,
    );
    await expectError(
      client.updateRelease({
        release: { name: r.name, state: ReleaseState.IN_PROGRESS, releaseTime: timestampFromDate(target) },
        updateMask: { paths: ["state", "release_time"] },
      }),
      Code.InvalidArgument,
      ["release.release_time"],
    );
    const shipped = await client.updateRelease({
      release: { name: r.name, state: ReleaseState.RELEASED },
      updateMask: { paths: ["state"] },
    });
    expect(shipped.release?.state).toBe(ReleaseState.RELEASED);
    expect(shipped.release?.releaseTime).toBeDefined();
    const fixed = await client.updateRelease({
      release: { name: r.name, releaseTime: timestampFromDate(target) },
      updateMask: { paths: ["release_time"] },
    });
    expect(fixed.release?.releaseTime && timestampDate(fixed.release.releaseTime).toISOString()).toBe(
      target.toISOString(),
    );
    const back = await client.updateRelease({
      release: { name: r.name, state: ReleaseState.IN_PROGRESS },
      updateMask: { paths: ["state"] },
    });
    expect(back.release?.state).toBe(ReleaseState.IN_PROGRESS);
    expect(back.release?.releaseTime).toBeUndefined();
  });

  it("lets exactly one of two concurrent writers with the same etag win", async () => {
    const r = await release();
    const attempt = (description: string) =>
      client
        .updateRelease({
          release: { name: r.name, description, etag: r.etag },
          updateMask: { paths: ["description"] },
        })
        .then(
          () => "ok",
          (e: unknown) => (e instanceof ConnectError ? Code[e.code] : "other"),
        );
    const results = await Promise.all([attempt("a"), attempt("b")]);
    expect(results.sort()).toEqual(["Aborted", "ok"]);
    expect((await client.getRelease({ name: r.name })).release?.etag).toBe('W/"2"');
  });
});

describe("listing releases", () => {
  it("pages, filters and orders", async () => {
    const tag = randomUUID().slice(0, 8);
    const early = await release({
      version: `${tag}-a`,
      targetTime: timestampFromDate(new Date("2027-01-01T00:00:00Z")),
    });
    const late = await release({
      version: `${tag}-b`,
      targetTime: timestampFromDate(new Date("2027-06-01T00:00:00Z")),
    });
    await release({ version: `${tag}-c`, state: ReleaseState.RELEASED });

    const names = new Set<string>();
    let pageToken = "";
    let pages = 0;
    do {
      const res = await client.listReleases({ pageSize: 2, pageToken, orderBy: "version" });
      expect(res.releases.length).toBeLessThanOrEqual(2);
      for (const r of res.releases) names.add(r.name);
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 100);
    const all = await client.listReleases({ pageSize: 5000 });
    expect(names.size).toBe(all.releases.length);
    expect(all.releases.length).toBeGreaterThanOrEqual(3);

    const window = await client.listReleases({
      filter:
        "target_time >= 2027-01-01T00:00:00Z AND target_time < 2028-01-01T00:00:00Z AND state = PLANNED",
      orderBy: "target_time",
    });
    expect(window.releases.map((r) => r.name)).toEqual([early.name, late.name]);
    const desc = await client.listReleases({ filter: "target_time >= 2027-01-01T00:00:00Z" });
    expect(desc.releases.map((r) => r.name)).toEqual([late.name, early.name]);
    const byVersion = await client.listReleases({ filter: `version = "${tag}-b"` });
    expect(byVersion.releases.map((r) => r.name)).toEqual([late.name]);
    const released = await client.listReleases({
      filter: "state = RELEASED AND release_time > 2020-01-01T00:00:00Z",
    });
    expect(released.releases.every((r) => r.state === ReleaseState.RELEASED)).toBe(true);
    expect(released.releases.some((r) => r.version === `${tag}-c`)).toBe(true);
    const injection = await client.listReleases({ filter: `version = "x' or 1=1; --"` });
    expect(injection.releases).toHaveLength(0);

    await expectError(client.listReleases({ pageSize: -1 }), Code.InvalidArgument, ["page_size"]);
    await expectError(client.listReleases({ filter: "state = BOGUS" }), Code.InvalidArgument, ["filter"]);
    await expectError(client.listReleases({ filter: "description = 1" }), Code.InvalidArgument, ["filter"]);
    await expectError(client.listReleases({ filter: "target_time > yesterday" }), Code.InvalidArgument, [
      "filter",
    ]);
    await expectError(client.listReleases({ filter: "version = 1; drop" }), Code.InvalidArgument, ["filter"]);
    await expectError(client.listReleases({ orderBy: "description" }), Code.InvalidArgument, ["order_by"]);
    await expectError(client.listReleases({ pageToken: "zzz" }), Code.InvalidArgument, ["page_token"]);
    const first = await client.listReleases({ pageSize: 1, orderBy: "version" });
    await expectError(
      client.listReleases({ pageSize: 1, orderBy: "version desc", pageToken: first.nextPageToken }),
      Code.InvalidArgument,
      ["page_token"],
    );
  });
});

describe("deleting releases", () => {
  it("refuses while tasks reference it; force clears Task.release with a version bump and an event", async () => {
    const r = await release();
    const t1 = await task({ release: r.name });
    const t2 = await task({ release: r.name });
    await sql("update tasks set status = 'completed' where id = ?", [t2.uid]);
    const got = (await client.getRelease({ name: r.name })).release;
    expect([got?.taskCount, got?.completedTaskCount]).toEqual([2, 1]);
    const milestone = (await client.createMilestone({ milestone: { displayName: "M", release: r.name } }))
      .milestone;

    const refused = await expectError(client.deleteRelease({ name: r.name }), Code.FailedPrecondition);
    expect(refused.rawMessage).toContain("2");
    await expectError(client.deleteRelease({ name: r.name, etag: 'W/"99"', force: true }), Code.Aborted);
    await expectError(client.deleteRelease({ name: r.name, etag: "bogus" }), Code.InvalidArgument, ["etag"]);
    await expectError(client.deleteRelease({ name: `releases/${randomUUID()}` }), Code.NotFound);
    expect((await client.getTask({ name: t1.name })).task?.release).toBe(r.name);

    const res = await client.deleteRelease({ name: r.name, etag: got?.etag ?? "", force: true });
    expect(res.unassignedTaskCount).toBe(2);
    const after = (await client.getTask({ name: t1.name })).task;
    expect(after?.release).toBe("");
    expect(after?.etag).not.toBe(t1.etag);
    const events = await sql(
      "select payload from outbox_events where aggregate_id = ? and event_kind = 'task.updated'",
      [t1.uid],
    );
    expect(events.some((e) => JSON.stringify(e.payload).includes('"release"'))).toBe(true);
    if (milestone) expect((await client.getMilestone({ name: milestone.name })).milestone?.release).toBe("");
    await expectError(client.getRelease({ name: r.name }), Code.NotFound);
    await expectError(client.deleteRelease({ name: r.name }), Code.NotFound);
    // The version label is free again.
    expect((await release({ version: r.version })).version).toBe(r.version);
  });

  it("deletes an unreferenced release without force", async () => {
    const r = await release();
    expect((await client.deleteRelease({ name: r.name })).unassignedTaskCount).toBe(0);
    await expectError(client.getRelease({ name: r.name }), Code.NotFound);
  });
});
