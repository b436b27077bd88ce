/**
 * Explicit mapping between persistence rows and `taskmaster.task.v1.Task` messages. Entities and rows never
 * leave the service layer; the RPC layer only sees messages.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CreateTaskInput, TaskPatch, TaskRow } from "@taskmaster/persistence/task.repository";
import type {
  TaskComplexity as DbComplexity,
  TaskPriority as DbPriority,
  TaskStatus as DbStatus,
  TaskType as DbType,
} from "@taskmaster/persistence/value-sets";
import {
  type Task,
  TaskClaimSchema,
  type TaskComplexity,
  TaskComplexitySchema,
  type TaskPriority,
  TaskPrioritySchema,
  TaskSchema,
  type TaskStatus,
  TaskStatusSchema,
  type TaskType,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { DEFAULT_STATUS_TRANSITIONS } from "./status-transitions.js";
import { taskName } from "./task.names.js";

export const statusCodec = enumCodec<TaskStatus, DbStatus>(TaskStatusSchema);
export const priorityCodec = enumCodec<TaskPriority, DbPriority>(TaskPrioritySchema);
export const typeCodec = enumCodec<TaskType, DbType>(TaskTypeSchema);
export const complexityCodec = enumCodec<TaskComplexity, DbComplexity>(TaskComplexitySchema);

/** AIP-154 etag: changes whenever the optimistic-lock version does. */
export function taskEtag(row: Pick<TaskRow, "id" | "version">): string {
  return `W/"${row.version}"`;
}

const ts = (date: Date | null): Timestamp | undefined =>
  date === null ? undefined : timestampFromDate(date);
const strings = (list: unknown[]): string[] =>
  list.map((item) => (typeof item === "string" ? item : JSON.stringify(item)));
const optionalNumber = (value: number | null): number | undefined => value ?? undefined;

/**
 * The task as a message. `done` is the status table's "done" set (a blocker in one of these statuses is not
 * open); the built-in table's when not given.
 */
export function taskToMessage(
  row: TaskRow,
  done: readonly DbStatus[] = DEFAULT_STATUS_TRANSITIONS.done,
): Task {
  return create(TaskSchema, {
    name: taskName(row.id),
    uid: row.id,
    title: row.title,
    description: row.description ?? "",
    summary: row.summary ?? "",
    type: typeCodec.fromDb(row.type),
    category: row.category ?? "",
    priority: priorityCodec.fromDb(row.priority),
    status: statusCodec.fromDb(row.status),
    complexity: complexityCodec.fromDb(row.complexity),
    parent: row.parentId ? taskName(row.parentId) : "",
    epic: row.epicId ? taskName(row.epicId) : "",
    storyPoints: optionalNumber(row.storyPoints),
    businessValue: optionalNumber(row.businessValue),
    technicalDebtScore: optionalNumber(row.technicalDebtScore),
    riskLevel: optionalNumber(row.riskLevel),
    requirements: strings(row.requirements),
    acceptanceCriteria: strings(row.acceptanceCriteria),
    definitionOfDone: strings(row.definitionOfDone),
    testCriteria: strings(row.testCriteria),
    affectedFiles: strings(row.affectedFiles),
    affectedComponents: strings(row.affectedComponents),
    technicalNotes: row.technicalNotes ?? "",
    architectureNotes: row.architectureNotes ?? "",
    assignedTo: row.assignedTo ?? "",
    reporter: row.reporter ?? "",
    productOwner: row.productOwner ?? "",
    techLead: row.techLead ?? "",
    reviewer: row.reviewer ?? "",
    estimatedHours: optionalNumber(row.estimatedHours),
    actualHours: row.actualHours,
    remainingHours: optionalNumber(row.remainingHours),
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
    startTime: ts(row.startedAt),
    completeTime: ts(row.completedAt),
    dueTime: ts(row.dueDate),
    sprint: row.sprintId ? `sprints/${row.sprintId}` : "",
    release: row.releaseId ? `releases/${row.releaseId}` : "",
    milestone: row.milestoneId ? `milestones/${row.milestoneId}` : "",
    labels: row.labels,
    tags: row.tags,
    externalId: row.externalId ?? "",
    githubIssueUrl: row.githubIssueUrl ?? "",
    githubPrUrl: row.githubPrUrl ?? "",
    linearIssueId: row.linearIssueId ?? "",
    jiraKey: row.jiraKey ?? "",
    codeQualityScore: optionalNumber(row.codeQualityScore),
    testCoverageTarget: row.testCoverageTarget,
    performanceRequirements: row.performanceRequirements as JsonObject,
    securityRequirements: row.securityRequirements as JsonObject,
    automationLevel: row.automationLevel ?? "",
    ciCdPipeline: row.ciCdPipeline ?? "",
    deploymentStrategy: row.deploymentStrategy ?? "",
    metadata: row.metadata as JsonObject,
    customFields: row.customFields as JsonObject,
    deleteTime: ts(row.deletedAt),
    etag: taskEtag(row),
    ...(row.claimId !== null &&
      row.claimedBy !== null &&
      row.claimedAt !== null &&
      row.leaseExpiresAt !== null && {
        claim: create(TaskClaimSchema, {
          claimId: row.claimId,
          claimant: row.claimedBy,
          claimTime: timestampFromDate(row.claimedAt),
          leaseExpireTime: timestampFromDate(row.leaseExpiresAt),
        }),
      }),
    childCount: row.childCount,
    openBlockerCount: row.blockerStatuses.filter((s) => !done.includes(s)).length,
  });
}

