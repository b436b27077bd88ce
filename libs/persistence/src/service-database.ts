/**
 * What a service process needs from the database layer: ORM options from validated config (TLS modes,
 * pool, query timeout, application name) and a cheap health probe.
 */
import { readFileSync } from "node:fs";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { DatabaseConfig, Profile } from "@taskmaster/config/config";
import {
  type DatabaseRole,
  DatabaseRoleError,
  inspectDatabaseRole,
  requiresLeastPrivilege,
  serviceRoleProblem,
} from "./database-role.js";
import { isRetryableConnectError, withRetry } from "./db-retry.js";
import { initOrm, type OrmConfigOptions } from "./orm-config.js";
import { query, sql } from "./sql-toolkit.js";

/** pg `ssl` option for `DB_SSL_MODE`: disable -> none, require -> encrypted, verify-full -> CA + hostname checked. */
export function sslOption(ssl: DatabaseConfig["ssl"]): OrmConfigOptions["ssl"] {
  switch (ssl.mode) {
    case "disable":
      return undefined;
    case "require":
      return { rejectUnauthorized: false };
    case "verify-full":
      return {
        rejectUnauthorized: true,
        ...(ssl.caPath !== undefined && { ca: readFileSync(ssl.caPath, "utf8") }),
      };
  }
}

export function ormOptionsFromConfig(
  database: DatabaseConfig & { url: string },
  applicationName: string,
): OrmConfigOptions {
  const ssl = sslOption(database.ssl);
  return {
    url: database.url,
    applicationName,
    ...(ssl !== undefined && { ssl }),
    pool: {
      min: database.pool.min,
      max: database.pool.max,
      idleTimeoutMillis: database.pool.idleTimeoutMs,
      acquireTimeoutMillis: database.pool.acquireTimeoutMs,
    },
    statementTimeoutMs: database.queryTimeoutMs,
    idleInTransactionTimeoutMs: database.idleInTransactionTimeoutMs,
    retry: database.retry,
  };
}

export interface OpenServiceDatabaseOptions {
  /**
   * Checks the connection's role (least privilege, issue 8): staging and production refuse a superuser, a
   * schema owner or a user outside `taskmaster_app` with a {@link DatabaseRoleError}; other profiles only
   * report. Omitted: no check (tools and tests that open the database for other purposes).
   */
  readonly profile?: Profile;
  /** The role found, and what is wrong with it for a service (undefined: least privilege). */
  readonly onRole?: (role: DatabaseRole, problem: string | undefined) => void;
  /** Each failed connect attempt that will be retried (logs). */
  readonly onConnectRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Opens the ORM for a service; fails fast with the driver's error when the database is unreachable, and
 * with a {@link DatabaseRoleError} when the profile demands least privilege and the role is not.
 */
export async function openServiceDatabase(
  database: DatabaseConfig,
  applicationName: string,
  options: OpenServiceDatabaseOptions = {},
): Promise<MikroORM> {
  if (database.url === undefined)
    throw new Error("DATABASE_URL is not set (./taskmaster start provides one)");
  const ormOptions = ormOptionsFromConfig({ ...database, url: database.url }, applicationName);
  // Connecting retries transient failures (the database starting or restarting) with DB_RETRY_* backoff.
  const orm = await withRetry(
    { ...database.retry, budgetMs: Number.POSITIVE_INFINITY },
    async () => {
      const o = (await initOrm(ormOptions)) as MikroORM;
      try {
        await databasePing(o);
      } catch (error) {
        await o.close(true);
        throw error;
      }
      return o;
    },
    isRetryableConnectError,
    options.onConnectRetry,
  );
  try {
    if (options.profile !== undefined) {
      const role = await inspectDatabaseRole(orm.em.fork());
      const problem = serviceRoleProblem(role);
      if (problem !== undefined && requiresLeastPrivilege(options.profile))
        throw new DatabaseRoleError(options.profile, problem);
      options.onRole?.(role, problem);
    }
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  return orm;
}

/** `SELECT 1` on a fresh fork; throws when the database does not answer. */
export async function databasePing(orm: MikroORM): Promise<void> {
  await query(orm.em.fork(), sql`select 1`);
}
