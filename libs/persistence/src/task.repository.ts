import { createHash } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import { auditContextStorage } from "./audit-context.subscriber.js";
import { isUniqueViolation } from "./db-errors.js";
import { IdempotencyKey } from "./entities/idempotency-key.entity.js";
import { type ITask, Task } from "./entities/task.entity.js";
import { TaskStatusHistory } from "./entities/task-status-history.entity.js";
import { newId } from "./ids.js";
import { preparedQuery } from "./native-pool.js";
import { INSERT_TASK_EVENT_SQL, recordTaskEvent, type TaskEventKind } from "./task-events.js";
import {
  TASK_PRIORITIES,
  TASK_STATUSES,
  TASK_TYPES,
  type TaskComplexity,
  type TaskPriority,
  type TaskStatus,
  type TaskType,
} from "./value-sets.js";

/** A task as a plain object (what the RPC mappers consume). Numeric columns are numbers. */
export interface TaskRow {
  id: string;
  title: string;
  description: string | null;
  summary: string | null;
  type: TaskType;
  category: string | null;
  priority: TaskPriority;
  status: TaskStatus;
  complexity: TaskComplexity;
  parentId: string | null;
  epicId: string | null;
  storyPoints: number | null;
  businessValue: number | null;
  technicalDebtScore: number | null;
  riskLevel: number | null;
  requirements: unknown[];
  acceptanceCriteria: unknown[];
  definitionOfDone: unknown[];
  testCriteria: unknown[];
  affectedFiles: unknown[];
  affectedComponents: unknown[];
  technicalNotes: string | null;
  architectureNotes: string | null;
  assignedTo: string | null;
  reporter: string | null;
  productOwner: string | null;
  techLead: string | null;
  reviewer: string | null;
  estimatedHours: number | null;
  actualHours: number;
  remainingHours: number | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  dueDate: Date | null;
  sprintId: string | null;
  releaseId: string | null;
  milestoneId: string | null;
  labels: string[];
  tags: string[];
  externalId: string | null;
  githubIssueUrl: string | null;
  githubPrUrl: string | null;
  linearIssueId: string | null;
  jiraKey: string | null;
  codeQualityScore: number | null;
  testCoverageTarget: number;
  performanceRequirements: Record<string, unknown>;
  securityRequirements: Record<string, unknown>;
  automationLevel: string | null;
  ciCdPipeline: string | null;
  deploymentStrategy: string | null;
  metadata: Record<string, unknown>;
  customFields: Record<string, unknown>;
  claimedBy: string | null;
  claimedAt: Date | null;
  leaseExpiresAt: Date | null;
  deletedAt: Date | null;
  version: number;
  /** Derived: live direct children (0 where the query did not compute it, e.g. a task just created). */
  childCount: number;
  /** Derived: statuses of the live tasks that block this one (BLOCKED_BY / DEPENDS_ON, BLOCKS / DEPENDENCY_OF). */
  blockerStatuses: TaskStatus[];
  /** Derived: id of the active claim (unexpired lease), else null. */
  claimId: string | null;
}

/** Fields computed by the select list rather than stored in a column. */
type DerivedKeys = "childCount" | "blockerStatuses" | "claimId";

/** Writable fields on create; everything but `title` is optional (database defaults apply). */
export type CreateTaskInput = Partial<
  Omit<
    TaskRow,
    | "id"
    | "createdAt"
    | "updatedAt"
    | "deletedAt"
    | "version"
    | "claimedBy"
    | "claimedAt"
    | "leaseExpiresAt"
    | "actualHours"
    | DerivedKeys
  >
> & { title: string /** Client-chosen UUID; a new UUIDv7 when absent. */; id?: string };

/** Who/what is making the change; recorded in status history and the outbox. */
export interface ChangeContext {
  actor?: string | null;
  /** Client `request_id`: a retried create with the same id returns the first task. */
  requestId?: string | null;
  traceId?: string | null;
}

/** A parameterised SQL fragment over the `tasks t` alias (values only ever travel in `params`). */
export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/** Sort keys ListTasks accepts (AIP-132 field names). */
export const TASK_SORT_FIELDS = [
  "priority",
  "status",
  "type",
  "create_time",
  "update_time",
  "due_time",
  "story_points",
  "business_value",
  "title",
] as const;
export type TaskSortField = (typeof TASK_SORT_FIELDS)[number];

export interface TaskSortKey {
  field: TaskSortField;
  desc: boolean;
}

export interface ListTasksOptions {
  /** 1..1000, default 50. */
  pageSize?: number;
  /** Opaque token from a previous page's `nextPageToken`. */
  pageToken?: string | null;
  /** Sort keys; ties break on id in the last key's direction. Default: create_time desc. */
  orderBy?: TaskSortKey[];
  /** Compiled filter (see task.filter.ts in the service). */
  where?: SqlFragment | null;
  includeDeleted?: boolean;
  /** Binds page tokens to the request: a token minted under another binding is rejected. */
  binding?: string;
  /** Also count every match (`total_size`). */
  withTotal?: boolean;
}

export interface TaskPage {
  items: TaskRow[];
  /** `null` on the last page. */
  nextPageToken: string | null;
  /** Number of matches when `withTotal` was asked for, else 0. */
  totalSize: number;
}

/** `total_size` is exact up to this many matches and the planner's estimate above it. */
export const EXACT_TOTAL_LIMIT = 1_000;

/** Thrown for a malformed or foreign page token (map to INVALID_ARGUMENT). */
export class InvalidPageTokenError extends Error {
  constructor() {
    super("invalid page token");
    this.name = "InvalidPageTokenError";
  }
}

const CREATE_SCOPE = "task.create";
const BATCH_SCOPE = "task.batch_create";
const BATCH_ITEM_SCOPE = "task.batch_create.item";

/** Deepest allowed position in the hierarchy: a task has at most this many ancestors. */
export const MAX_TASK_DEPTH = 10;

/** The task does not exist (or is soft-deleted where a live one is needed). */
export class TaskNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`task ${id} not found`);
    this.name = "TaskNotFoundError";
  }
}

/** The expected version (etag) no longer matches, or a concurrent writer won. */
export class TaskVersionConflictError extends Error {
  constructor(readonly id: string) {
    super(`task ${id} was changed concurrently`);
    this.name = "TaskVersionConflictError";
  }
}

/** A unique external reference (external_id, github_issue_url, ...) is already used by a live task. */
export class TaskReferenceTakenError extends Error {
  constructor(readonly field: string) {
    super(`${field} is already used by another task`);
    this.name = "TaskReferenceTakenError";
  }
}

/** A precondition of a hierarchy operation failed; `reason` is UPPER_SNAKE_CASE. */
export class TaskHierarchyError extends Error {
  constructor(
    readonly reason:
      | "HAS_DEPENDANTS"
      | "NOT_DELETED"
      | "PARENT_DELETED"
      | "DEPTH_EXCEEDED"
      | "TYPE_HIERARCHY",
    message: string,
  ) {
    super(message);
    this.name = "TaskHierarchyError";
  }
}

/** Moving would create a cycle: `path` is the id cycle along `parent` links, first repeated last. */
export class TaskCycleError extends Error {
  constructor(readonly path: string[]) {
    super("moving the task would create a cycle");
    this.name = "TaskCycleError";
  }
}

