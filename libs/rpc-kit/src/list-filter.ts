/**
 * Typed field specs for the conjunction subset of AIP-160 used by every List RPC but ListTasks (which has the
 * full expression grammar of filter-expression.ts): each field declares its kind, which fixes its operators
 * and how its value is written; {@link parseConjunction} scans, this module checks and converts, and the
 * result is a condition list that persistence renders (`conditionsSql` / `listKeysetPage`). A
 * {@link ListFilterSyntax} is the dialect of a group of lists: {@link LIST_SYNTAX} (planning, relationship,
 * alert and audit lists, the default), {@link SUBRESOURCE_SYNTAX} (status history, comments, time logs,
 * report task scopes) and {@link TEMPLATE_SYNTAX} (the template service's lists). Errors are INVALID_ARGUMENT
 * naming the request field.
 */
import type { DescEnum } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "./errors.js";
import {
  type FilterSyntax,
  type OrderBySyntax,
  parseConjunction,
  parseOrderBy,
  type QueryComparison,
  queryError,
} from "./list-query.js";
import { parseResourceName, Validator } from "./validation.js";

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";
/** A comparison operator; `:` ("has") only where the syntax scans it and the field lists it in `ops`. */
export type ListOp = CompareOp | ":";

/**
 * A filterable field. `enum`: short (`ACTIVE`) or full (`SPRINT_STATE_ACTIVE`) name, `toDb` maps the number,
 * = and != (all six with `ordered`); `name`: a resource name compared by its last id, = and != (`nullable`:
 * `""` means not set, also the word `null` with `nullWord`); `int` (`unsigned`: no sign), `number` (any finite
 * decimal, within `min`..`max`), `timestamp`, `date` (YYYY-MM-DD): all six; `bool`: true/false, = and !=;
 * `string`: any text (at most `maxLength` characters, matching `pattern`), the syntax's `stringOps`;
 * `custom`: `parse` turns the text into the value (undefined: not a value, described by `expected`), = and !=.
 * `ops` replaces the operators of the kind.
 */
export type ListFieldSpec = (
  | { kind: "enum"; desc: DescEnum; toDb: (n: number) => string | number | undefined; ordered?: boolean }
  | { kind: "name"; pattern: string; nullable?: boolean; nullWord?: boolean }
  | { kind: "int"; unsigned?: boolean }
  | { kind: "number"; min?: number; max?: number }
  | { kind: "bool" }
  /**
   * `rfc3339` (default) a full RFC 3339 date-time; `date-first` any text the JavaScript Date parser reads
   * that starts with YYYY-MM-DD; `any` any text it reads.
   */
  | { kind: "timestamp"; format?: "rfc3339" | "date-first" | "any" }
  | { kind: "date" }
  | { kind: "string"; maxLength?: number; pattern?: RegExp; expected?: string }
  | { kind: "custom"; parse: (text: string) => string | undefined; expected: string }
) & { ops?: readonly ListOp[] };

export type ListValue = string | number | boolean | Date | null;

/** One checked comparison; `null` with `=`/`!=` means `is null`/`is not null`. */
export interface ListFilterCondition<
  F extends string,
  O extends ListOp = CompareOp,
  V extends ListValue = string | number | Date | null,
> {
  field: F;
  op: O;
  value: V;
}

/** The descriptions of the value and operator errors of a dialect. */
export interface ValueMessages {
  /** `op` is not one of `ops`, the operators of `field`. */
  op: (field: string, spec: ListFieldSpec, ops: readonly ListOp[]) => string;
  /** `text` is no value of `field`: `expected` says what is ("true or false", "one of A, B", ...). */
  value: (field: string, spec: ListFieldSpec, text: string, expected: string) => string;
}

/** The dialect of a group of lists: scanner options and how values are checked and reported. */
export interface ListFilterSyntax {
  /** Scanner options: violation reason, limits, `:`, token shapes, syntax error wording. */
  scan: Omit<FilterSyntax, "requestField" | "onOperator">;
  /** Quoting carries no meaning: a string may be a bare word and any other value may be quoted. */
  anyQuoting?: boolean;
  /** `bool` values as booleans (default: the text "true"/"false"). */
  booleans?: boolean;
  /** The operators of `string` fields (default all six). */
  stringOps?: readonly ListOp[];
  /**
   * When values and operators are checked. `scan` (default): each comparison as the scanner reaches it,
   * errors at the value's position; `operator`: the operator as soon as it is read (at its position), the
   * value as the scanner reaches it; `after-scan`: after the whole filter scanned, errors without position.
   */
  checks?: "scan" | "operator" | "after-scan";
  messages: ValueMessages;
  /** How the lists of this dialect read `order_by` (see {@link parseOrderBy}). */
  order?: OrderBySyntax;
}

