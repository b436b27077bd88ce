/** Outbox rows -> `TaskChangeEvent` messages. */
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { OutboxEventRow } from "@taskmaster/persistence/outbox.repository";
import type { TaskStatus as DbStatus } from "@taskmaster/persistence/value-sets";
import { ActorSchema, ActorType } from "@taskmaster/proto/gen/taskmaster/common/v1/actor_pb";
import { ChangeEventHeaderSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/change_pb";
import {
  type TaskChangeEvent,
  TaskChangeEventSchema,
  TaskEventKind,
} from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import { TaskSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { commentToMessage } from "./comment.mapper.js";
import { statusCodec, taskToMessage } from "./task.mapper.js";
import { taskName } from "./task.names.js";
import { timeLogToMessage } from "./time-log.mapper.js";

export const KIND_BY_DB: Readonly<Record<string, TaskEventKind>> = {
  "task.created": TaskEventKind.CREATED,
  "task.updated": TaskEventKind.UPDATED,
  "task.status_changed": TaskEventKind.STATUS_CHANGED,
  "task.deleted": TaskEventKind.DELETED,
  "task.undeleted": TaskEventKind.UNDELETED,
  "task.moved": TaskEventKind.MOVED,
  "task.comment": TaskEventKind.COMMENT,
  "task.time_log": TaskEventKind.TIME_LOG,
  "task.relationship": TaskEventKind.RELATIONSHIP,
  "task.claim": TaskEventKind.CLAIM,
  "task.attachment": TaskEventKind.ATTACHMENT,
};

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function relatedResource(row: OutboxEventRow): string {
  const p = row.payload;
  const base = taskName(row.taskId);
  const attachment = str(p.attachmentId);
  if (attachment) return `${base}/attachments/${attachment}`;
  const comment = str(p.commentId);
  if (comment) return `${base}/comments/${comment}`;
  const timeLog = str(p.timeLogId);
  if (timeLog) return `${base}/timeLogs/${timeLog}`;
  const relationship = str(p.relationshipId);
  if (relationship) return `${base}/relationships/${relationship}`;
  return "";
}

/** Row keys (persistence names) whose proto field is not their snake_case form. */
const ROW_KEY_PATHS: Readonly<Record<string, string>> = {
  parentId: "parent",
  epicId: "epic",
  sprintId: "sprint",
  releaseId: "release",
  milestoneId: "milestone",
  dueDate: "due_time",
  startedAt: "start_time",
  completedAt: "complete_time",
  createdAt: "create_time",
  updatedAt: "update_time",
  deletedAt: "delete_time",
};

/** Every spelling of a Task field (proto name, JSON name, TypeScript name) -> its proto name. */
const TASK_PATHS = new Map<string, string>(
  TaskSchema.fields.flatMap((f) => [
    [f.name, f.name],
    [f.jsonName, f.name],
    [f.localName, f.name],
  ]),
);

/**
 * A stored changed-field name as a FieldMask path: proto field names (`story_points`), as FieldMask requires
 * (its JSON form is only defined for them). Outbox rows written before this held row keys (`storyPoints`).
 */
export function changedFieldPath(stored: string): string {
  return (
    TASK_PATHS.get(ROW_KEY_PATHS[stored] ?? stored) ?? stored.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  );
}

/**
 * One outbox row as an event. `done` is the status table's done set (for the snapshot's open blocker count).
 */
export function eventToMessage(row: OutboxEventRow, done?: readonly DbStatus[]): TaskChangeEvent {
  const p = row.payload;
  const fields = Array.isArray(p.fields)
    ? p.fields.filter((f): f is string => typeof f === "string").map(changedFieldPath)
    : [];
  const from = str(p.from);
  const to = str(p.to);
  const kind = KIND_BY_DB[row.kind] ?? TaskEventKind.UNSPECIFIED;
  return create(TaskChangeEventSchema, {
    header: create(ChangeEventHeaderSchema, {
      eventId: row.eventId,
      resumeToken: row.id,
      sequence: BigInt(row.id),
      eventTime: timestampFromDate(row.createdAt),
      ...(row.actor !== null && {
        actor: create(ActorSchema, {
          subject: row.actor,
          type: row.actor === "system" ? ActorType.SYSTEM : ActorType.USER,
        }),
      }),
      requestId: row.requestId ?? "",
      traceId: row.traceId ?? "",
    }),
    kind,
    task: taskName(row.taskId),
    ...(row.task !== null && { taskSnapshot: taskToMessage(row.task, done) }),
    ...(kind === TaskEventKind.UPDATED &&
      fields.length > 0 && { changedFields: create(FieldMaskSchema, { paths: fields }) }),
    ...(kind === TaskEventKind.STATUS_CHANGED &&
      from !== undefined && { oldStatus: statusCodec.fromDb(from as DbStatus) }),
    ...(kind === TaskEventKind.STATUS_CHANGED &&
      to !== undefined && { newStatus: statusCodec.fromDb(to as DbStatus) }),
    ...(kind === TaskEventKind.COMMENT && row.comment !== null && { comment: commentToMessage(row.comment) }),
    ...(kind === TaskEventKind.TIME_LOG &&
      row.timeLog !== null && { timeLog: timeLogToMessage(row.timeLog) }),
    relatedResource: relatedResource(row),
  });
}
