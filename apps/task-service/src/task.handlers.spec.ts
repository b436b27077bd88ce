/**
 * TaskService CreateTask / GetTask / ListTasks end to end: a real grpc-js server on a real socket, a
 * Connect gRPC client, a fresh migrated PostgreSQL database. No mocks.
 *
 * Tests share one database; each test tags its tasks with a unique `assigned_to` marker and counts
 * them through `ListTasks` filtered on that marker, so tests stay independent.
 */
import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { BadRequestSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import {
  type Task,
  TaskComplexity,
  TaskPriority,
  TaskSchema,
  TaskStatus,
  TaskType,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

type TaskInit = MessageInitShape<typeof TaskSchema>;

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let client: Client<typeof TaskService>;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.url, pool: { min: 0, max: 8 } });
  server = createServer({ orm, logger: createLogger({ service: "task-service-test", level: "silent" }) });
  const { port } = await server.listen("127.0.0.1", 0);
  client = createClient(TaskService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

/** A marker unique to one test: put it in `assigned_to` and count the test's tasks with it. */
const marker = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** A 1..n digit number unique enough for unique external references. */
const unique = () => Math.floor(Math.random() * 1_000_000_000) + 1;

async function createTask(
  task: TaskInit,
  extra: { taskId?: string; requestId?: string } = {},
): Promise<Task> {
  const res = await client.createTask({ task, ...extra });
  if (!res.task) throw new Error("CreateTask returned no task");
  return res.task;
}

async function listAll(filter: string, orderBy = ""): Promise<Task[]> {
  const out: Task[] = [];
  let pageToken = "";
  do {
    const res = await client.listTasks({ filter, orderBy, pageToken, pageSize: 1000 });
    out.push(...res.tasks);
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return out;
}

const countAssigned = async (who: string) => (await listAll(`assigned_to = "${who}"`)).length;

/** Client-safe error text: no SQL, no constraint names, no stack traces. */
function expectCleanMessage(error: ConnectError): void {
  const text = `${error.rawMessage} ${error
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations.map((v) => v.description))
    .join(" ")}`;
  for (const word of ["select", "insert", "constraint", "    at ", "violates", 'relation "']) {
    expect(text.toLowerCase()).not.toContain(word);
  }
}

/** Awaits a call that must fail; checks the code and (when given) exactly the violated fields. */
async function expectError(call: Promise<unknown>, code: Code, fields?: string[]): Promise<ConnectError> {
  let caught: unknown;
  try {
    await call;
  } catch (error) {
    caught = error;
  }
  expect(caught, "the call should have failed").toBeInstanceOf(ConnectError);
  const error = caught as ConnectError;
  expect(Code[error.code], error.rawMessage).toBe(Code[code]);
  expectCleanMessage(error);
  if (fields !== undefined) expect(violatedFields(error).sort()).toEqual([...fields].sort());
  return error;
}

function violatedFields(error: ConnectError): string[] {
  return error.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("CreateTask / GetTask: good paths", () => {
  it("round-trips a task with every writable field set", async () => {
    const n = unique();
    const who = marker("full");
    const epic = await createTask({ title: "The epic of it all", type: TaskType.EPIC, assignedTo: who });
    const parent = await createTask({
      title: "A story to hang it on",
      type: TaskType.STORY,
      epic: epic.name,
      parent: epic.name,
      assignedTo: who,
    });
    const input = create(TaskSchema, {
      title: "Implement the full round trip",
      description: "# Heading\n\nMarkdown *body* with `code`.",
      summary: "One paragraph.",
      type: TaskType.FEATURE,
      category: "backend",
      priority: TaskPriority.CRITICAL,
      status: TaskStatus.REVIEW,
      complexity: TaskComplexity.EXPERT,
      parent: parent.name,
      epic: epic.name,
      storyPoints: 13,
      businessValue: 10,
      technicalDebtScore: 0,
      riskLevel: 1,
      requirements: ["must be fast", "must be correct"],
      acceptanceCriteria: ["returns the task"],
      definitionOfDone: ["tests pass", "docs updated"],
      testCriteria: ["round trip equal"],
      affectedFiles: ["apps/task-service/src/task.handlers.ts"],
      affectedComponents: ["task-service", "persistence"],
      technicalNotes: "notes",
      architectureNotes: "arch",
      assignedTo: who,
      reporter: "grace",
      productOwner: "barbara",
      techLead: "linus",
      reviewer: "ken",
      estimatedHours: 12.5,
      remainingHours: 0.25,
      dueTime: timestampFromDate(new Date("2031-02-03T04:05:06.789Z")),
      labels: ["area/api", "kind:feature", "p_1.x-y"],
      tags: ["Backend", "gRPC ✓"],
      externalId: `EXT-${n}`,
      githubIssueUrl: `https://github.com/taskmaster-dev/task.master/issues/${n}`,
      githubPrUrl: `https://github.com/taskmaster-dev/task_master/pull/${n}`,
      linearIssueId: `ENG-${n}`,
      jiraKey: `PROJ_2-${n}`,
      codeQualityScore: 87.5,
      testCoverageTarget: 95,
      performanceRequirements: { p95_ms: 200, regions: ["eu", "us"] },
      securityRequirements: { encryption: "AES-256", pii: false },
      automationLevel: "fully_automated",
      ciCdPipeline: "https://ci.example.com/pipelines/42",
      deploymentStrategy: "canary",
      metadata: { source: "import", nested: { list: [1, "two", true, null], empty: {} }, ratio: 0.5 },
      customFields: { team: "platform", weight: 3 },
    });

    const created = await createTask(input);
    const fetched = (await client.getTask({ name: created.name })).task;
    expect(fetched).toEqual(created);

    expect(created.name).toMatch(/^tasks\/[0-9a-f-]{36}$/);
    expect(created.uid).toMatch(UUID);
    expect(created.name).toBe(`tasks/${created.uid}`);
    expect(created.etag).not.toBe("");
    expect(created.createTime).toBeDefined();
    expect(created.updateTime).toBeDefined();
    expect(created.actualHours).toBe(0);
    expect(created.deleteTime).toBeUndefined();

    // Every writable field comes back exactly as sent.
    const { name: _n, uid: _u, createTime: _c, updateTime: _up, etag: _e, actualHours: _a, ...sent } = input;
    const {
      name: _n2,
      uid: _u2,
      createTime: _c2,
      updateTime: _up2,
      etag: _e2,
      actualHours: _a2,
      ...got
    } = fetched as Task;
    expect(got).toEqual(sent);
  });

  it("applies the documented defaults and the resource name / uid / etag / create_time", async () => {
    const created = await createTask({ title: "Only a title here" });
    expect(created).toMatchObject({
      type: TaskType.TASK,
      priority: TaskPriority.MEDIUM,
      status: TaskStatus.PENDING,
      complexity: TaskComplexity.MODERATE,
      testCoverageTarget: 80,
      parent: "",
      epic: "",
      labels: [],
      tags: [],
    });
    expect(created.uid).toMatch(UUID);
    expect(created.name).toBe(`tasks/${created.uid}`);
    expect(created.etag).not.toBe("");
    expect(created.createTime?.seconds).toBeGreaterThan(0n);
    expect(created.storyPoints).toBeUndefined();
    const fetched = (await client.getTask({ name: created.name })).task;
    expect(fetched).toEqual(created);
  });

  it("trims the title and ignores name, uid and output-only fields on create", async () => {
    const created = await createTask({
      title: "   Padded title   ",
      name: `tasks/${randomUUID()}`,
      uid: randomUUID(),
      etag: 'W/"999"',
      actualHours: 99,
    });
    expect(created.title).toBe("Padded title");
    expect(created.name).toBe(`tasks/${created.uid}`);
    expect(created.actualHours).toBe(0);
    expect(created.etag).not.toBe('W/"999"');
  });

  it("honours a client-chosen task_id and refuses it a second time with ALREADY_EXISTS", async () => {
    const id = randomUUID();
    const created = await createTask({ title: "Chosen identifier" }, { taskId: id });
    expect(created.name).toBe(`tasks/${id}`);
    expect(created.uid).toBe(id);
    await expectError(createTask({ title: "Chosen identifier again" }, { taskId: id }), Code.AlreadyExists);
    // An upper-case spelling of the same UUID is the same task.
    await expectError(
      createTask({ title: "Chosen identifier upper" }, { taskId: id.toUpperCase() }),
      Code.AlreadyExists,
    );
    expect((await client.getTask({ name: `tasks/${id}` })).task?.title).toBe("Chosen identifier");
  });

  it("returns the same task for a retried request_id and stores exactly one row", async () => {
    const who = marker("retry");
    const requestId = randomUUID();
    const first = await createTask({ title: "Retried create", assignedTo: who }, { requestId });
    const second = await createTask({ title: "Retried create", assignedTo: who }, { requestId });
    expect(second).toEqual(first);
    expect(await countAssigned(who)).toBe(1);
  });

  it("creates exactly one task for 10 concurrent creates with the same request_id", async () => {
    const who = marker("concurrent");
    const requestId = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        createTask({ title: "Concurrent create", assignedTo: who }, { requestId }),
      ),
    );
    expect(new Set(results.map((t) => t.name)).size).toBe(1);
    expect(await countAssigned(who)).toBe(1);
  });

  it("writes nothing with validate_only, and still validates", async () => {
    const who = marker("dry");
    const taskId = randomUUID();
    await client.createTask({ task: { title: "Dry run only", assignedTo: who }, taskId, validateOnly: true });
    expect(await countAssigned(who)).toBe(0);
    await expectError(client.getTask({ name: `tasks/${taskId}` }), Code.NotFound);
    await expectError(
      client.createTask({ task: { title: "bad", assignedTo: who }, validateOnly: true }),
      Code.InvalidArgument,
      ["task.title"],
    );
    expect(await countAssigned(who)).toBe(0);
  });

  it("links parent and epic to existing tasks and rejects unknown ones", async () => {
    const epic = await createTask({ title: "An epic to belong to", type: TaskType.EPIC });
    const child = await createTask({ title: "A child of the epic", parent: epic.name, epic: epic.name });
    expect(child.parent).toBe(epic.name);
    expect(child.epic).toBe(epic.name);
    // Upper-case UUIDs in references resolve to the same task.
    const upper = await createTask({
      title: "Upper-case parent ref",
      parent: `tasks/${epic.uid.toUpperCase()}`,
    });
    expect(upper.parent).toBe(epic.name);

    const missing = `tasks/${randomUUID()}`;
    await expectError(createTask({ title: "Orphan with no parent", parent: missing }), Code.InvalidArgument, [
      "task.parent",
    ]);
    await expectError(createTask({ title: "Orphan with no epic", epic: missing }), Code.InvalidArgument, [
      "task.epic",
    ]);
    await expectError(
      createTask({ title: "Malformed parent ref", parent: "tasks/nope" }),
      Code.InvalidArgument,
      ["task.parent"],
    );
    await expectError(
      createTask({ title: "Wrong collection", parent: `sprints/${randomUUID()}` }),
      Code.InvalidArgument,
      ["task.parent"],
    );
  });

  it("stores SQL metacharacters and unicode verbatim", async () => {
    const who = marker("unicode");
    const texts = [
      "'; DROP TABLE tasks; --",
      "Robert'); DELETE FROM tasks WHERE ('1'='1",
      "emoji 🚀🔥👩‍👩‍👧‍👦 done",
      "שלום עולם — RTL text",
      "مرحبا بالعالم",
      'quotes " \\ backslash %_ like',
      "日本語のタスク名",
    ];
    for (const title of texts) {
      const created = await createTask({
        title,
        description: title,
        tags: [title.slice(0, 60)],
        metadata: { title },
        assignedTo: who,
      });
      const fetched = (await client.getTask({ name: created.name })).task;
      expect(fetched?.title).toBe(title);
      expect(fetched?.description).toBe(title);
      expect(fetched?.tags).toEqual([title.slice(0, 60)]);
      expect(fetched?.metadata).toEqual({ title });
    }
    expect(await countAssigned(who)).toBe(texts.length);
    // The tasks table is still there and filterable by a value full of quotes.
    const tricky = marker(`x'"; --`);
    await createTask({ title: "Filter with quotes", assignedTo: tricky });
    expect(await listAll(`assigned_to = "${tricky.replaceAll('"', '\\"')}"`)).toHaveLength(1);
  });

  // PostgreSQL text/jsonb cannot store U+0000; it must be a field violation, never INTERNAL/UNAVAILABLE.
  it.each([
    ["task.title", { title: "NUL \u0000 in the title" }],
    ["task.description", { title: "NUL in the description", description: "a\u0000b" }],
    ["task.metadata", { title: "NUL in metadata", metadata: { k: "a\u0000b" } }],
    ["task.custom_fields", { title: "NUL in a JSON key", customFields: { "a\u0000b": 1 } }],
    ["task.tags[1]", { title: "NUL in tags", tags: ["ok", "a\u0000b"] }],
    ["task.labels[0]", { title: "NUL in labels", labels: ["a\u0000b"] }],
  ] satisfies [string, TaskInit][])(
    "rejects a NUL character in %s with INVALID_ARGUMENT",
    async (field, task) => {
      await expectError(createTask(task), Code.InvalidArgument, [field]);
    },
  );

  it("accepts titles of exactly 5 and 255 characters (code points, after trimming)", async () => {
    expect((await createTask({ title: "abcde" })).title).toBe("abcde");
    expect((await createTask({ title: "  abcde \t" })).title).toBe("abcde");
    expect((await createTask({ title: "x".repeat(255) })).title).toHaveLength(255);
    const emoji = "😀".repeat(255);
    expect((await createTask({ title: emoji })).title).toBe(emoji);
    expect((await createTask({ title: "é".repeat(5) })).title).toBe("ééééé");
  });

  it("accepts the boundary values of every numeric range", async () => {
    const low = await createTask({
      title: "Lower boundaries",
      storyPoints: 0,
      businessValue: 1,
      technicalDebtScore: 0,
      riskLevel: 1,
      estimatedHours: 0,
      remainingHours: 0,
      codeQualityScore: 0,
      testCoverageTarget: 0,
    });
    expect(low).toMatchObject({
      storyPoints: 0,
      businessValue: 1,
      riskLevel: 1,
      estimatedHours: 0,
      testCoverageTarget: 0,
    });
    const high = await createTask({
      title: "Upper boundaries",
      storyPoints: 100,
      businessValue: 10,
      technicalDebtScore: 100,
      riskLevel: 10,
      estimatedHours: 100_000,
      remainingHours: 100_000,
      codeQualityScore: 100,
      testCoverageTarget: 100,
    });
    expect((await client.getTask({ name: high.name })).task).toMatchObject({
      storyPoints: 100,
      businessValue: 10,
      technicalDebtScore: 100,
      riskLevel: 10,
      estimatedHours: 100_000,
      remainingHours: 100_000,
      codeQualityScore: 100,
      testCoverageTarget: 100,
    });
  });
});

describe("CreateTask: bad paths", () => {
  it("requires the task and its title", async () => {
    await expectError(client.createTask({}), Code.InvalidArgument, ["task"]);
    await expectError(client.createTask({ task: {} }), Code.InvalidArgument, ["task.title"]);
    await expectError(client.createTask({ task: { title: "    " } }), Code.InvalidArgument, ["task.title"]);
  });

  it("rejects titles that are too short or too long", async () => {
    await expectError(createTask({ title: "abcd" }), Code.InvalidArgument, ["task.title"]);
    await expectError(createTask({ title: "   abcd   " }), Code.InvalidArgument, ["task.title"]);
    await expectError(createTask({ title: "x".repeat(256) }), Code.InvalidArgument, ["task.title"]);
    await expectError(createTask({ title: "😀".repeat(256) }), Code.InvalidArgument, ["task.title"]);
  });

  it.each([
    ["type", { type: 999 as TaskType }],
    ["priority", { priority: 42 as TaskPriority }],
    ["status", { status: -1 as TaskStatus }],
    ["complexity", { complexity: 6 as TaskComplexity }],
  ] as const)("rejects an unknown %s enum number", async (field, fields) => {
    await expectError(createTask({ title: "Enum out of range", ...fields }), Code.InvalidArgument, [
      `task.${field}`,
    ]);
  });

  it.each([
    ["story_points", { storyPoints: 101 }],
    ["story_points", { storyPoints: -1 }],
    ["business_value", { businessValue: 0 }],
    ["business_value", { businessValue: 11 }],
    ["technical_debt_score", { technicalDebtScore: 101 }],
    ["risk_level", { riskLevel: 11 }],
    ["risk_level", { riskLevel: 0 }],
    ["estimated_hours", { estimatedHours: -1 }],
    ["estimated_hours", { estimatedHours: 100_000.01 }],
    ["estimated_hours", { estimatedHours: Number.NaN }],
    ["remaining_hours", { remainingHours: -0.5 }],
    ["remaining_hours", { remainingHours: Number.POSITIVE_INFINITY }],
    ["code_quality_score", { codeQualityScore: 100.5 }],
    ["test_coverage_target", { testCoverageTarget: -1 }],
    ["test_coverage_target", { testCoverageTarget: 101 }],
  ] as const)("rejects %s out of range (%j)", async (field, fields) => {
    await expectError(createTask({ title: "Number out of range", ...fields }), Code.InvalidArgument, [
      `task.${field}`,
    ]);
  });

  it.each([
    ["jira_key", { jiraKey: "proj-1" }],
    ["jira_key", { jiraKey: "P-1" }],
    ["jira_key", { jiraKey: "PROJ-0" }],
    ["jira_key", { jiraKey: "PROJ-12a" }],
    ["linear_issue_id", { linearIssueId: "eng-1" }],
    ["linear_issue_id", { linearIssueId: "ENG 1" }],
    ["linear_issue_id", { linearIssueId: "ENG-" }],
    ["github_issue_url", { githubIssueUrl: "http://github.com/o/r/issues/1" }],
    ["github_issue_url", { githubIssueUrl: "https://github.com/o/r/pull/1" }],
    ["github_issue_url", { githubIssueUrl: "https://gitlab.com/o/r/issues/1" }],
    ["github_issue_url", { githubIssueUrl: "https://github.com/o/r/issues/1?x=1" }],
    ["github_pr_url", { githubPrUrl: "https://github.com/o/r/issues/1" }],
    ["github_pr_url", { githubPrUrl: "https://github.com/o/r/pull/0" }],
    ["github_pr_url", { githubPrUrl: "https://github.com/-o/r/pull/1" }],
  ] as const)("rejects a malformed %s (%j)", async (field, fields) => {
    await expectError(createTask({ title: "Bad external ref", ...fields }), Code.InvalidArgument, [
      `task.${field}`,
    ]);
  });

  it("rejects invalid and duplicate labels, and duplicate tags", async () => {
    await expectError(
      createTask({ title: "Bad labels here", labels: ["ok", "Not-Lower"] }),
      Code.InvalidArgument,
      ["task.labels[1]"],
    );
    await expectError(createTask({ title: "Bad labels here", labels: ["has space"] }), Code.InvalidArgument, [
      "task.labels[0]",
    ]);
    await expectError(
      createTask({ title: "Bad labels here", labels: ["x".repeat(65)] }),
      Code.InvalidArgument,
      ["task.labels[0]"],
    );
    await expectError(createTask({ title: "Empty label", labels: ["ok", ""] }), Code.InvalidArgument, [
      "task.labels[1]",
    ]);
    await expectError(
      createTask({ title: "Dup labels here", labels: ["api", "api"] }),
      Code.InvalidArgument,
      ["task.labels"],
    );
    await expectError(createTask({ title: "Dup tags here", tags: ["x", "x"] }), Code.InvalidArgument, [
      "task.tags",
    ]);
    await expectError(createTask({ title: "Empty tag", tags: [""] }), Code.InvalidArgument, ["task.tags[0]"]);
    await expectError(
      createTask({ title: "Too many labels", labels: Array.from({ length: 51 }, (_, i) => `l${i}`) }),
      Code.InvalidArgument,
      ["task.labels"],
    );
  });

  it("rejects list items that are empty or too long", async () => {
    await expectError(
      createTask({ title: "Bad requirement", requirements: ["ok", ""] }),
      Code.InvalidArgument,
      ["task.requirements[1]"],
    );
    await expectError(
      createTask({ title: "Bad criteria", acceptanceCriteria: ["x".repeat(2001)] }),
      Code.InvalidArgument,
      ["task.acceptance_criteria[0]"],
    );
  });

  it("rejects JSON objects larger than 64 KiB", async () => {
    const big = { blob: "x".repeat(64 * 1024) };
    await expectError(createTask({ title: "Huge metadata", metadata: big }), Code.InvalidArgument, [
      "task.metadata",
    ]);
    await expectError(createTask({ title: "Huge custom fields", customFields: big }), Code.InvalidArgument, [
      "task.custom_fields",
    ]);
    await expectError(
      createTask({ title: "Huge perf reqs", performanceRequirements: big }),
      Code.InvalidArgument,
      ["task.performance_requirements"],
    );
    // Just under the limit is fine.
    const fits = { blob: "x".repeat(64 * 1024 - 20) };
    const created = await createTask({ title: "Metadata that fits", metadata: fits });
    expect((await client.getTask({ name: created.name })).task?.metadata).toEqual(fits);
  });

  it("rejects a malformed task_id or request_id", async () => {
    await expectError(
      createTask({ title: "Bad task identifier" }, { taskId: "not-a-uuid" }),
      Code.InvalidArgument,
      ["task_id"],
    );
    await expectError(
      createTask({ title: "Bad task identifier" }, { taskId: `${randomUUID()}x` }),
      Code.InvalidArgument,
      ["task_id"],
    );
    await expectError(
      createTask({ title: "Bad request identifier" }, { requestId: "retry-1" }),
      Code.InvalidArgument,
      ["request_id"],
    );
  });

  it("reports every violation at once", async () => {
    const error = await expectError(
      client.createTask({
        task: {
          title: "abc",
          type: 999 as TaskType,
          storyPoints: 101,
          jiraKey: "bad",
          labels: ["BAD"],
          riskLevel: 0,
        },
        taskId: "nope",
        requestId: "nope",
      }),
      Code.InvalidArgument,
      [
        "task.title",
        "task.type",
        "task.story_points",
        "task.jira_key",
        "task.labels[0]",
        "task.risk_level",
        "task_id",
        "request_id",
      ],
    );
    for (const violation of error.findDetails(BadRequestSchema)[0]?.fieldViolations ?? []) {
      expect(violation.description).not.toBe("");
    }
  });

  // KNOWN GAP: the contract says external_id / github urls / linear id / jira key are "unique when set",
  // but no migration adds unique indexes, so a duplicate is silently accepted. Enable once they exist.
  it.skip("rejects a taken external reference with ALREADY_EXISTS, not INTERNAL", async () => {
    const jiraKey = `DUP-${unique()}`;
    await createTask({ title: "First with the key", jiraKey });
    await expectError(createTask({ title: "Second with the key", jiraKey }), Code.AlreadyExists);
  });

  it("rejects over-long strings with a field violation", async () => {
    await expectError(
      createTask({ title: "Long summary", summary: "s".repeat(2001) }),
      Code.InvalidArgument,
      ["task.summary"],
    );
    await expectError(
      createTask({ title: "Long category", category: "c".repeat(101) }),
      Code.InvalidArgument,
      ["task.category"],
    );
    await expectError(
      createTask({ title: "Long assignee", assignedTo: "a".repeat(321) }),
      Code.InvalidArgument,
      ["task.assigned_to"],
    );
  });
});

describe("GetTask", () => {
  it.each([
    ["empty", ""],
    ["not a uuid", "tasks/not-a-uuid"],
    ["another collection", `projects/${randomUUID()}`],
    ["a trailing segment", `tasks/${randomUUID()}/comments`],
    ["a bare uuid", randomUUID()],
    ["SQL", "tasks/'; DROP TABLE tasks; --"],
  ])("rejects a name that is %s with INVALID_ARGUMENT on name", async (_what, name) => {
    await expectError(client.getTask({ name }), Code.InvalidArgument, ["name"]);
  });

  it("returns NOT_FOUND for an unknown task", async () => {
    await expectError(client.getTask({ name: `tasks/${randomUUID()}` }), Code.NotFound);
  });

  it("finds a task by an upper-case name", async () => {
    const created = await createTask({ title: "Case insensitive name" });
    expect((await client.getTask({ name: `tasks/${created.uid.toUpperCase()}` })).task?.name).toBe(
      created.name,
    );
  });
});

describe("ListTasks", () => {
  const pager = marker("pager");
  const created: Task[] = [];

  beforeAll(async () => {
    // Sequential so create_time order equals creation order.
    for (let i = 0; i < 25; i++)
      created.push(await createTask({ title: `Paged task ${i}`, assignedTo: pager }));
  });

  it("pages 25 tasks 10/10/5 in a stable order without duplicates", async () => {
    const filter = `assigned_to = "${pager}"`;
    const sizes: number[] = [];
    const names: string[] = [];
    let pageToken = "";
    do {
      const res = await client.listTasks({ filter, pageSize: 10, pageToken, orderBy: "create_time" });
      sizes.push(res.tasks.length);
      names.push(...res.tasks.map((t) => t.name));
      pageToken = res.nextPageToken;
    } while (pageToken !== "" && sizes.length < 10);
    expect(sizes).toEqual([10, 10, 5]);
    expect(new Set(names).size).toBe(25);
    expect(names).toEqual(created.map((t) => t.name));
    // Same again: stable.
    expect((await listAll(filter, "create_time")).map((t) => t.name)).toEqual(names);
  });

  it("returns an empty next_page_token when everything fits", async () => {
    const res = await client.listTasks({ filter: `assigned_to = "${pager}"`, pageSize: 25 });
    expect(res.tasks).toHaveLength(25);
    expect(res.nextPageToken).toBe("");
  });

  it("treats page_size 0 as the default and coerces huge sizes", async () => {
    for (let i = 0; i < 30; i++) await createTask({ title: `Filler task ${i}` });
    const byDefault = await client.listTasks({ pageSize: 0 });
    expect(byDefault.tasks).toHaveLength(50);
    expect(byDefault.nextPageToken).not.toBe("");
    const huge = await client.listTasks({ pageSize: 5000 });
    expect(huge.tasks.length).toBeGreaterThan(50);
    expect(huge.tasks.length).toBeLessThanOrEqual(1000);
  });

  it("rejects a negative page_size", async () => {
    await expectError(client.listTasks({ pageSize: -1 }), Code.InvalidArgument, ["page_size"]);
  });

  it.each([
    ["garbage", "garbage!!"],
    ["base64 of junk", Buffer.from('["t1","x","y",0]').toString("base64url")],
    ["base64 of not json", Buffer.from("hello").toString("base64url")],
    ["very long", "A".repeat(5000)],
  ])("rejects a %s page_token on field page_token", async (_what, pageToken) => {
    await expectError(client.listTasks({ pageToken }), Code.InvalidArgument, ["page_token"]);
  });

  it("filters on status, priority AND type, assigned_to and parent", async () => {
    const who = marker("filter");
    const parent = await createTask({
      title: "Filter parent task",
      assignedTo: who,
      status: TaskStatus.IN_PROGRESS,
    });
    const bug = await createTask({
      title: "High priority bug",
      assignedTo: who,
      priority: TaskPriority.HIGH,
      type: TaskType.BUG,
    });
    await createTask({
      title: "High priority feature",
      assignedTo: who,
      priority: TaskPriority.HIGH,
      type: TaskType.FEATURE,
    });
    const child = await createTask({ title: "Child of filter parent", assignedTo: who, parent: parent.name });

    const inProgress = await listAll("status = IN_PROGRESS");
    expect(inProgress.every((t) => t.status === TaskStatus.IN_PROGRESS)).toBe(true);
    expect(inProgress.map((t) => t.name)).toContain(parent.name);
    expect(
      (await listAll(`status = TASK_STATUS_IN_PROGRESS AND assigned_to = "${who}"`)).map((t) => t.name),
    ).toEqual([parent.name]);

    const highBugs = await listAll(`priority = TASK_PRIORITY_HIGH AND type = BUG AND assigned_to = "${who}"`);
    expect(highBugs.map((t) => t.name)).toEqual([bug.name]);
    expect(
      (await listAll("priority = TASK_PRIORITY_HIGH AND type = BUG")).every((t) => t.type === TaskType.BUG),
    ).toBe(true);

    expect(await listAll(`assigned_to = "${who}"`)).toHaveLength(4);
    expect(await listAll(`assigned_to = "nobody-${randomUUID()}"`)).toHaveLength(0);

    expect((await listAll(`parent = "${parent.name}"`)).map((t) => t.name)).toEqual([child.name]);
  });

  it.each([
    ["status =", 9],
    ["status IN_PROGRESS", 8],
    ["status = IN_PROGRESS AND", 25],
    ["status = IN_PROGRESS OR priority = HIGH", 22],
    ['assigned_to = "unterminated', 15],
    ["status = IN_PROGRESS;", 21],
    ["status = NOPE", 10],
    ['parent = "tasks/not-a-uuid"', 10],
  ])("rejects filter %j naming position %i", async (filter, position) => {
    const error = await expectError(client.listTasks({ filter }), Code.InvalidArgument, ["filter"]);
    const description = error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.description ?? "";
    expect(description).toContain(`position ${position}`);
  });

  it("rejects an unsupported filter field", async () => {
    const error = await expectError(client.listTasks({ filter: "colour = red" }), Code.InvalidArgument, [
      "filter",
    ]);
    expect(error.rawMessage).toContain("colour");
  });

  it("orders by create_time desc as the reverse of create_time", async () => {
    const filter = `assigned_to = "${pager}"`;
    const asc = (await listAll(filter, "create_time")).map((t) => t.name);
    const desc = (await listAll(filter, "create_time desc")).map((t) => t.name);
    expect(asc).toHaveLength(25);
    expect(desc).toEqual([...asc].reverse());
    // Paging in descending order keeps the direction.
    const first = await client.listTasks({ filter, orderBy: "create_time desc", pageSize: 10 });
    const second = await client.listTasks({
      filter,
      orderBy: "create_time desc",
      pageSize: 10,
      pageToken: first.nextPageToken,
    });
    expect([...first.tasks, ...second.tasks].map((t) => t.name)).toEqual(desc.slice(0, 20));
  });

  it("rejects an unsupported order_by", async () => {
    await expectError(client.listTasks({ orderBy: "colour" }), Code.InvalidArgument, ["order_by"]);
    await expectError(client.listTasks({ orderBy: "create_time sideways" }), Code.InvalidArgument, [
      "order_by",
    ]);
  });

  it("accepts show_deleted", async () => {
    const res = await client.listTasks({
      filter: `assigned_to = "${pager}"`,
      showDeleted: true,
      pageSize: 100,
    });
    expect(res.tasks).toHaveLength(25);
  });

  it("rejects a filter longer than the documented 2000 characters", async () => {
    await expectError(
      client.listTasks({ filter: `assigned_to = "${"a".repeat(2000)}"` }),
      Code.InvalidArgument,
      ["filter"],
    );
  });
});
