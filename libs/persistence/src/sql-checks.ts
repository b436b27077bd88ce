/** Small helpers that build CHECK constraint expressions; the entity files use them. */

function quote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `column in ('a', 'b', ...)` for a closed value set. */
export function inSet(column: string, values: readonly string[]): string {
  return `${column} in (${values.map(quote).join(", ")})`;
}

/** `column is null or column in (...)` for an optional value from a closed set. */
export function nullOrInSet(column: string, values: readonly string[]): string {
  return `${column} is null or ${inSet(column, values)}`;
}

/** Inclusive range; `null` is allowed unless `required`. */
export function between(column: string, min: number, max: number, required = false): string {
  const range = `${column} >= ${min} and ${column} <= ${max}`;
  return required ? range : `${column} is null or (${range})`;
}

/** `jsonb_typeof(column) = 'array' | 'object'`. */
export function jsonKind(column: string, kind: "array" | "object"): string {
  return `jsonb_typeof(${column}) = '${kind}'`;
}

/** POSIX regex match, null allowed unless `required`. */
export function matches(column: string, pattern: string, required = false): string {
  const m = `${column} ~ ${quote(pattern)}`;
  return required ? m : `${column} is null or ${m}`;
}
