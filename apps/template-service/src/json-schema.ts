/**
 * JSON Schema (draft 2020-12) checks with ajv: schema compilation (cached by schema text) and validation of
 * template parameters; plus the type's validation rules applied to a template at write time. The ajv instance
 * and its compile cache belong to a `SchemaChecker`, one per server (server.ts creates it and passes it on).
 */
import type { FieldViolation } from "@taskmaster/rpc-kit/errors";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { LRUCache } from "lru-cache";

export interface SchemaChecker {
  /** Compiles `schema` (throws with ajv's message when invalid). */
  compile(schema: Record<string, unknown>): ValidateFunction;
  /** A description of why `schema` is not a usable draft 2020-12 schema object, or null. */
  problem(schema: unknown): string | null;
  /** Field violations of `value` against `schema`, each on `field` + the instance path. */
  violations(field: string, schema: Record<string, unknown>, value: unknown): FieldViolation[];
}

/** One ajv instance with its compile cache (500 schemas, keyed by schema text). */
export function createSchemaChecker(): SchemaChecker {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  const cache = new LRUCache<string, ValidateFunction>({ max: 500 });
  const compile = (schema: Record<string, unknown>): ValidateFunction => {
    const key = JSON.stringify(schema);
    const hit = cache.get(key);
    if (hit) return hit;
    if (!ajv.validateSchema(schema)) {
      throw new Error(ajv.errorsText(ajv.errors, { dataVar: "schema" }));
    }
    const fn = ajv.compile(schema);
    // Ajv keeps compiled schemas by $id; drop them again so user schemas cannot collide.
    if (typeof schema.$id === "string") ajv.removeSchema(schema.$id);
    cache.set(key, fn);
    return fn;
  };
  return {
    compile,
    problem(schema) {
      if (typeof schema !== "object" || schema === null || Array.isArray(schema))
        return "must be a JSON object";
      try {
        compile(schema as Record<string, unknown>);
        return null;
      } catch (err) {
        return `is not a valid JSON Schema (draft 2020-12): ${(err as Error).message}`.slice(0, 500);
      }
    },
    violations: (field, schema, value) => validatorViolations(field, compile(schema), value),
  };
}

/** Field violations of `value` against a compiled schema (see `SchemaChecker.violations`). */
export function validatorViolations(
  field: string,
  validate: ValidateFunction,
  value: unknown,
): FieldViolation[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).slice(0, 50).map((e) => {
    const at = e.instancePath === "" ? field : `${field}${e.instancePath.replace(/\//g, ".")}`;
    const missing =
      e.keyword === "required" ? (e.params as { missingProperty?: unknown }).missingProperty : undefined;
    // A required property is named in the field path, so the caller sees which parameter to add.
    if (typeof missing === "string") {
      return {
        field: `${at}.${missing}`,
        description: `is required by the template type's JSON Schema (schema ${e.schemaPath})`,
        reason: "SCHEMA_VIOLATION",
      };
    }
    return {
      field: at,
      description: `${e.message ?? "is invalid"} (schema ${e.schemaPath})`,
      reason: "SCHEMA_VIOLATION",
    };
  });
}

/**
 * Violations of the type's validation rules (snake or camel case keys): max content length/bytes, required
 * declared variables, forbidden helpers.
 */
export function ruleViolations(
  rules: Record<string, unknown>,
  t: { content: string; variableNames: string[] },
): FieldViolation[] {
  const out: FieldViolation[] = [];
  const pick = (...keys: string[]) => keys.map((k) => rules[k]).find((v) => v !== undefined);
  const maxLen = pick("max_content_bytes", "maxContentBytes", "max_content_length", "maxContentLength");
  if (typeof maxLen === "number" && Buffer.byteLength(t.content, "utf8") > maxLen) {
    out.push({
      field: "template.content",
      description: `must be at most ${maxLen} bytes for this template type`,
      reason: "TYPE_RULE_MAX_CONTENT",
    });
  }
  const required = pick("required_variables", "requiredVariables");
  if (Array.isArray(required)) {
    const missing = required.filter((n) => typeof n === "string" && !t.variableNames.includes(n));
    if (missing.length > 0) {
      out.push({
        field: "template.variables",
        description: `must declare ${missing.join(", ")} (required by the template type)`,
        reason: "TYPE_RULE_REQUIRED_VARIABLES",
      });
    }
  }
  const forbidden = pick("forbidden_helpers", "forbiddenHelpers");
  if (Array.isArray(forbidden)) {
    for (const h of forbidden) {
      if (typeof h !== "string" || !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(h)) continue;
      if (new RegExp(`\\{\\{[#^/~\\s]*${h}\\b`).test(t.content)) {
        out.push({
          field: "template.content",
          description: `must not use the helper "${h}" (forbidden by the template type)`,
          reason: "TYPE_RULE_FORBIDDEN_HELPER",
        });
      }
    }
  }
  return out;
}
