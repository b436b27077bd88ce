/** Request validation for time-log RPCs: every violation at once (INVALID_ARGUMENT with field violations). */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { TimeLogActivityType } from "@taskmaster/persistence/value-sets";
import type { Date as DateMessage } from "@taskmaster/proto/gen/google/type/date_pb";
import {
  type CreateTimeLogRequest,
  type ListTimeLogsRequest,
  type SummarizeTimeLogsRequest,
  TimeLogGroupingSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { parseResourceName, type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { SPRINT_PATTERN, TASK_PATTERN } from "./task.names.js";
import { isoDate, TIME_LOG_PATTERN } from "./time-log.mapper.js";
import { noNul, taskParent } from "./workflow.validation.js";

/** Today's date in UTC, `YYYY-MM-DD` (the contract's server time zone). */
export function utcToday(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** A valid calendar date as `YYYY-MM-DD`, or a violation. */
function calendarDate(
  v: Validator,
  field: string,
  date: DateMessage | undefined,
  required: boolean,
): string | null {
  if (date === undefined) {
    if (required) v.add(field, "is required", "REQUIRED");
    return null;
  }
  const iso = isoDate(date);
  const parsed = new Date(`${iso}T00:00:00Z`);
  if (
    date.year < 1 ||
    date.year > 9999 ||
    Number.isNaN(parsed.getTime()) ||
    parsed.toISOString().slice(0, 10) !== iso
  ) {
    v.add(field, "must be a valid calendar date (year, month and day all set)", "INVALID_DATE");
    return null;
  }
  return iso;
}

export function timeLogIds(
  v: Validator,
  field: string,
  name: string,
): { taskId: string; timeLogId: string } | null {
  if (!v.required(field, name)) return null;
  const parsed = parseResourceName(TIME_LOG_PATTERN, name);
  if (!parsed.ok) {
    v.add(field, parsed.description, "INVALID_RESOURCE_NAME");
    return null;
  }
  return { taskId: parsed.ids.task as string, timeLogId: parsed.ids.time_log as string };
}

export interface ValidTimeLog {
  taskId: string;
  user: string | null;
  activityType: TimeLogActivityType;
  description: string | null;
  hours: number;
  logDate: string;
  startedAt: Date | null;
  endedAt: Date | null;
  billable: boolean;
}

export function validateCreateTimeLog(req: CreateTimeLogRequest, now: Date = new Date()): ValidTimeLog {
  const v = validator();
  const taskId = v.resourceName("parent", TASK_PATTERN, req.parent);
  let out: Omit<ValidTimeLog, "taskId"> | null = null;
  if (v.required("time_log", req.timeLog) && req.timeLog) {
    const t = req.timeLog;
    const f = (name: string) => `time_log.${name}`;
    v.maxLength(f("user"), t.user, 255);
    if (t.user !== "" && t.user.trim() === "") v.add(f("user"), "must not be blank", "REQUIRED");
    noNul(v, f("user"), t.user);
    const activity = t.activityType === "" ? "development" : t.activityType;
    // Free text, 1-50 characters; empty means the default "development".
    v.length(f("activity_type"), t.activityType, 0, 50);
    if (t.activityType !== "" && t.activityType.trim() === "") {
      v.add(f("activity_type"), "must not be blank", "REQUIRED");
    }
    noNul(v, f("activity_type"), t.activityType);
    v.maxLength(f("description"), t.description, 2_000);
    noNul(v, f("description"), t.description);
    const hours = Math.round(t.hours * 100) / 100;
    if (!Number.isFinite(t.hours) || !(t.hours > 0) || t.hours > 24) {
      v.add(f("hours"), `must be > 0 and <= 24 (got ${t.hours})`, "OUT_OF_RANGE");
    } else if (hours <= 0) {
      v.add(f("hours"), "must be at least 0.01 (hours are kept to two decimals)", "OUT_OF_RANGE");
    }
    const logDate = calendarDate(v, f("log_date"), t.logDate, true);
    if (logDate !== null && logDate > utcToday(now)) {
      v.add(f("log_date"), `must not be in the future (today is ${utcToday(now)} UTC)`, "FUTURE_DATE");
    }
    const startedAt = t.startTime ? timestampDate(t.startTime) : null;
    const endedAt = t.endTime ? timestampDate(t.endTime) : null;
    if ((startedAt === null) !== (endedAt === null)) {
      v.add(
        startedAt === null ? f("start_time") : f("end_time"),
        "set both start_time and end_time, or neither",
        "REQUIRED",
      );
    } else if (startedAt !== null && endedAt !== null && endedAt <= startedAt) {
      v.add(f("end_time"), "must be after start_time", "INVALID_RANGE");
    }
    if (t.sprint !== "") v.add(f("sprint"), "is output only", "OUTPUT_ONLY");
    out = {
      user: t.user === "" ? null : t.user,
      activityType: activity satisfies TimeLogActivityType,
      description: t.description === "" ? null : t.description,
      hours,
      logDate: logDate ?? "",
      startedAt,
      endedAt,
      billable: t.billable,
    };
  }
  v.uuid("request_id", req.requestId);
  v.check();
  return { taskId: taskId as string, ...(out as Omit<ValidTimeLog, "taskId">) };
}

export function validateTimeLogName(name: string): { taskId: string; timeLogId: string } {
  const v = validator();
  const ids = timeLogIds(v, "name", name);
  v.check();
  return ids as { taskId: string; timeLogId: string };
}

export function validateListTimeLogs(req: ListTimeLogsRequest): { taskId: string | null; pageSize: number } {
  const v = validator();
  const taskId = taskParent(v, "parent", req.parent, true);
  const pageSize = v.pageSize("page_size", req.pageSize);
  v.maxLength("filter", req.filter, 2_000);
  v.maxLength("page_token", req.pageToken, 1_000);
  v.check();
  return { taskId, pageSize };
}

export function validateSummarize(
  req: SummarizeTimeLogsRequest,
  now: Date = new Date(),
): { startDate: string | null; endDate: string; sprintId: string | null } {
  const v = validator();
  const startDate = calendarDate(v, "start_date", req.startDate, false);
  const endDate = calendarDate(v, "end_date", req.endDate, false) ?? utcToday(now);
  if (startDate !== null && !v.has("end_date") && startDate > endDate) {
    v.add("end_date", "must not be before start_date", "INVALID_RANGE");
  }
  if (req.users.length > 100) v.add("users", "must have at most 100 items", "TOO_MANY_ITEMS");
  else for (const [i, u] of req.users.entries()) v.length(`users[${i}]`, u, 1, 255);
  const sprintId = req.sprint === "" ? null : (v.resourceName("sprint", SPRINT_PATTERN, req.sprint) ?? null);
  v.maxLength("task_filter", req.taskFilter, 2_000);
  v.enumDefined("group_by", req.groupBy, TimeLogGroupingSchema, { allowUnspecified: true });
  v.check();
  return { startDate, endDate, sprintId };
}