const EQUALITY: readonly ListOp[] = ["=", "!="];
const ORDERED: readonly ListOp[] = ["=", "!=", "<", "<=", ">", ">="];

const KIND_LABEL: Partial<Record<ListFieldSpec["kind"], string>> = {
  enum: "enum",
  name: "resource",
  bool: "boolean",
};

/** The planning / relationship / alert / audit dialect: INVALID_SYNTAX, at most 2000 characters. */
export const LIST_SYNTAX: ListFilterSyntax = {
  scan: { maxLength: 2000 },
  messages: {
    op: (_field, spec) => `${KIND_LABEL[spec.kind] ?? "these"} fields only support = and !=`,
    value: (_field, spec, text, expected) => {
      if (spec.kind === "enum") return `unknown value '${text}' (expected ${expected})`;
      if (spec.kind === "name") return expected;
      if (spec.kind === "string") return `expected ${expected}`;
      return `expected ${expected}, got '${text}'`;
    },
  },
};

/**
 * The sub-resource dialect (status history, comments, time logs, report task scopes): INVALID_FILTER, at
 * most 20 comparisons, bare-word strings, strings = and != only, operators checked as soon as read.
 */
export const SUBRESOURCE_SYNTAX: ListFilterSyntax = {
  scan: {
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
  },
  anyQuoting: true,
  booleans: true,
  stringOps: EQUALITY,
  checks: "operator",
  order: {
    summary: {
      violationReason: "INVALID_ORDER_BY",
      description: (all) => `must be one of ${all.map((f) => `"${f}", "${f} desc"`).join(", ")}`,
    },
  },
  messages: {
    op: (field) => `${field} supports only = and !=`,
    value: (field, spec, text, expected) => {
      if (spec.kind === "enum") return `${field}: unknown value "${text}"`;
      if (spec.kind === "name") return `${field} ${expected}`;
      return `${field} must be ${expected}`;
    },
  },
};

/**
 * The template service's dialect: INVALID_FILTER, at most 4000 characters, `:` ("has"), bare values up to
 * white space, parentheses or a quote, strings = and != only; values are checked once the whole filter
 * scanned and their errors name the filter field ("tags: ...") instead of a position.
 */