/** Unique index name -> the contract field it protects. */
const UNIQUE_REFERENCE_INDEXES: Record<string, string> = {
  tasks_external_id_live_uniq: "external_id",
  tasks_github_issue_url_live_uniq: "github_issue_url",
  tasks_github_pr_url_live_uniq: "github_pr_url",
  tasks_linear_issue_id_live_uniq: "linear_issue_id",
  tasks_jira_key_live_uniq: "jira_key",
};

/** The field of a violated external-reference unique index, or undefined for any other error. */
export function takenReferenceField(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === "object" && e !== null; depth++) {
    const o = e as { constraint?: unknown; message?: unknown; cause?: unknown };
    const text = `${typeof o.constraint === "string" ? o.constraint : ""} ${typeof o.message === "string" ? o.message : ""}`;
    for (const [index, field] of Object.entries(UNIQUE_REFERENCE_INDEXES)) {
      if (text.includes(index)) return field;
    }
    e = o.cause;
  }
  return undefined;
}

function rethrowTaken(err: unknown): never {
  const field = takenReferenceField(err);
  if (field !== undefined) throw new TaskReferenceTakenError(field);
  throw err;
}

/**
 * The type rules of the hierarchy (TaskType in task.proto): an EPIC's parent may only be an EPIC; a STORY
 * belongs under an EPIC; any other type may sit under an epic, a story or another non-epic task.
 * Returns a description of the violation, or null.
 */
export function hierarchyViolation(childType: TaskType, parentType: TaskType): string | null {
  if (childType === "epic" && parentType !== "epic") return "an epic can only be placed under another epic";
  if (childType === "story" && parentType !== "epic") return "a story can only be placed under an epic";
  return null;
}

/** Columns whose values are stored as jsonb / text[] / timestamptz (need casts in raw SQL). */
const JSONB_KEYS = new Set<keyof TaskRow>([
  "requirements",
  "acceptanceCriteria",
  "definitionOfDone",
  "testCriteria",
  "affectedFiles",
  "affectedComponents",
  "performanceRequirements",
  "securityRequirements",
  "metadata",
  "customFields",
]);
const OBJECT_JSON_KEYS = new Set<keyof TaskRow>([
  "performanceRequirements",
  "securityRequirements",
  "metadata",
  "customFields",
]);
const TEXT_ARRAY_KEYS = new Set<keyof TaskRow>(["labels", "tags"]);

/** Fields UpdateTask may write (keys of TaskRow). */
export type TaskPatch = Partial<Omit<CreateTaskInput, "id" | "status" | "parentId">>;

/** Row keys whose `taskmaster.task.v1.Task` field is not their snake_case form. */
const PROTO_FIELD_OF: Partial<Record<keyof TaskRow, string>> = {
  epicId: "epic",
  sprintId: "sprint",
  releaseId: "release",
  milestoneId: "milestone",
  dueDate: "due_time",
};

/** A patched row key as the proto field path `task.updated` events carry (`storyPoints` -> `story_points`). */
function changedFieldPath(key: string): string {
  return PROTO_FIELD_OF[key as keyof TaskRow] ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Lookup keys of LookupTask. */
export type TaskReferenceKind = "externalId" | "githubIssueUrl" | "githubPrUrl" | "linearIssueId" | "jiraKey";

function rankSql(column: string, values: readonly string[]): string {
  return `array_position(array[${values.map((v) => `'${v}'`).join(", ")}]::text[], ${column}::text)`;
}

type SortKind = "int" | "text" | "ts";
interface SortSql {
  /** The sort expression for one direction (nullable columns put a sentinel so unset sorts last both ways). */
  expr: (desc: boolean) => string;
  kind: SortKind;
}
const fixed = (expr: string, kind: SortKind): SortSql => ({ expr: () => expr, kind });
/**
 * Unset values last in both directions (as NextTask does): the sentinel is above every value ascending and
 * below every value descending (-1: story points and business value are never negative, and a small literal
 * stays in range when the keyset cursor's parameter is inlined as `-1::int`).
 */
const unsetLast = (column: string, high: string, low: string, kind: SortKind): SortSql => ({
  expr: (desc) => `coalesce(${column}, ${desc ? low : high})`,
  kind,
});
const SORT_SQL: Record<TaskSortField, SortSql> = {
  priority: fixed(rankSql("t.priority", TASK_PRIORITIES), "int"),
  status: fixed(rankSql("t.status", TASK_STATUSES), "int"),
  type: fixed(rankSql("t.type", TASK_TYPES), "int"),
  create_time: fixed("t.created_at", "ts"),
  update_time: fixed("t.updated_at", "ts"),
  due_time: unsetLast(
    "t.due_date",
    "timestamptz '9999-12-31 00:00:00+00'",
    "timestamptz '0001-01-01 00:00:00+00'",
    "ts",
  ),
  story_points: unsetLast("t.story_points", "2147483647", "-1", "int"),
  business_value: unsetLast("t.business_value::int", "2147483647", "-1", "int"),
  title: fixed("t.title", "text"),
};

function sortSelect(field: TaskSortField, desc: boolean): string {
  const { expr, kind } = SORT_SQL[field];
  return kind === "ts" ? `(extract(epoch from ${expr(desc)}) * 1000000)::bigint::text` : `${expr(desc)}`;
}

function sortParam(kind: SortKind): string {
  if (kind === "ts") return "(timestamptz 'epoch' + ?::bigint * interval '1 microsecond')";
  return kind === "int" ? "?::int" : "?::text";
}

interface PageCursor {
  keys: (string | number)[];
  id: string;
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("base64url").slice(0, 16);
}

function encodePageToken(binding: string, c: PageCursor): string {
  return Buffer.from(JSON.stringify(["t2", binding, c.keys, c.id])).toString("base64url");
}

function decodePageToken(token: string, binding: string, kinds: SortKind[]): PageCursor {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      v[0] === "t2" &&
      v[1] === binding &&
      Array.isArray(v[2]) &&
      v[2].length === kinds.length &&
      typeof v[3] === "string" &&
      UUID_RE.test(v[3])
    ) {
      const keys = v[2] as unknown[];
      const ok = keys.every((k, i) =>
        kinds[i] === "int"
          ? Number.isInteger(k)
          : kinds[i] === "ts"
            ? typeof k === "string" && /^-?[0-9]{1,20}$/.test(k)
            : typeof k === "string" && k.length <= 1000,
      );
      if (ok) return { keys: keys as (string | number)[], id: v[3] };
    }
  } catch {
    // fall through
  }
  throw new InvalidPageTokenError();
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Path element of a depth-first walk: zero-padded creation microseconds, then the id (sorts like (created_at, id)). */
const PATH_ELEMENT_SQL =
  "lpad((extract(epoch from c.created_at) * 1000000)::bigint::text, 20, '0') || c.id::text";

export interface ChildTasksOptions {
  recursive?: boolean;
  pageSize?: number;
  pageToken?: string | null;
  where?: SqlFragment | null;
  includeDeleted?: boolean;
  binding?: string;
}

