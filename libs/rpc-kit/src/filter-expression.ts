/**
 * The full AIP-160 filter grammar (as ListTasks and every task-filter field accept it), parsed against typed
 * field specs into a {@link FilterExpr} tree whose values are already checked and converted. The tree carries
 * no SQL: `@taskmaster/persistence/filter-sql` compiles it against a column map. Grammar (OR binds tighter
 * than AND, juxtaposition means AND):
 *
 *   expression  = sequence { "AND" sequence }
 *   sequence    = factor { factor }
 *   factor      = term { "OR" term }
 *   term        = [ "NOT" | "-" ] ( "(" expression ")" | restriction )
 *   restriction = field comparator value        comparator: = != < <= > >= :
 *
 * Anything outside the subset is INVALID_ARGUMENT (reason INVALID_FILTER) naming the 1-based position.
 * The conjunction-only subset of the other List RPCs is `parseListFilter` in list-filter.ts.
 */
import { InvalidArgumentError } from "./errors.js";
import { isUuid } from "./validation.js";

export type ExprOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":";

/**
 * What a field holds, which decides its operators: `enum` all six comparisons (ordered by declaration) and
 * `:`; `text` all and `:` (contains, case-insensitive); `ref` (a resource name `prefix{uuid}`) =, != and
 * `:`; `array` only `:` (has); `int` and `time` all; `json` dotted keys (`metadata.<key>`) with typed values.
 * Every kind accepts `:*` (is set).
 */
export type ExprFieldSpec =
  | { kind: "enum"; values: readonly string[]; enumPrefix: string }
  | { kind: "text" }
  | { kind: "ref"; prefix: string }
  | { kind: "array" }
  | { kind: "int" }
  | { kind: "time" }
  | { kind: "json" };

/** A checked value: `present` for `:*`, `null` for an empty text/ref, json `literal` true/false/null. */
export type ExprValue =
  | { type: "present" }
  | { type: "null" }
  | { type: "string"; text: string }
  | { type: "number"; text: string }
  | { type: "literal"; text: "true" | "false" | "null" };

export interface ExprComparison {
  type: "cmp";
  /** The top-level field name; `path` holds json keys after it. */
  field: string;
  path: readonly string[];
  op: ExprOp;
  value: ExprValue;
}

export type FilterExpr =
  | ExprComparison
  | { type: "and" | "or"; args: readonly FilterExpr[] }
  | { type: "not"; arg: FilterExpr };

export interface ParsedFilter {
  /** `null` for an empty filter. */
  expr: FilterExpr | null;
  /** Top-level field names the filter mentions (e.g. "status", "metadata"). */
  fields: Set<string>;
}

type TokenKind = "word" | "string" | "op" | "lparen" | "rparen" | "and" | "or" | "not" | "minus";

interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const OPS = ["<=", ">=", "!=", "=", "<", ">", ":"] as const;
const MAX_COMPARISONS = 100;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const JSON_KEY = /^[A-Za-z0-9_-]{1,100}$/;
const INT = /^-?\d{1,10}$/;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

function failer(requestField: string) {
  return (pos: number, description: string): never => {
    throw new InvalidArgumentError([
      {
        field: requestField,
        description: `at position ${pos + 1}: ${description}`,
        reason: "INVALID_FILTER",
      },
    ]);
  };
}

type Fail = ReturnType<typeof failer>;

