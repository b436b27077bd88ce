/**
 * The render pipeline shared by RenderTemplate and CreateTaskFromTemplate: resolve the template version
 * (pin, else approved when approval is required, else current), check REQUIRES dependencies, validate the
 * inputs (size, declared variables, the type's JSON Schema), resolve INCLUDES/EXTENDS partials and render.
 *
 * Everything the database decides comes from a render plan (render-plan.ts: one round trip, prepared once),
 * normally from the server's render-plan cache (render-plan.cache.ts: no round trip on a hit).
 *
 * Failures before a version is resolved (bad name, unknown template) are thrown. Failures after it (input
 * validation, render errors, limits) come back as `{ ok: false }` together with what the usage log needs, so
 * the caller records the failed usage and then throws the error.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { MikroORM } from "@mikro-orm/postgresql";
import { type MaskingPolicy, maskingPolicy } from "@taskmaster/config/masking";
import type { TemplateRow } from "@taskmaster/persistence/template-row.mapper";
import {
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
  ResourceExhaustedError,
} from "@taskmaster/rpc-kit/errors";
import { type SchemaChecker, validatorViolations } from "./json-schema.js";
import { type RenderEngine, RenderRuntimeError } from "./render.engine.js";
import type { RenderPlanCache } from "./render-plan.cache.js";
import { loadRenderPlan } from "./render-plan.js";
import { templateName } from "./template.names.js";

/** Max serialized size of render inputs (contract: 256 KiB). */
export const MAX_INPUT_BYTES = 256 * 1024;

/** INVALID_ARGUMENT listing every missing and unknown variable (reason TEMPLATE_VARIABLES). */
export class TemplateVariablesError extends InvalidArgumentError {
  override readonly reason = "TEMPLATE_VARIABLES";
}

/** INVALID_ARGUMENT for inputs failing the type's JSON Schema (reason SCHEMA_VALIDATION). */
export class InputSchemaError extends InvalidArgumentError {
  override readonly reason = "SCHEMA_VALIDATION";
}

export interface RenderRequest {
  templateId: string;
  /** "x.y.z" or "" for the default version. */
  version: string;
  inputs: JsonObject;
  lenient: boolean;
}

interface Common {
  template: TemplateRow;
  version: string;
  durationMs: number;
  /** Inputs with secret-named keys and sensitive variables masked (for usage logs). */
  maskedInputs: Record<string, unknown>;
  /** The policy that masked the inputs (the usage log masks its error message with it too). */
  masking: MaskingPolicy;
}

export type RenderOutcome =
  | (Common & { ok: true; output: string; missing: string[]; unknown: string[] })
  | (Common & { ok: false; error: Error });

/** Masks secret-named keys (anywhere) and variables declared `sensitive` (top level). */
export function maskInputs(
  inputs: JsonObject,
  sensitive: ReadonlySet<string>,
  policy: MaskingPolicy = maskingPolicy(),
): Record<string, unknown> {
  const masked = policy.maskObject(inputs) as Record<string, unknown>;
  for (const k of Object.keys(masked)) if (sensitive.has(k) && masked[k] !== null) masked[k] = "***";
  return masked;
}

export interface RenderDeps {
  readonly orm: MikroORM;
  readonly engine: RenderEngine;
  /** The server's JSON Schema checker (plans read without the cache compile the type's schema with it). */
  readonly schemas: SchemaChecker;
  /** The server's render-plan cache; absent: every render reads its plan from the database. */
  readonly plans?: RenderPlanCache | undefined;
  /** The masking policy for stored usage inputs and error messages (default: the built-in one). */
  readonly masking?: MaskingPolicy | undefined;
}

export async function renderTemplateVersion(deps: RenderDeps, req: RenderRequest): Promise<RenderOutcome> {
  const masking = deps.masking ?? maskingPolicy();
  const inputBytes = Buffer.byteLength(JSON.stringify(req.inputs), "utf8");
  if (inputBytes > MAX_INPUT_BYTES) {
    throw new ResourceExhaustedError(
      undefined,
      `inputs are ${inputBytes} bytes serialized; the limit is ${MAX_INPUT_BYTES}`,
      "SIZE_LIMIT_EXCEEDED",
    );
  }
  // One database round trip at most (none when the plan is cached).
  const plan =
    deps.plans !== undefined
      ? await deps.plans.get(req.templateId, req.version)
      : await loadRenderPlan(deps.orm.em.fork(), deps.engine, deps.schemas, req.templateId, req.version);
  const declared = plan.declared;
  const base = {
    template: plan.template,
    version: plan.version,
    maskedInputs: maskInputs(req.inputs, plan.sensitive, masking),
    masking,
  };
  const started = performance.now();
  const fail = (error: Error): RenderOutcome => ({
    ...base,
    ok: false,
    error,
    durationMs: performance.now() - started,
  });

  const names = plan.names;
  const unknown = Object.keys(req.inputs)
    .filter((k) => !names.has(k))
    .sort();
  const missing = declared
    .filter((v) => v.required && v.defaultValue === undefined && req.inputs[v.name] === undefined)
    .map((v) => v.name)
    .sort();
  if (!req.lenient && (missing.length > 0 || unknown.length > 0)) {
    const violations: FieldViolation[] = [
      ...missing.map((n) => ({
        field: `inputs.${n}`,
        description: "is a required variable of the template",
        reason: "MISSING_VARIABLE",
      })),
      ...unknown.map((n) => ({
        field: `inputs.${n}`,
        description: "is not a declared variable of the template",
        reason: "UNKNOWN_VARIABLE",
      })),
    ];
    return fail(
      new TemplateVariablesError(
        violations,
        `template variables: ${missing.length ? `missing ${missing.join(", ")}` : ""}${
          missing.length && unknown.length ? "; " : ""
        }${unknown.length ? `unknown ${unknown.join(", ")}` : ""}`,
      ),
    );
  }

  const context: Record<string, unknown> = { ...plan.baseContext };
  Object.assign(context, req.inputs);

  if (plan.schemaError !== null) throw plan.schemaError;
  if (plan.validate !== null) {
    const violations = validatorViolations("inputs", plan.validate, context);
    if (violations.length > 0) return fail(new InputSchemaError(violations));
  }
  if (plan.failure !== null) return fail(plan.failure());

  try {
    const output = deps.engine.renderCompiled(plan.main, plan.partials, context);
    return {
      ...base,
      ok: true,
      output,
      missing: req.lenient ? missing : [],
      unknown: req.lenient ? unknown : [],
      durationMs: performance.now() - started,
    };
  } catch (err) {
    if (err instanceof RenderRuntimeError) {
      return fail(
        new FailedPreconditionError(`the template failed to render: ${err.message}`, {
          reason: "TEMPLATE_RENDER_FAILED",
          violations: [
            {
              type: "TEMPLATE_RENDER_FAILED",
              subject: `${templateName(req.templateId)}/versions/${plan.version}`,
              description: err.message,
            },
          ],
        }),
      );
    }
    return fail(err as Error);
  }
}
