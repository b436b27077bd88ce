/** Rows of the workflow repository -> `taskmaster.task.v1` history messages. */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { TASK_STATUSES } from "@taskmaster/persistence/value-sets";
import type { StatusChangeRow } from "@taskmaster/persistence/workflow.repository";
import {
  type StatusChange,
  StatusChangeSchema,
  type StatusTransitionRule,
  StatusTransitionRuleSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/history_pb";
import type { StatusTransitionTable } from "./status-transitions.js";
import { statusCodec } from "./task.mapper.js";
import { taskName } from "./task.names.js";

export function statusChangeName(taskId: string, id: string): string {
  return `${taskName(taskId)}/statusChanges/${id}`;
}

export function statusChangeToMessage(row: StatusChangeRow): StatusChange {
  return create(StatusChangeSchema, {
    name: statusChangeName(row.taskId, row.id),
    fromStatus: row.fromStatus === null ? 0 : statusCodec.fromDb(row.fromStatus),
    toStatus: statusCodec.fromDb(row.toStatus),
    changedBy: row.changedBy ?? "",
    reason: row.reason ?? "",
    forced: row.forced,
    changeTime: timestampFromDate(row.changedAt),
    timeInPreviousStatus:
      row.fromStatus === null || row.previousDurationMs === null
        ? undefined
        : durationFromMs(Math.max(0, Math.round(row.previousDurationMs))),
  });
}

export function transitionRules(table: StatusTransitionTable): StatusTransitionRule[] {
  return TASK_STATUSES.map((from) =>
    create(StatusTransitionRuleSchema, {
      fromStatus: statusCodec.fromDb(from),
      toStatuses: table.transitions[from].map((to) => statusCodec.fromDb(to)),
    }),
  );
}