export const TEMPLATE_SYNTAX: ListFilterSyntax = {
  scan: {
    violationReason: "INVALID_FILTER",
    maxLength: 4000,
    colon: true,
    unterminatedAtEnd: true,
    field: /[a-z_][a-z0-9_]*/y,
    bareValue: /[^\s()"]+/y,
    lexical: false,
    messages: {
      expectedField: () => "expected a field name",
      fieldAfterAnd: "expected a field name",
      unknownField: (name, known) => `unknown field "${name}" (allowed: ${known.join(", ")})`,
      expectedOp: "expected a comparator (=, !=, <, <=, >, >=, :)",
      expectedAnd: () => "expected AND (only conjunctions of restrictions are supported)",
    },
  },
  anyQuoting: true,
  booleans: true,
  stringOps: EQUALITY,
  checks: "after-scan",
  order: {
    caseSensitive: true,
    summary: {
      violationReason: "INVALID_ORDER_BY",
      description: (all) => `must be one of ${all.join(", ")}, optionally followed by " asc" or " desc"`,
    },
  },
  messages: {
    op: (field, _spec, ops) =>
      ops.length === 1 && ops[0] === ":"
        ? `${field}: supports only ":" (has)`
        : `${field}: supports only ${ops.join(" ")}`,
    value: (field, spec, _text, expected) =>
      spec.kind === "name" ? `${field}: ${expected}` : `${field}: must be ${expected}`,
  },
};

const RFC3339 =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/i;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;

function enumValue(desc: DescEnum, text: string): number | undefined {
  const upper = text.toUpperCase();
  return desc.values.find((v) => v.number !== 0 && (v.localName === upper || v.name === upper))?.number;
}

function opsOf(spec: ListFieldSpec, syntax: ListFilterSyntax): readonly ListOp[] {
  if (spec.ops !== undefined) return spec.ops;
  switch (spec.kind) {
    case "enum":
      return spec.ordered === true ? ORDERED : EQUALITY;
    case "int":
    case "number":
    case "timestamp":
    case "date":
      return ORDERED;
    case "string":
      return syntax.stringOps ?? ORDERED;
    default:
      return EQUALITY;
  }
}

/** Why `text` is no value of `spec` ("true or false", ...), or its converted value. */
type Checked = { ok: true; value: ListValue } | { ok: false; expected: string };

function checkValue(spec: ListFieldSpec, text: string, quoted: boolean, syntax: ListFilterSyntax): Checked {
  const ok = (value: ListValue): Checked => ({ ok: true, value });
  const no = (expected: string): Checked => ({ ok: false, expected });
  const bare = !quoted || syntax.anyQuoting === true;
  switch (spec.kind) {
    case "enum": {
      const n = enumValue(spec.desc, text);
      const db = n === undefined ? undefined : spec.toDb(n);
      if (db !== undefined) return ok(db);
      const names = spec.desc.values.filter((v) => v.number !== 0).map((v) => v.localName);
      return no(`one of ${names.join(", ")}`);
    }
    case "name": {
      if (spec.nullable === true && (text === "" || (spec.nullWord === true && text === "null"))) {
        return ok(null);
      }
      const parsed = parseResourceName(spec.pattern, text);
      return parsed.ok ? ok(Object.values(parsed.ids).at(-1) as string) : no(parsed.description);
    }
    case "int": {
      const re = spec.unsigned === true ? /^[0-9]{1,9}$/ : /^-?[0-9]{1,9}$/;
      if (!bare || !re.test(text))
        return no(spec.unsigned === true ? "a non-negative integer" : "an integer");
      return ok(Number(text));
    }
    case "number": {
      const n = Number(text);
      const inRange = (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
      if (text === "" || !Number.isFinite(n) || !inRange) {
        return no(
          spec.min !== undefined && spec.max !== undefined
            ? `a number between ${spec.min} and ${spec.max}`
            : "a number",
        );
      }
      return ok(n);
    }
    case "bool":
      if (!bare || (text !== "true" && text !== "false")) return no("true or false");
      return ok(syntax.booleans === true ? text === "true" : text);
    case "timestamp": {
      const date = new Date(text);
      const format = spec.format ?? "rfc3339";
      const shaped =
        format === "any" ||
        (format === "rfc3339" ? RFC3339.test(text) : /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text));
      return shaped && !Number.isNaN(date.getTime()) ? ok(date) : no("an RFC 3339 timestamp");
    }
    case "date": {
      const date = new Date(`${text}T00:00:00Z`);
      const valid = DATE.test(text) && !Number.isNaN(date.getTime());
      return valid && date.toISOString().slice(0, 10) === text ? ok(text) : no("a date YYYY-MM-DD");
    }
    case "string":
      if (!quoted && syntax.anyQuoting !== true) return no("a string literal in double quotes");
      if (spec.maxLength !== undefined && text.length > spec.maxLength) {
        return no(`a string of at most ${spec.maxLength} characters`);
      }
      if (spec.pattern !== undefined && !spec.pattern.test(text)) return no(spec.expected ?? "a valid value");
      return ok(text);
    case "custom": {
      const value = spec.parse(text);
      return value === undefined ? no(spec.expected) : ok(value);
    }
  }
}

/** Options of {@link parseListFilter}. */
export interface ListFilterOptions {
  /** The request field named in errors (default "filter"). */
  requestField?: string;
  /** The dialect (default {@link LIST_SYNTAX}). */
  syntax?: ListFilterSyntax;
}

/**
 * Parses `filter` against `fields` in the dialect of `options.syntax`; "" means no conditions. A string as
 * third argument is the request field named in errors (default dialect).
 */
export function parseListFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, ListFieldSpec>>,
  requestField?: string,
): ListFilterCondition<F>[];
export function parseListFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, ListFieldSpec>>,
  options: ListFilterOptions,
): ListFilterCondition<F, ListOp, ListValue>[];
export function parseListFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, ListFieldSpec>>,
  options: string | ListFilterOptions = {},
): ListFilterCondition<F, ListOp, ListValue>[] {
  const { requestField = "filter", syntax = LIST_SYNTAX } =
    typeof options === "string" ? { requestField: options } : options;
  const violationReason = syntax.scan.violationReason ?? "INVALID_SYNTAX";
  const checks = syntax.checks ?? "scan";
  const table = fields as Readonly<Record<string, ListFieldSpec>>;
  const { op: opMessage, value: valueMessage } = syntax.messages;
  /** Fails at `pos`, or without a position once the scan is over. */
  const fail = (pos: number | null, description: string): never => {
    if (pos !== null) return queryError(requestField, pos, description, violationReason);
    throw new InvalidArgumentError([{ field: requestField, description, reason: violationReason }]);
  };
  const checkOp = (field: string, op: string, pos: number | null) => {
    const spec = table[field] as ListFieldSpec;
    const ops = opsOf(spec, syntax);
    if (!ops.includes(op as ListOp)) fail(pos, opMessage(field, spec, ops));
  };
  const convert = (
    c: QueryComparison<ListFieldSpec>,
    pos: number | null,
  ): ListFilterCondition<F, ListOp, ListValue> => {
    const { field, kind: spec, op, value } = c;
    // Enums name the value before the operator; every other kind the operator first.
    if (checks !== "operator" && spec.kind !== "enum") checkOp(field, op, pos);
    const checked = checkValue(spec, value.text, value.quoted, syntax);
    if (!checked.ok) fail(pos, valueMessage(field, spec, value.text, checked.expected));
    if (checks !== "operator" && spec.kind === "enum") checkOp(field, op, pos);
    return { field: field as F, op: op as ListOp, value: (checked as { value: ListValue }).value };
  };
  const scan: FilterSyntax = {
    ...syntax.scan,
    requestField,
    ...(checks === "operator" && { onOperator: (field, op, opPos) => checkOp(field, op, opPos) }),
  };
  if (checks === "after-scan") {
    return parseConjunction(filter, table, scan, (c) => c).map((c) => convert(c, null));
  }
  return parseConjunction(filter, table, scan, (c) => convert(c, c.value.pos));
}

