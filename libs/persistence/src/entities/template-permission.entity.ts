import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet } from "../sql-checks.js";
import { TEMPLATE_PERMISSIONS, type TemplatePermissionName } from "../value-sets.js";
import { idProperty, timestampProperty } from "./common.js";
import { Template } from "./template.entity.js";

/** Grant of one permission on a template to exactly one of a user, a role or a team. */
export const TemplatePermission = defineEntity({
  name: "TemplatePermission",
  tableName: "template_permissions",
  properties: {
    id: idProperty(),
    template: () => p.manyToOne(Template).ref().deleteRule("cascade"),
    userId: p.string().length(255).nullable(),
    role: p.string().length(255).nullable(),
    team: p.string().length(255).nullable(),
    permission: p.string().length(16).$type<TemplatePermissionName>(),
    grantedBy: p.string().length(255).nullable(),
    grantedAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date()),
    expiresAt: timestampProperty(),
    revokedAt: timestampProperty(),
    revokedBy: p.string().length(255).nullable(),
  },
  checks: [
    { name: "template_permissions_one_grantee_check", expression: "num_nonnulls(user_id, role, team) = 1" },
    { name: "template_permissions_permission_check", expression: inSet("permission", TEMPLATE_PERMISSIONS) },
    {
      name: "template_permissions_expiry_check",
      expression: "expires_at is null or expires_at > granted_at",
    },
  ],
  indexes: [
    { name: "template_permissions_template_idx", properties: ["template", "permission"] },
    { name: "template_permissions_user_idx", properties: ["userId"] },
    { name: "template_permissions_role_idx", properties: ["role"] },
    { name: "template_permissions_team_idx", properties: ["team"] },
  ],
  uniques: [
    {
      name: "template_permissions_active_grant_uniq",
      expression:
        "create unique index template_permissions_active_grant_uniq on template_permissions " +
        "(template_id, permission, coalesce(user_id, ''), coalesce(role, ''), coalesce(team, '')) " +
        "where revoked_at is null",
    },
  ],
});

export type ITemplatePermission = InferEntity<typeof TemplatePermission>;