export interface ChildTaskPage {
  items: { row: TaskRow; depth: number }[];
  nextPageToken: string | null;
}

const COLUMNS: readonly (readonly [Exclude<keyof TaskRow, DerivedKeys>, string, ("num" | "date")?])[] = [
  ["id", "id"],
  ["title", "title"],
  ["description", "description"],
  ["summary", "summary"],
  ["type", "type"],
  ["category", "category"],
  ["priority", "priority"],
  ["status", "status"],
  ["complexity", "complexity"],
  ["parentId", "parent_id"],
  ["epicId", "epic_id"],
  ["storyPoints", "story_points"],
  ["businessValue", "business_value"],
  ["technicalDebtScore", "technical_debt_score"],
  ["riskLevel", "risk_level"],
  ["requirements", "requirements"],
  ["acceptanceCriteria", "acceptance_criteria"],
  ["definitionOfDone", "definition_of_done"],
  ["testCriteria", "test_criteria"],
  ["affectedFiles", "affected_files"],
  ["affectedComponents", "affected_components"],
  ["technicalNotes", "technical_notes"],
  ["architectureNotes", "architecture_notes"],
  ["assignedTo", "assigned_to"],
  ["reporter", "reporter"],
  ["productOwner", "product_owner"],
  ["techLead", "tech_lead"],
  ["reviewer", "reviewer"],
  ["estimatedHours", "estimated_hours", "num"],
  ["actualHours", "actual_hours", "num"],
  ["remainingHours", "remaining_hours", "num"],
  ["createdAt", "created_at", "date"],
  ["updatedAt", "updated_at", "date"],
  ["startedAt", "started_at", "date"],
  ["completedAt", "completed_at", "date"],
  ["dueDate", "due_date", "date"],
  ["sprintId", "sprint_id"],
  ["releaseId", "release_id"],
  ["milestoneId", "milestone_id"],
  ["labels", "labels"],
  ["tags", "tags"],
  ["externalId", "external_id"],
  ["githubIssueUrl", "github_issue_url"],
  ["githubPrUrl", "github_pr_url"],
  ["linearIssueId", "linear_issue_id"],
  ["jiraKey", "jira_key"],
  ["codeQualityScore", "code_quality_score", "num"],
  ["testCoverageTarget", "test_coverage_target", "num"],
  ["performanceRequirements", "performance_requirements"],
  ["securityRequirements", "security_requirements"],
  ["automationLevel", "automation_level"],
  ["ciCdPipeline", "ci_cd_pipeline"],
  ["deploymentStrategy", "deployment_strategy"],
  ["metadata", "metadata"],
  ["customFields", "custom_fields"],
  ["claimedBy", "claimed_by"],
  ["claimedAt", "claimed_at", "date"],
  ["leaseExpiresAt", "lease_expires_at", "date"],
  ["deletedAt", "deleted_at", "date"],
  ["version", "version"],
];

/** Every stored task column except the generated search vector (for RETURNING of inserts). */
export const TASK_COLUMN_LIST = COLUMNS.map(([, c]) => c).join(", ");

/**
 * The claim id is derived (md5 of task id, claimant and claim time as a UUID): no extra column needed, and a
 * new claim of the same task always has a different id.
 */
export const CLAIM_ID_SQL = `md5(t.id::text || '|' || coalesce(t.claimed_by, '') || '|' || coalesce(extract(epoch from t.claimed_at)::text, ''))::uuid::text`;

/**
 * Output-only fields computed in the same statement as the row (no extra round trip per task): live direct
 * children (index on parent_id), the statuses of live blockers (both relationship directions, indexed) and the
 * active claim's id. Which blocker statuses count as open is the service's status table, applied by the mapper.
 */
const DERIVED_SELECT = `(select count(*) from tasks ch where ch.parent_id = t.id and ch.deleted_at is null)::int as derived_child_count,
  array(select b.status::text from tasks b where b.deleted_at is null and b.id in (
      select r.source_task_id from task_relationships r where r.target_task_id = t.id and r.type in ('blocks', 'dependency_of')
      union select r.target_task_id from task_relationships r where r.source_task_id = t.id and r.type in ('blocked_by', 'depends_on'))
    ) as derived_blocker_statuses,
  case when t.claimed_by is not null and t.lease_expires_at > clock_timestamp() then ${CLAIM_ID_SQL} end as derived_claim_id`;

/** `select` list over the `tasks t` alias: every stored column (not the search vector) and the derived fields. */
export const TASK_SELECT_LIST = `${COLUMNS.map(([, c]) => `t.${c}`).join(", ")}, ${DERIVED_SELECT}`;

const GET_TASK_ANY_SQL = `select ${TASK_SELECT_LIST} from tasks t where t.id = $1`;
const GET_TASK_LIVE_SQL = `${GET_TASK_ANY_SQL} and t.deleted_at is null`;

/** Columns a create may set from its input (`id`, timestamps and bookkeeping are set by the repository). */
const NOT_FROM_INPUT = new Set<keyof TaskRow>([
  "childCount",
  "blockerStatuses",
  "claimId",
  "id",
  "createdAt",
  "updatedAt",
  "deletedAt",
  "version",
  "claimedBy",
  "claimedAt",
  "leaseExpiresAt",
  "actualHours",
]);
const INSERTABLE_COLUMNS = COLUMNS.filter(([key]) => !NOT_FROM_INPUT.has(key));
const COLUMN_OF = new Map<keyof TaskRow, string>(COLUMNS.map(([key, column]) => [key, column]));

/** jsonb / text[] columns created as `[]` / `{}` / `{}` when absent from the input (as the entity path does). */
const EMPTY_WHEN_ABSENT: readonly (keyof TaskRow)[] = [
  "requirements",
  "acceptanceCriteria",
  "definitionOfDone",
  "testCriteria",
  "affectedFiles",
  "affectedComponents",
  "labels",
  "tags",
  "performanceRequirements",
  "securityRequirements",
  "metadata",
  "customFields",
];

/** One statement per shape of create input: few shapes in practice; beyond the cap, unnamed statements. */
const CREATE_STATEMENTS = new Map<string, { name: string; text: string }>();
const MAX_CREATE_STATEMENTS = 200;

/**
 * The create as ONE statement: the task row, its first status-history row, the `task.created` outbox event
 * and (optionally) the request_id idempotency key, all or nothing. Parameters: $1 id, $2 now, $3 history id,
 * $4 actor, $5 request id, $6 trace id, then the `columns`' values, then (with a key) key id and scope, then
 * (with an audit context) actor, request id, trace id, client ip and user agent for the audit triggers.
 */
