/**
 * AIP-160 filter and AIP-132 order_by for tasks, compiled to a parameterised SQL fragment over the alias
 * `t` (the `tasks` table). Values only ever travel as bound parameters; field names map to fixed column
 * expressions. Grammar (AIP-160 subset; OR binds tighter than AND, juxtaposition means AND):
 *
 *   expression  = sequence { "AND" sequence }
 *   sequence    = factor { factor }
 *   factor      = term { "OR" term }
 *   term        = [ "NOT" | "-" ] ( "(" expression ")" | restriction )
 *   restriction = field comparator value        comparator: = != < <= > >= :
 *
 * Anything outside the subset is INVALID_ARGUMENT naming the 1-based position, never ignored.
 */

import {
  type SqlFragment,
  TASK_SORT_FIELDS,
  type TaskSortField,
  type TaskSortKey,
} from "@taskmaster/persistence/task.repository";
import {
  TASK_COMPLEXITIES,
  TASK_PRIORITIES,
  TASK_STATUSES,
  TASK_TYPES,
} from "@taskmaster/persistence/value-sets";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { isUuid } from "@taskmaster/rpc-kit/validation";

type TokenKind = "word" | "string" | "op" | "lparen" | "rparen" | "and" | "or" | "not" | "minus";

interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const OPS = ["<=", ">=", "!=", "=", "<", ">", ":"] as const;
type Op = (typeof OPS)[number];

export class FilterSyntax {
  constructor(readonly field: string) {}
  fail(pos: number, description: string): never {
    throw new InvalidArgumentError([
      { field: this.field, description: `at position ${pos + 1}: ${description}`, reason: "INVALID_FILTER" },
    ]);
  }
}

function tokenize(input: string, s: FilterSyntax): Token[] {
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
        if (input[j] === "\\") {
          j++;
          if (j >= input.length) break;
        }
        text += input[j];
        j++;
      }
      if (j >= input.length) s.fail(i, "unterminated string");
      tokens.push({ kind: "string", text, pos: i });
      i = j + 1;
    } else if (c === "(") {
      tokens.push({ kind: "lparen", text: c, pos: i++ });
    } else if (c === ")") {
      tokens.push({ kind: "rparen", text: c, pos: i++ });
    } else if ("=!<>:".includes(c)) {
      const op = OPS.find((o) => input.startsWith(o, i));
      if (op === undefined) s.fail(i, `unexpected character '${c}'`);
      tokens.push({ kind: "op", text: op, pos: i });
      i += op.length;
    } else if (c === "-" && !/[0-9]/.test(input[i + 1] ?? "")) {
      tokens.push({ kind: "minus", text: c, pos: i++ });
    } else if (/[A-Za-z0-9_*.+-]/.test(c)) {
      // Words: field paths, enum names, numbers; a word starting with a digit may be an RFC 3339 timestamp
      // (so it may contain ':').
      const timestamp = /[0-9]/.test(c);
      let j = i + 1;
      while (
        j < input.length &&
        (timestamp ? /[A-Za-z0-9_*.+:-]/ : /[A-Za-z0-9_*.+-]/).test(input[j] as string)
      ) {
        j++;
      }
      const text = input.slice(i, j);
      const kind: TokenKind = text === "AND" ? "and" : text === "OR" ? "or" : text === "NOT" ? "not" : "word";
      tokens.push({ kind, text, pos: i });
      i = j;
    } else {
      s.fail(i, `unexpected character '${c}'`);
    }
  }
  return tokens;
}

export interface CompiledFilter extends SqlFragment {
  /** Top-level field names the filter mentions (e.g. "status", "metadata"). */
  fields: Set<string>;
}

type Kind = "enum" | "text" | "ref" | "array" | "int" | "time" | "json";
interface FieldSpec {
  kind: Kind;
  column: string;
  values?: readonly string[];
  prefix?: string;
  enumPrefix?: string;
}

