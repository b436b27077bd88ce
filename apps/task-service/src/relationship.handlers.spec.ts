/**
 * Relationship RPCs end to end (real grpc-js server, real PostgreSQL): pairs with inverses/mirrors, cycle
 * detection with CycleDetail, idempotency, paging/filtering, dependency graph and critical path.
 */
import { randomUUID } from "node:crypto";
import { type Client, Code, type ConnectError } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import { RelationshipType } from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import type { Task } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { GraphDirection, type TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { describe, expect, it } from "vitest";
import { errorExpecter, useHarness, withoutWords } from "./workflow.test-util.js";

let orm: MikroORM;
let client: Client<typeof TaskService>;
useHarness((harness) => ({ orm, client } = harness));

async function task(
  title = "task",
  extra: { estimatedHours?: number; remainingHours?: number } = {},
): Promise<Task> {
  const res = await client.createTask({ task: { title: `Task ${title}`, ...extra } });
  if (!res.task) throw new Error("no task");
  return res.task;
}

async function relate(
  source: Task,
  target: Task,
  type: RelationshipType,
  extra: { strength?: number; note?: string } = {},
) {
  const res = await client.createRelationship({
    parent: source.name,
    relationship: { targetTask: target.name, type, ...extra },
  });
  if (!res.relationship) throw new Error("no relationship");
  return res.relationship;
}

const expectError = errorExpecter(
  withoutWords(["select", "insert", "constraint", "    at ", "violates", 'relation "'], {
    descriptions: true,
  }),
);

async function outboxCount(taskUid: string): Promise<number> {
  const rows = await orm.em
    .getConnection()
    .execute(
      "select count(*)::int as n from outbox_events where aggregate_id = ? and event_kind = 'task.relationship'",
      [taskUid],
    );
  return Number(rows[0]?.n);
}

const INVERSES: [RelationshipType, RelationshipType][] = [
  [RelationshipType.BLOCKS, RelationshipType.BLOCKED_BY],
  [RelationshipType.BLOCKED_BY, RelationshipType.BLOCKS],
  [RelationshipType.DEPENDS_ON, RelationshipType.DEPENDENCY_OF],
  [RelationshipType.DEPENDENCY_OF, RelationshipType.DEPENDS_ON],
  [RelationshipType.RELATES_TO, RelationshipType.RELATES_TO],
  [RelationshipType.DUPLICATES, RelationshipType.DUPLICATED_BY],
  [RelationshipType.DUPLICATED_BY, RelationshipType.DUPLICATES],
  [RelationshipType.PARENT_OF, RelationshipType.CHILD_OF],
  [RelationshipType.CHILD_OF, RelationshipType.PARENT_OF],
  [RelationshipType.FOLLOWS, RelationshipType.PRECEDES],
  [RelationshipType.PRECEDES, RelationshipType.FOLLOWS],
  [RelationshipType.CONFLICTS_WITH, RelationshipType.CONFLICTS_WITH],
];

describe("CreateRelationship / GetRelationship", () => {
  it("creates every type with its inverse (or same-type mirror) on the target", async () => {
    for (const [type, inverse] of INVERSES) {
      const [a, b] = [await task("a"), await task("b")];
      const rel = await relate(a, b, type);
      expect(rel.name).toMatch(new RegExp(`^${a.name}/relationships/[0-9a-f-]{36}$`));
      expect(rel.sourceTask).toBe(a.name);
      expect(rel.targetTask).toBe(b.name);
      expect(rel.type).toBe(type);
      expect(rel.strength).toBe(5);
      expect(rel.inverseRelationship.startsWith(`${b.name}/relationships/`)).toBe(true);
      const inv = (await client.getRelationship({ name: rel.inverseRelationship })).relationship;
      expect(inv?.type).toBe(inverse);
      expect(inv?.sourceTask).toBe(b.name);
      expect(inv?.targetTask).toBe(a.name);
      expect(inv?.inverseRelationship).toBe(rel.name);
      expect(await outboxCount(a.uid)).toBe(1);
      expect(await outboxCount(b.uid)).toBe(1);
    }
  });

  it("stores strength, note (unicode, SQL metacharacters) and creator verbatim", async () => {
    const [a, b] = [await task(), await task()];
    const note = `'; drop table tasks; -- 💥 naïve "quotes" \\ %_`;
    const res = await client.createRelationship(
      {
        parent: a.name,
        relationship: { targetTask: b.name, type: RelationshipType.RELATES_TO, strength: 9, note },
      },
      { headers: { "x-taskmaster-actor": "agent:ada" } },
    );
    const got = (await client.getRelationship({ name: res.relationship?.name ?? "" })).relationship;
    expect(got?.note).toBe(note);
    expect(got?.strength).toBe(9);
    expect(got?.creator).toBe("agent:ada");
    expect(got?.createTime).toBeDefined();
  });

  it("returns the first result for a retried request_id, and validate_only writes nothing", async () => {
    const [a, b] = [await task(), await task()];
    const requestId = randomUUID();
    const req = {
      parent: a.name,
      relationship: { targetTask: b.name, type: RelationshipType.BLOCKS },
      requestId,
    };
    const dry = await client.createRelationship({ ...req, validateOnly: true });
    expect(dry.relationship).toBeUndefined();
    expect((await client.listRelationships({ parent: a.name })).relationships).toHaveLength(0);
    const first = await client.createRelationship(req);
    const second = await client.createRelationship(req);
    expect(second.relationship?.name).toBe(first.relationship?.name);
    expect((await client.listRelationships({ parent: a.name })).relationships).toHaveLength(1);
  });

  it("concurrent calls with the same request_id create one pair and all return it", async () => {
    for (const type of [RelationshipType.BLOCKS, RelationshipType.RELATES_TO]) {
      const [a, b] = [await task(), await task()];
      const req = { parent: a.name, relationship: { targetTask: b.name, type }, requestId: randomUUID() };
      const all = await Promise.all([1, 2, 3, 4].map(() => client.createRelationship(req)));
      expect(new Set(all.map((r) => r.relationship?.name)).size).toBe(1);
      expect((await client.listRelationships({ parent: a.name })).relationships).toHaveLength(1);
      expect((await client.listRelationships({ parent: b.name })).relationships).toHaveLength(1);
    }
  });

  it("refuses duplicates, including the inverse of an existing pair, with ALREADY_EXISTS", async () => {
    const [a, b] = [await task(), await task()];
    await relate(a, b, RelationshipType.DEPENDS_ON);
    await expectError(relate(a, b, RelationshipType.DEPENDS_ON), Code.AlreadyExists);
    await expectError(relate(b, a, RelationshipType.DEPENDENCY_OF), Code.AlreadyExists);
    await relate(a, b, RelationshipType.RELATES_TO);
    await expectError(relate(b, a, RelationshipType.RELATES_TO), Code.AlreadyExists);
  });

  it("rejects invalid requests with field violations", async () => {
    const a = await task();
    await expectError(client.createRelationship({}), Code.InvalidArgument, ["parent", "relationship"]);
    await expectError(
      client.createRelationship({
        parent: "tasks/nope",
        relationship: {
          targetTask: "task/x",
          type: 0 as RelationshipType,
          strength: 11,
          note: "x".repeat(2001),
        },
        requestId: "not-a-uuid",
      }),
      Code.InvalidArgument,
      [
        "parent",
        "relationship.target_task",
        "relationship.type",
        "relationship.strength",
        "relationship.note",
        "request_id",
      ],
    );
    await expectError(
      client.createRelationship({ parent: a.name, relationship: { targetTask: a.name, strength: 0 } }),
      Code.InvalidArgument,
      ["relationship.target_task", "relationship.type", "relationship.strength"],
    );
    await expectError(
      client.createRelationship({
        parent: a.name,
        relationship: { targetTask: a.name, type: RelationshipType.BLOCKS },
      }),
      Code.InvalidArgument,
      ["relationship.target_task"],
    );
  });

  it("is NOT_FOUND for unknown tasks and relationships, INVALID_ARGUMENT for malformed names", async () => {
    const a = await task();
    const ghost = `tasks/${randomUUID()}`;
    await expectError(
      client.createRelationship({
        parent: ghost,
        relationship: { targetTask: a.name, type: RelationshipType.BLOCKS },
      }),
      Code.NotFound,
    );
    await expectError(
      client.createRelationship({
        parent: a.name,
        relationship: { targetTask: ghost, type: RelationshipType.BLOCKS },
      }),
      Code.NotFound,
    );
    await expectError(
      client.getRelationship({ name: `${a.name}/relationships/${randomUUID()}` }),
      Code.NotFound,
    );
    await expectError(
      client.getRelationship({ name: `${a.name}/relationships/1 or 1=1` }),
      Code.InvalidArgument,
      ["name"],
    );
    await expectError(client.getRelationship({ name: "" }), Code.InvalidArgument, ["name"]);
    await expectError(
      client.deleteRelationship({ name: `${a.name}/relationships/${randomUUID()}` }),
      Code.NotFound,
    );
  });

  it("a relationship is only found under its own source task", async () => {
    const [a, b, c] = [await task(), await task(), await task()];
    const rel = await relate(a, b, RelationshipType.BLOCKS);
    await expectError(client.getRelationship({ name: `${c.name}/relationships/${rel.uid}` }), Code.NotFound);
  });
});

describe("cycle detection", () => {
  it("refuses a cycle across blocking, dependency and ordering types with a CycleDetail path", async () => {
    const [a, b, c] = [await task("a"), await task("b"), await task("c")];
    await relate(a, b, RelationshipType.BLOCKS); // a before b
    await relate(c, b, RelationshipType.DEPENDS_ON); // b before c
    const req = { parent: c.name, relationship: { targetTask: a.name, type: RelationshipType.PRECEDES } }; // c before a
    for (const validateOnly of [true, false]) {
      const error = await expectError(
        client.createRelationship({ ...req, validateOnly }),
        Code.FailedPrecondition,
      );
      const [cycle] = error.findDetails(CycleDetailSchema);
      expect(cycle?.path).toEqual([c.name, a.name, b.name, c.name]);
      expect(cycle?.link).toBe("RELATIONSHIP_TYPE_PRECEDES");
    }
    // The same edge as an inverse type is refused too; a non-ordering type is fine.
    await expectError(relate(a, c, RelationshipType.FOLLOWS), Code.FailedPrecondition);
    await expectError(relate(a, b, RelationshipType.BLOCKED_BY), Code.FailedPrecondition);
    await relate(c, a, RelationshipType.RELATES_TO);
    await relate(c, a, RelationshipType.CONFLICTS_WITH);
  });

  it("two concurrent opposite edges: exactly one wins", async () => {
    const [a, b] = [await task(), await task()];
    const results = await Promise.allSettled([
      relate(a, b, RelationshipType.BLOCKS),
      relate(b, a, RelationshipType.BLOCKS),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(Code[(rejected.reason as ConnectError).code]).toBe(Code[Code.FailedPrecondition]);
  });
});

describe("DeleteRelationship", () => {
  it("deletes both sides from either side and records events", async () => {
    const [a, b] = [await task(), await task()];
    const rel = await relate(a, b, RelationshipType.BLOCKS);
    await client.deleteRelationship({ name: rel.inverseRelationship });
    await expectError(client.getRelationship({ name: rel.name }), Code.NotFound);
    await expectError(client.getRelationship({ name: rel.inverseRelationship }), Code.NotFound);
    expect(await outboxCount(a.uid)).toBe(2);
    expect(await outboxCount(b.uid)).toBe(2);
    // The edge can now be created the other way round.
    await relate(b, a, RelationshipType.BLOCKS);
  });
});

describe("ListRelationships", () => {
  it("pages, filters and orders", async () => {
    const hub = await task("hub");
    const targets: Task[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await task(`t${i}`);
      targets.push(t);
      await relate(hub, t, i % 2 === 0 ? RelationshipType.BLOCKS : RelationshipType.RELATES_TO, {
        strength: i + 1,
      });
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const res = await client.listRelationships({ parent: hub.name, pageSize: 2, pageToken });
      expect(res.relationships.length).toBeLessThanOrEqual(2);
      seen.push(...res.relationships.map((r) => r.targetTask));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(targets.map((t) => t.name));

    const blocks = await client.listRelationships({
      parent: hub.name,
      filter: "type = BLOCKS AND strength >= 3",
    });
    expect(blocks.relationships.map((r) => r.strength)).toEqual([3, 5]);
    const one = await client.listRelationships({
      parent: hub.name,
      filter: `target_task = "${targets[1]?.name}"`,
    });
    expect(one.relationships).toHaveLength(1);
    const desc = await client.listRelationships({ parent: hub.name, orderBy: "strength desc", pageSize: 2 });
    expect(desc.relationships.map((r) => r.strength)).toEqual([5, 4]);
    const next = await client.listRelationships({
      parent: hub.name,
      orderBy: "strength desc",
      pageSize: 2,
      pageToken: desc.nextPageToken,
    });
    expect(next.relationships.map((r) => r.strength)).toEqual([3, 2]);
    // Inverse rows live under the targets; "tasks/-" lists across tasks.
    const all = await client.listRelationships({ parent: "tasks/-", filter: `target_task = "${hub.name}"` });
    expect(all.relationships).toHaveLength(5);
  });

  it("rejects bad page sizes, filters, order_by and page tokens", async () => {
    const a = await task();
    await expectError(client.listRelationships({ parent: a.name, pageSize: -1 }), Code.InvalidArgument, [
      "page_size",
    ]);
    await expectError(client.listRelationships({ parent: "tasks/x" }), Code.InvalidArgument, ["parent"]);
    for (const filter of [
      "type = NOPE",
      "colour = 1",
      "type = BLOCKS OR type = RELATES_TO",
      "strength >= x",
      "type =",
    ]) {
      await expectError(client.listRelationships({ parent: a.name, filter }), Code.InvalidArgument, [
        "filter",
      ]);
    }
    await expectError(client.listRelationships({ parent: a.name, orderBy: "title" }), Code.InvalidArgument, [
      "order_by",
    ]);
    await expectError(
      client.listRelationships({ parent: a.name, pageToken: "garbage" }),
      Code.InvalidArgument,
      ["page_token"],
    );
    const res = await client.listRelationships({ parent: a.name, pageSize: 5000 });
    expect(res.relationships).toEqual([]);
  });

  it("a page token is bound to the request it came from", async () => {
    const [a, b, c] = [await task(), await task(), await task()];
    await relate(a, b, RelationshipType.RELATES_TO);
    await relate(a, c, RelationshipType.RELATES_TO);
    const first = await client.listRelationships({ parent: a.name, pageSize: 1 });
    expect(first.nextPageToken).not.toBe("");
    await expectError(
      client.listRelationships({
        parent: a.name,
        pageSize: 1,
        pageToken: first.nextPageToken,
        orderBy: "strength",
      }),
      Code.InvalidArgument,
      ["page_token"],
    );
  });
});

describe("GetDependencyGraph", () => {
  it("walks downstream, upstream and both ways with depth and node limits", async () => {
    const [a, b, c, d] = [await task("a"), await task("b"), await task("c"), await task("d")];
    await relate(a, b, RelationshipType.BLOCKS);
    await relate(b, c, RelationshipType.BLOCKS);
    await relate(d, c, RelationshipType.DEPENDS_ON); // c before d

    const down = await client.getDependencyGraph({
      task: a.name,
      direction: GraphDirection.DOWNSTREAM,
      maxDepth: 2,
    });
    expect(down.nodes.map((n) => [n.task, n.depth])).toEqual([
      [a.name, 0],
      [b.name, 1],
      [c.name, 2],
    ]);
    expect(down.truncated).toBe(true);
    expect(down.edges.map((e) => [e.sourceTask, e.targetTask, e.type])).toEqual([
      [a.name, b.name, RelationshipType.BLOCKS],
      [b.name, c.name, RelationshipType.BLOCKS],
    ]);

    const full = await client.getDependencyGraph({ task: a.name, direction: GraphDirection.DOWNSTREAM });
    expect(full.nodes.map((n) => n.task)).toEqual([a.name, b.name, c.name, d.name]);
    expect(full.truncated).toBe(false);

    const up = await client.getDependencyGraph({ task: d.name, direction: GraphDirection.UPSTREAM });
    expect(up.nodes.map((n) => [n.task, n.depth])).toEqual([
      [d.name, 0],
      [c.name, 1],
      [b.name, 2],
      [a.name, 3],
    ]);
    expect(up.truncated).toBe(false);
    const up1 = await client.getDependencyGraph({
      task: d.name,
      direction: GraphDirection.UPSTREAM,
      maxDepth: 1,
    });
    expect(up1.nodes.map((n) => n.task)).toEqual([d.name, c.name]);
    expect(up1.edges.map((e) => [e.sourceTask, e.targetTask, e.type])).toEqual([
      [d.name, c.name, RelationshipType.DEPENDS_ON],
    ]);
    expect(up1.truncated).toBe(true);

    const both = await client.getDependencyGraph({ task: b.name });
    expect(new Set(both.nodes.map((n) => n.task))).toEqual(new Set([a.name, b.name, c.name, d.name]));
    expect(both.edges).toHaveLength(3); // one edge per relationship, not per row

    const capped = await client.getDependencyGraph({ task: b.name, maxNodes: 2 });
    expect(capped.nodes).toHaveLength(2);
    expect(capped.nodes[0]?.task).toBe(b.name);
    expect(capped.truncated).toBe(true);
  });

  it("validates its arguments", async () => {
    const a = await task();
    await expectError(
      client.getDependencyGraph({
        task: "x",
        maxDepth: 11,
        maxNodes: -1,
        types: [0],
      }),
      Code.InvalidArgument,
      ["task", "max_depth", "max_nodes", "types[0]"],
    );
    // An unknown enum number is refused by the request check (rpc-kit request-check.ts) before the handler.
    await expectError(
      client.getDependencyGraph({ task: a.name, direction: 7 as GraphDirection }),
      Code.InvalidArgument,
      ["direction"],
    );
    await expectError(client.getDependencyGraph({ task: `tasks/${randomUUID()}` }), Code.NotFound);
    const alone = await client.getDependencyGraph({ task: a.name });
    expect(alone.nodes.map((n) => n.task)).toEqual([a.name]);
  });
});

describe("GetCriticalPath", () => {
  it("finds the longest chain by hours for a goal task", async () => {
    const a = await task("a", { estimatedHours: 2 });
    const b = await task("b", { estimatedHours: 3 });
    const c = await task("c", { remainingHours: 10 });
    const d = await task("d");
    await relate(a, b, RelationshipType.BLOCKS);
    await relate(a, c, RelationshipType.PRECEDES);
    await relate(d, c, RelationshipType.DEPENDS_ON);
    await relate(d, b, RelationshipType.DEPENDS_ON);
    const res = await client.getCriticalPath({ scope: { case: "task", value: d.name } });
    expect(res.steps.map((s) => s.task)).toEqual([a.name, c.name, d.name]);
    expect(res.steps.map((s) => [s.earliestStartHours, s.earliestFinishHours])).toEqual([
      [0, 2],
      [2, 12],
      [12, 12],
    ]);
    expect(res.totalHours).toBe(12);
    expect(res.unestimatedTasks).toEqual([d.name]);
  });

  it("validates the scope", async () => {
    await expectError(client.getCriticalPath({}), Code.InvalidArgument, ["scope"]);
    await expectError(
      client.getCriticalPath({ scope: { case: "sprint", value: "sprints/1" } }),
      Code.InvalidArgument,
      ["sprint"],
    );
    await expectError(
      client.getCriticalPath({ scope: { case: "epic", value: `tasks/${randomUUID()}` } }),
      Code.NotFound,
    );
    await expectError(
      client.getCriticalPath({ scope: { case: "release", value: `releases/${randomUUID()}` } }),
      Code.NotFound,
    );
  });
});
