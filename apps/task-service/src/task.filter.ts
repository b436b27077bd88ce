/**
 * AIP-160 filter and AIP-132 order_by for ListTasks: this is the walking-skeleton subset — conjunctions of
 * equality comparisons (`status = IN_PROGRESS AND assigned_to = "ada"`) on the fields the repository
 * indexes. Anything outside the subset is INVALID_ARGUMENT naming the position, never ignored.
 */

import type { ListTasksOptions } from "@taskmaster/persistence/task.repository";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { isUuid } from "@taskmaster/rpc-kit/validation";
import { priorityCodec, statusCodec, typeCodec } from "./task.mapper.js";

type Filter = NonNullable<ListTasksOptions["filter"]>;

interface Token {
  kind: "ident" | "string" | "op" | "and";
  text: string;
  pos: number;
}

function fail(field: "filter" | "order_by", pos: number, description: string): never {
  throw new InvalidArgumentError([
    { field, description: `at position ${pos + 1}: ${description}`, reason: "INVALID_SYNTAX" },
  ]);
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < input.length && input[j] !== '"') {
        if (input[j] === "\\" && j + 1 < input.length) j++;
        text += input[j];
        j++;
      }
      if (j >= input.length) fail("filter", i, "unterminated string");
      tokens.push({ kind: "string", text, pos: i });
      i = j + 1;
    } else if (c === "=") {
      tokens.push({ kind: "op", text: "=", pos: i });
      i++;
    } else if (/[A-Za-z0-9_.@-]/.test(c)) {
      let j = i;
      while (j < input.length && /[A-Za-z0-9_.@:/-]/.test(input[j] as string)) j++;
      const text = input.slice(i, j);
      tokens.push({ kind: text === "AND" ? "and" : "ident", text, pos: i });
      i = j;
    } else {
      fail("filter", i, `unexpected character '${c}' (supported: field = value joined by AND)`);
    }
  }
  return tokens;
}

const enumFields = {
  status: { key: "status", codec: statusCodec, prefix: "TASK_STATUS_" },
  priority: { key: "priority", codec: priorityCodec, prefix: "TASK_PRIORITY_" },
  type: { key: "type", codec: typeCodec, prefix: "TASK_TYPE_" },
} as const;
const refFields = {
  sprint: ["sprintId", "sprints/"],
  epic: ["epicId", "tasks/"],
  parent: ["parentId", "tasks/"],
} as const;

export function parseTaskFilter(input: string): Filter {
  const filter: Filter = {};
  const tokens = tokenize(input);
  let i = 0;
  while (i < tokens.length) {
    const field = tokens[i];
    const op = tokens[i + 1];
    const value = tokens[i + 2];
    if (field?.kind !== "ident") fail("filter", field?.pos ?? input.length, "expected a field name");
    if (op?.kind !== "op") fail("filter", op?.pos ?? input.length, `expected '=' after ${field.text}`);
    if (value === undefined || (value.kind !== "ident" && value.kind !== "string")) {
      fail("filter", value?.pos ?? input.length, `expected a value for ${field.text}`);
    }
    assign(filter, field, value);
    i += 3;
    if (i < tokens.length) {
      if (tokens[i]?.kind !== "and") fail("filter", tokens[i]?.pos ?? input.length, "expected AND");
      i++;
      if (i >= tokens.length) fail("filter", input.length, "expected a comparison after AND");
    }
  }
  return filter;
}

function assign(filter: Filter, field: Token, value: Token): void {
  const name = field.text;
  if (name in enumFields) {
    const { key, codec, prefix } = enumFields[name as keyof typeof enumFields];
    const short = value.text.toUpperCase().startsWith(prefix) ? value.text.slice(prefix.length) : value.text;
    // The three codecs share one shape; widen to it to round-trip the name through the enum.
    const generic = codec as unknown as { fromDb(v: string): number; toDb(v: number): string | undefined };
    const db = generic.toDb(generic.fromDb(short.toLowerCase()));
    if (db === undefined) fail("filter", value.pos, `unknown ${name} value '${value.text}'`);
    (filter as Record<string, string>)[key] = db;
  } else if (name === "assigned_to") {
    filter.assignedTo = value.text;
  } else if (name in refFields) {
    const [key, prefix] = refFields[name as keyof typeof refFields];
    const id = value.text.startsWith(prefix) ? value.text.slice(prefix.length) : value.text;
    if (!isUuid(id)) fail("filter", value.pos, `${name} must be "${prefix}{uuid}"`);
    filter[key] = id.toLowerCase();
  } else {
    fail(
      "filter",
      field.pos,
      `unsupported field '${name}' (supported: status, priority, type, assigned_to, sprint, epic, parent)`,
    );
  }
}

/** `order_by`: "create_time" or "create_time desc"; the default is newest first (create_time desc), as the contract says. */
export function parseTaskOrderBy(input: string): { descending: boolean } {
  const trimmed = input.trim();
  if (trimmed === "") return { descending: true };
  const match = /^create_time(\s+(asc|desc))?$/.exec(trimmed);
  if (!match) fail("order_by", 0, `unsupported ordering '${trimmed}' (supported: create_time [asc|desc])`);
  return { descending: match[2] === "desc" };
}
