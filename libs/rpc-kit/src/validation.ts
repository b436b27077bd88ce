/**
 * A tiny fluent collector for request validation. Collect every violation, then `check()` throws ONE
 * InvalidArgumentError carrying all of them (google.rpc.BadRequest field violations).
 *
 * @example
 *   const v = validator();
 *   v.required("task.title", req.task?.title);
 *   v.length("task.title", req.task?.title, 1, 255);
 *   const id = v.resourceName("name", "tasks/{task}", req.name);
 *   const pageSize = v.pageSize("page_size", req.pageSize);
 *   v.check();
 */
import type { DescEnum } from "@bufbuild/protobuf";
import { type FieldViolation, InvalidArgumentError } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** RFC 4122/9562 textual UUID (any version). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function isBlank(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === "string") return value.trim().length === 0;
  if (Array.isArray(value)) return value.length === 0;
  return false;
}

/** Length in Unicode code points (what users count as characters; emoji = 1). */
export function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

export interface PageSizeOptions {
  /** Used when the request says 0 / unset (AIP-158). Default 50. */
  readonly defaultSize?: number;
  /** Larger requests are coerced down to this (AIP-158). Default 1000. */
  readonly max?: number;
}

/**
 * Parse a resource name against a pattern like `tasks/{task}` or `templates/{template}/versions/{version}`.
 * Every `{var}` must be a UUID. Returns the variables, or a description of what is wrong.
 */
export function parseResourceName(
  pattern: string,
  name: string,
): { ok: true; ids: Record<string, string> } | { ok: false; description: string } {
  const expected = pattern.split("/");
  const actual = name.split("/");
  const wrongShape = {
    ok: false as const,
    description: `must be a resource name of the form "${pattern}"`,
  };
  if (actual.length !== expected.length) return wrongShape;
  const ids: Record<string, string> = {};
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as string;
    const a = actual[i] as string;
    const variable = /^\{([^}]+)\}$/.exec(e)?.[1];
    if (variable === undefined) {
      if (a !== e) return wrongShape;
      continue;
    }
    if (!isUuid(a)) {
      return {
        ok: false,
        description: `must be a resource name of the form "${pattern}" where {${variable}} is a UUID`,
      };
    }
    ids[variable] = a.toLowerCase();
  }
  return { ok: true, ids };
}

export class Validator {
  readonly violations: FieldViolation[] = [];

  /** Add a violation. */
  add(field: string, description: string, reason?: string): this {
    this.violations.push(reason === undefined ? { field, description } : { field, description, reason });
    return this;
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  /** True when `field` already has a violation (skip dependent checks). */
  has(field: string): boolean {
    return this.violations.some((v) => v.field === field);
  }

  /** Value must be present: not undefined/null, not blank string, not empty list. */
  required(field: string, value: unknown): boolean {
    if (isBlank(value)) {
      this.add(field, "is required", "REQUIRED");
      return false;
    }
    return true;
  }

  /** String length in characters (code points) within [min, max]. Skipped when absent or already invalid. */
  length(field: string, value: string | undefined | null, min: number, max: number): this {
    if (value === undefined || value === null || this.has(field)) return this;
    const n = codePointLength(value);
    if (n < min) this.add(field, `must be at least ${min} characters (got ${n})`, "TOO_SHORT");
    else if (n > max) this.add(field, `must be at most ${max} characters (got ${n})`, "TOO_LONG");
    return this;
  }

  maxLength(field: string, value: string | undefined | null, max: number): this {
    return this.length(field, value, 0, max);
  }

  /** Value must be a UUID (when present and non-empty). */
  uuid(field: string, value: string | undefined | null): this {
    if (value === undefined || value === null || value === "" || this.has(field)) return this;
    if (!isUuid(value)) this.add(field, "must be a UUID", "INVALID_UUID");
    return this;
  }

  /** Number within [min, max] (inclusive), when present. */
  range(
    field: string,
    value: number | bigint | undefined | null,
    min: number | bigint,
    max: number | bigint,
  ): this {
    if (value === undefined || value === null || this.has(field)) return this;
    if (typeof value === "number" && !Number.isFinite(value)) {
      this.add(field, "must be a finite number", "OUT_OF_RANGE");
    } else if (value < min || value > max) {
      this.add(field, `must be between ${min} and ${max} (got ${value})`, "OUT_OF_RANGE");
    }
    return this;
  }

  /**
   * Enum value must be one the schema defines; `*_UNSPECIFIED` (0) is rejected unless `allowUnspecified`.
   */
  enumDefined(
    field: string,
    value: number | undefined | null,
    desc: DescEnum,
    options: { allowUnspecified?: boolean } = {},
  ): this {
    if (value === undefined || value === null || this.has(field)) return this;
    const known = desc.values.find((v) => v.number === value);
    if (known === undefined) {
      this.add(
        field,
        `must be one of ${desc.values.map((v) => v.name).join(", ")} (got ${value})`,
        "UNKNOWN_ENUM_VALUE",
      );
    } else if (value === 0 && options.allowUnspecified !== true) {
      this.add(field, `must be specified (${known.name} is not allowed)`, "REQUIRED");
    }
    return this;
  }

  /** Value must be one of `allowed`. */
  oneOf<T>(field: string, value: T | undefined | null, allowed: readonly T[]): this {
    if (value === undefined || value === null || this.has(field)) return this;
    if (!allowed.includes(value)) this.add(field, `must be one of ${allowed.join(", ")}`, "NOT_ALLOWED");
    return this;
  }

  /** String must match `pattern` (when present and non-empty). */
  pattern(field: string, value: string | undefined | null, pattern: RegExp, description: string): this {
    if (value === undefined || value === null || value === "" || this.has(field)) return this;
    if (!pattern.test(value)) this.add(field, description, "INVALID_FORMAT");
    return this;
  }

  /**
   * AIP-158 page size: negative is invalid; 0 means the default; above max is coerced to max.
   * Returns the effective page size.
   */
  pageSize(field: string, value: number | undefined | null, options: PageSizeOptions = {}): number {
    const def = options.defaultSize ?? 50;
    const max = options.max ?? 1000;
    if (value === undefined || value === null || value === 0) return def;
    if (value < 0 || !Number.isInteger(value)) {
      this.add(field, "must be a non-negative integer", "OUT_OF_RANGE");
      return def;
    }
    return Math.min(value, max);
  }

  /**
   * Resource name like `tasks/{task}`; returns the last variable (the resource's own id, lower-case UUID), or
   * undefined after recording a violation. Missing name -> "is required".
   */
  resourceName(field: string, pattern: string, name: string | undefined | null): string | undefined {
    if (!this.required(field, name)) return undefined;
    const parsed = parseResourceName(pattern, name as string);
    if (!parsed.ok) {
      this.add(field, parsed.description, "INVALID_RESOURCE_NAME");
      return undefined;
    }
    const values = Object.values(parsed.ids);
    return values[values.length - 1];
  }

  /** Throw InvalidArgumentError with every collected violation (no-op when there are none). */
  check(message?: string): void {
    if (this.violations.length > 0) throw new InvalidArgumentError([...this.violations], message);
  }
}

/** Start collecting violations. */
export function validator(): Validator {
  return new Validator();
}
