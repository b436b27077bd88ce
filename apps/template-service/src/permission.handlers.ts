/**
 * TemplateService permission grants: Grant, Get, List, Revoke (ADMIN on the template, enforced by the
 * authorization interceptor). A factory; one EntityManager fork per call.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Condition } from "@taskmaster/persistence/list-page";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import {
  type PermissionFilterField,
  TemplatePermissionExistsError,
  TemplatePermissionRepository,
} from "@taskmaster/persistence/template-permission.repository";
import {
  type TemplatePermission,
  TemplatePermissionLevelSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import {
  GetTemplatePermissionResponseSchema,
  GrantTemplatePermissionResponseSchema,
  ListTemplatePermissionsResponseSchema,
  RevokeTemplatePermissionResponseSchema,
  type TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { AlreadyExistsError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { parseListFilter, TEMPLATE_SYNTAX } from "@taskmaster/rpc-kit/list-filter";
import { validator } from "@taskmaster/rpc-kit/validation";
import { callerOf } from "./authorization.js";
import { LEVEL_KIND, permissionName, permissionToMessage } from "./permission.mapper.js";
import { childName, templateParent } from "./permission.validation.js";
import { PERMISSION_FIELDS } from "./template.filter.js";
import { templateName } from "./template.names.js";

export interface PermissionHandlerDeps {
  readonly orm: MikroORM;
}

const MAX_GRANTEE = 255;

export function createTemplatePermissionHandlers(
  deps: PermissionHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  "grantTemplatePermission" | "getTemplatePermission" | "listTemplatePermissions" | "revokeTemplatePermission"
> {
  const repository = () => new TemplatePermissionRepository(deps.orm.em.fork());

  return {
    async grantTemplatePermission(req, ctx) {
      const caller = callerOf(ctx);
      const v = validator();
      const templateId = templateParent(v, "parent", req.parent);
      v.uuid("request_id", req.requestId);
      if (!v.required("template_permission", req.templatePermission)) v.check();
      const p = req.templatePermission as TemplatePermission;
      const field = `template_permission.${p.grantee.case ?? "grantee"}`;
      if (p.grantee.case === undefined) {
        v.add("template_permission.grantee", "exactly one of user, role or team must be set", "REQUIRED");
      } else if (v.required(field, p.grantee.value.trim())) {
        v.maxLength(field, p.grantee.value, MAX_GRANTEE);
        if ([...p.grantee.value].some((c) => c === "," || c.charCodeAt(0) < 0x20)) {
          v.add(field, "must not contain control characters or commas", "INVALID_CHARACTERS");
        }
      }
      if (
        v.required("template_permission.permission", p.permission) &&
        LEVEL_KIND[p.permission] === undefined
      ) {
        v.enumDefined("template_permission.permission", p.permission, TemplatePermissionLevelSchema);
      }
      let expiresAt: Date | null = null;
      if (p.expireTime !== undefined) {
        expiresAt = timestampDate(p.expireTime);
        if (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now()) {
          v.add("template_permission.expire_time", "must be in the future", "OUT_OF_RANGE");
        } else if (expiresAt.getUTCFullYear() > 9999) {
          v.add("template_permission.expire_time", "must be before year 10000", "OUT_OF_RANGE");
        }
      }
      v.check();
      const id = templateId as string;
      try {
        const repo = repository();
        if (req.requestId !== "") {
          const existing = await repo.findByRequestId(req.requestId);
          if (existing) {
            return create(GrantTemplatePermissionResponseSchema, {
              templatePermission: permissionToMessage(existing),
            });
          }
        }
        const row = await repo.transactional(async (tx) => {
          if ((await new TemplateRepository(tx.em).getById(id)) === null) {
            throw new NotFoundError("template", templateName(id));
          }
          const value = p.grantee.value as string;
          const grantId = await tx.grant({
            templateId: id,
            userId: p.grantee.case === "user" ? value : null,
            role: p.grantee.case === "role" ? value : null,
            team: p.grantee.case === "team" ? value : null,
            permission: LEVEL_KIND[p.permission] as "read",
            expiresAt,
            grantedBy: caller.subject,
            requestId: req.requestId === "" ? null : req.requestId,
          });
          return tx.get(id, grantId);
        });
        return create(GrantTemplatePermissionResponseSchema, {
          ...(row ? { templatePermission: permissionToMessage(row) } : {}),
        });
      } catch (err) {
        if (err instanceof TemplatePermissionExistsError) {
          throw new AlreadyExistsError(
            "template permission",
            undefined,
            `an identical live grant already exists on "${templateName(id)}"`,
          );
        }
        throw err;
      }
    },

    async getTemplatePermission(req) {
      const v = validator();
      const ref = childName(v, "name", "permissions", req.name);
      v.check();
      const { templateId, id } = ref as { templateId: string; id: string };
      const row = await repository().get(templateId, id);
      if (row === null) throw new NotFoundError("template permission", permissionName(templateId, id));
      return create(GetTemplatePermissionResponseSchema, { templatePermission: permissionToMessage(row) });
    },

    async listTemplatePermissions(req) {
      const v = validator();
      const templateId = templateParent(v, "parent", req.parent);
      const pageSize = v.pageSize("page_size", req.pageSize);
      v.check();
      // PERMISSION_FIELDS has no `:` and gives strings and dates.
      const conditions = parseListFilter(req.filter, PERMISSION_FIELDS, {
        syntax: TEMPLATE_SYNTAX,
      }) as Condition<PermissionFilterField>[];
      const repo = repository();
      if (
        (await new TemplateRepository(repo.em).getById(templateId as string, { includeDeleted: true })) ===
        null
      ) {
        throw new NotFoundError("template", templateName(templateId as string));
      }
      const page = await repo.list(templateId as string, {
        pageSize,
        pageToken: req.pageToken === "" ? null : req.pageToken,
        conditions,
        showExpired: req.showExpired,
        binding: JSON.stringify([req.parent, req.filter, req.showExpired]),
      });
      return create(ListTemplatePermissionsResponseSchema, {
        templatePermissions: page.items.map(permissionToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async revokeTemplatePermission(req, ctx) {
      const caller = callerOf(ctx);
      const v = validator();
      const ref = childName(v, "name", "permissions", req.name);
      v.check();
      const { templateId, id } = ref as { templateId: string; id: string };
      // In a transaction: the audit context (actor, request id, ...) is set per transaction.
      const revoked = await deps.orm.em
        .fork()
        .transactional((tx) => new TemplatePermissionRepository(tx).revoke(templateId, id, caller.subject));
      if (!revoked) {
        throw new NotFoundError("template permission", permissionName(templateId, id));
      }
      return create(RevokeTemplatePermissionResponseSchema, {});
    },
  };
}
