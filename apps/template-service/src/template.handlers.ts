/**
 * TemplateService handlers for templates, their immutable versions and search. A factory: dependencies in,
 * a Connect `ServiceImpl` slice out; one EntityManager fork per call.
 */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  bumpVersion,
  type TemplateChangeKind,
  TemplateNotFoundError,
  TemplateRepository,
  type TemplateRow,
  TemplateSlugTakenError,
  type TemplateSortField,
  type TemplateSql,
  TemplateVersionConflictError,
  type TemplateWrite,
} from "@taskmaster/persistence/template.repository";
import {
  type Template,
  TemplateChangeTypeSchema as TemplateChangeTypeEnum,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import {
  CreateTemplateResponseSchema,
  DeleteTemplateResponseSchema,
  DiffTemplateVersionsResponseSchema,
  GetTemplateResponseSchema,
  GetTemplateVersionResponseSchema,
  ListTemplatesResponseSchema,
  ListTemplateVersionsResponseSchema,
  RollbackTemplateResponseSchema,
  SearchTemplatesResponseSchema,
  type TemplateService,
  TemplateVariableChangeSchema,
  UndeleteTemplateResponseSchema,
  UpdateTemplateResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { isUuid } from "@taskmaster/rpc-kit/validation";
import { callerOf as authCallerOf, prefetchedTemplateKey, readableBy } from "./authorization.js";
import { actor } from "./call-context.js";
import { ruleViolations, schemaViolations } from "./json-schema.js";
import { unifiedDiff } from "./line-diff.js";
import { filterError, parseFilter, parseOrderBy } from "./simple-filter.js";
import {
  changeKind,
  etagOf,
  templateToMessage,
  variableToJson,
  variableToMessage,
  versionToMessage,
} from "./template.mapper.js";
import {
  CATEGORY_PATTERN,
  parseTypeName,
  parseVersionName,
  TEMPLATE_PATTERN,
  templateName,
} from "./template.names.js";
import {
  checkRequestId,
  checkTemplateFields,
  checkVersion,
  TEMPLATE_MASK_FIELDS,
  type TemplateMaskField,
  validator,
} from "./template.validation.js";
import { assertCompiles } from "./template-syntax.js";

export interface TemplateHandlerDeps {
  readonly orm: MikroORM;
}

/** Who is calling: the gateway's `x-taskmaster-actor`, else the internal service identity. */
export function callerOf(ctx: HandlerContext): string {
  return actor(ctx) ?? "service:internal";
}

function domainError(err: unknown): unknown {
  if (err instanceof TemplateNotFoundError) return new NotFoundError("template", templateName(err.id));
  if (err instanceof TemplateVersionConflictError)
    return new StaleEtagError("template", templateName(err.id));
  if (err instanceof TemplateSlugTakenError) {
    return new AlreadyExistsError("template", undefined, `a template with slug "${err.slug}" already exists`);
  }
  return err;
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw domainError(err);
  }
}

/** JSON with sorted keys, for comparing jsonb values. */
function canonical(v: unknown): string {
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

function rowToWrite(row: TemplateRow, typeId: string): TemplateWrite {
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

const ALL_FIELDS = new Set<TemplateMaskField>(TEMPLATE_MASK_FIELDS);

const TEMPLATE_FILTER_FIELDS = [
  "slug",
  "title",
  "template_type",
  "category",
  "tags",
  "active",
  "public",
  "requires_approval",
  "owner",
  "usage_count",
  "success_rate",
  "create_time",
  "update_time",
] as const;

/** Compiles a ListTemplates filter to SQL over alias `x` (values bound). */
function templateFilterSql(filter: string): TemplateSql {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const r of parseFilter(filter, TEMPLATE_FILTER_FIELDS)) {
    const cmp = (expr: string, cast: string, value: unknown, ops: readonly string[]) => {
      if (!ops.includes(r.op)) throw filterError(r.field, `supports only ${ops.join(" ")}`);
      parts.push(r.op === "!=" ? `${expr} is distinct from ?::${cast}` : `${expr} ${r.op} ?::${cast}`);
      params.push(value);
    };
    const bool = () => {
      if (r.value !== "true" && r.value !== "false") throw filterError(r.field, "must be true or false");
      return r.value === "true";
    };
    switch (r.field) {
      case "slug":
        cmp("x.name", "text", r.value, ["=", "!="]);
        break;
      case "title":
        if (r.op === ":") {
          parts.push("x.title ilike ?");
          params.push(`%${r.value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
        } else cmp("x.title", "text", r.value, ["=", "!="]);
        break;
      case "owner":
        cmp("x.owner", "text", r.value, ["=", "!="]);
        break;
      case "template_type": {
        const id = parseTypeName(r.value) ?? (/^[a-z][a-z0-9_]{2,62}$/.test(r.value) ? r.value : null);
        if (id === null) throw filterError(r.field, 'must be "templateTypes/{id}"');
        cmp("ty.name", "text", id, ["=", "!="]);
        break;
      }
      case "category": {
        if (r.value === "" || r.value === "null") {
          if (r.op !== "=" && r.op !== "!=") throw filterError(r.field, "supports only = !=");
          parts.push(`x.category_id is ${r.op === "=" ? "" : "not "}null`);
          break;
        }
        const m = /^templateCategories\/(.+)$/.exec(r.value);
        if (!m || !isUuid(m[1] as string)) throw filterError(r.field, `must be "${CATEGORY_PATTERN}"`);
        cmp("x.category_id", "uuid", (m[1] as string).toLowerCase(), ["=", "!="]);
        break;
      }
      case "tags":
        if (r.op !== ":") throw filterError(r.field, 'supports only ":" (has)');
        parts.push("x.tags @> array[?::text]");
        params.push(r.value);
        break;
      case "active":
        cmp("x.is_active", "boolean", bool(), ["=", "!="]);
        break;
      case "public":
        cmp("x.is_public", "boolean", bool(), ["=", "!="]);
        break;
      case "requires_approval":
        cmp("x.requires_approval", "boolean", bool(), ["=", "!="]);
        break;
      case "usage_count": {
        if (!/^\d{1,9}$/.test(r.value)) throw filterError(r.field, "must be a non-negative integer");
        cmp("x.usage_count", "int", Number(r.value), ["=", "!=", "<", "<=", ">", ">="]);
        break;
      }
      case "success_rate": {
        const n = Number(r.value);
        if (!Number.isFinite(n) || n < 0 || n > 1)
          throw filterError(r.field, "must be a number between 0 and 1");
        cmp("x.success_rate", "numeric", n * 100, ["=", "!=", "<", "<=", ">", ">="]);
        break;
      }
      case "create_time":
      case "update_time": {
        const d = new Date(r.value);
        if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(r.value)) {
          throw filterError(r.field, "must be an RFC 3339 timestamp");
        }
        cmp(r.field === "create_time" ? "x.created_at" : "x.updated_at", "timestamptz", d.toISOString(), [
          "=",
          "!=",
          "<",
          "<=",
          ">",
          ">=",
        ]);
        break;
      }
    }
  }
  return { sql: parts.join(" and "), params };
}

/** Compiles a ListTemplateVersions filter (change_type, author, approved, create_time). */
function versionFilterSql(filter: string): TemplateSql {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const r of parseFilter(filter, ["change_type", "author", "approved", "create_time"])) {
    if (r.field !== "create_time" && r.op !== "=" && r.op !== "!=")
      throw filterError(r.field, "supports only = !=");
    const neg = r.op === "!=";
    if (r.field === "change_type") {
      const kind = r.value.toLowerCase().replace(/^template_change_type_/, "");
      if (!["major", "minor", "patch", "hotfix"].includes(kind)) {
        throw filterError(r.field, "must be MAJOR, MINOR, PATCH or HOTFIX");
      }
      parts.push(`x.change_type ${neg ? "<>" : "="} ?`);
      params.push(kind);
    } else if (r.field === "author") {
      parts.push(`x.created_by ${neg ? "<>" : "="} ?`);
      params.push(r.value);
    } else if (r.field === "approved") {
      if (r.value !== "true" && r.value !== "false") throw filterError(r.field, "must be true or false");
      const want = (r.value === "true") !== neg;
      parts.push(
        `${want ? "" : "not "}exists (select 1 from template_reviews rv where rv.template_id = x.template_id and rv.template_version = x.version and rv.status = 'approved')`,
      );
    } else {
      const d = new Date(r.value);
      if (Number.isNaN(d.getTime()) || r.op === ":")
        throw filterError(r.field, "must be an RFC 3339 timestamp");
      parts.push(
        neg ? "x.created_at is distinct from ?::timestamptz" : `x.created_at ${r.op} ?::timestamptz`,
      );
      params.push(d.toISOString());
    }
  }
  return { sql: parts.join(" and "), params };
}

export function createTemplateHandlers(
  deps: TemplateHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  | "createTemplate"
  | "getTemplate"
  | "listTemplates"
  | "updateTemplate"
  | "deleteTemplate"
  | "undeleteTemplate"
  | "getTemplateVersion"
  | "listTemplateVersions"
  | "diffTemplateVersions"
  | "rollbackTemplate"
  | "searchTemplates"
> {
  const repository = () => new TemplateRepository(deps.orm.em.fork());

  /** The type (must exist and, for new use, be active), checked parameters and rules; returns its id. */
  async function checkAgainstType(
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
      ...schemaViolations("template.parameters", type.jsonSchema, w.parameters),
      ...ruleViolations(type.validationRules, {
        content: w.content,
        variableNames: w.variables.map((v) => String(v.name)),
      }),
    ];
    if (violations.length > 0) throw new InvalidArgumentError(violations);
    return type.id;
  }

  async function checkCategory(repo: TemplateRepository, categoryId: string | null): Promise<void> {
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

  function parseTemplateName(field: string, name: string): string {
    const v = validator();
    const id = v.resourceName(field, TEMPLATE_PATTERN, name);
    v.check();
    return id as string;
  }

  function checkEtag(etag: string, row: { id: string; version: number }): void {
    if (etag !== "" && etag !== etagOf(row.version))
      throw new StaleEtagError("template", templateName(row.id));
  }

  /** Locks a template for a write; NOT_FOUND when absent (or deleted unless `includeDeleted`). */
  async function lockTemplate(
    repo: TemplateRepository,
    id: string,
    includeDeleted = false,
  ): Promise<TemplateRow> {
    const row = await repo.getById(id, { forUpdate: true, includeDeleted });
    if (row === null) throw new NotFoundError("template", templateName(id));
    return row;
  }

  async function typeIdOf(repo: TemplateRepository, typeName: string): Promise<string> {
    const t = await repo.typeByName(typeName);
    if (t === null) throw new Error(`template type ${typeName} vanished`);
    return t.id;
  }

  /** Resolves "x.y.z", "latest" or "approved" of a template to a version row; NOT_FOUND when absent. */
  async function resolveVersion(repo: TemplateRepository, templateId: string, version: string) {
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

  return {
    async createTemplate(req, ctx) {
      const v = validator();
      if (!v.required("template", req.template)) v.check();
      const t = req.template as Template;
      const refs = checkTemplateFields(v, t, ALL_FIELDS);
      v.maxLength("change_summary", req.changeSummary, 2000);
      checkRequestId(v, req.requestId);
      v.check();
      assertCompiles("template.content", t.content);
      const owner = callerOf(ctx);
      return mapped(async () => {
        const repo = repository();
        if (req.requestId !== "") {
          const existing = await repo.findByRequestId(req.requestId);
          if (existing)
            return create(CreateTemplateResponseSchema, { template: templateToMessage(existing) });
        }
        const variables = t.variables.map(variableToJson);
        const parameters = (t.parameters ?? {}) as Record<string, unknown>;
        const row = await repo.transactional(async (tx) => {
          const typeId = await checkAgainstType(
            tx,
            refs.typeId as string,
            { content: t.content, variables, parameters },
            { requireActive: true },
          );
          await checkCategory(tx, refs.categoryId ?? null);
          const w: TemplateWrite = {
            slug: t.slug,
            title: t.title,
            description: t.description === "" ? null : t.description,
            content: t.content,
            variables,
            parameters,
            tags: t.tags,
            complexityScore: t.complexityScore === undefined ? null : Math.round(t.complexityScore),
            // Unset means active: a new template is usable at once (approval, if required, still gates renders).
            isActive: t.active ?? true,
            isPublic: t.public,
            requiresApproval: t.requiresApproval,
            categoryId: refs.categoryId ?? null,
            typeId,
          };
          if (req.validateOnly) {
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
              typeName: refs.typeId as string,
              owner,
              createdAt: now,
              updatedAt: now,
              deletedAt: null,
              version: 1,
            } satisfies TemplateRow;
          }
          try {
            const id = await tx.insert(w, {
              owner,
              summary: req.changeSummary === "" ? "Initial version" : req.changeSummary,
              requestId: req.requestId === "" ? null : req.requestId,
            });
            return (await tx.getById(id)) as TemplateRow;
          } catch (err) {
            // A concurrent retry with the same request id won the race: return its template.
            if (
              req.requestId !== "" &&
              String((err as Error).message).includes("idempotency_keys_scope_request_uniq")
            ) {
              return null;
            }
            throw err;
          }
        });
        if (row === null) {
          const existing = await repository().findByRequestId(req.requestId);
          if (existing)
            return create(CreateTemplateResponseSchema, { template: templateToMessage(existing) });
          throw new AlreadyExistsError(
            "template",
            undefined,
            "a template with this request_id already exists",
            "REQUEST_ID_REUSED",
          );
        }
        if (req.validateOnly) {
          const msg = templateToMessage(row);
          msg.name = "";
          msg.uid = "";
          msg.etag = "";
          return create(CreateTemplateResponseSchema, { template: msg });
        }
        return create(CreateTemplateResponseSchema, { template: templateToMessage(row) });
      });
    },

    async getTemplate(req, ctx) {
      const id = parseTemplateName("name", req.name);
      return mapped(async () => {
        // Read by the authorization query in the same round trip (authorization.ts), else read here.
        const prefetched = ctx.values.get(prefetchedTemplateKey);
        const row =
          prefetched?.id === id ? prefetched : await repository().getById(id, { includeDeleted: true });
        if (row === null) throw new NotFoundError("template", templateName(id));
        return create(GetTemplateResponseSchema, { template: templateToMessage(row) });
      });
    },

    async listTemplates(req, ctx) {
      const caller = authCallerOf(ctx);
      const v = validator();
      const pageSize = v.pageSize("page_size", req.pageSize);
      v.check();
      const filter = templateFilterSql(req.filter);
      const readable = readableBy(caller, "x");
      const where: TemplateSql = {
        sql: filter.sql ? `(${filter.sql}) and ${readable.sql}` : readable.sql,
        params: [...filter.params, ...readable.params],
      };
      const order = parseOrderBy<TemplateSortField>(
        req.orderBy,
        ["title", "slug", "usage_count", "success_rate", "create_time", "update_time"],
        { field: "title", desc: false },
      );
      return mapped(async () => {
        const page = await repository().list({
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          where,
          order,
          showDeleted: req.showDeleted,
          binding: JSON.stringify([req.filter, caller.subject]),
        });
        return create(ListTemplatesResponseSchema, {
          templates: page.items.map((r) => templateToMessage(r)),
          nextPageToken: page.nextPageToken ?? "",
          totalSize: page.totalSize,
        });
      });
    },

    async updateTemplate(req, ctx) {
      const v = validator();
      if (!v.required("template", req.template)) v.check();
      const t = req.template as Template;
      const id = v.resourceName("template.name", TEMPLATE_PATTERN, t.name);
      const paths = req.updateMask?.paths ?? [];
      const fields = new Set<TemplateMaskField>();
      if (v.required("update_mask", paths)) {
        for (const p of paths) {
          if (p === "*") for (const f of TEMPLATE_MASK_FIELDS) fields.add(f);
          else if ((TEMPLATE_MASK_FIELDS as readonly string[]).includes(p))
            fields.add(p as TemplateMaskField);
          else {
            v.add(
              "update_mask",
              `unknown or immutable field "${p}" (updatable: ${TEMPLATE_MASK_FIELDS.join(", ")})`,
              "INVALID_FIELD_MASK",
            );
          }
        }
      }
      const refs = checkTemplateFields(v, t, fields);
      v.enumDefined("change_type", req.changeType, TemplateChangeTypeEnum, { allowUnspecified: true });
      v.maxLength("change_summary", req.changeSummary, 2000);
      v.check();
      if (fields.has("content")) assertCompiles("template.content", t.content);
      const author = callerOf(ctx);
      return mapped(async () => {
        const result = await repository().transactional(async (tx) => {
          const row = await lockTemplate(tx, id as string);
          checkEtag(t.etag, row);
          const next: TemplateRow = { ...row };
          if (fields.has("slug")) next.slug = t.slug;
          if (fields.has("title")) next.title = t.title;
          if (fields.has("description")) next.description = t.description === "" ? null : t.description;
          if (fields.has("template_type")) next.typeName = refs.typeId as string;
          if (fields.has("category")) next.categoryId = refs.categoryId ?? null;
          if (fields.has("content")) next.content = t.content;
          if (fields.has("variables")) next.variables = t.variables.map(variableToJson);
          if (fields.has("parameters")) next.parameters = (t.parameters ?? {}) as Record<string, unknown>;
          if (fields.has("tags")) next.tags = t.tags;
          if (fields.has("active")) next.isActive = t.active ?? true;
          if (fields.has("public")) next.isPublic = t.public;
          if (fields.has("requires_approval")) next.requiresApproval = t.requiresApproval;
          if (fields.has("complexity_score")) {
            next.complexityScore = t.complexityScore === undefined ? null : Math.round(t.complexityScore);
          }
          const typeChanged = next.typeName !== row.typeName;
          const versioned =
            next.content !== row.content ||
            canonical(next.variables) !== canonical(row.variables) ||
            canonical(next.parameters) !== canonical(row.parameters);
          const typeId =
            typeChanged || versioned
              ? await checkAgainstType(tx, next.typeName, next, { requireActive: typeChanged })
              : await typeIdOf(tx, row.typeName);
          if (fields.has("category") && next.categoryId !== row.categoryId)
            await checkCategory(tx, next.categoryId);
          const kind: TemplateChangeKind = changeKind(req.changeType);
          const newVersion = versioned ? bumpVersion(row.currentVersion, kind) : null;
          if (req.validateOnly) {
            return { row: { ...next, currentVersion: newVersion ?? row.currentVersion }, version: null };
          }
          await tx.update(row.id, row.version, rowToWrite(next, typeId), newVersion);
          if (newVersion !== null) {
            await tx.insertVersion(
              row.id,
              newVersion,
              next,
              kind,
              req.changeSummary === "" ? null : req.changeSummary,
              author,
              null,
            );
          }
          const updated = (await tx.getById(row.id)) as TemplateRow;
          return {
            row: updated,
            version: newVersion === null ? null : await tx.getVersion(row.id, newVersion),
          };
        });
        return create(UpdateTemplateResponseSchema, {
          template: templateToMessage(result.row),
          ...(result.version ? { newVersion: versionToMessage(result.version) } : {}),
        });
      });
    },

    async deleteTemplate(req) {
      const id = parseTemplateName("name", req.name);
      return mapped(async () => {
        const row = await repository().transactional(async (tx) => {
          const current = await lockTemplate(tx, id);
          checkEtag(req.etag, current);
          await tx.setDeleted(id, current.version, true);
          return (await tx.getById(id, { includeDeleted: true })) as TemplateRow;
        });
        return create(DeleteTemplateResponseSchema, { template: templateToMessage(row) });
      });
    },

    async undeleteTemplate(req) {
      const id = parseTemplateName("name", req.name);
      return mapped(async () => {
        const row = await repository().transactional(async (tx) => {
          const current = await lockTemplate(tx, id, true);
          checkEtag(req.etag, current);
          if (current.deletedAt === null) {
            throw new FailedPreconditionError(`template "${templateName(id)}" is not deleted`, {
              reason: "INVALID_STATE",
            });
          }
          await tx.setDeleted(id, current.version, false);
          return (await tx.getById(id)) as TemplateRow;
        });
        return create(UndeleteTemplateResponseSchema, { template: templateToMessage(row) });
      });
    },

    async getTemplateVersion(req) {
      const v = validator();
      const parsed = v.required("name", req.name) ? parseVersionName(req.name) : null;
      if (parsed === null && !v.has("name")) {
        v.add(
          "name",
          'must be "templates/{template}/versions/{version}" with a UUID and "x.y.z", "latest" or "approved"',
          "INVALID_RESOURCE_NAME",
        );
      }
      v.check();
      const { templateId, version } = parsed as { templateId: string; version: string };
      return mapped(async () => {
        const found = await resolveVersion(repository(), templateId, version);
        return create(GetTemplateVersionResponseSchema, { templateVersion: versionToMessage(found.version) });
      });
    },

    async listTemplateVersions(req) {
      const v = validator();
      const id = v.resourceName("parent", TEMPLATE_PATTERN, req.parent);
      const pageSize = v.pageSize("page_size", req.pageSize);
      v.check();
      const where = versionFilterSql(req.filter);
      return mapped(async () => {
        const repo = repository();
        if ((await repo.getById(id as string, { includeDeleted: true })) === null) {
          throw new NotFoundError("template", templateName(id as string));
        }
        const page = await repo.listVersions(id as string, {
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          where,
          binding: req.filter,
        });
        return create(ListTemplateVersionsResponseSchema, {
          templateVersions: page.items.map(versionToMessage),
          nextPageToken: page.nextPageToken ?? "",
        });
      });
    },

    async diffTemplateVersions(req) {
      const v = validator();
      const id = v.resourceName("name", TEMPLATE_PATTERN, req.name);
      checkVersion(v, "base_version", req.baseVersion, true);
      checkVersion(v, "target_version", req.targetVersion, false);
      v.range("context_lines", req.contextLines, 0, 20);
      v.check();
      return mapped(async () => {
        const repo = repository();
        const base = await resolveVersion(repo, id as string, req.baseVersion);
        const target = await resolveVersion(
          repo,
          id as string,
          req.targetVersion === "" ? "latest" : req.targetVersion,
        );
        const a = base.version;
        const b = target.version;
        const diff = unifiedDiff(a.content, b.content, [a.version, b.version], req.contextLines ?? 3);
        const baseVars = new Map(a.variables.map((x) => [String(x.name), x]));
        const targetVars = new Map(b.variables.map((x) => [String(x.name), x]));
        const names = [...new Set([...baseVars.keys(), ...targetVars.keys()])].sort();
        const variableChanges = names
          .map((name) => {
            const x = baseVars.get(name);
            const y = targetVars.get(name);
            if (x && y && canonical(x) === canonical(y)) return null;
            return create(TemplateVariableChangeSchema, {
              name,
              ...(x ? { base: variableToMessage(x) } : {}),
              ...(y ? { target: variableToMessage(y) } : {}),
            });
          })
          .filter((c) => c !== null);
        const keys = [...new Set([...Object.keys(a.parameters), ...Object.keys(b.parameters)])].sort();
        return create(DiffTemplateVersionsResponseSchema, {
          contentDiff: diff.text,
          addedLines: diff.added,
          removedLines: diff.removed,
          variableChanges,
          changedParameters: keys.filter((k) => canonical(a.parameters[k]) !== canonical(b.parameters[k])),
        });
      });
    },

    async rollbackTemplate(req, ctx) {
      const v = validator();
      const id = v.resourceName("name", TEMPLATE_PATTERN, req.name);
      checkVersion(v, "version", req.version, true);
      v.enumDefined("change_type", req.changeType, TemplateChangeTypeEnum, { allowUnspecified: true });
      v.maxLength("change_summary", req.changeSummary, 2000);
      v.check();
      const author = callerOf(ctx);
      return mapped(async () => {
        const result = await repository().transactional(async (tx) => {
          const row = await lockTemplate(tx, id as string);
          checkEtag(req.etag, row);
          const old = await tx.getVersion(row.id, req.version);
          if (old === null) {
            throw new NotFoundError("template version", `${templateName(row.id)}/versions/${req.version}`);
          }
          const kind = changeKind(req.changeType);
          const newVersion = bumpVersion(row.currentVersion, kind);
          const next: TemplateRow = {
            ...row,
            content: old.content,
            variables: old.variables,
            parameters: old.parameters,
          };
          const typeId = await typeIdOf(tx, row.typeName);
          await tx.update(row.id, row.version, rowToWrite(next, typeId), newVersion);
          await tx.insertVersion(
            row.id,
            newVersion,
            next,
            kind,
            req.changeSummary === "" ? `Rollback to ${req.version}` : req.changeSummary,
            author,
            req.version,
          );
          return {
            row: (await tx.getById(row.id)) as TemplateRow,
            version: await tx.getVersion(row.id, newVersion),
          };
        });
        return create(RollbackTemplateResponseSchema, {
          template: templateToMessage(result.row),
          ...(result.version ? { newVersion: versionToMessage(result.version) } : {}),
        });
      });
    },

    async searchTemplates(req, ctx) {
      const caller = authCallerOf(ctx);
      const v = validator();
      v.maxLength("query", req.query, 500);
      const pageSize = v.pageSize("page_size", req.pageSize, { defaultSize: 20, max: 100 });
      let typeName: string | null = null;
      if (req.templateType !== "") {
        typeName = parseTypeName(req.templateType);
        if (typeName === null) {
          v.add(
            "template_type",
            'must be "templateTypes/{id}" with id [a-z][a-z0-9_]{2,62}',
            "INVALID_RESOURCE_NAME",
          );
        }
      }
      const categoryId =
        req.category === "" ? null : v.resourceName("category", CATEGORY_PATTERN, req.category);
      if (req.tags.length > 50) v.add("tags", "must have at most 50 tags", "TOO_MANY");
      req.tags.slice(0, 50).forEach((tag, i) => {
        v.length(`tags[${i}]`, tag, 1, 64);
      });
      const orders: Record<string, "relevance" | "usage" | "success" | "usage_success"> = {
        relevance: "relevance",
        "usage_count desc": "usage",
        "success_rate desc": "success",
        "usage_count desc, success_rate desc": "usage_success",
      };
      const orderKey = req.orderBy
        .trim()
        .replace(/\s+/g, " ")
        .replace(/\s*,\s*/g, ", ");
      const hasQuery = req.query.trim() !== "";
      let order = orderKey === "" ? (hasQuery ? "relevance" : "usage_success") : orders[orderKey];
      if (order === undefined) {
        v.add("order_by", `must be one of: ${Object.keys(orders).join("; ")}`, "INVALID_ORDER_BY");
      } else if (order === "relevance" && !hasQuery) {
        order = "usage_success";
      }
      v.check();
      return mapped(async () => {
        const page = await repository().search({
          query: req.query,
          typeName,
          categoryId: categoryId ?? null,
          tags: req.tags,
          active: req.active ?? null,
          isPublic: req.public ?? null,
          order: order as "relevance",
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          readable: readableBy(caller, "x"),
          binding: JSON.stringify([
            req.query,
            typeName,
            categoryId,
            req.tags,
            req.active,
            req.public,
            order,
            caller.subject,
          ]),
        });
        return create(SearchTemplatesResponseSchema, {
          results: page.items.map((h) => ({
            template: templateToMessage(h.row, { omitContent: true }),
            score: h.score,
            snippet: h.snippet,
          })),
          nextPageToken: page.nextPageToken ?? "",
          totalSize: page.totalSize,
        });
      });
    },
  };
}