function tokenize(input: string, fail: Fail): Token[] {
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
      if (j >= input.length) fail(i, "unterminated string");
      tokens.push({ kind: "string", text, pos: i });
      i = j + 1;
    } else if (c === "(" || c === ")") {
      tokens.push({ kind: c === "(" ? "lparen" : "rparen", text: c, pos: i++ });
    } else if ("=!<>:".includes(c)) {
      const op = OPS.find((o) => input.startsWith(o, i)) ?? fail(i, `unexpected character '${c}'`);
      tokens.push({ kind: "op", text: op, pos: i });
      i += op.length;
    } else if (c === "-" && !/[0-9]/.test(input[i + 1] ?? "")) {
      tokens.push({ kind: "minus", text: c, pos: i++ });
    } else if (/[A-Za-z0-9_*.+-]/.test(c)) {
      // Words: field paths, enum names, numbers; a word starting with a digit may be an RFC 3339 timestamp
      // (so it may contain ':').
      const word = /[0-9]/.test(c) ? /[A-Za-z0-9_*.+:-]/ : /[A-Za-z0-9_*.+-]/;
      let j = i + 1;
      while (j < input.length && word.test(input[j] as string)) j++;
      const text = input.slice(i, j);
      const kind: TokenKind = text === "AND" ? "and" : text === "OR" ? "or" : text === "NOT" ? "not" : "word";
      tokens.push({ kind, text, pos: i });
      i = j;
    } else {
      fail(i, `unexpected character '${c}'`);
    }
  }
  return tokens;
}

function join(type: "and" | "or", args: FilterExpr[]): FilterExpr {
  return args.length === 1 ? (args[0] as FilterExpr) : { type, args };
}

class Parser {
  private i = 0;
  readonly fields = new Set<string>();
  private comparisons = 0;
  private readonly fieldList: string;

