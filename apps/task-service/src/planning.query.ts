/**
 * AIP-160 filter / AIP-132 order_by subset for the planning and relationship List RPCs: conjunctions (AND)
 * of comparisons `field op value` with `=`, `!=`, `<`, `<=`, `>`, `>=`; values are string literals in double
 * quotes, numbers, RFC 3339 timestamps or enum short names. Order by exactly one field, optional " desc".
 * Anything outside the subset is INVALID_ARGUMENT naming the position; nothing is silently ignored.
 */
import type { DescEnum } from "@bufbuild/protobuf";
import type { CompareOp, Condition } from "@taskmaster/persistence/list-page";
import { parseConjunction, type QueryValue, queryError } from "@taskmaster/rpc-kit/list-query";
import { parseResourceName } from "@taskmaster/rpc-kit/validation";

export type FieldKind =
  /** Enum by short name (`ACTIVE`) or full name (`SPRINT_STATE_ACTIVE`); `toDb` maps the number. */
  | { kind: "enum"; desc: DescEnum; toDb: (n: number) => string | undefined }
  /** A resource name ("sprints/{sprint}") compared by id; `""` means "not set". */
  | { kind: "name"; pattern: string }
  | { kind: "int" }
  | { kind: "timestamp" }
  | { kind: "string" };

function fail(pos: number, description: string): never {
  return queryError("filter", pos, description);
}

function enumValue(desc: DescEnum, text: string): number | undefined {
  const upper = text.toUpperCase();
  return desc.values.find((v) => v.number !== 0 && (v.localName === upper || v.name === upper))?.number;
}

function convert(kind: FieldKind, token: QueryValue, op: CompareOp): string | number | Date | null {
  const ordered = op !== "=" && op !== "!=";
  switch (kind.kind) {
    case "enum": {
      const n = enumValue(kind.desc, token.text);
      const db = n === undefined ? undefined : kind.toDb(n);
      if (db === undefined) {
        const names = kind.desc.values.filter((v) => v.number !== 0).map((v) => v.localName);
        fail(token.pos, `unknown value '${token.text}' (expected one of ${names.join(", ")})`);
      }
      if (ordered) fail(token.pos, "enum fields only support = and !=");
      return db;
    }
    case "name": {
      if (ordered) fail(token.pos, "resource fields only support = and !=");
      if (token.text === "") return null;
      const parsed = parseResourceName(kind.pattern, token.text);
      if (!parsed.ok) fail(token.pos, parsed.description);
      return Object.values(parsed.ids).at(-1) as string;
    }
    case "int": {
      if (token.quoted || !/^-?[0-9]{1,9}$/.test(token.text)) {
        fail(token.pos, `expected an integer, got '${token.text}'`);
      }
      return Number(token.text);
    }
    case "timestamp": {
      const ok =
        /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/i.test(
          token.text,
        );
      const date = new Date(token.text);
      if (!ok || Number.isNaN(date.getTime())) {
        fail(token.pos, `expected an RFC 3339 timestamp, got '${token.text}'`);
      }
      return date;
    }
    case "string":
      if (!token.quoted) fail(token.pos, "expected a string literal in double quotes");
      return token.text;
  }
}

/** Parses `filter` against the allowed `fields`; "" means no conditions. */
export function parseFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, FieldKind>>,
): Condition<F>[] {
  return parseConjunction(filter, fields, { maxLength: 2000 }, (c) => ({
    field: c.field as F,
    op: c.op as CompareOp,
    value: convert(c.kind, c.value, c.op as CompareOp),
  }));
}

/** Parses `order_by` (one of `fields`, optional " desc"/" asc"); "" means `fallback`. */
export { parseOrderBy } from "@taskmaster/rpc-kit/list-query";
