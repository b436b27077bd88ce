/**
 * Request validation for tasks: every rule the contract states in its comments, all violations reported
 * at once (INVALID_ARGUMENT with google.rpc.BadRequest field violations).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import {
  type Task,
  TaskComplexitySchema,
  TaskPrioritySchema,
  TaskStatusSchema,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type {
  CreateTaskRequest,
  ListTasksRequest,
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
  v.maxLength("page_token", req.pageToken, 1_000);
  v.check();
  return { pageSize };
}
