/**
 * TaskService time-log handlers: CreateTimeLog, GetTimeLog, ListTimeLogs, DeleteTimeLog, SummarizeTimeLogs.
 * A factory; one EntityManager fork per call. Creates/deletes recompute Task.actual_hours in the same
 * transaction and record `task.time_log` outbox events (repository).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type TimeLogGroupColumn,
  type TimeLogOrderField,
  TimeLogRepository,
} from "@taskmaster/persistence/time-log.repository";
import { TimeLogSummaryRowSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import {
  CreateTimeLogResponseSchema,
  DeleteTimeLogResponseSchema,
  GetTimeLogResponseSchema,
  ListTimeLogsResponseSchema,
  SummarizeTimeLogsResponseSchema,
  type TaskService,
  TimeLogGrouping,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { actor, changeContext } from "@taskmaster/rpc-kit/call-context";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import {
  type DialectListSpec,
  listQueryOf,
  parseListFilter,
  SUBRESOURCE_SYNTAX,
} from "@taskmaster/rpc-kit/list-filter";
import { taskName } from "./task.names.js";
import { timeLogToMessage } from "./time-log.mapper.js";
import {
  validateCreateTimeLog,
  validateListTimeLogs,
  validateSummarize,
  validateTimeLogName,
} from "./time-log.validation.js";
import { TASK_SCOPE_FIELDS } from "./workflow.filter.js";

export interface TimeLogHandlerDeps {
  readonly orm: MikroORM;
}

const TIME_LOGS: DialectListSpec<
  "user" | "log_date" | "sprint" | "billable" | "activity_type",
  TimeLogOrderField
> = {
  fields: {
    user: { kind: "string" },
    log_date: { kind: "date" },
    sprint: { kind: "name", pattern: "sprints/{sprint}" },
    billable: { kind: "bool" },
    activity_type: { kind: "string", maxLength: 50 },
  },
  syntax: SUBRESOURCE_SYNTAX,
  orderFields: ["log_date", "hours", "create_time"],
  defaultOrder: { field: "log_date", desc: true },
};

const GROUPS: Partial<Record<TimeLogGrouping, TimeLogGroupColumn>> = {
  [TimeLogGrouping.USER]: "user_id",
  [TimeLogGrouping.SPRINT]: "sprint_id",
  [TimeLogGrouping.TASK]: "task_id",
  [TimeLogGrouping.DATE]: "log_date",
};

function groupKeyName(group: TimeLogGrouping, key: string): string {
  if (key === "" || key === "-") return key;
  if (group === TimeLogGrouping.SPRINT) return `sprints/${key}`;
  if (group === TimeLogGrouping.TASK) return taskName(key);
  return key;
}

export function createTimeLogHandlers(
  deps: TimeLogHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  "createTimeLog" | "getTimeLog" | "listTimeLogs" | "deleteTimeLog" | "summarizeTimeLogs"
> {
  const repository = () => new TimeLogRepository(deps.orm.em.fork());

  return {
    async createTimeLog(req, ctx) {
      const valid = validateCreateTimeLog(req);
      const userId = valid.user ?? actor(ctx);
      if (userId === null) {
        throw new InvalidArgumentError([
          {
            field: "time_log.user",
            description: "is required when the call has no caller identity",
            reason: "REQUIRED",
          },
        ]);
      }
      const repo = repository();
      if (req.validateOnly) {
        if (!(await repo.taskExists(valid.taskId))) throw new NotFoundError("task", req.parent);
        return create(CreateTimeLogResponseSchema, {});
      }
      const outcome = await repo.create(
        {
          taskId: valid.taskId,
          userId,
          activityType: valid.activityType,
          description: valid.description,
          hours: valid.hours,
          logDate: valid.logDate,
          startedAt: valid.startedAt,
          endedAt: valid.endedAt,
          billable: valid.billable,
        },
        changeContext(ctx, req.requestId),
      );
      switch (outcome.kind) {
        case "ok":
          return create(CreateTimeLogResponseSchema, {
            timeLog: outcome.timeLog === null ? undefined : timeLogToMessage(outcome.timeLog),
            taskActualHours: outcome.actualHours,
          });
        case "task_deleted":
          throw new FailedPreconditionError(`task "${req.parent}" is deleted; undelete it first`, {
            reason: "RESOURCE_DELETED",
            metadata: { resource: "task", id: req.parent },
          });
        default:
          throw new NotFoundError("task", req.parent);
      }
    },

    async getTimeLog(req) {
      const { taskId, timeLogId } = validateTimeLogName(req.name);
      const row = await repository().get(taskId, timeLogId);
      if (row === null) throw new NotFoundError("time_log", req.name);
      return create(GetTimeLogResponseSchema, { timeLog: timeLogToMessage(row) });
    },

    async listTimeLogs(req) {
      const { taskId, pageSize } = validateListTimeLogs(req);
      const { orderBy, ...query } = listQueryOf(req, TIME_LOGS, {
        pageSize,
        binding: (order) => ["time_logs", req.parent, req.filter, order.field, order.desc],
      });
      const repo = repository();
      if (taskId !== null && !(await repo.taskExists(taskId))) throw new NotFoundError("task", req.parent);
      const page = await repo.list({
        taskId,
        ...query,
        order: orderBy.field,
        descending: orderBy.desc,
      });
      return create(ListTimeLogsResponseSchema, {
        timeLogs: page.items.map(timeLogToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async deleteTimeLog(req, ctx) {
      const { taskId, timeLogId } = validateTimeLogName(req.name);
      const outcome = await repository().delete(taskId, timeLogId, changeContext(ctx));
      if (outcome.kind !== "ok") throw new NotFoundError("time_log", req.name);
      return create(DeleteTimeLogResponseSchema, { taskActualHours: outcome.actualHours });
    },

    async summarizeTimeLogs(req) {
      const { startDate, endDate, sprintId } = validateSummarize(req);
      const taskConditions = parseListFilter(req.taskFilter, TASK_SCOPE_FIELDS, {
        requestField: "task_filter",
        syntax: SUBRESOURCE_SYNTAX,
      });
      const repo = repository();
      if (sprintId !== null && !(await repo.sprintExists(sprintId)))
        throw new NotFoundError("sprint", req.sprint);
      const rows = await repo.summarize({
        startDate,
        endDate,
        users: req.users,
        sprintId,
        taskConditions,
        billableOnly: req.billableOnly,
        groupBy: GROUPS[req.groupBy] ?? null,
      });
      return create(SummarizeTimeLogsResponseSchema, {
        rows: rows.map((r) =>
          create(TimeLogSummaryRowSchema, {
            groupKey: groupKeyName(req.groupBy, r.groupKey),
            hours: r.hours,
            billableHours: r.billableHours,
            entryCount: r.entryCount,
          }),
        ),
      });
    },
  };
}
