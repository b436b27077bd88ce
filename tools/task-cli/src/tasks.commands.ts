/** `./taskmaster tasks ...`: the task commands, each a thin layer over the SDK's task helpers. */
import { collect, enumName, type TaskInput } from "@taskmaster/client";
import {
  TaskChangeEventSchema,
  TaskEventKindSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import { TaskSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { SearchTaskResultSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type Command, UsageError } from "./context.js";
import { json, TASK_HEADER, table, taskDetail, taskRows, withSpinner } from "./format.js";

const fieldOptions = {
  title: { type: "string" },
  description: { type: "string" },
  type: { type: "string" },
  priority: { type: "string" },
  complexity: { type: "string" },
  points: { type: "string" },
  estimate: { type: "string" },
  "assigned-to": { type: "string" },
  label: { type: "string", multiple: true },
  notes: { type: "string" },
} as const;

function taskInput(values: Record<string, unknown>): TaskInput {
  const v = values as Record<string, string | string[] | undefined>;
  const num = (key: string) => {
    const raw = v[key];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new UsageError(`--${key} must be a number`);
    return n;
  };
  const input: TaskInput = {};
  if (v.title !== undefined) input.title = v.title as string;
  if (v.description !== undefined) input.description = v.description as string;
  if (v.type !== undefined) input.type = v.type as string;
  if (v.priority !== undefined) input.priority = v.priority as string;
  if (v.complexity !== undefined) input.complexity = v.complexity as string;
  if (v.points !== undefined) input.storyPoints = num("points");
  if (v.estimate !== undefined) input.estimatedHours = num("estimate");
  if (v["assigned-to"] !== undefined) input.assignedTo = v["assigned-to"] as string;
  if (v.label !== undefined) input.labels = v.label as string[];
  if (v.notes !== undefined) input.technicalNotes = v.notes as string;
  return input;
}

function one(positionals: string[], what: string): string {
  const [value] = positionals;
  if (value === undefined) throw new UsageError(`missing ${what}`);
  return value;
}

export const taskCommands: Record<string, Command> = {
  create: {
    summary: "Create a task",
    usage:
      "tasks create --title T [--type feature] [--priority high] [--complexity complex] [--points 8] [--estimate 16] [--label L]... [--description D] [--notes N]",
    options: fieldOptions,
    async run(ctx, _p, values) {
      const input = taskInput(values);
      if (!input.title) throw new UsageError("--title is required");
      const task = await ctx.tm.tasks.create(input);
      ctx.json ? ctx.printJson(json(TaskSchema, task)) : ctx.print(taskDetail(task));
    },
  },
  get: {
    summary: "Show one task",
    usage: "tasks get <tasks/ID | ID>",
    async run(ctx, positionals) {
      const task = await ctx.tm.tasks.get(one(positionals, "task"));
      ctx.json ? ctx.printJson(json(TaskSchema, task)) : ctx.print(taskDetail(task));
    },
  },
  list: {
    summary: "List tasks (AIP-160 filter, order)",
    usage:
      "tasks list [--filter 'status = IN_PROGRESS AND priority = HIGH'] [--order-by \"priority, create_time desc\"] [--limit 50]",
    options: { filter: { type: "string" }, "order-by": { type: "string" }, limit: { type: "string" } },
    async run(ctx, _p, values) {
      const limit = Number(values.limit ?? 50);
      const tasks = await withSpinner(
        "listing tasks",
        collect(
          ctx.tm.tasks.list({
            filter: (values.filter as string | undefined) ?? "",
            orderBy: (values["order-by"] as string | undefined) ?? "",
            pageSize: Math.min(limit, 100),
          }),
          limit,
        ),
      );
      ctx.json
        ? ctx.printJson(tasks.map((t) => json(TaskSchema, t)))
        : ctx.print(table(taskRows(tasks), TASK_HEADER));
    },
  },
  search: {
    summary: "Full-text search",
    usage: "tasks search <query> [--limit 20] [--fuzzy]",
    options: { limit: { type: "string" }, fuzzy: { type: "boolean" } },
    async run(ctx, positionals, values) {
      const query = positionals.join(" ");
      if (query === "") throw new UsageError("missing query");
      const results = await withSpinner(
        "searching",
        collect(ctx.tm.tasks.search(query, { fuzzy: values.fuzzy === true }), Number(values.limit ?? 20)),
      );
      if (ctx.json) return ctx.printJson(results.map((r) => json(SearchTaskResultSchema, r)));
      const rows = results.map((r) => [r.task?.name ?? "", r.score.toFixed(3), r.task?.title ?? ""]);
      ctx.print(table(rows, ["NAME", "SCORE", "TITLE"]));
    },
  },
  update: {
    summary: "Change fields of a task (only those given)",
    usage: "tasks update <task> [--title T] [--priority P] [--points N] [--estimate H] [--assigned-to U] ...",
    options: fieldOptions,
    async run(ctx, positionals, values) {
      const input = taskInput(values);
      if (Object.keys(input).length === 0) throw new UsageError("nothing to update");
      const task = await ctx.tm.tasks.update(one(positionals, "task"), input);
      ctx.json ? ctx.printJson(json(TaskSchema, task)) : ctx.print(taskDetail(task));
    },
  },
  status: {
    summary: "Move a task through the workflow",
    usage: "tasks status <task> <ready|in_progress|review|testing|completed|blocked|...> [--reason R]",
    options: { reason: { type: "string" } },
    async run(ctx, positionals, values) {
      const [task, status] = positionals;
      if (task === undefined || status === undefined)
        throw new UsageError("usage: tasks status <task> <status>");
      const updated = await ctx.tm.tasks.setStatus(task, status, (values.reason as string | undefined) ?? "");
      ctx.json ? ctx.printJson(json(TaskSchema, updated)) : ctx.print(taskDetail(updated));
    },
  },
  "log-time": {
    summary: "Log hours on a task",
    usage: "tasks log-time <task> <hours> [--activity A] [--user U] [--date YYYY-MM-DD]",
    options: { activity: { type: "string" }, user: { type: "string" }, date: { type: "string" } },
    async run(ctx, positionals, values) {
      const [task, hours] = positionals;
      if (task === undefined || !Number.isFinite(Number(hours)))
        throw new UsageError("usage: tasks log-time <task> <hours>");
      const log = await ctx.tm.tasks.logTime(task, {
        hours: Number(hours),
        activity: values.activity as string | undefined,
        user: values.user as string | undefined,
        date: values.date ? new Date(values.date as string) : new Date(),
      });
      ctx.json
        ? ctx.printJson({ name: log.name, hours: log.hours })
        : ctx.print(`${log.name}  ${log.hours} h`);
    },
  },
  next: {
    summary: "The task the work queue would hand out next",
    usage: "tasks next [--assigned-to U] [--label L]...",
    options: { "assigned-to": { type: "string" }, label: { type: "string", multiple: true } },
    async run(ctx, _p, values) {
      const task = await ctx.tm.tasks.next({
        assignedTo: (values["assigned-to"] as string | undefined) ?? "",
        labels: (values.label as string[] | undefined) ?? [],
      });
      if (task === undefined) throw Object.assign(new Error("no task is ready"), { exitCode: 3 });
      ctx.json ? ctx.printJson(json(TaskSchema, task)) : ctx.print(taskDetail(task));
    },
  },
  claim: {
    summary: "Claim the next task (lease)",
    usage: "tasks claim [--lease-minutes 15] [--start] [--label L]...",
    options: {
      "lease-minutes": { type: "string" },
      start: { type: "boolean" },
      label: { type: "string", multiple: true },
    },
    async run(ctx, _p, values) {
      const task = await ctx.tm.tasks.claim(
        { labels: (values.label as string[] | undefined) ?? [] },
        { leaseMs: Number(values["lease-minutes"] ?? 15) * 60_000, start: values.start === true },
      );
      if (task === undefined) throw Object.assign(new Error("no task is ready"), { exitCode: 3 });
      ctx.json ? ctx.printJson(json(TaskSchema, task)) : ctx.print(taskDetail(task));
    },
  },
  release: {
    summary: "Release a claim",
    usage: "tasks release <task> <claim-id> [--status ready]",
    options: { status: { type: "string" } },
    async run(ctx, positionals, values) {
      const [task, claimId] = positionals;
      if (task === undefined || claimId === undefined)
        throw new UsageError("usage: tasks release <task> <claim-id>");
      const released = await ctx.tm.tasks.release(task, claimId, values.status as string | undefined);
      ctx.json ? ctx.printJson(json(TaskSchema, released)) : ctx.print(taskDetail(released));
    },
  },
  watch: {
    summary: "Print task changes as they happen (Ctrl-C stops; reconnects by itself)",
    usage: "tasks watch [--filter F]",
    options: { filter: { type: "string" } },
    async run(ctx, _p, values) {
      const abort = new AbortController();
      process.once("SIGINT", () => abort.abort());
      for await (const event of ctx.tm.tasks.watch(
        { filter: (values.filter as string | undefined) ?? "" },
        { signal: abort.signal },
      )) {
        if (ctx.json) process.stdout.write(`${JSON.stringify(json(TaskChangeEventSchema, event))}\n`);
        else
          ctx.print(
            `${event.header?.eventTime ? new Date(Number(event.header.eventTime.seconds) * 1000).toISOString() : ""}  ${enumName(TaskEventKindSchema, event.kind).padEnd(16)} ${event.task}  ${event.taskSnapshot?.title ?? ""}`,
          );
      }
    },
  },
};
