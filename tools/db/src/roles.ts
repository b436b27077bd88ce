/**
 * `db roles grant|list`: login users in the group roles the migrations create (issue 8, least privilege).
 * Run as the owner/superuser connection (`MIGRATION_DATABASE_URL`); roles are cluster-wide.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type { Query } from "./audit-verify.ts";

/** `--role` values and the group role each one joins. */
export const GROUP_ROLES = {
  app: "taskmaster_app",
  readonly: "taskmaster_readonly",
  retention: "taskmaster_retention",
  owner: "taskmaster_owner",
  /** pg_monitor's statistics, for the monitoring service's login (together with `app`). */
  monitor: "taskmaster_monitor",
} as const;
export type RoleName = keyof typeof GROUP_ROLES;

export function isRoleName(value: string | undefined): value is RoleName {
  return value !== undefined && Object.hasOwn(GROUP_ROLES, value);
}

/** Lower-case SQL identifier, not reserved for PostgreSQL (`pg_`) or the group roles themselves. */
export function userNameProblem(user: string | undefined): string | undefined {
  if (user === undefined || user === "") return "--user is required";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(user))
    return "--user must be a lower-case identifier: a-z, 0-9, _ (at most 63 characters, not starting with a digit)";
  if (user.startsWith("pg_")) return "--user must not start with pg_ (reserved by PostgreSQL)";
  if ((Object.values(GROUP_ROLES) as string[]).includes(user))
    return `--user must be a login user, not the group role ${user}`;
  return undefined;
}

/**
 * SCRAM-SHA-256 verifier (RFC 5802/7677, PostgreSQL's stored form) computed here, so the plain password never
 * reaches the server, its statement log or `pg_stat_activity`.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

export interface GrantResult {
  /** The user was created by this run (false: it existed and was updated). */
  readonly created: boolean;
  /** Membership granted by this run (false: it was a member already). */
  readonly granted: boolean;
  readonly passwordSet: boolean;
  /** Every `taskmaster_*` group role the user is a member of afterwards. */
  readonly memberOf: readonly string[];
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

/**
 * Creates or updates LOGIN user `user` (refusing a superuser, and for non-owner roles a user with CREATEROLE,
 * CREATEDB, REPLICATION or BYPASSRLS) and makes it a member of the group role. Idempotent; an advisory lock serialises concurrent runs. `query` must
 * run every statement in ONE transaction (e.g. bound to `em.transactional`'s context).
 */
export async function grantRole(
  query: Query,
  options: { role: RoleName; user: string; password?: string },
): Promise<GrantResult> {
  const problem = userNameProblem(options.user);
  if (problem !== undefined) throw new Error(problem);
  const group = GROUP_ROLES[options.role];
  const user = quoteIdent(options.user);
  await query("select pg_advisory_xact_lock(31324, 8003)");
  const [groupRow] = await query("select 1 as ok from pg_roles where rolname = ?", [group]);
  if (groupRow === undefined)
    throw new Error(
      `group role ${group} does not exist: run './taskmaster db migrate up' as a superuser first`,
    );
  const [existing] = await query(
    "select rolsuper, rolcreaterole or rolcreatedb or rolreplication or rolbypassrls as elevated from pg_roles where rolname = ?",
    [options.user],
  );
  if (existing?.rolsuper === true)
    throw new Error(
      `${options.user} is a superuser: use a dedicated login user for the ${options.role} role`,
    );
  if (existing?.elevated === true && options.role !== "owner")
    throw new Error(
      `${options.user} has CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS: use a dedicated login user for the ${options.role} role`,
    );
  // A new role gets PostgreSQL's defaults: NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT.
  const password =
    options.password === undefined ? "" : ` password ${quoteLiteral(scramVerifier(options.password))}`;
  await query(`${existing === undefined ? "create" : "alter"} role ${user} login${password}`);
  const [member] = await query(
    "select 1 as ok from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member where g.rolname = ? and u.rolname = ?",
    [group, options.user],
  );
  const granted = member === undefined;
  if (granted) await query(`grant ${quoteIdent(group)} to ${user}`);
  const memberOf = await query(
    "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member where u.rolname = ? and g.rolname like 'taskmaster\\_%' order by 1",
    [options.user],
  );
  return {
    created: existing === undefined,
    granted,
    passwordSet: options.password !== undefined,
    memberOf: memberOf.map((r) => String(r.rolname)),
  };
}

export interface RoleMember {
  readonly group: string;
  readonly user: string;
  readonly canLogin: boolean;
}

/** Login users (and other members) of each taskmaster group role. */
export async function listRoleMembers(query: Query): Promise<RoleMember[]> {
  const rows = await query(
    `select g.rolname as grp, u.rolname as usr, u.rolcanlogin as login from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member where g.rolname in (${Object.values(
      GROUP_ROLES,
    )
      .map(quoteLiteral)
      .join(", ")}) order by 1, 2`,
  );
  return rows.map((r) => ({ group: String(r.grp), user: String(r.usr), canLogin: r.login === true }));
}