const FIELDS: Record<string, FieldSpec> = {
  status: { kind: "enum", column: "t.status", values: TASK_STATUSES, enumPrefix: "TASK_STATUS_" },
  priority: { kind: "enum", column: "t.priority", values: TASK_PRIORITIES, enumPrefix: "TASK_PRIORITY_" },
  type: { kind: "enum", column: "t.type", values: TASK_TYPES, enumPrefix: "TASK_TYPE_" },
  complexity: {
    kind: "enum",
    column: "t.complexity",
    values: TASK_COMPLEXITIES,
    enumPrefix: "TASK_COMPLEXITY_",
  },
  assigned_to: { kind: "text", column: "t.assigned_to" },
  reporter: { kind: "text", column: "t.reporter" },
  category: { kind: "text", column: "t.category" },
  sprint: { kind: "ref", column: "t.sprint_id", prefix: "sprints/" },
  release: { kind: "ref", column: "t.release_id", prefix: "releases/" },
  milestone: { kind: "ref", column: "t.milestone_id", prefix: "milestones/" },
  epic: { kind: "ref", column: "t.epic_id", prefix: "tasks/" },
  parent: { kind: "ref", column: "t.parent_id", prefix: "tasks/" },
  labels: { kind: "array", column: "t.labels" },
  tags: { kind: "array", column: "t.tags" },
  story_points: { kind: "int", column: "t.story_points" },
  business_value: { kind: "int", column: "t.business_value" },
  risk_level: { kind: "int", column: "t.risk_level" },
  create_time: { kind: "time", column: "t.created_at" },
  update_time: { kind: "time", column: "t.updated_at" },
  due_time: { kind: "time", column: "t.due_date" },
  start_time: { kind: "time", column: "t.started_at" },
  complete_time: { kind: "time", column: "t.completed_at" },
  metadata: { kind: "json", column: "t.metadata" },
  custom_fields: { kind: "json", column: "t.custom_fields" },
};

const FIELD_LIST = `${Object.keys(FIELDS)
  .filter((f) => FIELDS[f]?.kind !== "json")
  .join(", ")}, metadata.<key>, custom_fields.<key>`;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const JSON_KEY = /^[A-Za-z0-9_-]{1,100}$/;
const INT = /^-?\d{1,10}$/;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

const SQL_OP: Record<Exclude<Op, ":">, string> = {
  "=": "=",
  "!=": "is distinct from",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};

