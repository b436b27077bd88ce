/**
 * Request validation for tasks: every rule the contract states in its comments, all violations reported
 * at once (INVALID_ARGUMENT with google.rpc.BadRequest field violations).
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import type { TaskReferenceKind } from "@taskmaster/persistence/task.repository";
import {
  type Task,
  TaskComplexitySchema,
  TaskPrioritySchema,
  TaskSchema,
  TaskStatusSchema,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type {
  BatchCreateTasksRequest,
  BatchGetTasksRequest,
  CreateTaskRequest,
  DeleteTaskRequest,
  ListChildTasksRequest,
  ListTasksRequest,
  LookupTaskRequest,
  MoveTaskRequest,
  UndeleteTaskRequest,
  UpdateTaskRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { MILESTONE_PATTERN, RELEASE_PATTERN, SPRINT_PATTERN, TASK_PATTERN } from "./task.names.js";

export const GITHUB_ISSUE_URL =
  /^https:\/\/github\.com\/[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}\/issues\/[1-9]\d{0,9}$/;
export const GITHUB_PR_URL =
  /^https:\/\/github\.com\/[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}\/pull\/[1-9]\d{0,9}$/;
export const LINEAR_ISSUE_ID = /^[A-Z][A-Z0-9]{0,9}-[1-9]\d{0,9}$/;
export const JIRA_KEY = /^[A-Z][A-Z0-9_]{1,9}-[1-9]\d{0,9}$/;
const LABEL = /^[a-z0-9_.:/-]{1,64}$/;
const JSON_LIMIT_BYTES = 64 * 1024;
const MAX_HOURS = 100_000;

function list(v: Validator, field: string, items: string[], maxItems: number, maxLength: number): void {
  if (items.length > maxItems) {
    v.add(field, `must have at most ${maxItems} items (got ${items.length})`, "TOO_MANY_ITEMS");
    return;
  }
  for (const [i, item] of items.entries()) v.length(`${field}[${i}]`, item, 1, maxLength);
}

function unique(v: Validator, field: string, items: string[]): void {
  if (new Set(items).size !== items.length) v.add(field, "must not contain duplicates", "DUPLICATE_ITEMS");
}

function jsonObject(v: Validator, field: string, value: JsonObject | undefined): void {
  if (value === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > JSON_LIMIT_BYTES)
    v.add(field, `must be at most 64 KiB serialized (got ${size} bytes)`, "TOO_LARGE");
}

const JSON_FIELDS = new Set(["performanceRequirements", "securityRequirements", "metadata", "customFields"]);

/**
 * PostgreSQL text and jsonb cannot hold U+0000 (the insert fails with an opaque database error), so a NUL
 * character in any string, list item or JSON value is a field violation.
 */
function noNulCharacters(v: Validator, task: Task, f: (name: string) => string): void {
  const nul = (field: string) => {
    if (!v.has(field)) v.add(field, "must not contain NUL (U+0000) characters", "INVALID_CHARACTER");
  };
  for (const [key, value] of Object.entries(task)) {
    if (typeof value === "string") {
      if (value.includes("\0")) nul(f(snake(key)));
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) {
        if (typeof item === "string" && item.includes("\0")) nul(`${f(snake(key))}[${i}]`);
      }
    } else if (JSON_FIELDS.has(key) && value !== undefined && JSON.stringify(value).includes("\\u0000")) {
      nul(f(snake(key)));
    }
  }
}

/** References a create resolves; undefined when absent. */
export interface TaskRefs {
  parentId: string | null;
  epicId: string | null;
  sprintId: string | null;
  releaseId: string | null;
  milestoneId: string | null;
}

function ref(v: Validator, field: string, pattern: string, name: string): string | null {
  if (name === "") return null;
  return v.resourceName(field, pattern, name) ?? null;
}