  constructor(
    private readonly tokens: Token[],
    private readonly specs: Readonly<Record<string, ExprFieldSpec>>,
    private readonly fail: Fail,
    private readonly end: number,
  ) {
    const names = Object.keys(specs);
    const json = names.filter((f) => specs[f]?.kind === "json");
    this.fieldList = [...names.filter((f) => !json.includes(f)), ...json.map((f) => `${f}.<key>`)].join(", ");
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  parse(): FilterExpr {
    const expr = this.expression();
    const extra = this.peek();
    if (extra)
      this.fail(extra.pos, extra.kind === "rparen" ? "unbalanced ')'" : `unexpected '${extra.text}'`);
    return expr;
  }

  private expression(): FilterExpr {
    const parts = [this.sequence()];
    while (this.peek()?.kind === "and") {
      this.i++;
      parts.push(this.sequence());
    }
    return join("and", parts);
  }

  private startsTerm(t: Token | undefined): boolean {
    return (
      t !== undefined && (t.kind === "word" || t.kind === "lparen" || t.kind === "not" || t.kind === "minus")
    );
  }

  private sequence(): FilterExpr {
    const parts = [this.factor()];
    while (this.startsTerm(this.peek())) parts.push(this.factor());
    return join("and", parts);
  }

  private factor(): FilterExpr {
    const parts = [this.term()];
    while (this.peek()?.kind === "or") {
      this.i++;
      parts.push(this.term());
    }
    return join("or", parts);
  }

  private term(): FilterExpr {
    const t = this.peek();
    if (t?.kind === "not" || t?.kind === "minus") {
      this.i++;
      return { type: "not", arg: this.simple() };
    }
    return this.simple();
  }

  private simple(): FilterExpr {
    const t = this.peek() ?? this.fail(this.end, "expected a comparison");
    if (t.kind === "lparen") {
      this.i++;
      const inner = this.expression();
      const close = this.peek();
      if (close?.kind !== "rparen") this.fail(close?.pos ?? this.end, "expected ')'");
      this.i++;
      return inner;
    }
    if (t.kind !== "word") this.fail(t.pos, `expected a field name, got '${t.text}'`);
    this.i++;
    const op = this.peek();
    if (op?.kind !== "op") this.fail(op?.pos ?? this.end, `expected a comparator after '${t.text}'`);
    this.i++;
    const value = this.peek();
    if (value === undefined || (value.kind !== "word" && value.kind !== "string")) {
      this.fail(value?.pos ?? this.end, `expected a value after '${t.text} ${op.text}'`);
    }
    this.i++;
    if (++this.comparisons > MAX_COMPARISONS) {
      this.fail(t.pos, `too many comparisons (at most ${MAX_COMPARISONS})`);
    }
    return this.comparison(t, op.text as ExprOp, value);
  }

  private comparison(fieldTok: Token, op: ExprOp, value: Token): ExprComparison {
    const [head = "", ...path] = fieldTok.text.split(".");
    const spec = this.specs[head];
    if (
      spec === undefined ||
      !Object.hasOwn(this.specs, head) ||
      path.length > 0 !== (spec.kind === "json")
    ) {
      this.fail(fieldTok.pos, `unknown field '${fieldTok.text}' (supported: ${this.fieldList})`);
    }
    this.fields.add(head);
    const cmp = (v: ExprValue): ExprComparison => ({ type: "cmp", field: head, path, op, value: v });
    if (spec.kind === "json" && path.some((k) => !JSON_KEY.test(k))) {
      this.fail(fieldTok.pos, `${head} keys must be 1-100 characters of [A-Za-z0-9_-]`);
    }
    if (op === ":" && value.kind === "word" && value.text === "*") return cmp({ type: "present" });
    const text = value.text;
    switch (spec.kind) {
      case "enum": {
        const upper = text.toUpperCase();
        const short = upper.startsWith(spec.enumPrefix) ? upper.slice(spec.enumPrefix.length) : upper;
        const db = short.toLowerCase();
        if (!spec.values.includes(db)) {
          const all = spec.values.map((v) => v.toUpperCase()).join(", ");
          this.fail(value.pos, `unknown ${head} value '${text}' (one of ${all})`);
        }
        return cmp({ type: "string", text: db });
      }
      case "text":
        if (text === "" && (op === "=" || op === "!=")) return cmp({ type: "null" });
        return cmp({ type: "string", text });
      case "ref": {
        if (op !== "=" && op !== "!=" && op !== ":")
          this.fail(value.pos, `${head} supports only =, != and :`);
        if (text === "") return cmp({ type: "null" });
        const id = text.startsWith(spec.prefix) ? text.slice(spec.prefix.length) : text;
        if (!isUuid(id)) this.fail(value.pos, `${head} must be "${spec.prefix}{uuid}"`);
        return cmp({ type: "string", text: id.toLowerCase() });
      }
      case "array":
        if (op !== ":") this.fail(fieldTok.pos, `${head} is a list: use '${head}:"value"'`);
        return cmp({ type: "string", text });
      case "int":
        if (!INT.test(text)) this.fail(value.pos, `${head} needs an integer value`);
        return cmp({ type: "number", text });
      case "time":
        if (!RFC3339.test(text) || Number.isNaN(Date.parse(text))) {
          this.fail(value.pos, `${head} needs an RFC 3339 timestamp, e.g. "2030-01-31T12:00:00Z"`);
        }
        return cmp({ type: "string", text });
      case "json": {
        if (value.kind === "word" && (text === "true" || text === "false" || text === "null")) {
          if (op !== "=" && op !== "!=" && op !== ":") this.fail(value.pos, `${text} supports only = and !=`);
          return cmp({ type: "literal", text });
        }
        if (value.kind === "word" && NUMBER.test(text)) return cmp({ type: "number", text });
        if (value.kind === "word") {
          this.fail(value.pos, `quote the string value of ${fieldTok.text}, e.g. "${text}"`);
        }
        return cmp({ type: "string", text });
      }
    }
  }
}

/**
 * Parses an AIP-160 filter against `specs` (field name -> spec). Empty (blank) input yields `expr: null`.
 * `requestField` names the request field in errors (e.g. "filter", "selector.filter").
 */
export function parseFilterExpression(
  input: string,
  specs: Readonly<Record<string, ExprFieldSpec>>,
  requestField = "filter",
): ParsedFilter {
  if (input.trim() === "") return { expr: null, fields: new Set() };
  const fail = failer(requestField);
  const parser = new Parser(tokenize(input, fail), specs, fail, input.length);
  const expr = parser.parse();
  return { expr, fields: parser.fields };
}
