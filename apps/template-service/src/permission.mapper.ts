/** Permission grant rows -> TemplatePermission messages, and the level enum <-> stored value. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  TemplatePermissionKind,
  TemplatePermissionRow,
} from "@taskmaster/persistence/template-permission.repository";
import {
  type TemplatePermission,
  TemplatePermissionLevel,
  TemplatePermissionSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { templateName } from "./template.names.js";

export const LEVEL_KIND: Readonly<Partial<Record<TemplatePermissionLevel, TemplatePermissionKind>>> = {
  [TemplatePermissionLevel.READ]: "read",
  [TemplatePermissionLevel.WRITE]: "write",
  [TemplatePermissionLevel.EXECUTE]: "execute",
  [TemplatePermissionLevel.ADMIN]: "admin",
  [TemplatePermissionLevel.APPROVE]: "approve",
};

export const KIND_LEVEL: Readonly<Record<TemplatePermissionKind, TemplatePermissionLevel>> = {
  read: TemplatePermissionLevel.READ,
  write: TemplatePermissionLevel.WRITE,
  execute: TemplatePermissionLevel.EXECUTE,
  admin: TemplatePermissionLevel.ADMIN,
  approve: TemplatePermissionLevel.APPROVE,
};

export const permissionName = (templateId: string, id: string) =>
  `${templateName(templateId)}/permissions/${id}`;

export function permissionToMessage(row: TemplatePermissionRow): TemplatePermission {
  const grantee =
    row.userId !== null
      ? { case: "user" as const, value: row.userId }
      : row.role !== null
        ? { case: "role" as const, value: row.role }
        : { case: "team" as const, value: row.team ?? "" };
  return create(TemplatePermissionSchema, {
    name: permissionName(row.templateId, row.id),
    grantee,
    permission: KIND_LEVEL[row.permission],
    ...(row.expiresAt ? { expireTime: timestampFromDate(row.expiresAt) } : {}),
    grantedBy: row.grantedBy ?? "",
    createTime: timestampFromDate(row.grantedAt),
  });
}
