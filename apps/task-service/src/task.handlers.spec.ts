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
import { type Client, Code, type ConnectError } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { BadRequestSchema, ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import {
  type Task,
  TaskComplexity,
  TaskPriority,
  TaskSchema,
  TaskStatus,
  TaskType,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { beforeAll, describe, expect, it } from "vitest";
import { errorExpecter, useHarness, withoutWords } from "./workflow.test-util.js";

type TaskInit = MessageInitShape<typeof TaskSchema>;

let orm: MikroORM;
let client: Client<typeof TaskService>;
useHarness((harness) => ({ orm, client } = harness));

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
/** Awaits a call that must fail; checks the code and (when given) exactly the violated fields. */
const expectError = errorExpecter(
  withoutWords(["select", "insert", "constraint", "    at ", "violates", 'relation "'], {
    descriptions: true,
  }),
);

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
    const dry = await client.createTask({
      task: { title: "  Dry run only  ", assignedTo: who },
      taskId,
      validateOnly: true,
    });
    // The response is the task as it would be created.
    expect(dry.task?.name).toBe(`tasks/${taskId}`);
    expect(dry.task?.title).toBe("Dry run only");
    expect(dry.task?.status).toBe(TaskStatus.PENDING);
    expect(dry.task?.priority).toBe(TaskPriority.MEDIUM);
    expect(dry.task?.testCoverageTarget).toBe(80);
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
    const upper = {
      storyPoints: 100,
      businessValue: 10,
      technicalDebtScore: 100,
      riskLevel: 10,
      estimatedHours: 100_000,
      remainingHours: 100_000,
      codeQualityScore: 100,
      testCoverageTarget: 100,
    };
    const high = await createTask({ title: "Upper boundaries", ...upper });
    expect((await client.getTask({ name: high.name })).task).toMatchObject(upper);
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
    // An unknown enum number is refused by the request check (rpc-kit request-check.ts) before the handler.
    await expectError(
      client.createTask({ task: { title: "valid title", type: 999 as TaskType } }),
      Code.InvalidArgument,
      ["task.type"],
    );
  });

  it("rejects a taken external reference with ALREADY_EXISTS naming the field, not INTERNAL", async () => {
    const n = unique();
    const refs = {
      jiraKey: `DUP-${n}`,
      externalId: `dup-ext-${n}`,
      githubIssueUrl: `https://github.com/o/r/issues/${n}`,
      githubPrUrl: `https://github.com/o/r/pull/${n}`,
      linearIssueId: `DUP-${n}`,
    };
    const first = await createTask({ title: "First with the refs", ...refs });
    for (const [key, field] of [
      ["jiraKey", "jira_key"],
      ["externalId", "external_id"],
      ["githubIssueUrl", "github_issue_url"],
      ["githubPrUrl", "github_pr_url"],
      ["linearIssueId", "linear_issue_id"],
    ] as const) {
      const error = await expectError(
        createTask({ title: "Second with a ref", [key]: refs[key] }),
        Code.AlreadyExists,
      );
      expect(error.rawMessage).toContain(field);
      // validate_only reports the same without writing.
      await expectError(
        client.createTask({ task: { title: "Dry run with a ref", [key]: refs[key] }, validateOnly: true }),
        Code.AlreadyExists,
      );
    }
    // Once the holder is deleted, the references are free again.
    await client.deleteTask({ name: first.name });
    const second = await createTask({ title: "Second after delete", ...refs });
    expect(second.jiraKey).toBe(refs.jiraKey);
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
    ["(status = IN_PROGRESS", 22],
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

// ---------------------------------------------------------------------------------------------------
// UpdateTask, DeleteTask, UndeleteTask, BatchGetTasks, LookupTask, BatchCreateTasks, hierarchy, filters

async function sql(text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return orm.em.fork().getConnection().execute(text, params, "all");
}

async function eventCount(task: Task, kind: string): Promise<number> {
  const rows = await sql(
    "select count(*)::int as n from outbox_events where aggregate_id = ? and event_kind = ?",
    [task.uid, kind],
  );
  return Number(rows[0]?.n);
}

function reasonOf(error: ConnectError): string | undefined {
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}

const mask = (...paths: string[]) => ({ paths });

describe("UpdateTask", () => {
  it("updates only the masked fields, bumps the etag and records an event", async () => {
    const who = marker("upd");
    const task = await createTask({
      title: "Before the update",
      description: "keep me",
      assignedTo: who,
      storyPoints: 3,
    });
    const res = await client.updateTask({
      task: {
        name: task.name,
        title: "  After the update  ",
        storyPoints: 8,
        description: "ignored: not masked",
      },
      updateMask: mask("title", "story_points"),
    });
    const updated = res.task as Task;
    expect(updated.title).toBe("After the update");
    expect(updated.storyPoints).toBe(8);
    expect(updated.description).toBe("keep me");
    expect(updated.etag).not.toBe(task.etag);
    expect(updated.createTime).toEqual(task.createTime);
    expect((await client.getTask({ name: task.name })).task).toEqual(updated);
    expect(await eventCount(task, "task.updated")).toBe(1);
  });

  it("clears a masked field that is absent and resets everything with '*'", async () => {
    const task = await createTask({
      title: "Full of values",
      description: "some text",
      priority: TaskPriority.CRITICAL,
      labels: ["a"],
      metadata: { k: 1 },
      status: TaskStatus.READY,
    });
    const cleared = (
      await client.updateTask({ task: { name: task.name }, updateMask: mask("description", "labels") })
    ).task as Task;
    expect(cleared.description).toBe("");
    expect(cleared.labels).toEqual([]);
    expect(cleared.priority).toBe(TaskPriority.CRITICAL);
    const all = (
      await client.updateTask({ task: { name: task.name, title: "Only a title now" }, updateMask: mask("*") })
    ).task as Task;
    expect(all.title).toBe("Only a title now");
    expect(all.priority).toBe(TaskPriority.MEDIUM);
    expect(all.metadata).toEqual({});
    expect(all.testCoverageTarget).toBe(80);
    // '*' never touches status or parent.
    expect(all.status).toBe(TaskStatus.READY);
  });

  it("stores SQL metacharacters and unicode verbatim", async () => {
    const task = await createTask({ title: "Plain title" });
    const title = "Robert'); DROP TABLE tasks; -- 🚀 שלום ?? $1 \\";
    const metadata = { "we'ird": "va'lue ? $1", nested: { emoji: "👩‍👩‍👧" } };
    const updated = (
      await client.updateTask({
        task: { name: task.name, title, metadata, tags: ["it's", "?"] },
        updateMask: mask("title", "metadata", "tags"),
      })
    ).task as Task;
    expect(updated.title).toBe(title);
    expect(updated.metadata).toEqual(metadata);
    expect((await client.getTask({ name: task.name })).task?.tags).toEqual(["it's", "?"]);
  });

  it.each([
    [["status"], "FIELD_NOT_UPDATABLE"],
    [["parent"], "FIELD_NOT_UPDATABLE"],
    [["create_time"], "FIELD_OUTPUT_ONLY"],
    [["actual_hours"], "FIELD_OUTPUT_ONLY"],
    [["etag"], "FIELD_OUTPUT_ONLY"],
    [["colour"], "UNKNOWN_FIELD"],
    [[], "REQUIRED"],
    [["*", "title"], "INVALID_MASK"],
  ])("rejects update_mask %j", async (paths, reason) => {
    const task = await createTask({ title: "Mask victim" });
    const error = await expectError(
      client.updateTask({ task: { name: task.name, title: "Another title" }, updateMask: { paths } }),
      Code.InvalidArgument,
      ["update_mask"],
    );
    expect(error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.reason).toBe(reason);
  });

  it("validates only the masked values and names them", async () => {
    const task = await createTask({ title: "Validated update" });
    await expectError(
      client.updateTask({
        task: { name: task.name, title: "abc", storyPoints: 101 },
        updateMask: mask("title", "story_points"),
      }),
      Code.InvalidArgument,
      ["task.title", "task.story_points"],
    );
    // An unknown enum number is refused wherever it is (request check), in the mask or not.
    await expectError(
      client.updateTask({
        task: { name: task.name, priority: 42 as TaskPriority },
        updateMask: mask("summary"),
      }),
      Code.InvalidArgument,
      ["task.priority"],
    );
    // An invalid value outside the mask is ignored.
    await client.updateTask({
      task: { name: task.name, title: "abc", summary: "fine" },
      updateMask: mask("summary"),
    });
    await expectError(
      client.updateTask({
        task: { name: task.name, summary: "x".repeat(2001) },
        updateMask: mask("summary"),
      }),
      Code.InvalidArgument,
      ["task.summary"],
    );
  });

  it("rejects bad names, unknown and deleted tasks, and a non-epic epic", async () => {
    await expectError(client.updateTask({ updateMask: mask("title") }), Code.InvalidArgument, ["task"]);
    await expectError(
      client.updateTask({ task: { name: "tasks/nope", title: "Valid title" }, updateMask: mask("title") }),
      Code.InvalidArgument,
      ["task.name"],
    );
    await expectError(
      client.updateTask({
        task: { name: `tasks/${randomUUID()}`, title: "Valid title" },
        updateMask: mask("title"),
      }),
      Code.NotFound,
    );
    const gone = await createTask({ title: "Soon deleted" });
    await client.deleteTask({ name: gone.name });
    await expectError(
      client.updateTask({ task: { name: gone.name, title: "Valid title" }, updateMask: mask("title") }),
      Code.NotFound,
    );
    const notEpic = await createTask({ title: "Just a task" });
    await expectError(
      client.updateTask({ task: { name: gone.name, epic: notEpic.name }, updateMask: mask("epic") }),
      Code.InvalidArgument,
      ["task.epic"],
    );
  });

  it("refuses a stale etag with ABORTED and a malformed one with INVALID_ARGUMENT", async () => {
    const task = await createTask({ title: "Etag holder" });
    await client.updateTask({
      task: { name: task.name, title: "First change", etag: task.etag },
      updateMask: mask("title"),
    });
    const error = await expectError(
      client.updateTask({
        task: { name: task.name, title: "Second change", etag: task.etag },
        updateMask: mask("title"),
      }),
      Code.Aborted,
    );
    expect(reasonOf(error)).toBe("ETAG_MISMATCH");
    await expectError(
      client.updateTask({
        task: { name: task.name, title: "Third change", etag: "v1" },
        updateMask: mask("title"),
      }),
      Code.InvalidArgument,
      ["task.etag"],
    );
    expect((await client.getTask({ name: task.name })).task?.title).toBe("First change");
  });

  it("lets exactly one of two concurrent writers with the same etag win", async () => {
    const task = await createTask({ title: "Contended task" });
    const results = await Promise.allSettled(
      ["Writer A wins", "Writer B wins"].map((title) =>
        client.updateTask({ task: { name: task.name, title, etag: task.etag }, updateMask: mask("title") }),
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(Code[(lost[0] as PromiseRejectedResult).reason.code]).toBe(Code[Code.Aborted]);
    const final = (await client.getTask({ name: task.name })).task as Task;
    expect(final.title).toBe((won[0] as PromiseFulfilledResult<{ task: Task }>).value.task.title);
    expect(final.etag).toBe('W/"2"');
  });

  it("writes nothing with validate_only", async () => {
    const task = await createTask({ title: "Dry update" });
    const res = await client.updateTask({
      task: { name: task.name, title: "Would be this" },
      updateMask: mask("title"),
      validateOnly: true,
    });
    expect(res.task?.title).toBe("Would be this");
    expect((await client.getTask({ name: task.name })).task).toEqual(task);
  });

  it("keeps the type hierarchy when the type changes", async () => {
    const epic = await createTask({ title: "Typed epic", type: TaskType.EPIC });
    const story = await createTask({ title: "Typed story", type: TaskType.STORY, parent: epic.name });
    // The epic has a story child: it cannot become a plain task.
    const error = await expectError(
      client.updateTask({ task: { name: epic.name, type: TaskType.TASK }, updateMask: mask("type") }),
      Code.FailedPrecondition,
    );
    expect(reasonOf(error)).toBe("HIERARCHY_VIOLATION");
    const ok = await client.updateTask({
      task: { name: story.name, type: TaskType.FEATURE },
      updateMask: mask("type"),
    });
    expect(ok.task?.type).toBe(TaskType.FEATURE);
  });

  it("refuses a taken external reference with ALREADY_EXISTS naming the field", async () => {
    const key = `UPD-${unique()}`;
    await createTask({ title: "Holds the key", jiraKey: key });
    const other = await createTask({ title: "Wants the key" });
    const error = await expectError(
      client.updateTask({ task: { name: other.name, jiraKey: key }, updateMask: mask("jira_key") }),
      Code.AlreadyExists,
    );
    expect(error.rawMessage).toContain("jira_key");
  });
});

describe("DeleteTask / UndeleteTask", () => {
  it("soft-deletes a leaf: Get still returns it with delete_time, List hides it unless show_deleted", async () => {
    const who = marker("del");
    const task = await createTask({ title: "Delete me softly", assignedTo: who });
    const deleted = (await client.deleteTask({ name: task.name, etag: task.etag })).task as Task;
    expect(deleted.deleteTime).toBeDefined();
    expect((await client.getTask({ name: task.name })).task?.deleteTime).toBeDefined();
    expect(await countAssigned(who)).toBe(0);
    const shown = await client.listTasks({ filter: `assigned_to = "${who}"`, showDeleted: true });
    expect(shown.tasks.map((t) => t.name)).toEqual([task.name]);
    expect(await eventCount(task, "task.deleted")).toBe(1);
    // Deleting again: NOT_FOUND.
    await expectError(client.deleteTask({ name: task.name }), Code.NotFound);
  });

  it("refuses a task with live children unless cascade, and cascade deletes the subtree", async () => {
    const root = await createTask({ title: "Cascade root" });
    const child = await createTask({ title: "Cascade child", parent: root.name });
    const grandchild = await createTask({ title: "Cascade grandchild", parent: child.name });
    const error = await expectError(client.deleteTask({ name: root.name }), Code.FailedPrecondition);
    expect(reasonOf(error)).toBe("HAS_DEPENDANTS");
    await client.deleteTask({ name: root.name, cascade: true });
    for (const t of [root, child, grandchild]) {
      expect((await client.getTask({ name: t.name })).task?.deleteTime).toBeDefined();
    }
  });

  it("undeletes the cascade-deleted subtree but not children deleted on their own before", async () => {
    const root = await createTask({ title: "Undelete root" });
    const early = await createTask({ title: "Deleted earlier", parent: root.name });
    const child = await createTask({ title: "Deleted with root", parent: root.name });
    const grandchild = await createTask({ title: "Deleted with root too", parent: child.name });
    await client.deleteTask({ name: early.name });
    const deleted = (await client.deleteTask({ name: root.name, cascade: true })).task as Task;
    await expectError(client.undeleteTask({ name: child.name }), Code.FailedPrecondition);
    await expectError(client.undeleteTask({ name: root.name, etag: root.etag }), Code.Aborted);
    const restored = (await client.undeleteTask({ name: root.name, etag: deleted.etag })).task as Task;
    expect(restored.deleteTime).toBeUndefined();
    expect((await client.getTask({ name: child.name })).task?.deleteTime).toBeUndefined();
    expect((await client.getTask({ name: grandchild.name })).task?.deleteTime).toBeUndefined();
    expect((await client.getTask({ name: early.name })).task?.deleteTime).toBeDefined();
    expect(await eventCount(grandchild, "task.undeleted")).toBe(1);
    const error = await expectError(client.undeleteTask({ name: root.name }), Code.FailedPrecondition);
    expect(reasonOf(error)).toBe("INVALID_STATE");
  });

  it("validates names and etags, NOT_FOUND for unknown, ABORTED for stale, and honours validate_only", async () => {
    await expectError(client.deleteTask({ name: "" }), Code.InvalidArgument, ["name"]);
    await expectError(client.deleteTask({ name: "tasks/1; drop table tasks" }), Code.InvalidArgument, [
      "name",
    ]);
    await expectError(
      client.deleteTask({ name: `tasks/${randomUUID()}`, etag: "nope" }),
      Code.InvalidArgument,
      ["etag"],
    );
    await expectError(client.deleteTask({ name: `tasks/${randomUUID()}` }), Code.NotFound);
    await expectError(client.undeleteTask({ name: `tasks/${randomUUID()}` }), Code.NotFound);
    await expectError(client.undeleteTask({ name: "tasks/x" }), Code.InvalidArgument, ["name"]);
    const task = await createTask({ title: "Stale delete" });
    await expectError(client.deleteTask({ name: task.name, etag: 'W/"7"' }), Code.Aborted);
    const dry = await client.deleteTask({ name: task.name, validateOnly: true });
    expect(dry.task?.name).toBe(task.name);
    expect((await client.getTask({ name: task.name })).task?.deleteTime).toBeUndefined();
  });
});

describe("BatchGetTasks", () => {
  it("returns tasks in request order, duplicates twice, deleted ones too", async () => {
    const a = await createTask({ title: "Batch get A" });
    const b = await createTask({ title: "Batch get B" });
    await client.deleteTask({ name: b.name });
    const res = await client.batchGetTasks({ names: [b.name, a.name, `tasks/${a.uid.toUpperCase()}`] });
    expect(res.tasks.map((t) => t.name)).toEqual([b.name, a.name, a.name]);
  });

  it("is NOT_FOUND if any is missing and validates every name", async () => {
    const a = await createTask({ title: "Batch get present" });
    const missing = `tasks/${randomUUID()}`;
    const error = await expectError(client.batchGetTasks({ names: [a.name, missing] }), Code.NotFound);
    expect(error.rawMessage).toContain(missing);
    await expectError(client.batchGetTasks({ names: [] }), Code.InvalidArgument, ["names"]);
    await expectError(client.batchGetTasks({ names: [a.name, "tasks/'--"] }), Code.InvalidArgument, [
      "names[1]",
    ]);
    await expectError(client.batchGetTasks({ names: Array(1001).fill(a.name) }), Code.InvalidArgument, [
      "names",
    ]);
  });
});

describe("LookupTask", () => {
  it("finds a live task by each kind of external reference", async () => {
    const n = unique();
    const task = await createTask({
      title: "Lookup target",
      externalId: `ext ' "quoted" ${n} ✓`,
      githubIssueUrl: `https://github.com/acme/app/issues/${n}`,
      githubPrUrl: `https://github.com/acme/app/pull/${n}`,
      linearIssueId: `LIN-${n}`,
      jiraKey: `JIRA_X-${n}`,
    });
    for (const reference of [
      { case: "externalId", value: task.externalId },
      { case: "githubIssueUrl", value: task.githubIssueUrl },
      { case: "githubPrUrl", value: task.githubPrUrl },
      { case: "linearIssueId", value: task.linearIssueId },
      { case: "jiraKey", value: task.jiraKey },
    ] as const) {
      expect((await client.lookupTask({ reference })).task?.name).toBe(task.name);
    }
    await client.deleteTask({ name: task.name });
    await expectError(
      client.lookupTask({ reference: { case: "jiraKey", value: task.jiraKey } }),
      Code.NotFound,
    );
  });

  it.each([
    ["githubIssueUrl", "https://github.com/acme/app/pull/1", "github_issue_url"],
    ["githubPrUrl", "https://evil.example.com/acme/app/pull/1", "github_pr_url"],
    ["linearIssueId", "eng-1", "linear_issue_id"],
    ["jiraKey", "P-1' OR '1'='1", "jira_key"],
    ["externalId", "x".repeat(256), "external_id"],
    ["externalId", "", "external_id"],
  ] as const)("rejects a malformed %s", async (kind, value, field) => {
    await expectError(client.lookupTask({ reference: { case: kind, value } }), Code.InvalidArgument, [field]);
  });

  it("requires a reference and is NOT_FOUND for an unknown one", async () => {
    await expectError(client.lookupTask({}), Code.InvalidArgument, ["reference"]);
    await expectError(
      client.lookupTask({ reference: { case: "jiraKey", value: `NONE-${unique()}` } }),
      Code.NotFound,
    );
  });
});

describe("BatchCreateTasks", () => {
  it("creates in order, letting later items name earlier ones as parent and epic", async () => {
    const who = marker("batch");
    const epicId = randomUUID();
    const storyId = randomUUID();
    const res = await client.batchCreateTasks({
      requests: [
        { taskId: epicId, task: { title: "Batch epic", type: TaskType.EPIC, assignedTo: who } },
        {
          taskId: storyId,
          task: { title: "Batch story", type: TaskType.STORY, parent: `tasks/${epicId}`, assignedTo: who },
        },
        { task: { title: "Batch task under story", parent: `tasks/${storyId}`, assignedTo: who } },
      ],
    });
    expect(res.tasks.map((t) => t.title)).toEqual(["Batch epic", "Batch story", "Batch task under story"]);
    expect(res.tasks[1]?.parent).toBe(`tasks/${epicId}`);
    // The epic is derived from the nearest EPIC ancestor.
    expect(res.tasks[1]?.epic).toBe(`tasks/${epicId}`);
    expect(res.tasks[2]?.epic).toBe(`tasks/${epicId}`);
    expect(await countAssigned(who)).toBe(3);
  });

  it("accepts exactly 1000 items", async () => {
    const who = marker("batch-1000");
    const res = await client.batchCreateTasks({
      requests: Array.from({ length: 1000 }, (_v, i) => ({
        task: { title: `Bulk item ${i}`, assignedTo: who },
      })),
    });
    expect(res.tasks).toHaveLength(1000);
    expect(res.tasks[999]?.title).toBe("Bulk item 999");
    expect(await countAssigned(who)).toBe(1000);
  });

  it("is atomic: one bad item creates nothing", async () => {
    const who = marker("atomic");
    const taken = await createTask({ title: "Id already taken" });
    await expectError(
      client.batchCreateTasks({
        requests: [
          { task: { title: "Would be first", assignedTo: who } },
          { taskId: taken.uid, task: { title: "Clashes with an id", assignedTo: who } },
        ],
      }),
      Code.AlreadyExists,
    );
    expect(await countAssigned(who)).toBe(0);
  });

  it("reports every invalid item by index, and refuses forward references", async () => {
    const later = randomUUID();
    await expectError(
      client.batchCreateTasks({
        requests: [
          { task: { title: "ok title" } },
          { task: { title: "bad" } },
          { taskId: "nope", task: { title: "Bad id here" } },
        ],
      }),
      Code.InvalidArgument,
      ["requests[1].task.title", "requests[2].task_id"],
    );
    await expectError(
      client.batchCreateTasks({
        requests: [
          { task: { title: "Names a later item", parent: `tasks/${later}` } },
          { taskId: later, task: { title: "The later item" } },
        ],
      }),
      Code.InvalidArgument,
      ["requests[0].task.parent"],
    );
    await expectError(client.batchCreateTasks({ requests: [] }), Code.InvalidArgument, ["requests"]);
    await expectError(
      client.batchCreateTasks({
        requests: Array.from({ length: 1001 }, () => ({ task: { title: "Too many" } })),
      }),
      Code.InvalidArgument,
      ["requests"],
    );
    await expectError(
      client.batchCreateTasks({ requests: [{ task: { title: "Fine title" } }], requestId: "x" }),
      Code.InvalidArgument,
      ["request_id"],
    );
  });

  it("returns the first result for a retried request_id and writes nothing with validate_only", async () => {
    const who = marker("batch-idem");
    const requestId = randomUUID();
    const requests = [
      { task: { title: "Idempotent one", assignedTo: who } },
      { task: { title: "Idempotent two", assignedTo: who } },
    ];
    const first = await client.batchCreateTasks({ requests, requestId });
    const again = await client.batchCreateTasks({ requests, requestId });
    expect(again.tasks).toEqual(first.tasks);
    expect(await countAssigned(who)).toBe(2);
    const dry = await client.batchCreateTasks({
      requests: [{ task: { title: "Dry batch", assignedTo: `${who}-dry` } }],
      validateOnly: true,
    });
    expect(dry.tasks[0]?.title).toBe("Dry batch");
    expect(await countAssigned(`${who}-dry`)).toBe(0);
  });
});

describe("Hierarchy: MoveTask, ListChildTasks, ListTaskAncestors", () => {
  it("moves a subtree under a new parent and to the root", async () => {
    const a = await createTask({ title: "Move target A" });
    const b = await createTask({ title: "Move target B" });
    const child = await createTask({ title: "Moving child", parent: a.name });
    await createTask({ title: "Moving grandchild", parent: child.name });
    const moved = await client.moveTask({ name: child.name, newParent: b.name, etag: child.etag });
    expect(moved.task?.parent).toBe(b.name);
    expect(moved.movedDescendantCount).toBe(1);
    expect((await client.listChildTasks({ parent: a.name })).tasks).toHaveLength(0);
    expect((await client.listChildTasks({ parent: b.name, recursive: true })).depths).toEqual([1, 2]);
    expect(await eventCount(child, "task.moved")).toBe(1);
    const root = await client.moveTask({ name: child.name });
    expect(root.task?.parent).toBe("");
    await expectError(
      client.moveTask({ name: child.name, newParent: b.name, etag: child.etag }),
      Code.Aborted,
    );
  });

  it("refuses cycles with FAILED_PRECONDITION and a CycleDetail naming the path", async () => {
    const a = await createTask({ title: "Cycle A" });
    const b = await createTask({ title: "Cycle B", parent: a.name });
    const c = await createTask({ title: "Cycle C", parent: b.name });
    const error = await expectError(
      client.moveTask({ name: a.name, newParent: c.name }),
      Code.FailedPrecondition,
    );
    const detail = error.findDetails(CycleDetailSchema)[0];
    expect(detail?.path).toEqual([a.name, c.name, b.name, a.name]);
    expect(detail?.link).toBe("parent");
    const self = await expectError(
      client.moveTask({ name: a.name, newParent: a.name }),
      Code.FailedPrecondition,
    );
    expect(self.findDetails(CycleDetailSchema)[0]?.path).toEqual([a.name, a.name]);
  });

  it("enforces the depth limit and the type hierarchy", async () => {
    let parent = await createTask({ title: "Depth level 0" });
    const chain = [parent];
    for (let i = 1; i <= 10; i++) {
      parent = await createTask({ title: `Depth level ${i}`, parent: parent.name });
      chain.push(parent);
    }
    // 10 ancestors is the limit: an 11th level is refused on create and on move.
    const tooDeep = await expectError(
      createTask({ title: "Depth level 11", parent: parent.name }),
      Code.FailedPrecondition,
    );
    expect(reasonOf(tooDeep)).toBe("HIERARCHY_VIOLATION");
    const loose = await createTask({ title: "Loose subtree" });
    await createTask({ title: "Loose child", parent: loose.name });
    const move = await expectError(
      client.moveTask({ name: loose.name, newParent: chain[9]?.name }),
      Code.FailedPrecondition,
    );
    expect(reasonOf(move)).toBe("HIERARCHY_VIOLATION");
    expect((await client.listTaskAncestors({ name: parent.name })).ancestors.map((t) => t.name)).toEqual(
      chain.slice(0, 10).map((t) => t.name),
    );

    const epic = await createTask({ title: "An epic here", type: TaskType.EPIC });
    const plain = await createTask({ title: "A plain task" });
    const rule = await expectError(
      client.moveTask({ name: epic.name, newParent: plain.name }),
      Code.FailedPrecondition,
    );
    expect(reasonOf(rule)).toBe("HIERARCHY_VIOLATION");
    await expectError(
      createTask({ title: "Story under a task", type: TaskType.STORY, parent: plain.name }),
      Code.FailedPrecondition,
    );
  });

  it("validates move arguments and honours validate_only", async () => {
    const task = await createTask({ title: "Move arguments" });
    const other = await createTask({ title: "Move other" });
    await expectError(client.moveTask({ name: "tasks/bad", newParent: "sprints/x" }), Code.InvalidArgument, [
      "name",
      "new_parent",
    ]);
    await expectError(client.moveTask({ name: `tasks/${randomUUID()}` }), Code.NotFound);
    await expectError(
      client.moveTask({ name: task.name, newParent: `tasks/${randomUUID()}` }),
      Code.NotFound,
    );
    const dry = await client.moveTask({ name: task.name, newParent: other.name, validateOnly: true });
    expect(dry.task?.parent).toBe(other.name);
    expect((await client.getTask({ name: task.name })).task?.parent).toBe("");
  });

  it("lists children directly or depth-first with depths, pages, filters and show_deleted", async () => {
    const root = await createTask({ title: "Tree root" });
    const a = await createTask({ title: "Tree A", parent: root.name, priority: TaskPriority.HIGH });
    const a1 = await createTask({ title: "Tree A1", parent: a.name });
    const a2 = await createTask({ title: "Tree A2", parent: a.name, priority: TaskPriority.HIGH });
    const b = await createTask({ title: "Tree B", parent: root.name });
    const b1 = await createTask({ title: "Tree B1", parent: b.name });
    const direct = await client.listChildTasks({ parent: root.name });
    expect(direct.tasks.map((t) => t.name)).toEqual([a.name, b.name]);
    expect(direct.depths).toEqual([1, 1]);
    const order = [a, a1, a2, b, b1].map((t) => t.name);
    const all = await client.listChildTasks({ parent: root.name, recursive: true });
    expect(all.tasks.map((t) => t.name)).toEqual(order);
    expect(all.depths).toEqual([1, 2, 2, 1, 2]);
    // Paging two at a time yields the same walk.
    const paged: string[] = [];
    let pageToken = "";
    do {
      const res = await client.listChildTasks({ parent: root.name, recursive: true, pageSize: 2, pageToken });
      paged.push(...res.tasks.map((t) => t.name));
      pageToken = res.nextPageToken;
    } while (pageToken !== "" && paged.length < 20);
    expect(paged).toEqual(order);
    const first = await client.listChildTasks({ parent: root.name, recursive: true, pageSize: 2 });
    await expectError(
      client.listChildTasks({
        parent: root.name,
        recursive: true,
        pageSize: 2,
        pageToken: first.nextPageToken,
        filter: "priority = HIGH",
      }),
      Code.InvalidArgument,
      ["page_token"],
    );
    const high = await client.listChildTasks({
      parent: root.name,
      recursive: true,
      filter: "priority = HIGH",
    });
    expect(high.tasks.map((t) => t.name)).toEqual([a.name, a2.name]);
    await client.deleteTask({ name: b.name, cascade: true });
    expect((await client.listChildTasks({ parent: root.name, recursive: true })).tasks).toHaveLength(3);
    expect(
      (await client.listChildTasks({ parent: root.name, recursive: true, showDeleted: true })).tasks,
    ).toHaveLength(5);
  });

  it("validates ListChildTasks and ListTaskAncestors arguments", async () => {
    await expectError(client.listChildTasks({ parent: "" }), Code.InvalidArgument, ["parent"]);
    await expectError(
      client.listChildTasks({ parent: `tasks/${randomUUID()}`, pageSize: -1 }),
      Code.InvalidArgument,
      ["page_size"],
    );
    await expectError(client.listChildTasks({ parent: `tasks/${randomUUID()}` }), Code.NotFound);
    await expectError(
      client.listChildTasks({ parent: `tasks/${randomUUID()}`, filter: "status =" }),
      Code.InvalidArgument,
      ["filter"],
    );
    await expectError(client.listTaskAncestors({ name: "tasks/" }), Code.InvalidArgument, ["name"]);
    await expectError(client.listTaskAncestors({ name: `tasks/${randomUUID()}` }), Code.NotFound);
    const root = await createTask({ title: "Lonely root" });
    expect((await client.listTaskAncestors({ name: root.name })).ancestors).toEqual([]);
  });
});

describe("CreateTask: hierarchy", () => {
  it("derives the epic from the nearest EPIC ancestor and refuses a non-epic epic", async () => {
    const epic = await createTask({ title: "Derivation epic", type: TaskType.EPIC });
    const story = await createTask({ title: "Derivation story", type: TaskType.STORY, parent: epic.name });
    const sub = await createTask({ title: "Derivation subtask", parent: story.name });
    expect(story.epic).toBe(epic.name);
    expect(sub.epic).toBe(epic.name);
    await expectError(createTask({ title: "Epic is a story", epic: story.name }), Code.InvalidArgument, [
      "task.epic",
    ]);
  });
});

describe("ListTasks: filter language, ordering, tokens", () => {
  const who = marker("lang");
  const t: Record<string, Task> = {};

  beforeAll(async () => {
    t.a = await createTask({
      title: "Alpha task",
      assignedTo: who,
      priority: TaskPriority.CRITICAL,
      storyPoints: 1,
      labels: ["area/api"],
      tags: ["Go"],
      metadata: { team: "core", size: 3, flag: true, nested: { k: "v" } },
      customFields: { cost: 10 },
      dueTime: timestampFromDate(new Date("2030-01-01T00:00:00Z")),
    });
    t.b = await createTask({
      title: "Bravo task",
      assignedTo: who,
      priority: TaskPriority.HIGH,
      storyPoints: 5,
      labels: ["area/db"],
      metadata: { team: "edge", size: 10 },
      category: "Backend",
    });
    t.c = await createTask({
      title: "Charlie task",
      assignedTo: who,
      priority: TaskPriority.HIGH,
      storyPoints: 5,
      status: TaskStatus.READY,
      reporter: "o'brien",
    });
    t.d = await createTask({
      title: "Delta task",
      assignedTo: who,
      priority: TaskPriority.LOW,
      status: TaskStatus.ARCHIVED,
    });
  });

  const names = async (filter: string, orderBy = "title") =>
    (await listAll(`assigned_to = "${who}" AND (${filter})`, orderBy)).map((x) => x.title.split(" ")[0]);

  it.each([
    ["priority = CRITICAL OR priority = LOW", ["Alpha"]],
    ["NOT priority = HIGH", ["Alpha"]],
    ["-priority = HIGH", ["Alpha"]],
    ["priority <= HIGH", ["Alpha", "Bravo", "Charlie"]],
    ["priority > CRITICAL status = READY", ["Charlie"]],
    ['labels:"area/api"', ["Alpha"]],
    ["labels:*", ["Alpha", "Bravo"]],
    ['tags:"Go"', ["Alpha"]],
    ["story_points >= 5", ["Bravo", "Charlie"]],
    ["story_points != 5", ["Alpha"]],
    ['metadata.team = "core"', ["Alpha"]],
    ["metadata.size > 5", ["Bravo"]],
    ["metadata.flag = true", ["Alpha"]],
    ['metadata.nested.k = "v"', ["Alpha"]],
    ["metadata.team:*", ["Alpha", "Bravo"]],
    ["custom_fields.cost < 11", ["Alpha"]],
    ['category:"back"', ["Bravo"]],
    ['reporter = "o\'brien"', ["Charlie"]],
    ['due_time < "2030-06-01T00:00:00Z"', ["Alpha"]],
    ["due_time > 2029-12-31T23:59:59+01:00", ["Alpha"]],
    [
      'create_time > "2000-01-01T00:00:00Z" AND (priority = HIGH OR story_points = 1)',
      ["Alpha", "Bravo", "Charlie"],
    ],
    ["status = ARCHIVED", ["Delta"]],
    ['parent = ""', ["Alpha", "Bravo", "Charlie"]],
  ])("filter %j", async (filter, expected) => {
    expect(await names(filter)).toEqual(expected);
  });

  it("hides ARCHIVED tasks unless the filter names status; counts total_size", async () => {
    const res = await client.listTasks({ filter: `assigned_to = "${who}"` });
    expect(res.tasks).toHaveLength(3);
    expect(res.totalSize).toBe(3);
    expect(
      (await client.listTasks({ filter: `assigned_to = "${who}" AND status != DRAFT` })).tasks,
    ).toHaveLength(4);
  });

  it("orders on several fields with desc and pages stably", async () => {
    expect(await names("status:*", "priority, story_points desc, title desc")).toEqual([
      "Alpha",
      "Charlie",
      "Bravo",
      "Delta",
    ]);
    const filter = `assigned_to = "${who}" AND (status:*)`;
    // Unset values sort last in both directions (as NextTask does); page tokens follow the same order.
    for (const [order, expected] of [
      ["story_points desc, title", ["Bravo", "Charlie", "Alpha", "Delta"]],
      ["story_points, title", ["Alpha", "Bravo", "Charlie", "Delta"]],
      ["due_time desc, title", ["Alpha", "Bravo", "Charlie", "Delta"]],
      ["due_time, title desc", ["Alpha", "Delta", "Charlie", "Bravo"]],
      ["business_value desc, title desc", ["Delta", "Charlie", "Bravo", "Alpha"]],
    ] as const) {
      const all = await names("status:*", order);
      expect(all, order).toEqual(expected);
      const paged: string[] = [];
      let pageToken = "";
      do {
        const res = await client.listTasks({ filter, orderBy: order, pageSize: 1, pageToken });
        paged.push(...res.tasks.map((x) => x.title.split(" ")[0] as string));
        pageToken = res.nextPageToken;
      } while (pageToken !== "" && paged.length < 10);
      expect(paged, order).toEqual(all);
    }
    await client.updateTask({
      task: { name: t.b?.name ?? "", businessValue: 3 },
      updateMask: { paths: ["business_value"] },
    });
    expect(await names("status:*", "business_value desc, title")).toEqual([
      "Bravo",
      "Alpha",
      "Charlie",
      "Delta",
    ]);
    expect(await names("status:*", "business_value, title")).toEqual(["Bravo", "Alpha", "Charlie", "Delta"]);
    await client.updateTask({ task: { name: t.b?.name ?? "" }, updateMask: { paths: ["business_value"] } });
  });

  it("binds page tokens to filter and order_by", async () => {
    const filter = `assigned_to = "${who}"`;
    const first = await client.listTasks({ filter, pageSize: 1, orderBy: "title" });
    expect(first.nextPageToken).not.toBe("");
    await expectError(
      client.listTasks({
        filter: `${filter} AND priority = HIGH`,
        pageSize: 1,
        orderBy: "title",
        pageToken: first.nextPageToken,
      }),
      Code.InvalidArgument,
      ["page_token"],
    );
    await expectError(
      client.listTasks({ filter, pageSize: 1, orderBy: "priority", pageToken: first.nextPageToken }),
      Code.InvalidArgument,
      ["page_token"],
    );
    await expectError(
      client.listTasks({
        filter,
        pageSize: 1,
        orderBy: "title",
        showDeleted: true,
        pageToken: first.nextPageToken,
      }),
      Code.InvalidArgument,
      ["page_token"],
    );
  });

  it.each([
    ['labels = "x"', 1],
    ["story_points > five", 16],
    ['due_time > "tomorrow"', 12],
    ["metadata.bad key = 1", 14],
    ["(priority = HIGH", 17],
    ["priority = HIGH)", 16],
    ["complexity = HUGE", 14],
    ['sprint < "sprints/x"', 10],
    ["metadata.team = core", 17],
    ["NOT", 4],
  ])("rejects filter %j naming position %i", async (filter, position) => {
    const error = await expectError(client.listTasks({ filter }), Code.InvalidArgument, ["filter"]);
    expect(error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.description).toContain(
      `position ${position}`,
    );
  });

  it.each(["title, title", "priority sideways", "assigned_to", "priority desc desc"])(
    "rejects order_by %j",
    async (orderBy) => {
      await expectError(client.listTasks({ orderBy }), Code.InvalidArgument, ["order_by"]);
    },
  );

  it("treats SQL metacharacters in filter values as data", async () => {
    for (const value of ["' OR 1=1 --", "\\'; drop table tasks; --", "?", "$1", "🚀"]) {
      const filter = `assigned_to = "${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
      expect((await client.listTasks({ filter })).tasks).toEqual([]);
    }
    expect((await client.listTasks({ filter: `metadata.team = "core' OR '1'='1"` })).tasks).toEqual([]);
  });
});