/** The request fields every List RPC with a filter and an order has. */
export interface ListRequest {
  pageSize: number;
  pageToken: string;
  filter: string;
  orderBy: string;
}

/** What a List RPC filters and sorts by, in the default dialect ({@link LIST_SYNTAX}). */
export interface ListSpec<F extends string, O extends string> {
  fields: Readonly<Record<F, ListFieldSpec>>;
  /** The `order_by` fields; "" means `defaultOrder`. */
  orderFields: readonly O[];
  defaultOrder: { field: O; desc: boolean };
  /** How `order_by` is read (default the dialect's `order`). */
  orderSyntax?: OrderBySyntax;
}

/** A {@link ListSpec} in another dialect. */
export interface DialectListSpec<F extends string, O extends string> extends ListSpec<F, O> {
  syntax: ListFilterSyntax;
}

export interface ListRequestOptions<O extends string> {
  /**
   * `page_size` already checked, or the validator (holding the request's other violations) that checks it
   * before the filter is read; default a validator of its own.
   */
  pageSize?: number | Validator;
  /**
   * What the page token is bound to; a function is given the order read from `order_by`.
   */
  binding: ListBinding | ((orderBy: { field: O; desc: boolean }) => ListBinding);
}

/** What a page token is bound to: a string as it is, an array of request fields as JSON. */
export type ListBinding = string | readonly unknown[];

/** The repository query of a List request (persistence's `ListQuery` shape). */
export interface ListRequestQuery<C, O extends string> {
  pageSize: number;
  pageToken: string | null;
  conditions: C[];
  orderBy: { field: O; desc: boolean };
  binding: string;
}

/**
 * Reads a List request in order: `page_size` (throwing every violation collected so far), `filter` against
 * `spec.fields`, `order_by` against `spec.orderFields`; the page token ("" is none) is bound to
 * `options.binding`.
 */
export function listQueryOf<F extends string, O extends string>(
  req: ListRequest,
  spec: DialectListSpec<F, O>,
  options: ListRequestOptions<O>,
): ListRequestQuery<ListFilterCondition<F, ListOp, ListValue>, O>;
export function listQueryOf<F extends string, O extends string>(
  req: ListRequest,
  spec: ListSpec<F, O>,
  options: ListRequestOptions<O>,
): ListRequestQuery<ListFilterCondition<F>, O>;
export function listQueryOf<F extends string, O extends string>(
  req: ListRequest,
  spec: ListSpec<F, O> & { syntax?: ListFilterSyntax },
  options: ListRequestOptions<O>,
): ListRequestQuery<ListFilterCondition<F, ListOp, ListValue>, O> {
  let pageSize: number;
  if (typeof options.pageSize === "number") pageSize = options.pageSize;
  else {
    const v = options.pageSize ?? new Validator();
    pageSize = v.pageSize("page_size", req.pageSize);
    v.check();
  }
  const syntax = spec.syntax ?? LIST_SYNTAX;
  const conditions = parseListFilter(req.filter, spec.fields, { syntax });
  const orderSyntax = spec.orderSyntax ?? syntax.order;
  const orderBy = parseOrderBy(req.orderBy, spec.orderFields, spec.defaultOrder, orderSyntax);
  const binding = typeof options.binding === "function" ? options.binding(orderBy) : options.binding;
  return {
    pageSize,
    pageToken: req.pageToken === "" ? null : req.pageToken,
    conditions,
    orderBy,
    binding: typeof binding === "string" ? binding : JSON.stringify(binding),
  };
}