function createStatement(
  columns: readonly string[],
  withKey: boolean,
  withAudit: boolean,
): { name: string; text: string } {
  const shape = `${withKey ? "k" : "-"}${withAudit ? "a" : "-"}|${columns.join(",")}`;
  const cached = CREATE_STATEMENTS.get(shape);
  if (cached !== undefined) return cached;
  const n = columns.length;
  const params = columns.map((_, i) => `$${i + 7}`);
  // The audit context the AuditContextSubscriber sets at transaction start, set here for this statement's
  // implicit transaction (the audit triggers are AFTER ROW: they run at the end of the statement). The
  // scalar subquery on `audit` makes sure it is evaluated before the task row is written.
  const a = n + (withKey ? 9 : 7);
  const text = `with ${
    withAudit
      ? `audit as (
      select set_config('taskmaster.actor', $${a}::text, true), set_config('taskmaster.request_id', $${a + 1}::text, true),
        set_config('taskmaster.trace_id', $${a + 2}::text, true), set_config('taskmaster.client_ip', $${a + 3}::text, true),
        set_config('taskmaster.user_agent', $${a + 4}::text, true)
    ), `
      : ""
  }t as (
      insert into tasks (id, created_at, updated_at${n ? `, ${columns.join(", ")}` : ""})
      values (${withAudit ? "(select $1::uuid from audit)" : "$1::uuid"}, $2::timestamptz, $2::timestamptz${n ? `, ${params.join(", ")}` : ""})
      returning ${TASK_COLUMN_LIST}
    ), h as (
      insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason, changed_at)
      select $3::uuid, t.id, null, t.status, $4::varchar, 'created', $2::timestamptz from t
    ), o as (
      insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload, actor, request_id, trace_id, created_at)
      select 'task', t.id, 'task.created', jsonb_build_object('id', t.id, 'title', t.title, 'status', t.status,
        'priority', t.priority, 'type', t.type, 'assignedTo', t.assigned_to, 'parentId', t.parent_id,
        'epicId', t.epic_id, 'sprintId', t.sprint_id), $4::varchar, $5::varchar, $6::varchar, $2::timestamptz
      from t
    )${
      withKey
        ? `, k as (
      insert into idempotency_keys (id, scope, request_id, resource_id, created_at)
      select $${n + 7}::uuid, $${n + 8}::varchar, $5::varchar, t.id::text, $2::timestamptz from t
    )`
        : ""
    }
    select * from t`;
  const statement = {
    name: CREATE_STATEMENTS.size < MAX_CREATE_STATEMENTS ? `tm_create_task_${CREATE_STATEMENTS.size}` : "",
    text,
  };
  if (statement.name !== "") CREATE_STATEMENTS.set(shape, statement);
  return statement;
}

/** Maps a raw `tasks` row (snake_case columns, as `pg` returns them) to a {@link TaskRow}. */
export function taskRowFromDb(raw: Record<string, unknown>): TaskRow {
  const out: Record<string, unknown> = {};
  for (const [key, column, kind] of COLUMNS) {
    const v = raw[column];
    if (v === null || v === undefined) out[key] = null;
    else if (kind === "num") out[key] = Number(v);
    else if (kind === "date") out[key] = v instanceof Date ? v : new Date(String(v));
    else out[key] = v;
  }
  out.childCount = Number(raw.derived_child_count ?? 0);
  out.blockerStatuses = Array.isArray(raw.derived_blocker_statuses)
    ? raw.derived_blocker_statuses.map(String)
    : [];
  out.claimId = typeof raw.derived_claim_id === "string" ? raw.derived_claim_id : null;
  return out as unknown as TaskRow;
}

/** Maps a managed {@link Task} entity to a {@link TaskRow}. */
export function taskRowFromEntity(t: ITask): TaskRow {
  return {
    id: t.id,
    title: t.title,
    description: t.description ?? null,
    summary: t.summary ?? null,
    type: t.type,
    category: t.category ?? null,
    priority: t.priority,
    status: t.status,
    complexity: t.complexity,
    parentId: t.parent?.id ?? null,
    epicId: t.epic?.id ?? null,
    storyPoints: t.storyPoints ?? null,
    businessValue: t.businessValue ?? null,
    technicalDebtScore: t.technicalDebtScore ?? null,
    riskLevel: t.riskLevel ?? null,
    requirements: t.requirements,
    acceptanceCriteria: t.acceptanceCriteria,
    definitionOfDone: t.definitionOfDone,
    testCriteria: t.testCriteria,
    affectedFiles: t.affectedFiles,
    affectedComponents: t.affectedComponents,
    technicalNotes: t.technicalNotes ?? null,
    architectureNotes: t.architectureNotes ?? null,
    assignedTo: t.assignedTo ?? null,
    reporter: t.reporter ?? null,
    productOwner: t.productOwner ?? null,
    techLead: t.techLead ?? null,
    reviewer: t.reviewer ?? null,
    estimatedHours: t.estimatedHours ?? null,
    actualHours: Number(t.actualHours),
    remainingHours: t.remainingHours ?? null,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    startedAt: t.startedAt ?? null,
    completedAt: t.completedAt ?? null,
    dueDate: t.dueDate ?? null,
    sprintId: t.sprint?.id ?? null,
    releaseId: t.release?.id ?? null,
    milestoneId: t.milestone?.id ?? null,
    labels: t.labels,
    tags: t.tags,
    externalId: t.externalId ?? null,
    githubIssueUrl: t.githubIssueUrl ?? null,
    githubPrUrl: t.githubPrUrl ?? null,
    linearIssueId: t.linearIssueId ?? null,
    jiraKey: t.jiraKey ?? null,
    codeQualityScore: t.codeQualityScore ?? null,
    testCoverageTarget: Number(t.testCoverageTarget),
    performanceRequirements: t.performanceRequirements,
    securityRequirements: t.securityRequirements,
    automationLevel: t.automationLevel ?? null,
    ciCdPipeline: t.ciCdPipeline ?? null,
    deploymentStrategy: t.deploymentStrategy ?? null,
    metadata: t.metadata,
    customFields: t.customFields,
    claimedBy: t.claimedBy ?? null,
    claimedAt: t.claimedAt ?? null,
    leaseExpiresAt: t.leaseExpiresAt ?? null,
    deletedAt: t.deletedAt ?? null,
    version: t.version,
    // Entities are only mapped right after a create: no children, blockers or claim yet.
    childCount: 0,
    blockerStatuses: [],
    claimId: null,
  };
}

/**
 * Task persistence for one request: construct it with that request's `EntityManager` fork.
 *
 * Writes go through entities and the unit of work (one transaction per call), except the hottest:
 * `create` outside a caller's transaction is one INSERT ... RETURNING chain (task, history, outbox event,
 * idempotency key) on a prepared statement. The hot reads (`getById`, `list`) use raw SQL on the same
 * connection/transaction and return plain {@link TaskRow} objects, which MEASUREMENTS.md shows is ~3x
 * faster than hydrating entities; `getById` outside a transaction runs a prepared statement on the pool.
 */
