/**
 * Template permission grants (SQL statements, plain rows out) and the access checks built on them. A grant is live
 * while it is neither revoked nor expired; only live grants count. Owners (templates.owner) hold ADMIN and
 * ADMIN implies every level; public templates are readable by every authenticated caller.
 */
import type { EntityManager } from "@mikro-orm/core";
import { createOnce, replayRowId } from "./idempotency.js";
import { newId } from "./ids.js";
import { type ColumnSpec, type Condition, listKeysetPage, type Page } from "./list-page.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { hotRead } from "./template-hot-read.repository.js";

export type TemplatePermissionKind = "read" | "write" | "execute" | "admin" | "approve";

/** Who is asking: a subject plus the roles and teams the gateway vouched for. */
export interface TemplateAccessor {
  subject: string;
  roles: readonly string[];
  teams: readonly string[];
}

/** What a caller may do on one template (null from `access` when the template does not exist). */
export interface TemplateAccess {
  owner: boolean;
  isPublic: boolean;
  deleted: boolean;
  /** Live levels granted to the caller directly, through a role or through a team. */
  granted: TemplatePermissionKind[];
}

export interface TemplatePermissionRow {
  id: string;
  templateId: string;
  userId: string | null;
  role: string | null;
  team: string | null;
  permission: TemplatePermissionKind;
  grantedBy: string | null;
  grantedAt: Date;
  expiresAt: Date | null;
}

export class TemplatePermissionExistsError extends Error {
  constructor() {
    super("an identical live grant exists");
    this.name = "TemplatePermissionExistsError";
  }
}

/** Whether `access` includes `level` (owner and ADMIN imply all; public implies READ). */
export function hasLevel(access: TemplateAccess, level: TemplatePermissionKind): boolean {
  if (access.owner || access.granted.includes("admin")) return true;
  if (level === "read" && access.isPublic) return true;
  return access.granted.includes(level);
}

/** Condition over alias `p` (template_permissions): the grant is live and reaches the accessor. */
export function liveGrantFor(a: TemplateAccessor): RawBuilder<unknown> {
  // Roles and teams travel as one JSON text each, so the statement text does not depend on their number.
  return sql`p.revoked_at is null and (p.expires_at is null or p.expires_at > now())
  and (p.user_id = ${a.subject}::text or p.role in (select jsonb_array_elements_text(${JSON.stringify(a.roles)}::jsonb))
       or p.team in (select jsonb_array_elements_text(${JSON.stringify(a.teams)}::jsonb)))`;
}

/**
 * Condition over templates alias `alias`: the accessor may READ the template (owner, public, or a live
 * READ/ADMIN grant); with a null accessor, every template (trusted internal callers). AND it into list and
 * search queries.
 */
export function readableTemplatesSql(
  a: TemplateAccessor | null,
  alias: "x" | "t" = "x",
): RawBuilder<unknown> {
  if (a === null) return sql`true`;
  const col = (name: string) => sql.ref(`${alias}.${name}`);
  return sql`(${col("is_public")} or ${col("owner")} = ${a.subject}::text or exists (select 1 from template_permissions p
      where p.template_id = ${col("id")} and p.permission in ('read', 'admin') and ${liveGrantFor(a)}))`;
}

const accessStatement = (templateId: string, a: TemplateAccessor) =>
  sql<Row>`select t.owner = ${a.subject}::text as owner, t.is_public, t.deleted_at is not null as deleted,
    coalesce((select array_agg(distinct p.permission::text) from template_permissions p
              where p.template_id = t.id and ${liveGrantFor(a)}), '{}'::text[]) as granted
  from templates t where t.id = ${templateId}::uuid`;

/** A TemplateAccess from a row with columns owner, is_public, deleted and granted (text[]). */
export function accessFromDb(r: Record<string, unknown>): TemplateAccess {
  return {
    owner: Boolean(r.owner),
    isPublic: Boolean(r.is_public),
    deleted: Boolean(r.deleted),
    granted: ((r.granted as string[] | null) ?? []) as TemplatePermissionKind[],
  };
}

const SELECT = `x.id, x.template_id, x.user_id, x.role, x.team, x.permission, x.granted_by, x.granted_at, x.expires_at`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function rowFromDb(r: Record<string, unknown>): TemplatePermissionRow {
  return {
    id: String(r.id),
    templateId: String(r.template_id),
    userId: (r.user_id as string | null) ?? null,
    role: (r.role as string | null) ?? null,
    team: (r.team as string | null) ?? null,
    permission: r.permission as TemplatePermissionKind,
    grantedBy: (r.granted_by as string | null) ?? null,
    grantedAt: date(r.granted_at),
    expiresAt: r.expires_at === null || r.expires_at === undefined ? null : date(r.expires_at),
  };
}

