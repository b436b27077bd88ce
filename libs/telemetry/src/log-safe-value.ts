/**
 * Turns anything a caller hands a log call into plain JSON-safe data, without ever throwing: strings are
 * masked, BigInt and symbols become strings, errors become `{ type, message, stack, code, ... }` (masked),
 * cycles become "[Circular]", throwing getters and hostile proxies become "[Unreadable]", depth is bounded.
 * A log call sits in error paths (an `'error'` listener, a catch block) where a throw kills the process.
 */

const MAX_DEPTH = 6;
const MAX_KEYS = 200;

export type Masker = (text: string) => string;

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "[Unreadable]";
  }
}

function read(target: object, key: PropertyKey): unknown {
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return "[Unreadable]";
  }
}

function isError(value: object): value is Error {
  try {
    return value instanceof Error || Object.prototype.toString.call(value) === "[object Error]";
  } catch {
    return false;
  }
}

function errorToPlain(
  err: Error,
  mask: Masker,
  depth: number,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const name = read(err, "name");
  const ctorName = safeString(read(read(err, "constructor") as object, "name"));
  out.type = typeof ctorName === "string" && ctorName !== "undefined" ? ctorName : safeString(name);
  out.message = mask(safeString(read(err, "message")));
  const stack = read(err, "stack");
  if (typeof stack === "string") out.stack = mask(stack);
  let keys: string[] = [];
  try {
    keys = Object.keys(err);
  } catch {
    keys = [];
  }
  for (const key of keys.slice(0, MAX_KEYS)) {
    if (key === "message" || key === "stack") continue;
    out[key] = toLoggable(read(err, key), mask, depth - 1, seen);
  }
  const cause = read(err, "cause");
  if (cause !== undefined) out.cause = toLoggable(cause, mask, depth - 1, seen);
  const errors = read(err, "errors");
  if (Array.isArray(errors)) out.errors = toLoggable(errors, mask, depth - 1, seen);
  return out;
}

/** Plain, masked, JSON-safe copy of `value` (never throws). */
export function toLoggable(
  value: unknown,
  mask: Masker,
  depth = MAX_DEPTH,
  seen = new WeakSet<object>(),
): unknown {
  try {
    switch (typeof value) {
      case "string":
        return mask(value);
      case "number":
        return Number.isFinite(value) ? value : String(value);
      case "boolean":
      case "undefined":
        return value;
      case "bigint":
        return value.toString();
      case "symbol":
        return value.toString();
      case "function":
        return `[Function ${safeString(read(value, "name")) || "anonymous"}]`;
    }
    if (value === null) return null;
    const obj = value as object;
    if (seen.has(obj)) return "[Circular]";
    if (depth <= 0) return "[Object]";
    seen.add(obj);
    try {
      if (isError(obj)) return errorToPlain(obj, mask, depth, seen);
      if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? "Invalid Date" : obj.toISOString();
      if (Array.isArray(obj)) return obj.slice(0, MAX_KEYS).map((v) => toLoggable(v, mask, depth - 1, seen));
      if (obj instanceof Map) {
        return [...obj.entries()]
          .slice(0, MAX_KEYS)
          .map(([k, v]) => [toLoggable(k, mask, depth - 1, seen), toLoggable(v, mask, depth - 1, seen)]);
      }
      if (obj instanceof Set)
        return [...obj].slice(0, MAX_KEYS).map((v) => toLoggable(v, mask, depth - 1, seen));
      if (Buffer.isBuffer(obj)) return `[Buffer ${obj.length} bytes]`;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(obj).slice(0, MAX_KEYS)) {
        out[key] = toLoggable(read(obj, key), mask, depth - 1, seen);
      }
      return out;
    } finally {
      seen.delete(obj);
    }
  } catch {
    return "[Unreadable]";
  }
}

/** True for a value pino may walk as is: a plain object of masked-safe primitives only (the common case). */
export function isFlatPlain(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  try {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      const t = typeof v;
      if (t !== "string" && t !== "number" && t !== "boolean" && v !== undefined && v !== null) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export { safeString };