/** Validates the writable fields of a task (create). Returns the resolved references. */
function validateTaskFields(v: Validator, task: Task, prefix: string): TaskRefs {
  const f = (name: string) => `${prefix}.${name}`;
  if (v.required(f("title"), task.title)) v.length(f("title"), task.title.trim(), 5, 255);
  v.maxLength(f("description"), task.description, 100_000);
  v.maxLength(f("summary"), task.summary, 2_000);
  v.maxLength(f("category"), task.category, 100);
  v.enumDefined(f("type"), task.type, TaskTypeSchema, { allowUnspecified: true });
  v.enumDefined(f("priority"), task.priority, TaskPrioritySchema, { allowUnspecified: true });
  v.enumDefined(f("status"), task.status, TaskStatusSchema, { allowUnspecified: true });
  v.enumDefined(f("complexity"), task.complexity, TaskComplexitySchema, { allowUnspecified: true });
  v.range(f("story_points"), task.storyPoints, 0, 100);
  v.range(f("business_value"), task.businessValue, 1, 10);
  v.range(f("technical_debt_score"), task.technicalDebtScore, 0, 100);
  v.range(f("risk_level"), task.riskLevel, 1, 10);
  v.range(f("estimated_hours"), task.estimatedHours, 0, MAX_HOURS);
  v.range(f("remaining_hours"), task.remainingHours, 0, MAX_HOURS);
  v.range(f("code_quality_score"), task.codeQualityScore, 0, 100);
  v.range(f("test_coverage_target"), task.testCoverageTarget, 0, 100);
  for (const field of ["requirements", "acceptanceCriteria", "definitionOfDone", "testCriteria"] as const) {
    list(v, f(snake(field)), task[field], 200, 2_000);
  }
  list(v, f("affected_files"), task.affectedFiles, 1_000, 1_000);
  list(v, f("affected_components"), task.affectedComponents, 200, 200);
  v.maxLength(f("technical_notes"), task.technicalNotes, 100_000);
  v.maxLength(f("architecture_notes"), task.architectureNotes, 100_000);
  for (const field of ["assignedTo", "reporter", "productOwner", "techLead", "reviewer"] as const) {
    v.maxLength(f(snake(field)), task[field], 320);
  }
  if (task.labels.length > 50) v.add(f("labels"), "must have at most 50 items", "TOO_MANY_ITEMS");
  else {
    for (const [i, label] of task.labels.entries()) {
      // Not v.pattern(): it skips empty strings, and an empty label is invalid.
      if (!LABEL.test(label)) {
        v.add(`${f("labels")}[${i}]`, "must be 1-64 characters of [a-z0-9_.:/-]", "INVALID_FORMAT");
      }
    }
  }
  unique(v, f("labels"), task.labels);
  list(v, f("tags"), task.tags, 50, 64);
  unique(v, f("tags"), task.tags);
  v.maxLength(f("external_id"), task.externalId, 255);
  v.pattern(
    f("github_issue_url"),
    task.githubIssueUrl,
    GITHUB_ISSUE_URL,
    'must look like "https://github.com/{owner}/{repo}/issues/{number}"',
  );
  v.pattern(
    f("github_pr_url"),
    task.githubPrUrl,
    GITHUB_PR_URL,
    'must look like "https://github.com/{owner}/{repo}/pull/{number}"',
  );
  v.pattern(f("linear_issue_id"), task.linearIssueId, LINEAR_ISSUE_ID, 'must look like "ENG-123"');
  v.pattern(
    f("jira_key"),
    task.jiraKey,
    JIRA_KEY,
    'must look like "PROJ-123" (project key [A-Z][A-Z0-9_]{1,9})',
  );
  v.maxLength(f("automation_level"), task.automationLevel, 50);
  v.maxLength(f("ci_cd_pipeline"), task.ciCdPipeline, 500);
  v.maxLength(f("deployment_strategy"), task.deploymentStrategy, 100);
  jsonObject(v, f("performance_requirements"), task.performanceRequirements);
  jsonObject(v, f("security_requirements"), task.securityRequirements);
  jsonObject(v, f("metadata"), task.metadata);
  jsonObject(v, f("custom_fields"), task.customFields);
  noNulCharacters(v, task, f);
  return {
    parentId: ref(v, f("parent"), TASK_PATTERN, task.parent),
    epicId: ref(v, f("epic"), TASK_PATTERN, task.epic),
    sprintId: ref(v, f("sprint"), SPRINT_PATTERN, task.sprint),
    releaseId: ref(v, f("release"), RELEASE_PATTERN, task.release),
    milestoneId: ref(v, f("milestone"), MILESTONE_PATTERN, task.milestone),
  };
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function validateCreateTask(req: CreateTaskRequest): {
  task: Task;
  refs: TaskRefs;
  taskId: string | undefined;
} {
  const v = validator();
  let refs: TaskRefs = { parentId: null, epicId: null, sprintId: null, releaseId: null, milestoneId: null };
  if (v.required("task", req.task) && req.task) refs = validateTaskFields(v, req.task, "task");
  v.uuid("task_id", req.taskId);
  v.uuid("request_id", req.requestId);
  v.check();
  return { task: req.task as Task, refs, taskId: req.taskId === "" ? undefined : req.taskId.toLowerCase() };
}

export function validateGetTask(name: string): string {
  const v = validator();
  const id = v.resourceName("name", TASK_PATTERN, name);
  v.check();
  return id as string;
}

export function validateListTasks(req: ListTasksRequest): { pageSize: number } {
  const v = validator();
  const pageSize = v.pageSize("page_size", req.pageSize);
  v.maxLength("filter", req.filter, 2_000);
  v.maxLength("page_token", req.pageToken, 2_000);
  v.check();
  return { pageSize };
}

/** Parses an AIP-154 etag (`W/"<version>"`); "" means none. A malformed one is a field violation. */
function etagVersion(v: Validator, field: string, etag: string): number | null {
  if (etag === "") return null;
  const match = /^W\/"([1-9]\d{0,9})"$/.exec(etag);
  if (!match) {
    v.add(field, 'must be an etag returned by this API (W/"<n>")', "INVALID_ETAG");
    return null;
  }
  return Number(match[1]);
}

/** Fields UpdateTask may change (proto names); "*" expands to these. */
export const UPDATABLE_FIELDS = [
  "title",
  "description",
  "summary",
  "type",
  "category",
  "priority",
  "complexity",
  "epic",
  "story_points",
  "business_value",
  "technical_debt_score",
  "risk_level",
  "requirements",
  "acceptance_criteria",
  "definition_of_done",
  "test_criteria",
  "affected_files",
  "affected_components",
  "technical_notes",
  "architecture_notes",
  "assigned_to",
  "reporter",
  "product_owner",
  "tech_lead",
  "reviewer",
  "estimated_hours",
  "remaining_hours",
  "due_time",
  "sprint",
  "release",
  "milestone",
  "labels",
  "tags",
  "external_id",
  "github_issue_url",
  "github_pr_url",
  "linear_issue_id",
  "jira_key",
  "code_quality_score",
  "test_coverage_target",
  "performance_requirements",
  "security_requirements",
  "automation_level",
  "ci_cd_pipeline",
  "deployment_strategy",
  "metadata",
  "custom_fields",
] as const;

const OUTPUT_ONLY_FIELDS = new Set([
  "name",
  "uid",
  "etag",
  "actual_hours",
  "create_time",
  "update_time",
  "start_time",
  "complete_time",
  "delete_time",
  "claim",
  "child_count",
  "open_blocker_count",
]);

function camel(snakeName: string): string {
  return snakeName.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export interface ValidatedUpdate {
  id: string;
  expectedVersion: number | null;
  /** Proto field names to write. */
  paths: string[];
  /** A task holding only the masked fields (others at their defaults). */
  task: Task;
  refs: TaskRefs;
}

export function validateUpdateTask(req: UpdateTaskRequest): ValidatedUpdate {
  const v = validator();
  let id: string | undefined;
  let expectedVersion: number | null = null;
  if (v.required("task", req.task) && req.task) {
    id = v.resourceName("task.name", TASK_PATTERN, req.task.name);
    expectedVersion = etagVersion(v, "task.etag", req.task.etag);
  }
  const raw = req.updateMask?.paths ?? [];
  let paths: string[] = [];
  if (raw.length === 0) v.add("update_mask", 'must name at least one field (or "*")', "REQUIRED");
  else if (raw.includes("*")) {
    if (raw.length > 1) v.add("update_mask", '"*" cannot be combined with other paths', "INVALID_MASK");
    paths = [...UPDATABLE_FIELDS];
  } else {
    for (const path of raw) {
      if (path === "status") {
        v.add(
          "update_mask",
          '"status" cannot be updated here; use TransitionTaskStatus',
          "FIELD_NOT_UPDATABLE",
        );
      } else if (path === "parent") {
        v.add("update_mask", '"parent" cannot be updated here; use MoveTask', "FIELD_NOT_UPDATABLE");
      } else if (OUTPUT_ONLY_FIELDS.has(path)) {
        v.add("update_mask", `"${path}" is output only`, "FIELD_OUTPUT_ONLY");
      } else if (!(UPDATABLE_FIELDS as readonly string[]).includes(path)) {
        v.add("update_mask", `unknown field "${path}"`, "UNKNOWN_FIELD");
      } else if (!paths.includes(path)) paths.push(path);
    }
  }
  // Validate exactly the masked values: copy them onto an otherwise-default task.
  const masked = create(TaskSchema, { title: "placeholder title" });
  if (req.task) {
    for (const path of paths) {
      const key = camel(path) as keyof Task;
      (masked as unknown as Record<string, unknown>)[key] = req.task[key];
    }
  }
  const refs = validateTaskFields(v, masked, "task");
  v.check();
  return { id: id as string, expectedVersion, paths, task: masked, refs };
}

export function validateDeleteTask(req: DeleteTaskRequest | UndeleteTaskRequest): {
  id: string;
  expectedVersion: number | null;
} {
  const v = validator();
  const id = v.resourceName("name", TASK_PATTERN, req.name);
  const expectedVersion = etagVersion(v, "etag", req.etag);
  v.check();
  return { id: id as string, expectedVersion };
}

export function validateBatchGetTasks(req: BatchGetTasksRequest): string[] {
  const v = validator();
  if (v.required("names", req.names) && req.names.length > 1000) {
    v.add("names", `must have at most 1000 items (got ${req.names.length})`, "TOO_MANY_ITEMS");
  }
  const ids: string[] = [];
  if (!v.has("names")) {
    for (const [i, name] of req.names.entries())
      ids.push(v.resourceName(`names[${i}]`, TASK_PATTERN, name) ?? "");
  }
  v.check();
  return ids;
}

export function validateLookupTask(req: LookupTaskRequest): { kind: TaskReferenceKind; value: string } {
  const v = validator();
  const ref = req.reference;
  if (ref.case === undefined) {
    v.add(
      "reference",
      "exactly one of github_issue_url, github_pr_url, linear_issue_id, jira_key, external_id is required",
      "REQUIRED",
    );
    v.check();
  }
  const field = snake(ref.case as string);
  const value = ref.value as string;
  if (v.required(field, value)) {
    if (ref.case === "githubIssueUrl")
      v.pattern(
        field,
        value,
        GITHUB_ISSUE_URL,
        'must look like "https://github.com/{owner}/{repo}/issues/{number}"',
      );
    if (ref.case === "githubPrUrl")
      v.pattern(
        field,
        value,
        GITHUB_PR_URL,
        'must look like "https://github.com/{owner}/{repo}/pull/{number}"',
      );
    if (ref.case === "linearIssueId") v.pattern(field, value, LINEAR_ISSUE_ID, 'must look like "ENG-123"');
    if (ref.case === "jiraKey")
      v.pattern(field, value, JIRA_KEY, 'must look like "PROJ-123" (project key [A-Z][A-Z0-9_]{1,9})');
    if (ref.case === "externalId") v.maxLength(field, value, 255);
    if (value.includes("\0")) v.add(field, "must not contain NUL (U+0000) characters", "INVALID_CHARACTER");
  }
  v.check();
  return { kind: ref.case as TaskReferenceKind, value };
}

export function validateMoveTask(req: MoveTaskRequest): {
  id: string;
  newParentId: string | null;
  expectedVersion: number | null;
} {
  const v = validator();
  const id = v.resourceName("name", TASK_PATTERN, req.name);
  const newParentId = ref(v, "new_parent", TASK_PATTERN, req.newParent);
  const expectedVersion = etagVersion(v, "etag", req.etag);
  v.check();
  return { id: id as string, newParentId, expectedVersion };
}

export function validateListChildTasks(req: ListChildTasksRequest): { parentId: string; pageSize: number } {
  const v = validator();
  const parentId = v.resourceName("parent", TASK_PATTERN, req.parent);
  const pageSize = v.pageSize("page_size", req.pageSize);
  v.maxLength("filter", req.filter, 2_000);
  v.maxLength("page_token", req.pageToken, 2_000);
  v.check();
  return { parentId: parentId as string, pageSize };
}

export function validateTaskName(field: string, name: string): string {
  const v = validator();
  const id = v.resourceName(field, TASK_PATTERN, name);
  v.check();
  return id as string;
}

export interface ValidatedBatchItem {
  task: Task;
  refs: TaskRefs;
  taskId: string | undefined;
}

export function validateBatchCreateTasks(req: BatchCreateTasksRequest): ValidatedBatchItem[] {
  const v = validator();
  if (v.required("requests", req.requests) && req.requests.length > 1000) {
    v.add("requests", `must have at most 1000 items (got ${req.requests.length})`, "TOO_MANY_ITEMS");
  }
  v.uuid("request_id", req.requestId);
  const items: ValidatedBatchItem[] = [];
  if (!v.has("requests")) {
    const seen = new Set<string>();
    for (const [i, item] of req.requests.entries()) {
      const prefix = `requests[${i}]`;
      let refs: TaskRefs = {
        parentId: null,
        epicId: null,
        sprintId: null,
        releaseId: null,
        milestoneId: null,
      };
      if (v.required(`${prefix}.task`, item.task) && item.task)
        refs = validateTaskFields(v, item.task, `${prefix}.task`);
      v.uuid(`${prefix}.task_id`, item.taskId);
      const taskId = item.taskId === "" ? undefined : item.taskId.toLowerCase();
      if (taskId !== undefined && !v.has(`${prefix}.task_id`)) {
        if (seen.has(taskId)) v.add(`${prefix}.task_id`, "is used twice in this batch", "DUPLICATE_ITEMS");
        seen.add(taskId);
      }
      items.push({ task: item.task as Task, refs, taskId });
    }
  }
  v.check();
  return items;
}
