/**
 * The task aggregate's shapes: the row the RPC mappers consume, create/patch inputs, list options and the
 * errors the task repositories throw (services map them to domain errors).
 */
import type { RawBuilder } from "kysely";
import type { TaskComplexity, TaskPriority, TaskStatus, TaskType } from "./value-sets.js";

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
export type DerivedKeys = "childCount" | "blockerStatuses" | "claimId";

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
  /** Compiled filter: a condition over the `tasks t` alias (see task.filter.ts in the service). */
  where?: RawBuilder<unknown> | null;
  /** Also leave out ARCHIVED tasks (applied together with `where`). */
  excludeArchived?: boolean;
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

/** Fields UpdateTask may write (keys of TaskRow). */
export type TaskPatch = Partial<Omit<CreateTaskInput, "id" | "status" | "parentId">>;

/** Lookup keys of LookupTask. */
export type TaskReferenceKind = "externalId" | "githubIssueUrl" | "githubPrUrl" | "linearIssueId" | "jiraKey";

export interface ChildTasksOptions {
  recursive?: boolean;
  pageSize?: number;
  pageToken?: string | null;
  /** A condition over the `tasks t` alias. */
  where?: RawBuilder<unknown> | null;
  includeDeleted?: boolean;
  binding?: string;
}

export interface ChildTaskPage {
  items: { row: TaskRow; depth: number }[];
  nextPageToken: string | null;
}
