/**
 * A small AIP-160 subset for the template service: restrictions `field op value` joined by `AND`
 * (`op` one of = != < <= > >= and `:` for "has"; values are bare words or double-quoted strings with `\"`
 * escapes). Fields are whitelisted by the caller; anything else is INVALID_ARGUMENT naming the position.
 */
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";

export type FilterOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":";

export interface Restriction {
  field: string;
  op: FilterOp;
  value: string;
  quoted: boolean;
}

function fail(field: string, pos: number, description: string): never {
  throw new InvalidArgumentError([
    { field, description: `at position ${pos + 1}: ${description}`, reason: "INVALID_FILTER" },
  ]);
}

/** Parses `input` into restrictions over `allowed` field names. */
export function parseFilter(
  input: string,
  allowed: readonly string[],
  requestField = "filter",
): Restriction[] {
  if (input.length > 4000) {
    throw new InvalidArgumentError([
      { field: requestField, description: "must be at most 4000 characters", reason: "TOO_LONG" },
    ]);
  }
  const out: Restriction[] = [];
  let i = 0;
  const ws = () => {
    while (i < input.length && /\s/.test(input[i] as string)) i++;
  };
  ws();
  if (i >= input.length) return out;
  for (;;) {
    ws();
    const fieldStart = i;
    const fm = /^[a-z_][a-z0-9_]*/.exec(input.slice(i));
    if (!fm) fail(requestField, i, "expected a field name");
    const field = fm[0];
    if (!allowed.includes(field))
      fail(requestField, fieldStart, `unknown field "${field}" (allowed: ${allowed.join(", ")})`);
    i += field.length;
    ws();
    const om = /^(<=|>=|!=|=|<|>|:)/.exec(input.slice(i));
    if (!om) fail(requestField, i, "expected a comparator (=, !=, <, <=, >, >=, :)");
    const op = om[0] as FilterOp;
    i += op.length;
    ws();
    let value = "";
    let quoted = false;
    if (input[i] === '"') {
      quoted = true;
      i++;
      while (i < input.length && input[i] !== '"') {
        if (input[i] === "\\" && i + 1 < input.length) i++;
        value += input[i];
        i++;
      }
      if (i >= input.length) fail(requestField, i, "unterminated string");
      i++;
    } else {
      const vm = /^[^\s()"]+/.exec(input.slice(i));
      if (!vm) fail(requestField, i, "expected a value");
      value = vm[0];
      i += value.length;
    }
    out.push({ field, op, value, quoted });
    ws();
    if (i >= input.length) return out;
    const am = /^AND\b/.exec(input.slice(i));
    if (!am) fail(requestField, i, "expected AND (only conjunctions of restrictions are supported)");
    i += 3;
  }
}

/** Parses "field [asc|desc]" order_by with one key from `allowed`. */
export function parseOrderBy<T extends string>(
  input: string,
  allowed: readonly T[],
  fallback: { field: T; desc: boolean },
  requestField = "order_by",
): { field: T; desc: boolean } {
  const s = input.trim();
  if (s === "") return fallback;
  const m = /^([a-z_]+)(?:\s+(asc|desc))?$/.exec(s);
  if (!m || !allowed.includes(m[1] as T)) {
    throw new InvalidArgumentError([
      {
        field: requestField,
        description: `must be one of ${allowed.join(", ")}, optionally followed by " asc" or " desc"`,
        reason: "INVALID_ORDER_BY",
      },
    ]);
  }
  return { field: m[1] as T, desc: m[2] === "desc" };
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
