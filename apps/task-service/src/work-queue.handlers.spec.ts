/**
 * Agent work queue end to end: NextTask ordering and blockers, ClaimNextTask under contention (no task is
 * ever claimed twice), RenewTaskClaim, ReleaseTaskClaim, lease expiry. Real grpc-js + PostgreSQL.
 * Each test selects on its own unique tag so tests stay independent.
 */
import { randomUUID } from "node:crypto";
import { type Client, Code } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { TaskPriority, TaskStatus, TaskType } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorExpecter, type Harness, notMatching, startHarness } from "./workflow.test-util.js";

let harness: Harness;
let orm: MikroORM;
let client: Client<typeof TaskService>;

beforeAll(async () => {
  harness = await startHarness({}, { poolMax: 24, service: "work-queue-test" });
  ({ orm, client } = harness);
});

afterAll(async () => {
  await harness?.close();
});

const expectError = errorExpecter(notMatching(/\bselect\b|update tasks|constraint|\n\s+at /i));

const tag = () => `wq-${randomUUID().slice(0, 8)}`;
const as = (who: string) => ({ headers: { "x-taskmaster-actor": who } });

async function task(t: string, init: Record<string, unknown> = {}): Promise<string> {
  const res = await client.createTask({
    task: { title: `work ${t}`, tags: [t], status: TaskStatus.READY, ...init },
  });
  return res.task?.name as string;
}
const uuid = (name: string) => name.split("/")[1] as string;
async function relate(source: string, type: string, target: string): Promise<void> {
  await orm.em
    .fork()
    .getConnection()
    .execute(
      `insert into task_relationships (id, source_task_id, target_task_id, type) values (gen_random_uuid(), ?, ?, ?)`,
      [uuid(source), uuid(target), type],
    );
}
async function sql(query: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return orm.em.fork().getConnection().execute(query, params);
}

describe("NextTask", () => {
  it("orders by priority, then business value, then age, skipping tasks with open blockers", async () => {
    const t = tag();
    const lowOld = await task(t, { priority: TaskPriority.LOW });
    const highSmall = await task(t, { priority: TaskPriority.HIGH, businessValue: 2 });
    const highBig = await task(t, { priority: TaskPriority.HIGH, businessValue: 9 });
    const critical = await task(t, { priority: TaskPriority.CRITICAL });
    const blocker = await task(`${t}-other`, { status: TaskStatus.IN_PROGRESS });
    await relate(critical, "blocked_by", blocker);
    const res = await client.nextTask({ selector: { tags: [t] } });
    expect(res.task?.name).toBe(highBig);
    expect(res.candidateCount).toBe(3);
    await sql(`update tasks set status = 'completed' where id = ?`, [uuid(blocker)]);
    expect((await client.nextTask({ selector: { tags: [t] } })).task?.name).toBe(critical);
    // A dependency expressed from the other side (blocks) counts too.
    const dep = await task(`${t}-other`, { status: TaskStatus.PENDING });
    await relate(dep, "blocks", critical);
    expect((await client.nextTask({ selector: { tags: [t] } })).task?.name).toBe(highBig);
    expect(highSmall).toBeDefined();
    expect(lowOld).toBeDefined();
  });

  it("filters by assignee ('-' = unassigned), types and the ListTasks filter; empty when nothing matches", async () => {
    const t = tag();
    const mine = await task(t, { assignedTo: "ada", type: TaskType.BUG });
    const free = await task(t, { type: TaskType.FEATURE });
    expect((await client.nextTask({ selector: { tags: [t], assignedTo: "ada" } })).task?.name).toBe(mine);
    expect((await client.nextTask({ selector: { tags: [t], assignedTo: "-" } })).task?.name).toBe(free);
    expect((await client.nextTask({ selector: { tags: [t], types: [TaskType.FEATURE] } })).task?.name).toBe(
      free,
    );
    expect(
      (await client.nextTask({ selector: { tags: [t], filter: 'assigned_to = "ada"' } })).task?.name,
    ).toBe(mine);
    const none = await client.nextTask({
      selector: { tags: [t], assignedTo: "nobody'; drop table tasks;--" },
    });
    expect(none.task).toBeUndefined();
    expect(none.candidateCount).toBe(0);
  });

  it("rejects bad selectors with field violations", async () => {
    await expectError(
      client.nextTask({
        selector: { sprint: "sprints/x", types: [0 as TaskType], tags: [""], filter: "" },
      }),
      Code.InvalidArgument,
      ["selector.sprint", "selector.types[0]", "selector.tags[0]"],
    );
    await expectError(client.nextTask({ selector: { filter: "status = = =" } }), Code.InvalidArgument, [
      "selector.filter",
    ]);
  });
});

