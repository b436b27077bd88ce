/**
 * Zod building blocks for environment variables (strings in, typed values out, one message per problem):
 * `loadConfig`'s common schema uses them, and so do services in their own schemas and `envReader`.
 */
import { z } from "zod";

/** Integer env var in [min, max]. */
export function intVar(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, { error: "must be an integer" })
    .transform(Number)
    .pipe(
      z.number().min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`),
    );
}

/** Decimal env var in [min, max]. */
export function numberVar(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+(\.\d+)?$/, { error: "must be a number" })
    .transform(Number)
    .pipe(
      z.number().min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`),
    );
}

export const portVar = () => intVar(0, 65_535);

/** Boolean env var: true/false/1/0/yes/no. */
export function boolVar() {
  return z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ["true", "false", "1", "0", "yes", "no"].includes(v), "must be true or false")
    .transform((v) => v === "true" || v === "1" || v === "yes");
}

/** `postgres://` or `postgresql://` URL with a host. */
export function postgresUrlVar() {
  return z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({
        code: "custom",
        message: "is not a valid URL (expected postgres://user:pass@host:5432/db)",
      });
      return;
    }
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
      ctx.addIssue({ code: "custom", message: `must use the postgres:// scheme (got "${url.protocol}//")` });
      return;
    }
    if (url.hostname === "" && !url.searchParams.has("host")) {
      ctx.addIssue({ code: "custom", message: "has no host (expected postgres://user:pass@host:5432/db)" });
    }
  });
}

/** One of `values`. */
export function enumVar<const T extends readonly [string, ...string[]]>(values: T) {
  return z
    .string()
    .trim()
    .refine((v) => (values as readonly string[]).includes(v), `must be one of ${values.join(", ")}`)
    .transform((v) => v as T[number]);
}
