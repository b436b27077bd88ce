/**
 * AIP-160 subset for the sub-resource lists (status history, comments, time logs): conjunctions (`AND`) of
 * comparisons `field op value` with op one of = != < <= > >=, values as string literals in double quotes or
 * bare words (enum short names, true/false, numbers, RFC 3339 timestamps, YYYY-MM-DD dates). Each list
 * declares its fields and their kinds; anything else is INVALID_ARGUMENT naming the position.
 */
import type { FilterCondition, FilterOp } from "@taskmaster/persistence/workflow.repository";
import type { EnumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { parseResourceName } from "@taskmaster/rpc-kit/validation";

export type FieldKind =
  | { kind: "enum"; codec: EnumCodec<number, string>; prefix: string }
  | { kind: "string" }
  | { kind: "bool" }
  | { kind: "timestamp" }
  | { kind: "date" }
  | { kind: "number" }
  | { kind: "resource"; pattern: string };

interface Token {
  kind: "word" | "string" | "op";
  text: string;
  pos: number;
}

let failField = "filter";

function fail(pos: number, description: string): never {
  throw new InvalidArgumentError([
    { field: failField, description: `at position ${pos + 1}: ${description}`, reason: "INVALID_FILTER" },
  ]);
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < input.length && input[j] !== '"') {
        if (input[j] === "\\" && j + 1 < input.length) j++;
        text += input[j];
        j++;
      }
      if (j >= input.length) fail(i, "unterminated string");
      tokens.push({ kind: "string", text, pos: i });
      i = j + 1;
    } else if (/[<>=!]/.test(c)) {
      const two = input.slice(i, i + 2);
      const op = ["<=", ">=", "!="].includes(two) ? two : c;
      if (op === "!") fail(i, "unexpected '!' (did you mean '!='?)");
      tokens.push({ kind: "op", text: op, pos: i });
      i += op.length;
    } else if (/[A-Za-z0-9_.+:-]/.test(c)) {
      let j = i;
      while (j < input.length && /[A-Za-z0-9_.+:/-]/.test(input[j] as string)) j++;
      tokens.push({ kind: "word", text: input.slice(i, j), pos: i });
      i = j;
    } else fail(i, `unexpected character '${c}'`);
  }
  return tokens;
}

const ORDERED: ReadonlySet<string> = new Set(["timestamp", "date", "number"]);

function convert(spec: FieldKind, token: Token, field: string): FilterCondition["value"] {
  const text = token.text;
  switch (spec.kind) {
    case "string":
      return text;
    case "bool":
      if (text === "true" || text === "false") return text === "true";
      return fail(token.pos, `${field} must be true or false`);
    case "number": {
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) fail(token.pos, `${field} must be a number`);
      return n;
    }
    case "timestamp": {
      const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i.test(text);
      const d = new Date(text);
      if (!ok || Number.isNaN(d.getTime())) fail(token.pos, `${field} must be an RFC 3339 timestamp`);
      return d;
    }
    case "date": {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
      const d = new Date(`${text}T00:00:00Z`);
      if (!m || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text) {
        fail(token.pos, `${field} must be a date YYYY-MM-DD`);
      }
      return text;
    }
    case "resource": {
      const parsed = parseResourceName(spec.pattern, text);
      if (!parsed.ok) fail(token.pos, `${field} ${parsed.description}`);
      const ids = Object.values(parsed.ids);
      return ids[ids.length - 1] ?? null;
    }
    case "enum": {
      const short = text.toUpperCase().startsWith(spec.prefix) ? text.slice(spec.prefix.length) : text;
      const db = /^[A-Za-z_]+$/.test(short) ? short.toLowerCase() : "";
      if (spec.codec.fromDb(db) === 0) fail(token.pos, `${field}: unknown value "${text}"`);
      return db;
    }
  }
}

