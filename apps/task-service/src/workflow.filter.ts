/**
 * AIP-160 subset for the sub-resource lists (status history, comments, time logs): conjunctions (`AND`) of
 * comparisons `field op value` with op one of = != < <= > >=, values as string literals in double quotes or
 * bare words (enum short names, true/false, numbers, RFC 3339 timestamps, YYYY-MM-DD dates). Each list
 * declares its fields and their kinds; anything else is INVALID_ARGUMENT naming the position.
 */
import type { FilterCondition, FilterOp } from "@taskmaster/persistence/workflow.repository";
import type { EnumCodec } from "@taskmaster/rpc-kit/enum-codec";
import {
  type FilterSyntax,
  parseConjunction,
  parseOrderBy as parseListOrderBy,
  type QueryValue,
  queryError,
} from "@taskmaster/rpc-kit/list-query";
import { parseResourceName } from "@taskmaster/rpc-kit/validation";

export type FieldKind =
  | { kind: "enum"; codec: EnumCodec<number, string>; prefix: string }
  | { kind: "string" }
  | { kind: "bool" }
  | { kind: "timestamp" }
  | { kind: "date" }
  | { kind: "number" }
  | { kind: "resource"; pattern: string };

const SYNTAX: FilterSyntax = {
  violationReason: "INVALID_FILTER",
  maxComparisons: 20,
  lexical: {
    unexpectedChar: (c) => `unexpected character '${c}'`,
    bang: "unexpected '!' (did you mean '!='?)",
  },
  messages: {
    expectedField: () => "expected a field name",
    fieldAfterAnd: "expected a comparison after AND",
    unknownField: (name, known) => `unknown field "${name}" (supported: ${known.join(", ")})`,
    expectedOp: "expected an operator",
    expectedAnd: () => "expected AND (only AND is supported here)",
  },
};

function fail(pos: number, description: string, requestField: string): never {
  return queryError(requestField, pos, description, "INVALID_FILTER");
}

const ORDERED: ReadonlySet<string> = new Set(["timestamp", "date", "number"]);

function convert(spec: FieldKind, token: QueryValue, field: string, rf: string): FilterCondition["value"] {
  const text = token.text;
  switch (spec.kind) {
    case "string":
      return text;
    case "bool":
      if (text === "true" || text === "false") return text === "true";
      return fail(token.pos, `${field} must be true or false`, rf);
    case "number": {
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) fail(token.pos, `${field} must be a number`, rf);
      return n;
    }
    case "timestamp": {
      const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i.test(text);
      const d = new Date(text);
      if (!ok || Number.isNaN(d.getTime())) fail(token.pos, `${field} must be an RFC 3339 timestamp`, rf);
      return d;
    }
    case "date": {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
      const d = new Date(`${text}T00:00:00Z`);
      if (!m || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text) {
        fail(token.pos, `${field} must be a date YYYY-MM-DD`, rf);
      }
      return text;
    }
    case "resource": {
      const parsed = parseResourceName(spec.pattern, text);
      if (!parsed.ok) fail(token.pos, `${field} ${parsed.description}`, rf);
      const ids = Object.values(parsed.ids);
      return ids[ids.length - 1] ?? null;
    }
    case "enum": {
      const short = text.toUpperCase().startsWith(spec.prefix) ? text.slice(spec.prefix.length) : text;
      const db = /^[A-Za-z_]+$/.test(short) ? short.toLowerCase() : "";
      if (spec.codec.fromDb(db) === 0) fail(token.pos, `${field}: unknown value "${text}"`, rf);
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
  const onOperator = (field: string, op: string, opPos: number) => {
    if (!ORDERED.has((fields[field] as FieldKind).kind) && op !== "=" && op !== "!=") {
      fail(opPos, `${field} supports only = and !=`, requestField);
    }
  };
  return parseConjunction(input, fields, { ...SYNTAX, requestField, onOperator }, (c) => ({
    field: c.field,
    op: c.op as FilterOp,
    value: convert(c.kind, c.value, c.field, requestField),
  }));
}

/** `order_by` accepting exactly one of `fields`, optionally followed by " desc" (or " asc"). */
export function parseOrderBy<F extends string>(
  input: string,
  fields: readonly F[],
  defaults: { field: F; descending: boolean },
): { field: F; descending: boolean } {
  const { field, desc } = parseListOrderBy(
    input,
    fields,
    { field: defaults.field, desc: defaults.descending },
    {
      summary: {
        violationReason: "INVALID_ORDER_BY",
        description: (all) => `must be one of ${all.map((f) => `"${f}", "${f} desc"`).join(", ")}`,
      },
    },
  );
  return { field, descending: desc };
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