export type PermissionFilterField = "user" | "role" | "team" | "permission" | "expire_time";

const COLUMNS: Record<PermissionFilterField | "grant_time", ColumnSpec> = {
  user: { expr: "x.user_id", cast: "text" },
  role: { expr: "x.role", cast: "text" },
  team: { expr: "x.team", cast: "text" },
  permission: { expr: "x.permission", cast: "text" },
  expire_time: { expr: "x.expires_at", cast: "timestamptz" },
  grant_time: { expr: "x.granted_at", cast: "timestamptz" },
};

export class TemplatePermissionRepository {
  constructor(readonly em: EntityManager) {}

  transactional<T>(fn: (repo: TemplatePermissionRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplatePermissionRepository(tx)));
  }

  /** The accessor's standing on a template (deleted ones included), in one query; null when absent. */
  async access(templateId: string, a: TemplateAccessor): Promise<TemplateAccess | null> {
    // Every authorized call runs this: a prepared statement (hotRead) outside transactions.
    const rows = await hotRead(this.em, "template_access", accessStatement(templateId, a));
    const r = rows[0];
    return r ? accessFromDb(r) : null;
  }

  /** A live-or-expired, unrevoked grant of the template. */
  async get(templateId: string, id: string): Promise<TemplatePermissionRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)} from template_permissions x
        where x.template_id = ${templateId}::uuid and x.id = ${id}::uuid and x.revoked_at is null`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /** The grant created by a GrantTemplatePermission with this request id, if any. */
  async findByRequestId(requestId: string): Promise<TemplatePermissionRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)} from idempotency_keys k join template_permissions x on x.id = k.resource_id::uuid
       where k.scope = 'template.permission.grant' and k.request_id = ${requestId}::text`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /**
   * Inserts a grant (call inside a transaction). An identical grant that has expired is revoked first;
   * an identical live one is TemplatePermissionExistsError (and not stored as the request's result). With
   * `requestId` it runs once per request id (createOnce, scope `template.permission.grant`): a retry, even a
   * concurrent one, gets the id of the grant the first call created.
   */
  async grant(g: {
    templateId: string;
    userId: string | null;
    role: string | null;
    team: string | null;
    permission: TemplatePermissionKind;
    expiresAt: Date | null;
    grantedBy: string;
    requestId: string | null;
  }): Promise<string> {
    return createOnce<string>(this.em, {
      scope: "template.permission.grant",
      requestId: g.requestId,
      replay: replayRowId("template_permissions"),
      create: async (tx) => {
        await query(
          tx,
          sql`update template_permissions set revoked_at = now(), revoked_by = ${g.grantedBy}::text
           where template_id = ${g.templateId}::uuid and permission = ${g.permission}::text
             and coalesce(user_id, '') = ${g.userId ?? ""}::text and coalesce(role, '') = ${g.role ?? ""}::text
             and coalesce(team, '') = ${g.team ?? ""}::text
             and revoked_at is null and expires_at is not null and expires_at <= now()`,
        );
        const id = newId();
        const inserted = await query(
          tx,
          sql<Row>`insert into template_permissions (id, template_id, user_id, role, team, permission, granted_by,
             expires_at)
           values (${id}, ${g.templateId}, ${g.userId}, ${g.role}, ${g.team}, ${g.permission}, ${g.grantedBy},
             ${g.expiresAt?.toISOString() ?? null}::timestamptz)
           on conflict do nothing returning id`,
        );
        if (inserted.length === 0) throw new TemplatePermissionExistsError();
        return { result: id, resourceId: id };
      },
    });
  }

  /** Revokes a grant; false when it does not exist or is already revoked. */
  async revoke(templateId: string, id: string, by: string): Promise<boolean> {
    const rows = await query(
      this.em,
      sql<Row>`update template_permissions set revoked_at = now(), revoked_by = ${by}::text
       where template_id = ${templateId}::uuid and id = ${id}::uuid and revoked_at is null returning id`,
    );
    return rows.length > 0;
  }

  async list(
    templateId: string,
    q: {
      pageSize: number;
      pageToken: string | null;
      conditions: Condition<PermissionFilterField>[];
      showExpired: boolean;
      binding: string;
    },
  ): Promise<Page<TemplatePermissionRow>> {
    const where = [sql`x.template_id = ${templateId}::uuid`, sql`x.revoked_at is null`];
    if (!q.showExpired) where.push(sql`(x.expires_at is null or x.expires_at > now())`);
    return listKeysetPage(
      this.em,
      {
        selectList: SELECT,
        from: "template_permissions x",
        where,
        columns: COLUMNS,
        map: rowFromDb,
      },
      {
        pageSize: q.pageSize,
        pageToken: q.pageToken,
        conditions: q.conditions,
        orderBy: { field: "grant_time", desc: false },
        binding: q.binding,
      },
    );
  }
}