describe("ClaimNextTask / RenewTaskClaim / ReleaseTaskClaim", () => {
  it("20 concurrent claimers over 10 tasks: every task claimed exactly once", async () => {
    const t = tag();
    const names = new Set<string>();
    for (let i = 0; i < 10; i++) names.add(await task(t));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.claimNextTask({ selector: { tags: [t] } }, as(`agent-${i}`)),
      ),
    );
    const claimed = results.flatMap((r) => (r.task ? [r.task.name] : []));
    expect(claimed).toHaveLength(10);
    expect(new Set(claimed)).toEqual(names);
    const ids = results.flatMap((r) => (r.task?.claim ? [r.task.claim.claimId] : []));
    expect(new Set(ids).size).toBe(10);
    const claimants = await sql(
      `select count(distinct claimed_by)::int as n from tasks where ? = any(tags)`,
      [t],
    );
    expect(claimants[0]?.n).toBe(10);
    expect((await client.nextTask({ selector: { tags: [t] } })).task).toBeUndefined();
  });

  it("claims with a lease and start, renews, releases with a status, and records history and events", async () => {
    const t = tag();
    const name = await task(t);
    const res = await client.claimNextTask(
      { selector: { tags: [t] }, start: true, leaseDuration: { seconds: 60n } },
      as("agent-a"),
    );
    const claim = res.task?.claim;
    expect(res.task?.name).toBe(name);
    expect(res.task?.status).toBe(TaskStatus.IN_PROGRESS);
    expect(claim?.claimant).toBe("agent-a");
    const leaseMs = Number(claim?.leaseExpireTime?.seconds) - Number(claim?.claimTime?.seconds);
    expect(leaseMs).toBeGreaterThanOrEqual(59);
    expect(leaseMs).toBeLessThanOrEqual(61);

    const renewed = await client.renewTaskClaim(
      { name, claimId: claim?.claimId as string, leaseDuration: { seconds: 3600n } },
      as("agent-a"),
    );
    expect(renewed.claim?.claimId).toBe(claim?.claimId);
    expect(Number(renewed.claim?.leaseExpireTime?.seconds)).toBeGreaterThan(
      Number(claim?.leaseExpireTime?.seconds),
    );

    // Someone else, or a wrong claim id, cannot renew or release it.
    await expectError(
      client.renewTaskClaim({ name, claimId: claim?.claimId as string }, as("agent-b")),
      Code.FailedPrecondition,
    );
    await expectError(
      client.releaseTaskClaim({ name, claimId: randomUUID() }, as("agent-a")),
      Code.FailedPrecondition,
    );
    // Illegal transition (in_progress -> draft) is refused and keeps the claim.
    await expectError(
      client.releaseTaskClaim(
        { name, claimId: claim?.claimId as string, status: TaskStatus.DRAFT },
        as("agent-a"),
      ),
      Code.FailedPrecondition,
    );

    const released = await client.releaseTaskClaim(
      { name, claimId: claim?.claimId as string, status: TaskStatus.COMPLETED, reason: "done 'n dusted ✅" },
      as("agent-a"),
    );
    expect(released.task?.status).toBe(TaskStatus.COMPLETED);
    expect(released.task?.claim).toBeUndefined();
    const history = await sql(
      `select from_status, to_status, reason from task_status_history where task_id = ? order by changed_at, id`,
      [uuid(name)],
    );
    expect(history.slice(1)).toEqual([
      { from_status: "ready", to_status: "in_progress", reason: "claimed" },
      { from_status: "in_progress", to_status: "completed", reason: "done 'n dusted ✅" },
    ]);
    const events = await sql(
      `select event_kind, payload->>'action' as action from outbox_events where aggregate_id = ? order by id`,
      [uuid(name)],
    );
    expect(events.map((e) => `${e.event_kind}:${e.action ?? ""}`)).toEqual([
      "task.created:",
      "task.claim:claimed",
      "task.status_changed:",
      "task.claim:renewed",
      "task.claim:released",
      "task.status_changed:",
    ]);
    await expectError(
      client.renewTaskClaim({ name, claimId: claim?.claimId as string }, as("agent-a")),
      Code.FailedPrecondition,
    );
  });

  it("expired leases return tasks to the pool (IN_PROGRESS back to READY) and the old claim is dead", async () => {
    const t = tag();
    const name = await task(t);
    const first = await client.claimNextTask({ selector: { tags: [t] }, start: true }, as("slow-agent"));
    expect((await client.claimNextTask({ selector: { tags: [t] } }, as("other"))).task).toBeUndefined();
    await sql(`update tasks set lease_expires_at = now() - interval '1 second' where id = ?`, [uuid(name)]);
    await expectError(
      client.renewTaskClaim({ name, claimId: first.task?.claim?.claimId as string }, as("slow-agent")),
      Code.FailedPrecondition,
    );
    const second = await client.claimNextTask({ selector: { tags: [t] } }, as("other"));
    expect(second.task?.name).toBe(name);
    expect(second.task?.status).toBe(TaskStatus.READY);
    expect(second.task?.claim?.claimant).toBe("other");
    expect(second.task?.claim?.claimId).not.toBe(first.task?.claim?.claimId);
    await expectError(
      client.releaseTaskClaim({ name, claimId: first.task?.claim?.claimId as string }, as("slow-agent")),
      Code.FailedPrecondition,
    );
  });

  it("validates lease durations, names and claim ids", async () => {
    await expectError(
      client.claimNextTask({ leaseDuration: { seconds: 5n }, requestId: "x" }),
      Code.InvalidArgument,
      ["lease_duration", "request_id"],
    );
    await expectError(client.claimNextTask({ leaseDuration: { seconds: 86_401n } }), Code.InvalidArgument, [
      "lease_duration",
    ]);
    await expectError(client.renewTaskClaim({ name: "tasks/1", claimId: "" }), Code.InvalidArgument, [
      "name",
      "claim_id",
    ]);
    await expectError(client.releaseTaskClaim({ name: "tasks/1", claimId: "no" }), Code.InvalidArgument, [
      "name",
      "claim_id",
    ]);
    // An unknown enum number is refused by the request check (rpc-kit request-check.ts) before the handler.
    await expectError(
      client.releaseTaskClaim({ name: "tasks/1", claimId: "no", status: 77 as TaskStatus }),
      Code.InvalidArgument,
      ["status"],
    );
    await expectError(
      client.renewTaskClaim({ name: `tasks/${randomUUID()}`, claimId: randomUUID() }),
      Code.NotFound,
    );
  });
});
