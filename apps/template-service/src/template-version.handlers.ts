/**
 * TemplateService handlers for the immutable versions of a template: get, list, diff and rollback. A factory:
 * dependencies in, a Connect `ServiceImpl` slice out; one EntityManager fork per call.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import { bumpVersion, type TemplateRow } from "@taskmaster/persistence/template-row.mapper";
import { TemplateChangeTypeSchema as TemplateChangeTypeEnum } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import {
  DiffTemplateVersionsResponseSchema,
  GetTemplateVersionResponseSchema,
  ListTemplateVersionsResponseSchema,
  RollbackTemplateResponseSchema,
  type TemplateService,
  TemplateVariableChangeSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { callerOf } from "@taskmaster/rpc-kit/call-context";
import { NotFoundError } from "@taskmaster/rpc-kit/errors";
import { parseListFilter, TEMPLATE_SYNTAX } from "@taskmaster/rpc-kit/list-filter";
import { validator } from "@taskmaster/rpc-kit/validation";
import { unifiedDiff } from "./line-diff.js";
import { VERSION_FIELDS } from "./template.filter.js";
import { changeKind, templateToMessage, variableToMessage, versionToMessage } from "./template.mapper.js";
import { parseVersionName, TEMPLATE_PATTERN, templateName } from "./template.names.js";
import {
  canonical,
  checkEtag,
  lockTemplate,
  mapped,
  resolveVersion,
  rowToWrite,
  typeIdOf,
} from "./template.service.js";
import { checkVersion } from "./template.validation.js";

export interface TemplateVersionHandlerDeps {
  readonly orm: MikroORM;
}

export function createTemplateVersionHandlers(
  deps: TemplateVersionHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  "getTemplateVersion" | "listTemplateVersions" | "diffTemplateVersions" | "rollbackTemplate"
> {
  const repository = () => new TemplateRepository(deps.orm.em.fork());

  return {
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
      const conditions = parseListFilter(req.filter, VERSION_FIELDS, { syntax: TEMPLATE_SYNTAX });
      return mapped(async () => {
        const repo = repository();
        if ((await repo.getById(id as string, { includeDeleted: true })) === null) {
          throw new NotFoundError("template", templateName(id as string));
        }
        const page = await repo.listVersions(id as string, {
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          conditions,
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
  };
}
