/**
 * Typed field specs for the conjunction subset of AIP-160 (the planning, relationship, alert and audit List
 * RPCs): each field declares its kind, which fixes its operators and how its value is written; the parser
 * ({@link parseConjunction}) scans, this module checks and converts, and the result is a condition list
 * that persistence renders (`conditionsSql` / `listKeysetPage`). Errors are INVALID_ARGUMENT naming the
 * request field and the position.
 */
import type { DescEnum } from "@bufbuild/protobuf";
import { parseConjunction, type QueryValue, queryError } from "./list-query.js";
import { parseResourceName } from "./validation.js";

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/**
 * A filterable field. `enum`: short (`ACTIVE`) or full (`SPRINT_STATE_ACTIVE`) name, = and != (all six with
 * `ordered`), `toDb` maps the number; `name`: a resource name compared by id, = and != (`nullable`: `""`
 * means not set); `int`, `timestamp` (RFC 3339): all six; `bool`: true/false, = and !=; `string`: a quoted
 * literal, all six.
 */
export type ListFieldSpec =
  | { kind: "enum"; desc: DescEnum; toDb: (n: number) => string | number | undefined; ordered?: boolean }
  | { kind: "name"; pattern: string; nullable?: boolean }
  | { kind: "int" }
  | { kind: "bool" }
  | { kind: "timestamp" }
  | { kind: "string" };

/** One checked comparison; `null` with `=`/`!=` means `is null`/`is not null`. */
export interface ListFilterCondition<F extends string> {
  field: F;
  op: CompareOp;
  value: string | number | Date | null;
}

const RFC3339 =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/i;

function enumValue(desc: DescEnum, text: string): number | undefined {
  const upper = text.toUpperCase();
  return desc.values.find((v) => v.number !== 0 && (v.localName === upper || v.name === upper))?.number;
}

function convert(
  spec: ListFieldSpec,
  token: QueryValue,
  op: CompareOp,
  fail: (pos: number, description: string) => never,
): string | number | Date | null {
  const ordered = op !== "=" && op !== "!=";
  switch (spec.kind) {
    case "enum": {
      const n = enumValue(spec.desc, token.text);
      const db = n === undefined ? undefined : spec.toDb(n);
      if (db === undefined) {
        const names = spec.desc.values.filter((v) => v.number !== 0).map((v) => v.localName);
        return fail(token.pos, `unknown value '${token.text}' (expected one of ${names.join(", ")})`);
      }
      if (ordered && spec.ordered !== true) fail(token.pos, "enum fields only support = and !=");
      return db;
    }
    case "name": {
      if (ordered) fail(token.pos, "resource fields only support = and !=");
      if (token.text === "" && spec.nullable === true) return null;
      const parsed = parseResourceName(spec.pattern, token.text);
      if (!parsed.ok) fail(token.pos, parsed.description);
      return Object.values(parsed.ids).at(-1) as string;
    }
    case "int":
      if (token.quoted || !/^-?[0-9]{1,9}$/.test(token.text)) {
        fail(token.pos, `expected an integer, got '${token.text}'`);
      }
      return Number(token.text);
    case "bool":
      if (ordered) fail(token.pos, "boolean fields only support = and !=");
      if (token.quoted || (token.text !== "true" && token.text !== "false")) {
        fail(token.pos, `expected true or false, got '${token.text}'`);
      }
      return token.text;
    case "timestamp": {
      const date = new Date(token.text);
      if (!RFC3339.test(token.text) || Number.isNaN(date.getTime())) {
        fail(token.pos, `expected an RFC 3339 timestamp, got '${token.text}'`);
      }
      return date;
    }
    case "string":
      if (!token.quoted) fail(token.pos, "expected a string literal in double quotes");
      return token.text;
  }
}

/**
 * Parses `filter` (at most 2000 characters) against `fields`; "" means no conditions. `requestField` names
 * the request field in errors.
 */
export function parseListFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, ListFieldSpec>>,
  requestField = "filter",
): ListFilterCondition<F>[] {
  const fail = (pos: number, description: string): never => queryError(requestField, pos, description);
  return parseConjunction(filter, fields, { requestField, maxLength: 2000 }, (c) => ({
    field: c.field as F,
    op: c.op as CompareOp,
    value: convert(c.kind, c.value, c.op as CompareOp, fail),
  }));
}