class Parser {
  private i = 0;
  readonly params: unknown[] = [];
  readonly fields = new Set<string>();
  private restrictions = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly s: FilterSyntax,
    private readonly end: number,
  ) {}

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  parse(): string {
    const sql = this.expression();
    const extra = this.peek();
    if (extra)
      this.s.fail(extra.pos, extra.kind === "rparen" ? "unbalanced ')'" : `unexpected '${extra.text}'`);
    return sql;
  }

  private expression(): string {
    const parts = [this.sequence()];
    while (this.peek()?.kind === "and") {
      this.i++;
      parts.push(this.sequence());
    }
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(" and ")})`;
  }

  private startsTerm(t: Token | undefined): boolean {
    return (
      t !== undefined && (t.kind === "word" || t.kind === "lparen" || t.kind === "not" || t.kind === "minus")
    );
  }

  private sequence(): string {
    const parts = [this.factor()];
    while (this.startsTerm(this.peek())) parts.push(this.factor());
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(" and ")})`;
  }

  private factor(): string {
    const parts = [this.term()];
    while (this.peek()?.kind === "or") {
      this.i++;
      parts.push(this.term());
    }
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(" or ")})`;
  }

  private term(): string {
    const t = this.peek();
    if (t?.kind === "not" || t?.kind === "minus") {
      this.i++;
      return `(not coalesce(${this.simple()}, false))`;
    }
    return this.simple();
  }

  private simple(): string {
    const t = this.peek();
    if (t === undefined) this.s.fail(this.end, "expected a comparison");
    if (t.kind === "lparen") {
      this.i++;
      const inner = this.expression();
      const close = this.peek();
      if (close?.kind !== "rparen") this.s.fail(close?.pos ?? this.end, "expected ')'");
      this.i++;
      return `(${inner})`;
    }
    if (t.kind !== "word") this.s.fail(t.pos, `expected a field name, got '${t.text}'`);
    this.i++;
    const op = this.peek();
    if (op?.kind !== "op") this.s.fail(op?.pos ?? this.end, `expected a comparator after '${t.text}'`);
    this.i++;
    const value = this.peek();
    if (value === undefined || (value.kind !== "word" && value.kind !== "string")) {
      this.s.fail(value?.pos ?? this.end, `expected a value after '${t.text} ${op.text}'`);
    }
    this.i++;
    if (++this.restrictions > 100) this.s.fail(t.pos, "too many comparisons (at most 100)");
    return this.restriction(t, op.text as Op, value);
  }

  private bind(value: unknown): string {
    this.params.push(value);
    return "?";
  }

  private restriction(fieldTok: Token, op: Op, value: Token): string {
    const [head, ...rest] = fieldTok.text.split(".");
    const spec = FIELDS[head as string];
    if (spec === undefined || rest.length > 0 !== (spec.kind === "json")) {
      this.s.fail(fieldTok.pos, `unknown field '${fieldTok.text}' (supported: ${FIELD_LIST})`);
    }
    this.fields.add(head as string);
    const presence = op === ":" && value.kind === "word" && value.text === "*";
    const col = spec.column;
    switch (spec.kind) {
      case "enum": {
        if (presence) return "true";
        const upper = value.text.toUpperCase();
        const short = upper.startsWith(spec.enumPrefix as string)
          ? upper.slice((spec.enumPrefix as string).length)
          : upper;
        const values = spec.values as readonly string[];
        const db = short.toLowerCase();
        const rank = values.indexOf(db);
        if (rank < 0) {
          this.s.fail(
            value.pos,
            `unknown ${head} value '${value.text}' (one of ${values.map((v) => v.toUpperCase()).join(", ")})`,
          );
        }
        if (op === "=" || op === ":") return `${col} = ${this.bind(db)}`;
        if (op === "!=") return `${col} <> ${this.bind(db)}`;
        const rankSql = `array_position(array[${values.map((v) => `'${v}'`).join(", ")}]::text[], ${col}::text)`;
        return `${rankSql} ${SQL_OP[op]} ${this.bind(rank + 1)}::int`;
      }
      case "text": {
        if (presence) return `${col} is not null`;
        if (value.text === "" && (op === "=" || op === "!=")) {
          return op === "=" ? `${col} is null` : `${col} is not null`;
        }
        if (op === ":") return `strpos(lower(${col}), lower(${this.bind(value.text)})) > 0`;
        return `${col} ${SQL_OP[op]} ${this.bind(value.text)}`;
      }
      case "ref": {
        if (presence) return `${col} is not null`;
        if (op !== "=" && op !== "!=" && op !== ":") {
          this.s.fail(value.pos, `${head} supports only =, != and :`);
        }
        if (value.text === "") return op === "!=" ? `${col} is not null` : `${col} is null`;
        const prefix = spec.prefix as string;
        const id = value.text.startsWith(prefix) ? value.text.slice(prefix.length) : value.text;
        if (!isUuid(id)) this.s.fail(value.pos, `${head} must be "${prefix}{uuid}"`);
        return `${col} ${op === "!=" ? "is distinct from" : "="} ${this.bind(id.toLowerCase())}::uuid`;
      }
      case "array": {
        if (presence) return `cardinality(${col}) > 0`;
        if (op !== ":") this.s.fail(fieldTok.pos, `${head} is a list: use '${head}:"value"'`);
        return `${this.bind(value.text)}::text = any(${col})`;
      }
      case "int": {
        if (presence) return `${col} is not null`;
        if (!INT.test(value.text)) this.s.fail(value.pos, `${head} needs an integer value`);
        return `${col} ${op === ":" ? "=" : SQL_OP[op]} ${this.bind(Number(value.text))}::int`;
      }
      case "time": {
        if (presence) return `${col} is not null`;
        if (!RFC3339.test(value.text) || Number.isNaN(Date.parse(value.text))) {
          this.s.fail(value.pos, `${head} needs an RFC 3339 timestamp, e.g. "2030-01-31T12:00:00Z"`);
        }
        return `${col} ${op === ":" ? "=" : SQL_OP[op]} ${this.bind(value.text)}::timestamptz`;
      }
      case "json": {
        if (rest.some((k) => !JSON_KEY.test(k))) {
          this.s.fail(fieldTok.pos, `${head} keys must be 1-100 characters of [A-Za-z0-9_-]`);
        }
        // Keys are restricted above, so the path literal needs no quoting; it is still bound as a value.
        // Template literals evaluate left to right, so each bind() happens in the order of its '?'.
        const path = () => `${this.bind(`{${rest.join(",")}}`)}::text[]`;
        if (presence) return `(${col} #> ${path()}) is not null`;
        if (
          value.kind === "word" &&
          (value.text === "true" || value.text === "false" || value.text === "null")
        ) {
          if (op !== "=" && op !== "!=" && op !== ":")
            this.s.fail(value.pos, `${value.text} supports only = and !=`);
          return `(${col} #> ${path()}) ${op === "!=" ? "is distinct from" : "="} ${this.bind(value.text)}::jsonb`;
        }
        if (value.kind === "word" && NUMBER.test(value.text)) {
          return `(case when jsonb_typeof(${col} #> ${path()}) = 'number' then (${col} #>> ${path()})::numeric end) ${op === ":" ? "=" : SQL_OP[op]} ${this.bind(value.text)}::numeric`;
        }
        if (value.kind === "word") {
          this.s.fail(value.pos, `quote the string value of ${fieldTok.text}, e.g. "${value.text}"`);
        }
        if (op === ":") return `strpos(lower(${col} #>> ${path()}), lower(${this.bind(value.text)})) > 0`;
        return `(${col} #>> ${path()}) ${SQL_OP[op]} ${this.bind(value.text)}`;
      }
    }
  }
}

