/**
 * Domain rules of templates shared by the template and version handlers: checks against the template type
 * and category, locking and etags, version resolution, the row a change writes, and the mapping of
 * repository errors to RPC errors. Functions over a {@link TemplateRepository}; no SQL here.
 */
import type { TemplateRepository } from "@taskmaster/persistence/template.repository";
import {
  TemplateNotFoundError,
  type TemplateRow,
  TemplateSlugTakenError,
  TemplateVersionConflictError,
  type TemplateWrite,
} from "@taskmaster/persistence/template-row.mapper";
import {
  AlreadyExistsError,
  errorTranslator,
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { ruleViolations, type SchemaChecker } from "./json-schema.js";
import { etagOf } from "./template.mapper.js";
import { templateName } from "./template.names.js";

function domainError(err: unknown): unknown {
  if (err instanceof TemplateNotFoundError) return new NotFoundError("template", templateName(err.id));
  if (err instanceof TemplateVersionConflictError)
    return new StaleEtagError("template", templateName(err.id));
  if (err instanceof TemplateSlugTakenError) {
    return new AlreadyExistsError("template", undefined, `a template with slug "${err.slug}" already exists`);
  }
  return err;
}

/** Runs `work`, turning repository errors into RPC errors. */
export const mapped = errorTranslator(domainError);

/** JSON with sorted keys, for comparing jsonb values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The writable columns of `row`, with its type resolved to `typeId`. */
export function rowToWrite(row: TemplateRow, typeId: string): TemplateWrite {
  return {
    slug: row.slug,
    title: row.title,
    description: row.description,
    content: row.content,
    variables: row.variables,
    parameters: row.parameters,
    tags: row.tags,
    complexityScore: row.complexityScore,
    isActive: row.isActive,
    isPublic: row.isPublic,
    requiresApproval: row.requiresApproval,
    categoryId: row.categoryId,
    typeId,
  };
}

/** The type (must exist and, for new use, be active), checked parameters and rules; returns its id. */
export async function checkAgainstType(
  schemas: SchemaChecker,
  repo: TemplateRepository,
  typeId: string,
  w: { content: string; variables: Record<string, unknown>[]; parameters: Record<string, unknown> },
  opts: { requireActive: boolean },
): Promise<string> {
  const type = await repo.typeByName(typeId);
  if (type === null) {
    throw new InvalidArgumentError([
      {
        field: "template.template_type",
        description: `template type "templateTypes/${typeId}" does not exist`,
        reason: "NOT_FOUND",
      },
    ]);
  }
  if (opts.requireActive && !type.isActive) {
    throw new FailedPreconditionError(`template type "templateTypes/${typeId}" is not active`, {
      reason: "TEMPLATE_INACTIVE",
      violations: [
        { type: "INACTIVE", subject: `templateTypes/${typeId}`, description: "the type is not active" },
      ],
    });
  }
  const violations: FieldViolation[] = [
    ...schemas.violations("template.parameters", type.jsonSchema, w.parameters),
    ...ruleViolations(type.validationRules, {
      content: w.content,
      variableNames: w.variables.map((v) => String(v.name)),
    }),
  ];
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  return type.id;
}

export async function checkCategory(repo: TemplateRepository, categoryId: string | null): Promise<void> {
  if (categoryId === null) return;
  if ((await repo.categoryState(categoryId)) === null) {
    throw new InvalidArgumentError([
      {
        field: "template.category",
        description: `category "templateCategories/${categoryId}" does not exist`,
        reason: "NOT_FOUND",
      },
    ]);
  }
}

export function checkEtag(etag: string, row: { id: string; version: number }): void {
  if (etag !== "" && etag !== etagOf(row.version)) throw new StaleEtagError("template", templateName(row.id));
}

/** Locks a template for a write; NOT_FOUND when absent (or deleted unless `includeDeleted`). */
export async function lockTemplate(
  repo: TemplateRepository,
  id: string,
  includeDeleted = false,
): Promise<TemplateRow> {
  const row = await repo.getById(id, { forUpdate: true, includeDeleted });
  if (row === null) throw new NotFoundError("template", templateName(id));
  return row;
}

export async function typeIdOf(repo: TemplateRepository, typeName: string): Promise<string> {
  const t = await repo.typeByName(typeName);
  if (t === null) throw new Error(`template type ${typeName} vanished`);
  return t.id;
}

/** Resolves "x.y.z", "latest" or "approved" of a template to a version row; NOT_FOUND when absent. */
export async function resolveVersion(repo: TemplateRepository, templateId: string, version: string) {
  const t = await repo.getById(templateId, { includeDeleted: true });
  if (t === null) throw new NotFoundError("template", templateName(templateId));
  const v =
    version === "latest"
      ? t.currentVersion
      : version === "approved"
        ? t.approvedVersion
        : (version as string | null);
  const row = v === null ? null : await repo.getVersion(templateId, v);
  if (row === null)
    throw new NotFoundError("template version", `${templateName(templateId)}/versions/${version}`);
  return { template: t, version: row };
}

/**
 * What CreateTemplate with validate_only answers: the template as it would be stored, before it has an id
 * (the caller blanks name, uid and etag).
 */
export function unsavedTemplateRow(w: TemplateWrite, owner: string, typeName: string): TemplateRow {
  const now = new Date();
  return {
    ...w,
    id: "00000000-0000-0000-0000-000000000000",
    usageCount: 0,
    successRate: 0,
    avgExecutionMs: 0,
    p95ExecutionMs: null,
    lastUsedAt: null,
    approvedBy: null,
    approvedAt: null,
    approvedVersion: null,
    currentVersion: "1.0.0",
    typeName,
    owner,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    version: 1,
  };
}
