/**
 * The render pipeline shared by RenderTemplate and CreateTaskFromTemplate: resolve the template version
 * (pin, else approved when approval is required, else current), check REQUIRES dependencies, validate the
 * inputs (size, declared variables, the type's JSON Schema), resolve INCLUDES/EXTENDS partials and render.
 *
 * Failures before a version is resolved (bad name, unknown template) are thrown. Failures after it (input
 * validation, render errors, limits) come back as `{ ok: false }` together with what the usage log needs, so
 * the caller records the failed usage and then throws the error.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { MikroORM } from "@mikro-orm/postgresql";
import { maskSecrets } from "@taskmaster/config/mask";
import { TemplateRepository, type TemplateRow } from "@taskmaster/persistence/template.repository";
import { TemplateDependencyRepository } from "@taskmaster/persistence/template-dependency.repository";
import {
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
} from "@taskmaster/rpc-kit/errors";
import { assertVersionUsable } from "./approval.js";
import { schemaViolations } from "./json-schema.js";
import { type RenderEngine, RenderRuntimeError, type RenderSource } from "./render.engine.js";
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
}

export type RenderOutcome =
  | (Common & { ok: true; output: string; missing: string[]; unknown: string[] })
  | (Common & { ok: false; error: Error });

/** Masks secret-named keys (anywhere) and variables declared `sensitive` (top level). */
export function maskInputs(inputs: JsonObject, sensitive: ReadonlySet<string>): Record<string, unknown> {
  const masked = maskSecrets(inputs) as Record<string, unknown>;
  for (const k of Object.keys(masked)) if (sensitive.has(k) && masked[k] !== null) masked[k] = "***";
  return masked;
}

function templateFailure(message: string, reason: string, subject: string): FailedPreconditionError {
  return new FailedPreconditionError(message, {
    reason,
    violations: [{ type: reason, subject, description: message }],
  });
}

/** Resolves the version to render; throws NOT_FOUND / FAILED_PRECONDITION. */
export async function resolveRenderVersion(
  repo: TemplateRepository,
  templateId: string,
  pin: string,
): Promise<{
  template: TemplateRow;
  version: string;
  content: string;
  variables: Record<string, unknown>[];
}> {
  // Rendering needs no usage statistics: skip the p95 / last-use subqueries over the usage logs.
  const t = await repo.getById(templateId, { includeDeleted: true, usageStats: false });
  if (t === null) throw new NotFoundError("template", templateName(templateId));
  const name = templateName(templateId);
  if (t.deletedAt !== null) throw templateFailure("the template is deleted", "RESOURCE_DELETED", name);
  if (!t.isActive) throw templateFailure("the template is not active", "TEMPLATE_INACTIVE", name);
  let version: string;
  if (pin !== "") version = pin;
  else if (t.requiresApproval) {
    if (t.approvedVersion === null) {
      throw templateFailure(
        "the template requires approval and has no approved version",
        "TEMPLATE_NOT_APPROVED",
        name,
      );
    }
    version = t.approvedVersion;
  } else version = t.currentVersion;
  const row = await repo.getVersion(templateId, version);
  if (row === null) throw new NotFoundError("template version", `${name}/versions/${version}`);
  // The one approval gate (approval.ts): FAILED_PRECONDITION for an unapproved version.
  await assertVersionUsable(repo.em, templateId, version);
  return { template: t, version, content: row.content, variables: row.variables };
}

export async function renderTemplateVersion(
  deps: { orm: MikroORM; engine: RenderEngine },
  req: RenderRequest,
): Promise<RenderOutcome> {
  const em = deps.orm.em.fork();
  const repo = new TemplateRepository(em);
  const deps2 = new TemplateDependencyRepository(em);
  const inputBytes = Buffer.byteLength(JSON.stringify(req.inputs), "utf8");
  if (inputBytes > MAX_INPUT_BYTES) {
    throw new ResourceExhaustedError(
      undefined,
      `inputs are ${inputBytes} bytes serialized; the limit is ${MAX_INPUT_BYTES}`,
      "SIZE_LIMIT_EXCEEDED",
    );
  }
  const resolved = await resolveRenderVersion(repo, req.templateId, req.version);
  const declared = resolved.variables.map((v) => ({
    name: String(v.name),
    required: v.required === true,
    sensitive: v.sensitive === true,
    defaultValue: v.default_value,
  }));
  const sensitive = new Set(declared.filter((v) => v.sensitive).map((v) => v.name));
  const base = {
    template: resolved.template,
    version: resolved.version,
    maskedInputs: maskInputs(req.inputs, sensitive),
  };
  const started = performance.now();
  const fail = (error: Error): RenderOutcome => ({
    ...base,
    ok: false,
    error,
    durationMs: performance.now() - started,
  });

  const names = new Set(declared.map((v) => v.name));
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

  const context: Record<string, unknown> = { ...resolved.template.parameters };
  for (const v of declared) if (v.defaultValue !== undefined) context[v.name] = v.defaultValue;
  Object.assign(context, req.inputs);

  const type = await repo.typeByName(resolved.template.typeName);
  if (type !== null) {
    const violations = schemaViolations("inputs", type.jsonSchema, context);
    if (violations.length > 0) return fail(new InputSchemaError(violations));
  }

  const unmet = await deps2.unmetRequirements(req.templateId);
  if (unmet.length > 0) {
    return fail(
      new FailedPreconditionError("a required template is deleted or inactive", {
        reason: "DEPENDENCY_UNAVAILABLE",
        violations: unmet.map((id) => ({
          type: "DEPENDENCY_UNAVAILABLE",
          subject: templateName(id),
          description: "required by a REQUIRES dependency but deleted or inactive",
        })),
      }),
    );
  }
  const partials: Record<string, RenderSource> = {};
  for (const p of await deps2.resolvePartials(req.templateId)) {
    if (p.content === null || p.version === null) {
      return fail(
        new FailedPreconditionError(
          `the partial "${p.alias}" has no usable version (deleted, or no approved version)`,
          {
            reason: "TEMPLATE_NOT_APPROVED",
            violations: [
              {
                type: "DEPENDENCY_UNAVAILABLE",
                subject: templateName(p.templateId),
                description: `partial "${p.alias}" cannot be resolved`,
              },
            ],
          },
        ),
      );
    }
    // A pinned partial of a template requiring approval must be approved too.
    try {
      await assertVersionUsable(em, p.templateId, p.version);
    } catch (err) {
      return fail(err as Error);
    }
    partials[p.alias] = { templateId: p.templateId, version: p.version, content: p.content };
  }

  try {
    const output = deps.engine.render(
      { templateId: req.templateId, version: resolved.version, content: resolved.content },
      partials,
      context,
    );
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
              subject: `${templateName(req.templateId)}/versions/${resolved.version}`,
              description: err.message,
            },
          ],
        }),
      );
    }
    return fail(err as Error);
  }
}