/**
 * Compiles an AIP-160 task filter to SQL over alias `t`. Empty input yields `true`. `field` names the request
 * field in errors (e.g. "filter", "selector.filter").
 */
export function compileTaskFilter(input: string, field = "filter"): CompiledFilter {
  const s = new FilterSyntax(field);
  if (input.trim() === "") return { sql: "true", params: [], fields: new Set() };
  const parser = new Parser(tokenize(input, s), s, input.length);
  const sql = parser.parse();
  return { sql, params: parser.params, fields: parser.fields };
}

/**
 * `order_by`: comma-separated fields of {@link TASK_SORT_FIELDS}, each optionally followed by "asc" or
 * "desc". Empty means "create_time desc" (newest first).
 */
export function parseTaskOrderBy(input: string, field = "order_by"): TaskSortKey[] {
  const s = new FilterSyntax(field);
  if (input.trim() === "") return [{ field: "create_time", desc: true }];
  const keys: TaskSortKey[] = [];
  let pos = 0;
  for (const part of input.split(",")) {
    const lead = part.length - part.trimStart().length;
    const words = part.trim().split(/\s+/);
    const name = words[0] ?? "";
    if (!(TASK_SORT_FIELDS as readonly string[]).includes(name)) {
      s.fail(pos + lead, `unsupported order field '${name}' (supported: ${TASK_SORT_FIELDS.join(", ")})`);
    }
    if (words.length > 2 || (words[1] !== undefined && !/^(asc|desc)$/i.test(words[1]))) {
      s.fail(pos + lead, `expected "${name}", "${name} asc" or "${name} desc"`);
    }
    if (keys.some((k) => k.field === name)) s.fail(pos + lead, `'${name}' appears twice`);
    keys.push({ field: name as TaskSortField, desc: words[1]?.toLowerCase() === "desc" });
    pos += part.length + 1;
  }
  return keys;
}

/** Alias of {@link compileTaskFilter} for other slices (SearchTasks, NextTask, WatchTasks, reports). */
export const parseTaskFilter = compileTaskFilter;
