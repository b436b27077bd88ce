/** `./taskmaster templates ...`: create, list, render, create-task over the SDK's template helpers. */
import { readFileSync } from "node:fs";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { collect } from "@taskmaster/client";
import { TaskSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { TemplateSchema } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { type Command, UsageError } from "./context.js";
import { json, TEMPLATE_HEADER, table, taskDetail, templateRows, withSpinner } from "./format.js";

/** `--input key=value` pairs (values parsed as JSON when they are JSON, else strings) plus `--inputs-json`. */
function inputsOf(values: Record<string, unknown>): JsonObject {
  const out: JsonObject = values["inputs-json"]
    ? (JSON.parse(values["inputs-json"] as string) as JsonObject)
    : {};
  for (const pair of (values.input as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--input ${pair}: expected key=value`);
    const raw = pair.slice(eq + 1);
    let value: JsonValue = raw;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      // a plain string
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

const inputOptions = {
  input: { type: "string", multiple: true },
  "inputs-json": { type: "string" },
} as const;

export const templateCommands: Record<string, Command> = {
  create: {
    summary: "Store a template",
    usage:
      "templates create --slug S --title T --type task_template (--content C | --file F) [--var NAME]... [--tag T]...",
    options: {
      slug: { type: "string" },
      title: { type: "string" },
      description: { type: "string" },
      type: { type: "string" },
      content: { type: "string" },
      file: { type: "string" },
      var: { type: "string", multiple: true },
      tag: { type: "string", multiple: true },
    },
    async run(ctx, _p, v) {
      const content =
        (v.content as string | undefined) ?? (v.file ? readFileSync(v.file as string, "utf8") : undefined);
      if (!v.slug || !v.title || !v.type || content === undefined) {
        throw new UsageError("--slug, --title, --type and --content or --file are required");
      }
      const template = await ctx.tm.templates.create({
        slug: v.slug as string,
        title: v.title as string,
        description: (v.description as string | undefined) ?? "",
        type: v.type as string,
        content,
        variables: (v.var as string[] | undefined) ?? [],
        tags: (v.tag as string[] | undefined) ?? [],
      });
      ctx.json
        ? ctx.printJson(json(TemplateSchema, template))
        : ctx.print(table(templateRows([template]), TEMPLATE_HEADER));
    },
  },
  list: {
    summary: "List templates (filter, order) or search them (--query, --tag, --type)",
    usage:
      "templates list [--filter F] [--order-by O] [--query Q] [--tag T]... [--type task_template] [--limit 50]",
    options: {
      filter: { type: "string" },
      "order-by": { type: "string" },
      query: { type: "string" },
      tag: { type: "string", multiple: true },
      type: { type: "string" },
      limit: { type: "string" },
    },
    async run(ctx, _p, v) {
      const limit = Number(v.limit ?? 50);
      const searching = v.query !== undefined || v.tag !== undefined || v.type !== undefined;
      const templates = await withSpinner(
        "listing templates",
        searching
          ? ctx.tm.templates.search({
              query: v.query as string | undefined,
              tags: v.tag as string[] | undefined,
              type: v.type as string | undefined,
              limit,
            })
          : collect(
              ctx.tm.templates.list({
                filter: (v.filter as string | undefined) ?? "",
                orderBy: (v["order-by"] as string | undefined) ?? "",
              }),
              limit,
            ),
      );
      ctx.json
        ? ctx.printJson(templates.map((t) => json(TemplateSchema, t)))
        : ctx.print(table(templateRows(templates), TEMPLATE_HEADER));
    },
  },
  render: {
    summary: "Render a template with inputs",
    usage: "templates render <template> [--input key=value]... [--inputs-json '{...}']",
    options: inputOptions,
    async run(ctx, positionals, v) {
      const [name] = positionals;
      if (name === undefined) throw new UsageError("missing template");
      const res = await ctx.tm.templates.render(name, inputsOf(v));
      ctx.json ? ctx.printJson({ output: res.output, version: res.version }) : ctx.print(res.output);
    },
  },
  "create-task": {
    summary: "Create a task from a task template",
    usage: "templates create-task <template> [--title T] [--input key=value]... [--inputs-json '{...}']",
    options: { ...inputOptions, title: { type: "string" } },
    async run(ctx, positionals, v) {
      const [name] = positionals;
      if (name === undefined) throw new UsageError("missing template");
      const made = await ctx.tm.templates.createTask(name, inputsOf(v), {
        title: (v.title as string | undefined) ?? "",
      });
      ctx.json ? ctx.printJson(json(TaskSchema, made.task)) : ctx.print(taskDetail(made.task));
    },
  },
};
