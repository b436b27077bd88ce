/** Time log rows -> `taskmaster.task.v1.TimeLog` messages; google.type.Date helpers. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { TimeLogRow } from "@taskmaster/persistence/time-log.repository";
import { type Date as DateMessage, DateSchema } from "@taskmaster/proto/gen/google/type/date_pb";
import { type TimeLog, TimeLogSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import { taskName } from "./task.names.js";

export const TIME_LOG_PATTERN = "tasks/{task}/timeLogs/{time_log}";

export function timeLogName(taskId: string, id: string): string {
  return `${taskName(taskId)}/timeLogs/${id}`;
}

/** `YYYY-MM-DD` -> google.type.Date. */
export function dateMessage(isoDate: string): DateMessage {
  const [y, m, d] = isoDate.split("-").map(Number);
  return create(DateSchema, { year: y ?? 0, month: m ?? 0, day: d ?? 0 });
}

/** google.type.Date -> `YYYY-MM-DD` (no validation). */
export function isoDate(date: Pick<DateMessage, "year" | "month" | "day">): string {
  return `${String(date.year).padStart(4, "0")}-${String(date.month).padStart(2, "0")}-${String(date.day).padStart(2, "0")}`;
}

export function timeLogToMessage(row: TimeLogRow): TimeLog {
  return create(TimeLogSchema, {
    name: timeLogName(row.taskId, row.id),
    uid: row.id,
    user: row.userId,
    activityType: row.activityType,
    description: row.description ?? "",
    hours: row.hours,
    logDate: dateMessage(row.logDate),
    startTime: row.startedAt === null ? undefined : timestampFromDate(row.startedAt),
    endTime: row.endedAt === null ? undefined : timestampFromDate(row.endedAt),
    billable: row.billable,
    sprint: row.sprintId === null ? "" : `sprints/${row.sprintId}`,
    createTime: timestampFromDate(row.createdAt),
  });
}
