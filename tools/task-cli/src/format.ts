/** Output for people (aligned tables, short enum names) and for scripts (`--json`: protobuf JSON). */
import { type DescMessage, type Message, toJson } from "@bufbuild/protobuf";
import { enumName } from "@taskmaster/client";
import {
  type Task,
  TaskPrioritySchema,
  TaskStatusSchema,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { Template } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";

export interface Output {
  json: boolean;
  write(text: string): void;
}

export function table(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "))
    .join("\n");
}

export function json<D extends DescMessage>(schema: D, message: Message): unknown {
  return toJson(schema, message as never, { alwaysEmitImplicit: false });
}

export function taskRows(tasks: readonly Task[]): string[][] {
  return tasks.map((t) => [
    t.name,
    enumName(TaskStatusSchema, t.status),
    enumName(TaskPrioritySchema, t.priority),
    enumName(TaskTypeSchema, t.type),
    t.title,
  ]);
}

export const TASK_HEADER = ["NAME", "STATUS", "PRIORITY", "TYPE", "TITLE"];

export function taskDetail(t: Task): string {
  const lines: [string, string][] = [
    ["name", t.name],
    ["title", t.title],
    ["status", enumName(TaskStatusSchema, t.status)],
    ["priority", enumName(TaskPrioritySchema, t.priority)],
    ["type", enumName(TaskTypeSchema, t.type)],
    ["assigned to", t.assignedTo],
    ["story points", t.storyPoints === undefined ? "" : String(t.storyPoints)],
    ["estimated h", t.estimatedHours === undefined ? "" : String(t.estimatedHours)],
    ["actual h", t.actualHours === undefined ? "" : String(t.actualHours)],
    ["labels", t.labels.join(", ")],
    ["claim", t.claim ? `${t.claim.claimId} (${t.claim.claimant})` : ""],
    ["description", t.description],
  ];
  return lines
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k.padEnd(13)} ${v}`)
    .join("\n");
}

export function templateRows(templates: readonly Template[]): string[][] {
  return templates.map((t) => [
    t.name,
    t.slug,
    t.version,
    t.templateType.replace("templateTypes/", ""),
    t.title,
  ]);
}

export const TEMPLATE_HEADER = ["NAME", "SLUG", "VERSION", "TYPE", "TITLE"];

/** A spinner on stderr once a call takes longer than 300 ms (only on a terminal). */
export async function withSpinner<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  const start = setTimeout(() => {
    timer = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${label}`), 80);
  }, 300);
  try {
    return await work;
  } finally {
    clearTimeout(start);
    if (timer !== undefined) {
      clearInterval(timer);
      process.stderr.write("\r\x1b[K");
    }
  }
}
