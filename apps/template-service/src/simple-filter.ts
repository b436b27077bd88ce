/**
 * A small AIP-160 subset for the template service: restrictions `field op value` joined by `AND`
 * (`op` one of = != < <= > >= and `:` for "has"; values are bare words or double-quoted strings with `\"`
 * escapes). Fields are whitelisted by the caller; anything else is INVALID_ARGUMENT naming the position.
 */
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { parseConjunction, parseOrderBy as parseListOrderBy } from "@taskmaster/rpc-kit/list-query";

export type FilterOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":";

export interface Restriction {
  field: string;
  op: FilterOp;
  value: string;
  quoted: boolean;
}

/** Parses `input` into restrictions over `allowed` field names. */
export function parseFilter(
  input: string,
  allowed: readonly string[],
  requestField = "filter",
): Restriction[] {
  const fields = Object.fromEntries(allowed.map((f) => [f, f]));
  return parseConjunction(
    input,
    fields,
    {
      requestField,
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
        unknownField: (name) => `unknown field "${name}" (allowed: ${allowed.join(", ")})`,
        expectedOp: "expected a comparator (=, !=, <, <=, >, >=, :)",
        expectedAnd: () => "expected AND (only conjunctions of restrictions are supported)",
      },
    },
    (c) => ({ field: c.field, op: c.op as FilterOp, value: c.value.text, quoted: c.value.quoted }),
  );
}

/** Parses "field [asc|desc]" order_by with one key from `allowed`. */
export function parseOrderBy<T extends string>(
  input: string,
  allowed: readonly T[],
  fallback: { field: T; desc: boolean },
  requestField = "order_by",
): { field: T; desc: boolean } {
  return parseListOrderBy(input, allowed, fallback, {
    requestField,
    caseSensitive: true,
    summary: {
      violationReason: "INVALID_ORDER_BY",
      description: (all) => `must be one of ${all.join(", ")}, optionally followed by " asc" or " desc"`,
    },
  });
}

export function filterError(
  field: string,
  description: string,
  requestField = "filter",
): InvalidArgumentError {
  return new InvalidArgumentError([
    { field: requestField, description: `${field}: ${description}`, reason: "INVALID_FILTER" },
  ]);
}
