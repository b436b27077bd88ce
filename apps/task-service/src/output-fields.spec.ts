/**
 * The derived output-only fields of Task (claim, child_count, open_blocker_count) on every read path that
 * returns a task: Get, BatchGet, List, ListChildren, Search, Update, Lookup, Claim/Release, and WatchTasks
 * snapshots. Real grpc-js server and PostgreSQL.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { RelationshipType } from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import { type Task, TaskStatus, TaskType } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, marker, newTask, startHarness } from "./workflow.test-util.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness({}, { service: "output-fields-test" });
});

afterAll(async () => {
  await h?.close();
});

/** The task as every list/read RPC returns it, keyed by RPC. */
async function everyRead(task: Task, filterTag: string): Promise<Record<string, Task | undefined>> {
  const c = h.client;
  return {
    GetTask: (await c.getTask({ name: task.name })).task,
    BatchGetTasks: (await c.batchGetTasks({ names: [task.name] })).tasks[0],
    ListTasks: (await c.listTasks({ filter: `tags:"${filterTag}"`, pageSize: 100 })).tasks.find(
      (t) => t.name === task.name,
    ),
    SearchTasks: (
      await c.searchTasks({ query: "task", filter: `tags:"${filterTag}"`, pageSize: 100 })
    ).results.find((r) => r.task?.name === task.name)?.task,
    UpdateTask: (
      await c.updateTask({
        task: { name: task.name, description: marker("touched") },
        updateMask: { paths: ["description"] },
      })
    ).task,
  };
}

describe("Task.child_count", () => {
  it("counts the live direct children on every read path", async () => {
    const tag = marker("children");
    const epic = await newTask(h.client, { type: TaskType.EPIC, tags: [tag] });
    const story = await newTask(h.client, { type: TaskType.STORY, parent: epic.name, tags: [tag] });
    await newTask(h.client, { parent: story.name, tags: [tag] });
    for (const [rpc, got] of Object.entries(await everyRead(story, tag))) {
      expect(got?.childCount, rpc).toBe(1);
    }
    const children = await h.client.listChildTasks({ parent: epic.name });
    expect(children.tasks.find((t) => t.name === story.name)?.childCount).toBe(1);
    const ancestors = await h.client.listTaskAncestors({ name: story.name });
    expect(ancestors.ancestors.find((t) => t.name === epic.name)?.childCount).toBe(1);
    expect((await h.client.getTask({ name: epic.name })).task?.childCount).toBe(1);
  });
});

describe("Task.open_blocker_count", () => {
  it("counts blockers not done yet, agreeing with TransitionTaskStatus", async () => {
    const tag = marker("blocked");
    const blocked = await newTask(h.client, { tags: [tag] });
    const blocker = await newTask(h.client, { tags: [tag] });
    const dependency = await newTask(h.client, { tags: [tag] });
    await h.client.createRelationship({
      parent: blocked.name,
      relationship: { targetTask: blocker.name, type: RelationshipType.BLOCKED_BY },
    });
    // The other direction: the dependency says it blocks `blocked`.
    await h.client.createRelationship({
      parent: dependency.name,
      relationship: { targetTask: blocked.name, type: RelationshipType.BLOCKS },
    });
    for (const [rpc, got] of Object.entries(await everyRead(blocked, tag))) {
      expect(got?.openBlockerCount, rpc).toBe(2);
    }
    const refused = await h.client
      .transitionTaskStatus({ name: blocked.name, status: TaskStatus.IN_PROGRESS })
      .then(() => null, ConnectError.from);
    expect(refused?.code).toBe(Code.FailedPrecondition);
    expect(refused?.rawMessage).toContain("2 open blocker(s)");

    await h.client.transitionTaskStatus({ name: dependency.name, status: TaskStatus.CANCELLED });
    expect((await h.client.getTask({ name: blocked.name })).task?.openBlockerCount).toBe(1);
    await h.client.deleteTask({ name: blocker.name });
    expect((await h.client.getTask({ name: blocked.name })).task?.openBlockerCount).toBe(0);
    await h.client.transitionTaskStatus({ name: blocked.name, status: TaskStatus.IN_PROGRESS });
  });
});

describe("Task.claim", () => {
  it("is the active claim on every read path after ClaimNextTask, and gone after release", async () => {
    const tag = marker("claim");
    const task = await newTask(h.client, { tags: [tag], status: TaskStatus.READY });
    const claimed = await h
      .as("agent-output")
      .claimNextTask({ selector: { tags: [tag] }, leaseDuration: { seconds: 120n } });
    const claim = claimed.task?.claim;
    expect(claim?.claimId).toMatch(/^[0-9a-f-]{36}$/);
    expect(claim?.claimant).toBe("agent-output");
    for (const [rpc, got] of Object.entries(await everyRead(task, tag))) {
      expect(got?.claim, rpc).toEqual(claim);
    }
    const renewed = await h
      .as("agent-output")
      .renewTaskClaim({ name: task.name, claimId: claim?.claimId ?? "", leaseDuration: { seconds: 60n } });
    expect(renewed.claim?.claimId).toBe(claim?.claimId);
    const released = await h
      .as("agent-output")
      .releaseTaskClaim({ name: task.name, claimId: claim?.claimId ?? "" });
    expect(released.task?.claim).toBeUndefined();
    expect((await h.client.getTask({ name: task.name })).task?.claim).toBeUndefined();
  });

  it("is not shown once the lease has expired", async () => {
    const tag = marker("expired");
    const task = await newTask(h.client, { tags: [tag], status: TaskStatus.READY });
    await h.as("agent-late").claimNextTask({ selector: { tags: [tag] }, leaseDuration: { seconds: 60n } });
    expect((await h.client.getTask({ name: task.name })).task?.claim).toBeDefined();
    await h.sql("update tasks set lease_expires_at = now() - interval '1 second' where id = ?", [task.uid]);
    expect((await h.client.getTask({ name: task.name })).task?.claim).toBeUndefined();
  });
});
