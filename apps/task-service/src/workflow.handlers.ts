/**
 * TaskService workflow handlers: TransitionTaskStatus, GetStatusTransitions, ListStatusHistory,
 * GetTimeInStatusReport and GetEstimateAccuracyReport. A factory; one EntityManager fork per call.
 */

import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { TaskRow } from "@taskmaster/persistence/task.repository";
import type { TaskStatus } from "@taskmaster/persistence/value-sets";
import {
  type EstimateGroupColumn,
  type TaskScope,
  WorkflowRepository,
} from "@taskmaster/persistence/workflow.repository";
import {
  EstimateAccuracyRowSchema,
  StatusTransitionDetailSchema,
  TimeInStatusEntrySchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/history_pb";
import { TaskStatus as TaskStatusEnum } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import {
  EstimateGrouping,
  GetEstimateAccuracyReportResponseSchema,
  GetStatusTransitionsResponseSchema,
  GetTimeInStatusReportResponseSchema,
  ListStatusHistoryResponseSchema,
  type TaskService,
  TransitionTaskStatusResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import {
  type DialectListSpec,
  listQueryOf,
  parseListFilter,
  SUBRESOURCE_SYNTAX,
} from "@taskmaster/rpc-kit/list-filter";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { statusCodec, taskToMessage } from "./task.mapper.js";
import { taskName } from "./task.names.js";
import { TASK_SCOPE_FIELDS, TASK_STATUS_FIELD } from "./workflow.filter.js";
import { statusChangeToMessage, transitionRules } from "./workflow.mapper.js";
import {
  type ReportScope,
  validateEstimateAccuracy,
  validateListStatusHistory,
  validateTimeInStatus,
  validateTransition,
} from "./workflow.validation.js";

export interface WorkflowHandlerDeps {
  readonly orm: MikroORM;
  /** Transition table override (object or JSON); default: the built-in one. */
  readonly statusTransitions?: StatusTransitionTable | string | undefined;
}

/** FAILED_PRECONDITION carrying a `StatusTransitionDetail` next to ErrorInfo (and PreconditionFailure). */
export class StatusTransitionError extends FailedPreconditionError {
  constructor(
    message: string,
    reason: "ILLEGAL_STATUS_TRANSITION" | "OPEN_BLOCKERS",
    readonly detailValue: MessageInitShape<typeof StatusTransitionDetailSchema>,
  ) {
    super(message, { reason });
  }
  protected override extraDetails(): { desc: DescMessage; value: MessageInitShape<DescMessage> }[] {
    return [
      ...super.extraDetails(),
      {
        desc: StatusTransitionDetailSchema,
        value: create(StatusTransitionDetailSchema, this.detailValue) as MessageInitShape<DescMessage>,
      },
    ];
  }
}

const HISTORY: DialectListSpec<
  "from_status" | "to_status" | "changed_by" | "change_time" | "forced",
  "change_time"
> = {
  fields: {
    from_status: TASK_STATUS_FIELD,
    to_status: TASK_STATUS_FIELD,
    changed_by: { kind: "string" },
    change_time: { kind: "timestamp" },
    forced: { kind: "bool" },
  },
  syntax: SUBRESOURCE_SYNTAX,
  orderFields: ["change_time"],
  defaultOrder: { field: "change_time", desc: false },
};

const statusName = (s: TaskStatus) => TaskStatusEnum[statusCodec.fromDb(s)] ?? s;

/** A ListTasks filter (comparison subset) as a report scope. */
export function taskFilterScope(filter: string): TaskScope {
  return {
    kind: "filter",
    conditions: parseListFilter(filter, TASK_SCOPE_FIELDS, { syntax: SUBRESOURCE_SYNTAX }),
  };
}

const GROUP_COLUMNS: Partial<Record<EstimateGrouping, EstimateGroupColumn>> = {
  [EstimateGrouping.ASSIGNEE]: "assigned_to",
  [EstimateGrouping.TYPE]: "type",
  [EstimateGrouping.SPRINT]: "sprint_id",
  [EstimateGrouping.EPIC]: "epic_id",
  [EstimateGrouping.COMPLEXITY]: "complexity",
};

function groupKeyName(group: EstimateGrouping, key: string): string {
  if (key === "" || key === "-") return key;
  switch (group) {
    case EstimateGrouping.SPRINT:
      return `sprints/${key}`;
    case EstimateGrouping.EPIC:
      return taskName(key);
    case EstimateGrouping.TYPE:
      return `TASK_TYPE_${key.toUpperCase()}`;
    case EstimateGrouping.COMPLEXITY:
      return `TASK_COMPLEXITY_${key.toUpperCase()}`;
    default:
      return key;
  }
}

export function createWorkflowHandlers(
  deps: WorkflowHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  | "transitionTaskStatus"
  | "getStatusTransitions"
  | "listStatusHistory"
  | "getTimeInStatusReport"
  | "getEstimateAccuracyReport"
> {
  // Validated once, at server construction: a bad override fails start-up.
  const table = resolveStatusTransitions(deps.statusTransitions);
  const toMessage = (row: TaskRow) => taskToMessage(row, table.done);
  const repository = () => new WorkflowRepository(deps.orm.em.fork());

  async function resolveScope(repo: WorkflowRepository, scope: ReportScope): Promise<TaskScope> {
    if (scope.kind === "task") {
      if (!(await repo.taskExists(scope.id))) throw new NotFoundError("task", taskName(scope.id));
      return scope;
    }
    if (scope.kind === "sprint") {
      if (!(await repo.sprintExists(scope.id))) throw new NotFoundError("sprint", `sprints/${scope.id}`);
      return scope;
    }
    return taskFilterScope(scope.filter);
  }

  return {
    async transitionTaskStatus(req, ctx) {
      const { taskId, expectedVersion, reason } = validateTransition(req);
      const to = statusCodec.toDb(req.status) as TaskStatus;
      const outcome = await repository().transition(
        {
          taskId,
          to,
          reason,
          force: req.force,
          expectedVersion,
          allowed: (from) => table.transitions[from],
          doneStatuses: table.done,
        },
        changeContext(ctx, req.requestId),
      );
      const name = taskName(taskId);
      switch (outcome.kind) {
        case "ok":
          return create(TransitionTaskStatusResponseSchema, {
            task: toMessage(outcome.task),
            statusChange: statusChangeToMessage(outcome.change),
          });
        case "not_found":
          throw new NotFoundError("task", name);
        case "deleted":
          throw new FailedPreconditionError(`task "${name}" is deleted; undelete it first`, {
            reason: "RESOURCE_DELETED",
            metadata: { resource: "task", id: name },
          });
        case "stale":
          throw new StaleEtagError("task", name);
        case "same_status":
          throw new InvalidArgumentError([
            {
              field: "status",
              description: `must differ from the current status ${statusName(outcome.from)}`,
              reason: "SAME_STATUS",
            },
          ]);
        case "illegal":
          throw new StatusTransitionError(
            `task "${name}" cannot go from ${statusName(outcome.from)} to ${statusName(to)}; allowed: ${
              outcome.allowed.map(statusName).join(", ") || "none"
            } (or use force with a force_reason)`,
            "ILLEGAL_STATUS_TRANSITION",
            {
              fromStatus: statusCodec.fromDb(outcome.from),
              toStatus: req.status,
              allowedStatuses: outcome.allowed.map((s) => statusCodec.fromDb(s)),
            },
          );
        case "blocked":
          throw new StatusTransitionError(
            `task "${name}" has ${outcome.blockers.length} open blocker(s); finish them or use force with a force_reason`,
            "OPEN_BLOCKERS",
            {
              fromStatus: statusCodec.fromDb(outcome.from),
              toStatus: req.status,
              allowedStatuses: outcome.allowed.map((s) => statusCodec.fromDb(s)),
              openBlockers: outcome.blockers.map(taskName),
            },
          );
      }
    },

    async getStatusTransitions() {
      return create(GetStatusTransitionsResponseSchema, {
        rules: transitionRules(table),
        doneStatuses: table.done.map((s) => statusCodec.fromDb(s)),
      });
    },

    async listStatusHistory(req) {
      const { taskId, pageSize } = validateListStatusHistory(req);
      const { orderBy, ...query } = listQueryOf(req, HISTORY, {
        pageSize,
        binding: (order) => ["history", req.parent, req.filter, order.desc],
      });
      const repo = repository();
      if (taskId !== null && !(await repo.taskExists(taskId))) {
        throw new NotFoundError("task", taskName(taskId));
      }
      const page = await repo.listHistory({
        taskId,
        ...query,
        descending: orderBy.desc,
      });
      return create(ListStatusHistoryResponseSchema, {
        statusChanges: page.items.map(statusChangeToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async getTimeInStatusReport(req) {
      const { scope, start, end } = validateTimeInStatus(req);
      const repo = repository();
      const report = await repo.timeInStatus({
        scope: await resolveScope(repo, scope),
        rangeStart: start,
        rangeEnd: end,
      });
      return create(GetTimeInStatusReportResponseSchema, {
        taskCount: report.taskCount,
        entries: report.entries.map((e) =>
          create(TimeInStatusEntrySchema, {
            status: statusCodec.fromDb(e.status),
            totalDuration: durationFromMs(Math.round(e.totalMs)),
            meanDuration: durationFromMs(e.entryCount === 0 ? 0 : Math.round(e.totalMs / e.entryCount)),
            entryCount: e.entryCount,
          }),
        ),
      });
    },

    async getEstimateAccuracyReport(req) {
      const { start, end } = validateEstimateAccuracy(req);
      // Default scope: completed tasks.
      const scope = taskFilterScope(req.filter.trim() === "" ? "status = COMPLETED" : req.filter);
      const rows = await repository().estimateAccuracy({
        scope,
        groupBy: GROUP_COLUMNS[req.groupBy] ?? null,
        completedFrom: start,
        completedTo: end,
      });
      return create(GetEstimateAccuracyReportResponseSchema, {
        rows: rows.map((r) =>
          create(EstimateAccuracyRowSchema, {
            groupKey: groupKeyName(req.groupBy, r.groupKey),
            taskCount: r.taskCount,
            estimatedHours: r.estimatedHours,
            actualHours: r.actualHours,
            actualToEstimateRatio: r.estimatedHours === 0 ? 0 : r.actualHours / r.estimatedHours,
            meanAbsoluteErrorHours: r.meanAbsoluteErrorHours,
          }),
        ),
      });
    },
  };
}
