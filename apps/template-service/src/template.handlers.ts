/**
 * TemplateService handlers for templates and search (versions: template-version.handlers.ts). A factory: dependencies in,
 * a Connect `ServiceImpl` slice out; one EntityManager fork per call.
 */

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { isUniqueViolation } from "@taskmaster/persistence/db-errors";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import {
  bumpVersion,
  type TemplateChangeKind,
  type TemplateRow,
  type TemplateWrite,
} from "@taskmaster/persistence/template-row.mapper";
import { TemplateSearchRepository } from "@taskmaster/persistence/template-search.repository";
import {
  type Template,
  TemplateChangeTypeSchema as TemplateChangeTypeEnum,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import {
  CreateTemplateResponseSchema,
  DeleteTemplateResponseSchema,
  GetTemplateResponseSchema,
  ListTemplatesResponseSchema,
  SearchTemplatesResponseSchema,
  type TemplateService,
  UndeleteTemplateResponseSchema,
  UpdateTemplateResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { callerOf } from "@taskmaster/rpc-kit/call-context";
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { callerOf as authCallerOf, prefetchedTemplateKey, readableBy } from "./authorization.js";
import type { SchemaChecker } from "./json-schema.js";
import { TEMPLATES } from "./template.filter.js";
import { changeKind, templateToMessage, variableToJson, versionToMessage } from "./template.mapper.js";
import { TEMPLATE_PATTERN, templateName } from "./template.names.js";
import {
  canonical,
  checkAgainstType,
  checkCategory,
  checkEtag,
  lockTemplate,
  mapped,
  rowToWrite,
  typeIdOf,
  unsavedTemplateRow,
} from "./template.service.js";
import {
  checkRequestId,
  checkTemplateFields,
  checkUpdateMask,
  parseTemplateName,
  TEMPLATE_MASK_FIELDS,
  type TemplateMaskField,
  validateSearch,
  validator,
} from "./template.validation.js";
import { assertCompiles } from "./template-syntax.js";
import { createTemplateVersionHandlers } from "./template-version.handlers.js";

export interface TemplateHandlerDeps {
  readonly orm: MikroORM;
  /** The server's JSON Schema checker (template parameters against the type's schema). */
  readonly schemas: SchemaChecker;
}

const ALL_FIELDS = new Set<TemplateMaskField>(TEMPLATE_MASK_FIELDS);

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

  return {
    ...createTemplateVersionHandlers(deps),

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
            deps.schemas,
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
          if (req.validateOnly) return unsavedTemplateRow(w, owner, refs.typeId as string);
          try {
            const id = await tx.insert(w, {
              owner,
              summary: req.changeSummary === "" ? "Initial version" : req.changeSummary,
              requestId: req.requestId === "" ? null : req.requestId,
            });
            return (await tx.getById(id)) as TemplateRow;
          } catch (err) {
            // A concurrent retry with the same request id won the race: return its template.
            if (req.requestId !== "" && isUniqueViolation(err, "idempotency_keys_scope_request_uniq")) {
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
      const { orderBy, ...query } = listQueryOf(req, TEMPLATES, {
        pageSize: validator(),
        binding: [req.filter, caller.subject],
      });
      const readable = readableBy(caller, "x");
      return mapped(async () => {
        const page = await repository().list({
          ...query,
          readable,
          order: orderBy,
          showDeleted: req.showDeleted,
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
      const fields = checkUpdateMask(v, req.updateMask?.paths ?? []);
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
              ? await checkAgainstType(deps.schemas, tx, next.typeName, next, { requireActive: typeChanged })
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

    async searchTemplates(req, ctx) {
      const caller = authCallerOf(ctx);
      const { pageSize, typeName, categoryId, order } = validateSearch(req);
      return mapped(async () => {
        const page = await new TemplateSearchRepository(deps.orm.em.fork()).search({
          query: req.query,
          typeName,
          categoryId: categoryId ?? null,
          tags: req.tags,
          active: req.active ?? null,
          isPublic: req.public ?? null,
          order,
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