export class TaskRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * Creates a task, its first status-history row and a `task.created` outbox event in one transaction.
   * With `ctx.requestId`, a retry returns the task created by the first call instead of a duplicate.
   */
  async create(input: CreateTaskInput, ctx: ChangeContext = {}): Promise<TaskRow> {
    if (ctx.requestId) {
      const existing = await this.findByRequestId(ctx.requestId);
      if (existing) return existing;
    }
    // Outside a caller's transaction: task, history, outbox event (and idempotency key) in ONE statement,
    // which is atomic by itself — one round trip instead of begin + 3-4 inserts + commit.
    if (this.em.getTransactionContext() === undefined) return this.createInOneStatement(input, ctx);
    try {
      return await this.em.transactional(async (em) => {
        const task = insertTask(em, input, ctx);
        if (ctx.requestId) {
          em.create(IdempotencyKey, { scope: CREATE_SCOPE, requestId: ctx.requestId, resourceId: task.id });
        }
        await em.flush();
        return taskRowFromEntity(task);
      });
    } catch (err) {
      // A concurrent retry with the same request id won the race: return its task.
      if (ctx.requestId && isUniqueViolation(err)) {
        const existing = await this.findByRequestId(ctx.requestId);
        if (existing) return existing;
      }
      rethrowTaken(err);
    }
  }

  /**
   * Creates every task in order in ONE transaction (all or none). Items may reference earlier items' ids as
   * parent/epic (each is flushed before the next). With `ctx.requestId`, a retry returns the first result.
   */
  async batchCreate(inputs: CreateTaskInput[], ctx: ChangeContext = {}): Promise<TaskRow[]> {
    if (ctx.requestId) {
      const existing = await this.findBatchByRequestId(ctx.requestId);
      if (existing) return existing;
    }
    try {
      return await this.em.transactional(async (em) => {
        const tasks: ITask[] = [];
        // Inserts are batched; a flush happens first only when an item names a still-unflushed earlier one.
        const pending = new Set<string>();
        for (const [index, input] of inputs.entries()) {
          if (
            (input.parentId && pending.has(input.parentId)) ||
            (input.epicId && pending.has(input.epicId))
          ) {
            await em.flush();
            pending.clear();
          }
          const task = insertTask(em, input, ctx);
          pending.add(task.id);
          if (ctx.requestId) {
            em.create(IdempotencyKey, {
              scope: BATCH_ITEM_SCOPE,
              requestId: `${ctx.requestId}:${index}`,
              resourceId: task.id,
            });
          }
          tasks.push(task);
        }
        if (ctx.requestId) {
          em.create(IdempotencyKey, {
            scope: BATCH_SCOPE,
            requestId: ctx.requestId,
            resourceId: tasks[0]?.id,
          });
        }
        await em.flush();
        return tasks.map(taskRowFromEntity);
      });
    } catch (err) {
      if (ctx.requestId && isUniqueViolation(err)) {
        const existing = await this.findBatchByRequestId(ctx.requestId);
        if (existing) return existing;
      }
      rethrowTaken(err);
    }
  }

  private async findBatchByRequestId(requestId: string): Promise<TaskRow[] | null> {
    const marker = await this.execute("select 1 from idempotency_keys where scope = ? and request_id = ?", [
      BATCH_SCOPE,
      requestId,
    ]);
    if (marker.length === 0) return null;
    const rows = await this.execute(
      `select ${TASK_SELECT_LIST} from idempotency_keys k join tasks t on t.id = k.resource_id::uuid
       where k.scope = ? and split_part(k.request_id, ':', 1) = ?
       order by split_part(k.request_id, ':', 2)::int`,
      [BATCH_ITEM_SCOPE, requestId],
    );
    return rows.map(taskRowFromDb);
  }

  private async findByRequestId(requestId: string): Promise<TaskRow | null> {
    const rows = await this.execute(
      `select ${TASK_SELECT_LIST} from idempotency_keys k join tasks t on t.id = k.resource_id::uuid
       where k.scope = ? and k.request_id = ?`,
      [CREATE_SCOPE, requestId],
    );
    return rows[0] ? taskRowFromDb(rows[0]) : null;
  }

  /** A task by id (soft-deleted ones only with `includeDeleted`), or `null`. `id` must be a UUID. */
  async getById(id: string, opts: { includeDeleted?: boolean } = {}): Promise<TaskRow | null> {
    const rows =
      this.em.getTransactionContext() === undefined
        ? await preparedQuery(
            this.em,
            opts.includeDeleted ? "tm_task_by_id_any" : "tm_task_by_id_live",
            opts.includeDeleted ? GET_TASK_ANY_SQL : GET_TASK_LIVE_SQL,
            [id],
          )
        : await this.execute(
            `select ${TASK_SELECT_LIST} from tasks t where t.id = ?${opts.includeDeleted ? "" : " and t.deleted_at is null"}`,
            [id],
          );
    return rows[0] ? taskRowFromDb(rows[0]) : null;
  }

  /** {@link create} as one INSERT ... RETURNING chain on a named statement (per shape of `input`). */
  private async createInOneStatement(input: CreateTaskInput, ctx: ChangeContext): Promise<TaskRow> {
    const now = new Date();
    const id = input.id ?? newId();
    const columns: string[] = [];
    const values: unknown[] = [
      id,
      now,
      newId(),
      ctx.actor ?? null,
      ctx.requestId ?? null,
      ctx.traceId ?? null,
    ];
    for (const [key, column] of INSERTABLE_COLUMNS) {
      const value = input[key as keyof CreateTaskInput];
      if (value === undefined) continue;
      // jsonb and text[] columns: an absent or null value is created empty (as the entity path does).
      if (JSONB_KEYS.has(key) || TEXT_ARRAY_KEYS.has(key)) {
        if (value === null) continue;
        columns.push(column);
        values.push(JSONB_KEYS.has(key) ? JSON.stringify(value) : value);
      } else {
        columns.push(column);
        values.push(value);
      }
    }
    for (const key of EMPTY_WHEN_ABSENT) {
      if (input[key as keyof CreateTaskInput] == null) {
        columns.push(COLUMN_OF.get(key) as string);
        values.push(OBJECT_JSON_KEYS.has(key) ? "{}" : TEXT_ARRAY_KEYS.has(key) ? [] : "[]");
      }
    }
    const withKey = ctx.requestId ? 1 : 0;
    if (withKey) values.push(newId(), CREATE_SCOPE);
    const audit = auditContextStorage().getStore();
    if (audit !== undefined) {
      values.push(
        audit.actor ?? "",
        audit.requestId ?? "",
        audit.traceId ?? "",
        audit.clientIp ?? "",
        audit.userAgent ?? "",
      );
    }
    const statement = createStatement(columns, withKey === 1, audit !== undefined);
    try {
      const rows = await preparedQuery(this.em, statement.name, statement.text, values);
      return taskRowFromDb(rows[0] as Record<string, unknown>);
    } catch (err) {
      // A concurrent retry with the same request id won the race (the statement wrote nothing): return its task.
      if (ctx.requestId && isUniqueViolation(err)) {
        const existing = await this.findByRequestId(ctx.requestId);
        if (existing) return existing;
      }
      rethrowTaken(err);
    }
  }

  /** Tasks by id (soft-deleted included), in the order of `ids` (duplicates repeated); missing ones are absent. */
  async getMany(ids: string[]): Promise<Map<string, TaskRow>> {
    const rows = await this.execute(
      `select ${TASK_SELECT_LIST} from tasks t where t.id in (select (jsonb_array_elements_text(?::jsonb))::uuid)`,
      [JSON.stringify([...new Set(ids)])],
    );
    return new Map(rows.map((r) => [String(r.id), taskRowFromDb(r)]));
  }

  /** The live task holding an external reference, or null. */
  async lookup(kind: TaskReferenceKind, value: string): Promise<TaskRow | null> {
    const column = {
      externalId: "external_id",
      githubIssueUrl: "github_issue_url",
      githubPrUrl: "github_pr_url",
      linearIssueId: "linear_issue_id",
      jiraKey: "jira_key",
    }[kind];
    const rows = await this.execute(
      `select ${TASK_SELECT_LIST} from tasks t where t.${column} = ? and t.deleted_at is null limit 1`,
      [value],
    );
    return rows[0] ? taskRowFromDb(rows[0]) : null;
  }

  /** The nearest EPIC among `taskId` and its ancestors (used to derive `epic` on create). */
  async nearestEpic(taskId: string): Promise<string | null> {
    const rows = await this.execute(
      `with recursive up as (
         select id, parent_id, type, 0 as lvl from tasks where id = ?
         union all
         select p.id, p.parent_id, p.type, up.lvl + 1 from tasks p join up on p.id = up.parent_id where up.lvl < 64
       )
       select id from up where type = 'epic' order by lvl limit 1`,
      [taskId],
    );
    return rows[0] ? String(rows[0].id) : null;
  }

  /** Distinct types of a task's live direct children. */
  async childTypes(taskId: string): Promise<TaskType[]> {
    const rows = await this.execute(
      "select distinct type from tasks where parent_id = ? and deleted_at is null",
      [taskId],
    );
    return rows.map((r) => r.type as TaskType);
  }

  /** Number of ancestors of a task (0 for a root). */
  async depthOf(taskId: string): Promise<number> {
    const rows = await this.execute(
      `with recursive up as (
         select id, parent_id, 0 as lvl from tasks where id = ?
         union all
         select p.id, p.parent_id, up.lvl + 1 from tasks p join up on p.id = up.parent_id where up.lvl < 64
       )
       select max(lvl)::int as depth from up`,
      [taskId],
    );
    return Number(rows[0]?.depth ?? 0);
  }

  /**
   * Writes the patched fields of a live task (+1 version, updated_at now, a `task.updated` event) in one
   * transaction. With `expectedVersion`, a different current version is a {@link TaskVersionConflictError};
   * so is losing a race against another writer that expected the same version.
   */
  async update(
    id: string,
    patch: TaskPatch,
    expectedVersion: number | null,
    ctx: ChangeContext = {},
  ): Promise<TaskRow> {
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [key, column] of COLUMNS) {
      if (!(key in patch)) continue;
      const value = (patch as Record<string, unknown>)[key];
      if (JSONB_KEYS.has(key)) {
        sets.push(`${column} = ?::jsonb`);
        params.push(JSON.stringify(value ?? (OBJECT_JSON_KEYS.has(key) ? {} : [])));
      } else if (TEXT_ARRAY_KEYS.has(key)) {
        sets.push(`${column} = array(select jsonb_array_elements_text(?::jsonb))`);
        params.push(JSON.stringify(value ?? []));
      } else if (value instanceof Date) {
        sets.push(`${column} = ?::timestamptz`);
        params.push(value.toISOString());
      } else {
        sets.push(`${column} = ?`);
        params.push(value ?? null);
      }
    }
    const fields = Object.keys(patch).map(changedFieldPath);
    try {
      return await this.em.transactional(async (em) => {
        params.push(id);
        let guard = "";
        if (expectedVersion !== null) {
          guard = " and t.version = ?";
          params.push(expectedVersion);
        }
        const rows = await exec(
          em,
          `update tasks t set ${[...sets, "version = t.version + 1", "updated_at = now()"].join(", ")}
           where t.id = ? and t.deleted_at is null${guard}
           returning ${TASK_SELECT_LIST}`,
          params,
        );
        const raw = rows[0];
        if (!raw) throw await missingOrStale(em, id);
        await event(em, id, "task.updated", { fields }, ctx);
        return taskRowFromDb(raw);
      });
    } catch (err) {
      rethrowTaken(err);
    }
  }

  /**
   * Soft-deletes a live task (and, with `cascade`, its live subtree, all with the same delete time so
   * undelete can restore exactly that subtree). Without `cascade`, live children are a HAS_DEPENDANTS error.
   */
  async softDelete(
    id: string,
    opts: { expectedVersion: number | null; cascade: boolean; validateOnly?: boolean },
    ctx: ChangeContext = {},
  ): Promise<TaskRow> {
    return this.em.transactional(async (em) => {
      const current = await lockLive(em, id, opts.expectedVersion);
      const children = await exec(
        em,
        "select count(*)::int as n from tasks where parent_id = ? and deleted_at is null",
        [id],
      );
      const n = Number(children[0]?.n ?? 0);
      if (n > 0 && !opts.cascade) {
        throw new TaskHierarchyError(
          "HAS_DEPENDANTS",
          `the task has ${n} live child task(s); delete them first or set cascade`,
        );
      }
      if (opts.validateOnly) return current;
      const deleted = await exec(
        em,
        `with recursive sub as (
           select id from tasks where id = ?
           union
           select c.id from tasks c join sub s on c.parent_id = s.id where c.deleted_at is null
         )
         update tasks t set deleted_at = now(), version = t.version + 1, updated_at = now()
         from sub where t.id = sub.id and t.deleted_at is null
         returning t.id`,
        [id],
      );
      for (const r of deleted) {
        await event(em, String(r.id), "task.deleted", { cascadeRoot: id, cascade: opts.cascade }, ctx);
      }
      return (await getRow(em, id)) as TaskRow;
    });
  }

  /**
   * Restores a soft-deleted task and the part of its subtree deleted together with it (same delete time).
   * A live task is NOT_DELETED; a task whose parent is still deleted is PARENT_DELETED.
   */
  async undelete(
    id: string,
    opts: { expectedVersion: number | null; validateOnly?: boolean },
    ctx: ChangeContext = {},
  ): Promise<TaskRow> {
    try {
      return await this.em.transactional(async (em) => {
        const rows = await exec(em, `select ${TASK_SELECT_LIST} from tasks t where t.id = ? for update`, [
          id,
        ]);
        if (!rows[0]) throw new TaskNotFoundError(id);
        const current = taskRowFromDb(rows[0]);
        if (opts.expectedVersion !== null && current.version !== opts.expectedVersion) {
          throw new TaskVersionConflictError(id);
        }
        if (current.deletedAt === null)
          throw new TaskHierarchyError("NOT_DELETED", "the task is not deleted");
        if (current.parentId !== null) {
          const parent = await getRow(em, current.parentId);
          if (parent?.deletedAt !== null) {
            throw new TaskHierarchyError("PARENT_DELETED", "the parent task is deleted; undelete it first");
          }
        }
        if (opts.validateOnly) return current;
        const restored = await exec(
          em,
          `with recursive root as (select deleted_at as d from tasks where id = ?),
           sub as (
             select id from tasks where id = ?
             union
             select c.id from tasks c join sub s on c.parent_id = s.id join root on c.deleted_at = root.d
           )
           update tasks t set deleted_at = null, version = t.version + 1, updated_at = now()
           from sub where t.id = sub.id and t.deleted_at is not null
           returning t.id`,
          [id, id],
        );
        for (const r of restored) await event(em, String(r.id), "task.undeleted", { cascadeRoot: id }, ctx);
        return (await getRow(em, id)) as TaskRow;
      });
    } catch (err) {
      rethrowTaken(err);
    }
  }

  /**
   * Moves a live task with its subtree under `newParentId` (null: to the root). Refuses cycles (found by
   * walking the new parent's ancestors in SQL), depth beyond {@link MAX_TASK_DEPTH} and type-rule breaks.
   */
  async move(
    id: string,
    newParentId: string | null,
    opts: { expectedVersion: number | null; validateOnly?: boolean },
    ctx: ChangeContext = {},
  ): Promise<{ row: TaskRow; movedDescendantCount: number }> {
    return this.em.transactional(async (em) => {
      // Moves are serialised: two concurrent moves (A under B, B under A) could otherwise each pass the
      // cycle check against the other's pre-move state.
      await exec(em, "select pg_advisory_xact_lock(hashtext('taskmaster.tasks.hierarchy'))", []);
      const current = await lockLive(em, id, opts.expectedVersion);
      let newDepth = 0;
      if (newParentId !== null) {
        if (newParentId === id) throw new TaskCycleError([id, id]);
        const chain = await exec(
          em,
          `with recursive up as (
             select id, parent_id, type, deleted_at, 0 as lvl from tasks where id = ?
             union all
             select p.id, p.parent_id, p.type, p.deleted_at, up.lvl + 1
             from tasks p join up on p.id = up.parent_id where up.lvl < 64 and up.id <> ?
           )
           select id, type, deleted_at from up order by lvl`,
          [newParentId, id],
        );
        const parent = chain[0];
        if (!parent || parent.deleted_at !== null) throw new TaskNotFoundError(newParentId);
        const ids = chain.map((r) => String(r.id));
        const at = ids.indexOf(id);
        if (at >= 0) throw new TaskCycleError([id, ...ids.slice(0, at), id]);
        const rule = hierarchyViolation(current.type, parent.type as TaskType);
        if (rule !== null) throw new TaskHierarchyError("TYPE_HIERARCHY", rule);
        newDepth = ids.length;
      }
      const sub = await exec(
        em,
        `with recursive down as (
           select id, 0 as d from tasks where id = ?
           union all
           select c.id, down.d + 1 from tasks c join down on c.parent_id = down.id
           where c.deleted_at is null and down.d < 64
         )
         select max(d)::int as height, (count(*) - 1)::int as n from down`,
        [id],
      );
      const height = Number(sub[0]?.height ?? 0);
      const movedDescendantCount = Number(sub[0]?.n ?? 0);
      if (newDepth + height > MAX_TASK_DEPTH) {
        throw new TaskHierarchyError(
          "DEPTH_EXCEEDED",
          `the hierarchy would be ${newDepth + height + 1} levels deep (at most ${MAX_TASK_DEPTH + 1} levels, ${MAX_TASK_DEPTH} ancestors)`,
        );
      }
      if (opts.validateOnly) return { row: current, movedDescendantCount };
      const rows = await exec(
        em,
        `update tasks t set parent_id = ?, version = t.version + 1, updated_at = now()
         where t.id = ? returning ${TASK_SELECT_LIST}`,
        [newParentId, id],
      );
      await event(
        em,
        id,
        "task.moved",
        { fromParentId: current.parentId, toParentId: newParentId, movedDescendantCount },
        ctx,
      );
      return { row: taskRowFromDb(rows[0] as Record<string, unknown>), movedDescendantCount };
    });
  }

  /** Ancestors of a task, root first (at most 64 levels walked). */
  async ancestors(id: string): Promise<TaskRow[]> {
    const rows = await this.execute(
      `with recursive up as (
         select c.parent_id as id, 1 as lvl from tasks c where c.id = ? and c.parent_id is not null
         union all
         select p.parent_id, up.lvl + 1 from tasks p join up on p.id = up.id
         where p.parent_id is not null and up.lvl < 64
       )
       select ${TASK_SELECT_LIST} from up join tasks t on t.id = up.id order by up.lvl desc`,
      [id],
    );
    return rows.map(taskRowFromDb);
  }

  /** One page of a task's children, or of its whole subtree in depth-first pre-order. */
  async listChildren(parentId: string, opts: ChildTasksOptions = {}): Promise<ChildTaskPage> {
    const pageSize = Math.min(Math.max(Math.trunc(opts.pageSize ?? 50), 1), 1000);
    const live = opts.includeDeleted ? "" : " and c.deleted_at is null";
    const binding = digest(
      `children|${parentId}|${opts.recursive ? 1 : 0}|${opts.includeDeleted ? 1 : 0}|${opts.binding ?? ""}`,
    );
    const params: unknown[] = [parentId, opts.recursive ? 64 : 1];
    const where: string[] = [];
    if (opts.where) {
      where.push(`(${opts.where.sql})`);
      params.push(...opts.where.params);
    }
    if (opts.pageToken) {
      const cursor = decodePageToken(opts.pageToken, binding, ["text"]);
      where.push("sub.path > array(select jsonb_array_elements_text(?::jsonb))");
      params.push(cursor.keys[0]);
    }
    params.push(pageSize + 1);
    const rows = await this.execute(
      `with recursive sub as (
         select c.id, 1 as depth, array[${PATH_ELEMENT_SQL}] as path
         from tasks c where c.parent_id = ?${live}
         union all
         select c.id, sub.depth + 1, sub.path || (${PATH_ELEMENT_SQL})
         from tasks c join sub on c.parent_id = sub.id where sub.depth < ?${live}
       )
       select ${TASK_SELECT_LIST}, sub.depth as sub_depth, array_to_json(sub.path)::text as sub_path
       from sub join tasks t on t.id = sub.id
       ${where.length ? `where ${where.join(" and ")}` : ""}
       order by sub.path
       limit ?`,
      params,
    );
    const page = rows.slice(0, pageSize);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({ row: taskRowFromDb(r), depth: Number(r.sub_depth) })),
      nextPageToken:
        rows.length > pageSize && last
          ? encodePageToken(binding, { keys: [String(last.sub_path)], id: String(last.id) })
          : null,
    };
  }

  /** One page of tasks: filter, multi-key order (ties on id), keyset page tokens bound to the request. */
  async list(opts: ListTasksOptions = {}): Promise<TaskPage> {
    const pageSize = Math.min(Math.max(Math.trunc(opts.pageSize ?? 50), 1), 1000);
    const keys: TaskSortKey[] = opts.orderBy?.length ? opts.orderBy : [{ field: "create_time", desc: true }];
    const binding = digest(
      `list2|${opts.includeDeleted ? 1 : 0}|${keys.map((k) => `${k.field}${k.desc ? "-" : "+"}`).join(",")}|${opts.binding ?? ""}`,
    );
    const kinds = keys.map((k) => SORT_SQL[k.field].kind);
    const cursor = opts.pageToken ? decodePageToken(opts.pageToken, binding, kinds) : null;
    const where: string[] = [];
    const params: unknown[] = [];
    if (!opts.includeDeleted) where.push("t.deleted_at is null");
    if (opts.where) {
      where.push(`(${opts.where.sql})`);
      params.push(...opts.where.params);
    }
    // Ties break on id in the direction of the last sort key, so an index on (..., created_at desc, id desc)
    // serves the default newest-first order without a sort.
    const idDesc = keys[keys.length - 1]?.desc ?? false;
    const filterWhere = [...where];
    const filterParams = [...params];
    if (cursor) {
      // (k1, ..., kn, id) strictly after the cursor, each key in its own direction.
      const ors: string[] = [];
      const all = [
        ...keys.map((k) => ({
          expr: SORT_SQL[k.field].expr(k.desc),
          kind: SORT_SQL[k.field].kind,
          desc: k.desc,
        })),
        { expr: "t.id", kind: "uuid" as const, desc: idDesc },
      ];
      const values = [...cursor.keys, cursor.id];
      for (let i = 0; i < all.length; i++) {
        const parts: string[] = [];
        for (let j = 0; j <= i; j++) {
          const key = all[j] as (typeof all)[number];
          const param = key.kind === "uuid" ? "?::uuid" : sortParam(key.kind);
          const op = j < i ? "=" : key.desc ? "<" : ">";
          parts.push(`${key.expr} ${op} ${param}`);
          params.push(values[j]);
        }
        ors.push(`(${parts.join(" and ")})`);
      }
      where.push(`(${ors.join(" or ")})`);
    }
    params.push(pageSize + 1);
    const rows = await this.execute(
      `select ${TASK_SELECT_LIST}${keys.map((k, i) => `, ${sortSelect(k.field, k.desc)} as sort_k${i}`).join("")}
       from tasks t
       ${where.length ? `where ${where.join(" and ")}` : ""}
       order by ${keys.map((k) => `${SORT_SQL[k.field].expr(k.desc)} ${k.desc ? "desc" : "asc"}`).join(", ")}, t.id ${idDesc ? "desc" : "asc"}
       limit ?`,
      params,
    );
    const page = rows.slice(0, pageSize);
    const last = page[page.length - 1];
    const nextPageToken =
      rows.length > pageSize && last
        ? encodePageToken(binding, {
            keys: keys.map((k, i) => {
              const v = last[`sort_k${i}`];
              return SORT_SQL[k.field].kind === "int" ? Number(v) : String(v);
            }),
            id: String(last.id),
          })
        : null;
    let totalSize = 0;
    if (opts.withTotal) {
      const filtered = `from tasks t ${filterWhere.length ? `where ${filterWhere.join(" and ")}` : ""}`;
      if (nextPageToken === null && !cursor) {
        // The whole result fits on this first page: its size is the exact total, no extra query.
        totalSize = page.length;
      } else {
        // Exact while small (cheap: at most EXACT_TOTAL_LIMIT index entries); above that the planner's
        // estimate, which the contract allows ("may be an estimate") — an exact count of a large match set
        // costs more than the page itself.
        const count = await this.execute(
          `select count(*)::int as n from (select 1 ${filtered} limit ${EXACT_TOTAL_LIMIT + 1}) m`,
          filterParams,
        );
        totalSize = Number(count[0]?.n ?? 0);
        if (totalSize > EXACT_TOTAL_LIMIT) {
          const plan = await this.execute(`explain (format json) select 1 ${filtered}`, filterParams);
          const estimate = Number(
            (plan[0]?.["QUERY PLAN"] as { Plan?: { "Plan Rows"?: number } }[] | undefined)?.[0]?.Plan?.[
              "Plan Rows"
            ] ?? 0,
          );
          totalSize = Math.min(Math.max(estimate, EXACT_TOTAL_LIMIT + 1), 2_147_483_647);
        }
      }
    }
    return { items: page.map(taskRowFromDb), nextPageToken, totalSize };
  }

  private async execute(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    return this.em.getConnection().execute(sql, params, "all", this.em.getTransactionContext());
  }
}

