/** Request validation for workflow RPCs (and the etag/NUL helpers the comment and time-log slices share). */

import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { TaskStatusSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type {
  GetEstimateAccuracyReportRequest,
  GetTimeInStatusReportRequest,
  ListStatusHistoryRequest,
  TransitionTaskStatusRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { EstimateGroupingSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { Validator } from "@taskmaster/rpc-kit/validation";
import { validator } from "@taskmaster/rpc-kit/validation";
import { SPRINT_PATTERN, TASK_PATTERN } from "./task.names.js";

const ETAG = /^W\/"([1-9][0-9]{0,9})"$/;

/** The version an etag `W/"<version>"` names; null when empty; a violation when malformed. */
export function etagVersion(v: Validator, field: string, etag: string): number | null {
  if (etag === "") return null;
  const m = ETAG.exec(etag);
  if (!m) {
    v.add(field, 'must be an etag returned by the service, e.g. W/"3"', "INVALID_ETAG");
    return null;
  }
  return Number(m[1]);
}

/** PostgreSQL text cannot hold U+0000. */
export function noNul(v: Validator, field: string, value: string): void {
  if (value.includes("\0") && !v.has(field)) {
    v.add(field, "must not contain NUL (U+0000) characters", "INVALID_CHARACTER");
  }
}

/** A task name, or "tasks/-" (all tasks) when `allowWildcard`: the id, or null for the wildcard. */
export function taskParent(v: Validator, field: string, name: string, allowWildcard: boolean): string | null {
  if (allowWildcard && name === "tasks/-") return null;
  return v.resourceName(field, TASK_PATTERN, name) ?? null;
}

export function validateTransition(req: TransitionTaskStatusRequest): {
  taskId: string;
  expectedVersion: number | null;
  reason: string | null;
} {
  const v = validator();
  const taskId = v.resourceName("name", TASK_PATTERN, req.name);
  v.enumDefined("status", req.status, TaskStatusSchema);
  v.maxLength("reason", req.reason, 2_000);
  noNul(v, "reason", req.reason);
  if (req.force) {
    if (v.required("force_reason", req.forceReason))
      v.length("force_reason", req.forceReason.trim(), 5, 2_000);
    noNul(v, "force_reason", req.forceReason);
  } else if (req.forceReason !== "") {
    v.add("force_reason", "is only allowed together with force", "NOT_ALLOWED");
  }
  const expectedVersion = etagVersion(v, "etag", req.etag);
  v.uuid("request_id", req.requestId);
  v.check();
  const parts = [req.reason.trim(), req.force ? `forced: ${req.forceReason.trim()}` : ""].filter(
    (s) => s !== "",
  );
  return { taskId: taskId as string, expectedVersion, reason: parts.length ? parts.join(" | ") : null };
}

export function validateListStatusHistory(req: ListStatusHistoryRequest): {
  taskId: string | null;
  pageSize: number;
} {
  const v = validator();
  const taskId = taskParent(v, "parent", req.parent, true);
  const pageSize = v.pageSize("page_size", req.pageSize);
  v.maxLength("filter", req.filter, 2_000);
  v.maxLength("page_token", req.pageToken, 1_000);
  v.check();
  return { taskId, pageSize };
}

function timeRange(
  v: Validator,
  field: string,
  range: { startTime?: Timestamp; endTime?: Timestamp } | undefined,
): { start: Date | null; end: Date | null } {
  const start = range?.startTime ? timestampDate(range.startTime) : null;
  const end = range?.endTime ? timestampDate(range.endTime) : null;
  if (start && end && start >= end) {
    v.add(`${field}.end_time`, "must be after start_time", "INVALID_RANGE");
  }
  return { start, end };
}

export type ReportScope =
  | { kind: "task"; id: string }
  | { kind: "sprint"; id: string }
  | { kind: "filter"; filter: string };

export function validateTimeInStatus(req: GetTimeInStatusReportRequest): {
  scope: ReportScope;
  start: Date | null;
  end: Date | null;
} {
  const v = validator();
  let scope: ReportScope = { kind: "filter", filter: "" };
  switch (req.scope.case) {
    case "task":
      scope = { kind: "task", id: v.resourceName("task", TASK_PATTERN, req.scope.value) ?? "" };
      break;
    case "sprint":
      scope = { kind: "sprint", id: v.resourceName("sprint", SPRINT_PATTERN, req.scope.value) ?? "" };
      break;
    case "filter":
      v.maxLength("filter", req.scope.value, 2_000);
      scope = { kind: "filter", filter: req.scope.value };
      break;
    default:
      v.add("scope", "exactly one of task, sprint or filter is required", "REQUIRED");
  }
  const { start, end } = timeRange(v, "time_range", req.timeRange);
  v.check();
  return { scope, start, end };
}

export function validateEstimateAccuracy(req: GetEstimateAccuracyReportRequest): {
  start: Date | null;
  end: Date | null;
} {
  const v = validator();
  v.maxLength("filter", req.filter, 2_000);
  v.enumDefined("group_by", req.groupBy, EstimateGroupingSchema, { allowUnspecified: true });
  const { start, end } = timeRange(v, "time_range", req.timeRange);
  v.check();
  return { start, end };
}