const text = (value: string): string | null => (value.trim() === "" ? null : value);
const date = (value: Timestamp | undefined): Date | null =>
  value === undefined ? null : timestampDate(value);

/**
 * Writable fields of a validated create request. Resource references arrive already resolved to ids
 * (`refs`), since resolving them is validation's job.
 */
export function createInputFromMessage(
  task: Task,
  refs: {
    parentId: string | null;
    epicId: string | null;
    sprintId: string | null;
    releaseId: string | null;
    milestoneId: string | null;
  },
): CreateTaskInput {
  return {
    title: task.title.trim(),
    description: text(task.description),
    summary: text(task.summary),
    type: typeCodec.toDb(task.type) ?? "task",
    category: text(task.category),
    priority: priorityCodec.toDb(task.priority) ?? "medium",
    status: statusCodec.toDb(task.status) ?? "pending",
    complexity: complexityCodec.toDb(task.complexity) ?? "moderate",
    ...refs,
    storyPoints: task.storyPoints ?? null,
    businessValue: task.businessValue ?? null,
    technicalDebtScore: task.technicalDebtScore ?? null,
    riskLevel: task.riskLevel ?? null,
    requirements: task.requirements,
    acceptanceCriteria: task.acceptanceCriteria,
    definitionOfDone: task.definitionOfDone,
    testCriteria: task.testCriteria,
    affectedFiles: task.affectedFiles,
    affectedComponents: task.affectedComponents,
    technicalNotes: text(task.technicalNotes),
    architectureNotes: text(task.architectureNotes),
    assignedTo: text(task.assignedTo),
    reporter: text(task.reporter),
    productOwner: text(task.productOwner),
    techLead: text(task.techLead),
    reviewer: text(task.reviewer),
    estimatedHours: task.estimatedHours ?? null,
    remainingHours: task.remainingHours ?? null,
    dueDate: date(task.dueTime),
    labels: task.labels,
    tags: task.tags,
    externalId: text(task.externalId),
    githubIssueUrl: text(task.githubIssueUrl),
    githubPrUrl: text(task.githubPrUrl),
    linearIssueId: text(task.linearIssueId),
    jiraKey: text(task.jiraKey),
    codeQualityScore: task.codeQualityScore ?? null,
    ...(task.testCoverageTarget !== undefined && { testCoverageTarget: task.testCoverageTarget }),
    performanceRequirements: task.performanceRequirements ?? {},
    securityRequirements: task.securityRequirements ?? {},
    automationLevel: text(task.automationLevel),
    ciCdPipeline: text(task.ciCdPipeline),
    deploymentStrategy: text(task.deploymentStrategy),
    metadata: task.metadata ?? {},
    customFields: task.customFields ?? {},
  };
}

const PATH_KEYS: Record<string, keyof CreateTaskInput> = {
  epic: "epicId",
  sprint: "sprintId",
  release: "releaseId",
  milestone: "milestoneId",
  due_time: "dueDate",
};

/**
 * The row changes of an UpdateTask: the masked proto fields (already validated), each converted like on
 * create. A masked field absent from the message is cleared (nullable) or reset to its create default.
 */
export function patchFromMessage(
  task: Task,
  paths: readonly string[],
  refs: Parameters<typeof createInputFromMessage>[1],
): TaskPatch {
  const input = createInputFromMessage(task, refs) as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const path of paths) {
    const key = PATH_KEYS[path] ?? path.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    patch[key] = key === "testCoverageTarget" ? (task.testCoverageTarget ?? 80) : (input[key] ?? null);
  }
  return patch as TaskPatch;
}

/** What CreateTask would store (validate_only): the input with the database defaults filled in. */
export function previewRow(input: CreateTaskInput & { id: string }, now: Date): TaskRow {
  return {
    description: null,
    summary: null,
    type: "task",
    category: null,
    priority: "medium",
    status: "pending",
    complexity: "moderate",
    parentId: null,
    epicId: null,
    storyPoints: null,
    businessValue: null,
    technicalDebtScore: null,
    riskLevel: null,
    requirements: [],
    acceptanceCriteria: [],
    definitionOfDone: [],
    testCriteria: [],
    affectedFiles: [],
    affectedComponents: [],
    technicalNotes: null,
    architectureNotes: null,
    assignedTo: null,
    reporter: null,
    productOwner: null,
    techLead: null,
    reviewer: null,
    estimatedHours: null,
    remainingHours: null,
    startedAt: null,
    completedAt: null,
    dueDate: null,
    sprintId: null,
    releaseId: null,
    milestoneId: null,
    labels: [],
    tags: [],
    externalId: null,
    githubIssueUrl: null,
    githubPrUrl: null,
    linearIssueId: null,
    jiraKey: null,
    codeQualityScore: null,
    testCoverageTarget: 80,
    performanceRequirements: {},
    securityRequirements: {},
    automationLevel: null,
    ciCdPipeline: null,
    deploymentStrategy: null,
    metadata: {},
    customFields: {},
    ...input,
    actualHours: 0,
    createdAt: now,
    updatedAt: now,
    claimedBy: null,
    claimedAt: null,
    leaseExpiresAt: null,
    deletedAt: null,
    version: 1,
    childCount: 0,
    blockerStatuses: [],
    claimId: null,
  };
}