function exec(em: EntityManager, sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  return em.getConnection().execute(sql, params, "all", em.getTransactionContext());
}

async function event(
  em: EntityManager,
  taskId: string,
  kind: TaskEventKind,
  payload: Record<string, unknown>,
  ctx: ChangeContext,
): Promise<void> {
  await exec(em, INSERT_TASK_EVENT_SQL, [
    taskId,
    kind,
    JSON.stringify(payload),
    ctx.actor ?? null,
    ctx.requestId ?? null,
    ctx.traceId ?? null,
  ]);
}

async function getRow(em: EntityManager, id: string): Promise<TaskRow | null> {
  const rows = await exec(em, `select ${TASK_SELECT_LIST} from tasks t where t.id = ?`, [id]);
  return rows[0] ? taskRowFromDb(rows[0]) : null;
}

/** Locks a live task row for the transaction; NOT_FOUND when absent/deleted, conflict on a version mismatch. */
async function lockLive(em: EntityManager, id: string, expectedVersion: number | null): Promise<TaskRow> {
  const rows = await exec(
    em,
    `select ${TASK_SELECT_LIST} from tasks t where t.id = ? and t.deleted_at is null for update`,
    [id],
  );
  if (!rows[0]) throw new TaskNotFoundError(id);
  const row = taskRowFromDb(rows[0]);
  if (expectedVersion !== null && row.version !== expectedVersion) throw new TaskVersionConflictError(id);
  return row;
}

