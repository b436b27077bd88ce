/**
 * Least privilege at service start (issue 8): which database role a service runs as, and whether that role
 * is the application role. The migrations create the group roles `taskmaster_owner` (schema owner's rights),
 * `taskmaster_app` (DML on application tables, append-only audit), `taskmaster_readonly` and
 * `taskmaster_retention`; `./taskmaster db roles grant` provisions login users in them.
 */
import type { EntityManager } from "@mikro-orm/core";
import type { Profile } from "@taskmaster/config/config";
import { query, type Row, sql } from "./sql-toolkit.js";

/** What the service's connection is allowed to do, as PostgreSQL sees it. */
export interface DatabaseRole {
  /** `current_user` of the connection. */
  readonly user: string;
  readonly superuser: boolean;
  /** Owns (or is a member of the owner of) tables in the schema, or is a member of `taskmaster_owner`. */
  readonly owner: boolean;
  /** Has the rights of `taskmaster_app` (member with inheritance). */
  readonly app: boolean;
}

const ROLE_SQL = sql<Row>`select current_user::text as "user",
  coalesce((select r.rolsuper from pg_roles r where r.rolname = current_user), false) as "superuser",
  exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = current_schema() and c.relkind in ('r', 'p') and pg_has_role(c.relowner, 'MEMBER'))
    or exists (select 1 from pg_roles r where r.rolname = 'taskmaster_owner' and pg_has_role(r.oid, 'MEMBER'))
    as "owner",
  exists (select 1 from pg_roles r where r.rolname = 'taskmaster_app' and pg_has_role(r.oid, 'USAGE')) as "app"`;

/** The role of `em`'s connection. */
export async function inspectDatabaseRole(em: EntityManager): Promise<DatabaseRole> {
  const [row] = await query(em, ROLE_SQL);
  return {
    user: String(row?.user ?? ""),
    superuser: row?.superuser === true,
    owner: row?.owner === true,
    app: row?.app === true,
  };
}

/** Why `role` is not fit for a service (undefined: it is a least-privilege application login). */
export function serviceRoleProblem(role: DatabaseRole): string | undefined {
  if (role.superuser) return `database user "${role.user}" is a superuser`;
  if (role.owner) return `database user "${role.user}" owns the schema (taskmaster_owner or table owner)`;
  if (!role.app) return `database user "${role.user}" is not a member of taskmaster_app`;
  return undefined;
}

/** Staging and production refuse a privileged or non-application database role; elsewhere it is a warning. */
export function requiresLeastPrivilege(profile: Profile): boolean {
  return profile === "staging" || profile === "production";
}

/** Thrown at start in staging/production; its message is the one line the process prints. */
export class DatabaseRoleError extends Error {
  override readonly name = "DatabaseRoleError";
  constructor(profile: Profile, problem: string) {
    super(
      `refusing to start in the ${profile} profile: ${problem}; set DATABASE_URL to a login user in taskmaster_app ` +
        "(./taskmaster db roles grant --role app --user NAME), the owner belongs in MIGRATION_DATABASE_URL",
    );
  }
}
