/**
 * A render plan: everything a render of (template, requested version) needs that does not depend on the
 * inputs, read in ONE database round trip (TemplateRenderRepository.plan) and prepared once: the resolved
 * version, its declared variables, the base context (template parameters + variable defaults), the compiled
 * JSON-schema validator of the type, the compiled template and partials, and the failure every render of it
 * hits after the input checks (unmet REQUIRES, unusable partial), if any. Plans are immutable; the
 * render-plan cache (render-plan.cache.ts) shares them between calls.
 *
 * Failures before a version is resolved (unknown, deleted, inactive template, no approved version, unknown
 * or unapproved version) are thrown by `loadRenderPlan` and never cached.
 */
import type { EntityManager } from "@mikro-orm/core";
import { TemplateRenderRepository } from "@taskmaster/persistence/template-render.repository";
import type { TemplateRow } from "@taskmaster/persistence/template-row.mapper";
import { type ErrorReasonName, FailedPreconditionError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import type { ValidateFunction } from "ajv/dist/2020.js";
import { versionNotApprovedError } from "./approval.js";
import type { SchemaChecker } from "./json-schema.js";
import type { Compiled, RenderEngine } from "./render.engine.js";
import { templateName } from "./template.names.js";

export interface DeclaredVariable {
  readonly name: string;
  readonly required: boolean;
  readonly sensitive: boolean;
  readonly defaultValue: unknown;
}

export interface RenderPlan {
  readonly template: TemplateRow;
  readonly version: string;
  readonly declared: readonly DeclaredVariable[];
  readonly names: ReadonlySet<string>;
  readonly sensitive: ReadonlySet<string>;
  /** Template parameters overlaid with the variables' defaults (copy before adding inputs). */
  readonly baseContext: Readonly<Record<string, unknown>>;
  /** The type's compiled JSON Schema (null: no schema); `schemaError` when it does not compile. */
  readonly validate: ValidateFunction | null;
  readonly schemaError: Error | null;
  /** The failure of every render after input validation (REQUIRES unmet, partial unusable), if any. */
  readonly failure: (() => Error) | null;
  readonly main: Compiled;
  readonly partials: Readonly<Record<string, Compiled>>;
  /** Template ids whose changes invalidate this plan. */
  readonly dependsOn: ReadonlySet<string>;
}

function templateFailure(message: string, reason: ErrorReasonName, subject: string): FailedPreconditionError {
  return new FailedPreconditionError(message, {
    reason,
    violations: [{ type: reason, subject, description: message }],
  });
}

/** Reads and prepares the plan of `templateId` at `pin` ("" = default version); throws NOT_FOUND / FAILED_PRECONDITION. */
export async function loadRenderPlan(
  em: EntityManager,
  engine: RenderEngine,
  schemas: SchemaChecker,
  templateId: string,
  pin: string,
): Promise<RenderPlan> {
  const row = await new TemplateRenderRepository(em).plan(templateId, pin);
  const name = templateName(templateId);
  if (row === null) throw new NotFoundError("template", name);
  const t = row.template;
  if (t.deletedAt !== null) throw templateFailure("the template is deleted", "RESOURCE_DELETED", name);
  if (!t.isActive) throw templateFailure("the template is not active", "TEMPLATE_INACTIVE", name);
  if (row.version === null) {
    throw templateFailure(
      "the template requires approval and has no approved version",
      "TEMPLATE_NOT_APPROVED",
      name,
    );
  }
  const version = row.version;
  if (row.versionRow === null) throw new NotFoundError("template version", `${name}/versions/${version}`);
  // The approval gate (approval.ts): FAILED_PRECONDITION for an unapproved version.
  if (!row.usable) throw versionNotApprovedError(templateId, version);

  const declared = row.versionRow.variables.map((v) => ({
    name: String(v.name),
    required: v.required === true,
    sensitive: v.sensitive === true,
    defaultValue: v.default_value,
  }));
  const baseContext: Record<string, unknown> = { ...t.parameters };
  for (const v of declared) if (v.defaultValue !== undefined) baseContext[v.name] = v.defaultValue;

  let validate: ValidateFunction | null = null;
  let schemaError: Error | null = null;
  if (row.typeSchema !== null) {
    try {
      validate = schemas.compile(row.typeSchema);
    } catch (err) {
      schemaError = err as Error;
    }
  }

  const partials: Record<string, Compiled> = {};
  let failure: (() => Error) | null = null;
  if (row.unmetRequirements.length > 0) {
    const unmet = row.unmetRequirements;
    failure = () =>
      new FailedPreconditionError("a required template is deleted or inactive", {
        reason: "TEMPLATE_INACTIVE",
        violations: unmet.map((id) => ({
          type: "DEPENDENCY_UNAVAILABLE",
          subject: templateName(id),
          description: "required by a REQUIRES dependency but deleted or inactive",
        })),
      });
  }
  for (const p of row.partials) {
    if (failure !== null) break;
    if (p.content === null || p.version === null) {
      failure = () =>
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
        );
      break;
    }
    // A pinned partial of a template requiring approval must be approved too.
    if (!p.usable) {
      const v = p.version;
      failure = () => versionNotApprovedError(p.templateId, v);
      break;
    }
    partials[p.alias] = engine.compiled({ templateId: p.templateId, version: p.version, content: p.content });
  }

  return {
    template: t,
    version,
    declared,
    names: new Set(declared.map((v) => v.name)),
    sensitive: new Set(declared.filter((v) => v.sensitive).map((v) => v.name)),
    baseContext,
    validate,
    schemaError,
    failure,
    main: engine.compiled({ templateId, version, content: row.versionRow.content }),
    partials,
    dependsOn: new Set([templateId, ...row.dependsOn]),
  };
}