async function missingOrStale(em: EntityManager, id: string): Promise<Error> {
  const rows = await exec(em, "select deleted_at from tasks where id = ?", [id]);
  return !rows[0] || rows[0].deleted_at !== null
    ? new TaskNotFoundError(id)
    : new TaskVersionConflictError(id);
}

/** Inserts one task with its first status-history row and `task.created` event (flushed by the caller). */
function insertTask(em: EntityManager, input: CreateTaskInput, ctx: ChangeContext): ITask {
  const { id: chosenId, parentId, epicId, sprintId, releaseId, milestoneId, ...fields } = input;
  const id = chosenId ?? newId();
  const task = em.create(Task, {
    ...fields,
    id,
    requirements: input.requirements ?? [],
    acceptanceCriteria: input.acceptanceCriteria ?? [],
    definitionOfDone: input.definitionOfDone ?? [],
    testCriteria: input.testCriteria ?? [],
    affectedFiles: input.affectedFiles ?? [],
    affectedComponents: input.affectedComponents ?? [],
    labels: input.labels ?? [],
    tags: input.tags ?? [],
    performanceRequirements: input.performanceRequirements ?? {},
    securityRequirements: input.securityRequirements ?? {},
    metadata: input.metadata ?? {},
    customFields: input.customFields ?? {},
    parent: parentId ?? null,
    epic: epicId ?? null,
    sprint: sprintId ?? null,
    release: releaseId ?? null,
    milestone: milestoneId ?? null,
  });
  em.create(TaskStatusHistory, {
    task: id,
    fromStatus: null,
    toStatus: task.status,
    changedBy: ctx.actor ?? null,
    reason: "created",
  });
  recordTaskEvent(
    em,
    id,
    "task.created",
    {
      id,
      title: task.title,
      status: task.status,
      priority: task.priority,
      type: task.type,
      assignedTo: task.assignedTo ?? null,
      parentId: parentId ?? null,
      epicId: epicId ?? null,
      sprintId: sprintId ?? null,
    },
    ctx,
  );
  return task;
}