/** Parses `input` against `fields` (filter field -> kind). Empty input means no conditions. */
export function parseListFilter(
  input: string,
  fields: Readonly<Record<string, FieldKind>>,
  requestField = "filter",
): FilterCondition[] {
  // Parsing is synchronous, so this module-level name cannot leak between concurrent calls.
  failField = requestField;
  const tokens = tokenize(input);
  const out: FilterCondition[] = [];
  let i = 0;
  while (i < tokens.length) {
    if (out.length > 0) {
      const and = tokens[i] as Token;
      if (and.kind !== "word" || and.text !== "AND")
        fail(and.pos, "expected AND (only AND is supported here)");
      i++;
    }
    const fieldTok = tokens[i];
    const opTok = tokens[i + 1];
    const valueTok = tokens[i + 2];
    if (fieldTok === undefined) fail(input.length, "expected a comparison after AND");
    if (fieldTok.kind !== "word") fail(fieldTok.pos, "expected a field name");
    const spec = fields[fieldTok.text];
    if (spec === undefined) {
      fail(fieldTok.pos, `unknown field "${fieldTok.text}" (supported: ${Object.keys(fields).join(", ")})`);
    }
    if (opTok === undefined || opTok.kind !== "op") fail(opTok?.pos ?? input.length, "expected an operator");
    if (!ORDERED.has(spec.kind) && opTok.text !== "=" && opTok.text !== "!=") {
      fail(opTok.pos, `${fieldTok.text} supports only = and !=`);
    }
    if (valueTok === undefined || valueTok.kind === "op")
      fail(valueTok?.pos ?? input.length, "expected a value");
    out.push({
      field: fieldTok.text,
      op: opTok.text as FilterOp,
      value: convert(spec, valueTok, fieldTok.text),
    });
    i += 3;
    if (out.length > 20) fail(fieldTok.pos, "at most 20 comparisons");
  }
  return out;
}

/** `order_by` accepting exactly one of `fields`, optionally followed by " desc" (or " asc"). */
export function parseOrderBy<F extends string>(
  input: string,
  fields: readonly F[],
  defaults: { field: F; descending: boolean },
): { field: F; descending: boolean } {
  const text = input.trim();
  if (text === "") return defaults;
  const m = /^([a-z_]+)(?:\s+(asc|desc))?$/i.exec(text);
  const field = m?.[1] as F | undefined;
  if (!m || field === undefined || !fields.includes(field)) {
    throw new InvalidArgumentError([
      {
        field: "order_by",
        description: `must be one of ${fields.map((f) => `"${f}", "${f} desc"`).join(", ")}`,
        reason: "INVALID_ORDER_BY",
      },
    ]);
  }
  return { field, descending: m[2]?.toLowerCase() === "desc" };
}

/**
 * Task fields for report scopes and time-log task filters (the comparison subset of the ListTasks filter:
 * conjunctions only, no OR/NOT/has).
 */
export function taskFilterFields(codecs: {
  status: EnumCodec<number, string>;
  priority: EnumCodec<number, string>;
  type: EnumCodec<number, string>;
  complexity: EnumCodec<number, string>;
}): Record<string, FieldKind> {
  return {
    status: { kind: "enum", codec: codecs.status, prefix: "TASK_STATUS_" },
    priority: { kind: "enum", codec: codecs.priority, prefix: "TASK_PRIORITY_" },
    type: { kind: "enum", codec: codecs.type, prefix: "TASK_TYPE_" },
    complexity: { kind: "enum", codec: codecs.complexity, prefix: "TASK_COMPLEXITY_" },
    assigned_to: { kind: "string" },
    reporter: { kind: "string" },
    sprint: { kind: "resource", pattern: "sprints/{sprint}" },
    release: { kind: "resource", pattern: "releases/{release}" },
    milestone: { kind: "resource", pattern: "milestones/{milestone}" },
    epic: { kind: "resource", pattern: "tasks/{task}" },
    parent: { kind: "resource", pattern: "tasks/{task}" },
    story_points: { kind: "number" },
    business_value: { kind: "number" },
    create_time: { kind: "timestamp" },
    update_time: { kind: "timestamp" },
    due_time: { kind: "timestamp" },
    start_time: { kind: "timestamp" },
    complete_time: { kind: "timestamp" },
  };
}
