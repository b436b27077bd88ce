/**
 * Task helpers for the seed's operations and the CLI: plain objects in (short enum names such as
 * `type: 'feature'`, `Date`s, hours as numbers), generated messages out. Everything else is on `tm.task`.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { TimeLog } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import type { TaskChangeEvent } from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import {
  type Task,
  TaskComplexity,
  TaskComplexitySchema,
  TaskPriority,
  TaskPrioritySchema,
  TaskSchema,
  TaskStatus,
  TaskStatusSchema,
  TaskType,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type {
  ListTasksRequestSchema,
  ListTasksResponse,
  SearchTaskResult,
  SearchTasksRequestSchema,
  SearchTasksResponse,
  TaskService,
  WatchTasksRequestSchema,
  WorkSelectorSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type EnumInput, enumValue } from "./enums.js";
import { names } from "./names.js";
import { paginate } from "./paginate.js";
import { type WatchOptions, watchTasks } from "./watch.js";

type TaskInit = MessageInitShape<typeof TaskSchema>;

/** A task as people write it: enums by short name (`'feature'`, `'high'`), `dueTime` as a Date. */
export type TaskInput = Omit<
  TaskInit,
  "type" | "priority" | "status" | "complexity" | "dueTime" | "$typeName"
> & {
  type?: EnumInput<typeof TaskType>;
  priority?: EnumInput<typeof TaskPriority>;
  status?: EnumInput<typeof TaskStatus>;
  complexity?: EnumInput<typeof TaskComplexity>;
  dueTime?: Date;
};

export interface TimeLogInput {
  hours: number;
  /** What was done (stored as the log's description). */
  activity?: string;
  /** A category such as `development`, `review` (the log's activity_type). */
  activityType?: string;
  /** The day worked (default today, UTC). */
  date?: Date;
  user?: string;
  billable?: boolean;
}

/** `tasks/{id}` or the id alone, or a task message. */
export type TaskRef = string | { name: string };

const taskName = (ref: TaskRef) => names.task(typeof ref === "string" ? ref : ref.name);

/** Converts people's input into a Task message (throws TypeError on an unknown enum name). */
export function toTask(input: TaskInput): Task {
  const { type, priority, status, complexity, dueTime, ...rest } = input;
  return create(TaskSchema, {
    ...rest,
    type: enumValue<TaskType>(TaskTypeSchema, type) ?? TaskType.UNSPECIFIED,
    priority: enumValue<TaskPriority>(TaskPrioritySchema, priority) ?? TaskPriority.UNSPECIFIED,
    status: enumValue<TaskStatus>(TaskStatusSchema, status) ?? TaskStatus.UNSPECIFIED,
    complexity: enumValue<TaskComplexity>(TaskComplexitySchema, complexity) ?? TaskComplexity.UNSPECIFIED,
    ...(dueTime ? { dueTime: timestampFromDate(dueTime) } : {}),
  });
}

/** The update mask (snake_case paths, from the descriptor) naming exactly the fields given. */
export function maskOf(input: TaskInput): string[] {
  return Object.keys(input).map((key) => {
    const field = TaskSchema.fields.find((f) => f.localName === key);
    if (field === undefined) throw new TypeError(`Task has no field "${key}"`);
    return field.name;
  });
}

export function createTaskHelpers(client: Client<typeof TaskService>) {
  return {
    async create(input: TaskInput, options: { id?: string; validateOnly?: boolean } = {}): Promise<Task> {
      const res = await client.createTask({
        task: toTask(input),
        taskId: options.id ?? "",
        validateOnly: options.validateOnly ?? false,
      });
      return res.task as Task;
    },
    async get(ref: TaskRef): Promise<Task> {
      return (await client.getTask({ name: taskName(ref) })).task as Task;
    },
    /** Changes only the fields given; `etag` (from a task you read) makes it fail on concurrent change. */
    async update(ref: TaskRef, fields: TaskInput, etag = ""): Promise<Task> {
      const task = toTask({ ...fields, name: taskName(ref), etag });
      return (await client.updateTask({ task, updateMask: { paths: maskOf(fields) } })).task as Task;
    },
    /** The workflow transition (`'in_progress'`, `'review'`, `'completed'`, ...). */
    async setStatus(ref: TaskRef, status: EnumInput<typeof TaskStatus>, reason = ""): Promise<Task> {
      const value = enumValue<TaskStatus>(TaskStatusSchema, status) ?? TaskStatus.UNSPECIFIED;
      return (await client.transitionTaskStatus({ name: taskName(ref), status: value, reason })).task as Task;
    },
    async logTime(ref: TaskRef, log: TimeLogInput): Promise<TimeLog> {
      const day = log.date ?? new Date();
      const res = await client.createTimeLog({
        parent: taskName(ref),
        timeLog: {
          hours: log.hours,
          description: log.activity ?? "",
          activityType: log.activityType ?? "",
          user: log.user ?? "",
          billable: log.billable ?? false,
          logDate: { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate() },
        },
      });
      return res.timeLog as TimeLog;
    },
    /** Every task matching the request, page after page (`filter`, `orderBy` as in the API guide). */
    list(
      request: MessageInitShape<typeof ListTasksRequestSchema> = {},
    ): AsyncGenerator<Task, void, undefined> {
      return paginate(
        (r) => client.listTasks(r),
        { pageSize: 100, ...request },
        (res: ListTasksResponse) => res.tasks,
      );
    },
    search(
      query: string,
      request: Omit<MessageInitShape<typeof SearchTasksRequestSchema>, "query" | "$typeName"> = {},
    ): AsyncGenerator<SearchTaskResult, void, undefined> {
      return paginate(
        (r: typeof request & { query: string }) => client.searchTasks(r),
        { pageSize: 50, ...request, query },
        (res: SearchTasksResponse) => res.results,
      );
    },
    /** The task the work queue would hand out next (undefined when none matches). */
    async next(selector: MessageInitShape<typeof WorkSelectorSchema> = {}): Promise<Task | undefined> {
      return (await client.nextTask({ selector })).task;
    },
    /** Claims the next task for `leaseMs` (default 15 min); `start` also moves it to in progress. */
    async claim(
      selector: MessageInitShape<typeof WorkSelectorSchema> = {},
      options: { leaseMs?: number; start?: boolean } = {},
    ): Promise<Task | undefined> {
      const res = await client.claimNextTask({
        selector,
        leaseDuration: durationFromMs(options.leaseMs ?? 15 * 60_000),
        start: options.start ?? false,
      });
      return res.task;
    },
    async release(ref: TaskRef, claimId: string, status?: EnumInput<typeof TaskStatus>): Promise<Task> {
      const res = await client.releaseTaskClaim({
        name: taskName(ref),
        claimId,
        status: enumValue<TaskStatus>(TaskStatusSchema, status) ?? TaskStatus.UNSPECIFIED,
      });
      return res.task as Task;
    },
    /** Change events as they happen, resuming after disconnects (see watch.ts). */
    watch(
      request: MessageInitShape<typeof WatchTasksRequestSchema> = {},
      options: WatchOptions = {},
    ): AsyncGenerator<TaskChangeEvent, void, undefined> {
      return watchTasks(client, request, options);
    },
  };
}

export type TaskHelpers = ReturnType<typeof createTaskHelpers>;
