import { resolve } from "node:path";
import { Migrator } from "@mikro-orm/migrations";
import { MikroORM, type Options, PostgreSqlDriver } from "@mikro-orm/postgresql";
import { AuditContextSubscriber } from "./audit-context.subscriber.js";
import { type RetryPolicy, retryingEntityManager, type TransactionRetryEvents } from "./db-retry.js";
import { ALL_ENTITIES } from "./entities.js";
import { EsmMigrationGenerator } from "./migration-generator.js";

/** Top-level `migrations/` folder of the repository (committed `.js` ES modules + snapshot). */
export const MIGRATIONS_DIR = resolve(import.meta.dirname, "../../../migrations");

/** Connection-pool settings (upstream defaults: direct min 2 / max 10, idle 10 s, acquire 30 s). */
export interface PoolOptions {
  min?: number;
  max?: number;
  idleTimeoutMillis?: number;
  /**
   * Bound on waiting for a pooled connection, and on opening a new one (pg-pool's
   * `connectionTimeoutMillis`; MikroORM ignores a pool `acquireTimeoutMillis`). Past it the call fails with
   * "timeout exceeded when trying to connect", classified transient (UNAVAILABLE). Default 30 s.
   */
  acquireTimeoutMillis?: number;
}

export interface OrmConfigOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  pool?: PoolOptions;
  /** PostgreSQL schema (search_path); defaults to `public`. */
  schema?: string;
  /** Log SQL through MikroORM's logger. */
  debug?: boolean;
  /** Passed to `pg` as its `ssl` option (`true`, or `{ rejectUnauthorized, ca, servername, ... }`). */
  ssl?: boolean | Record<string, unknown>;
  /** Override of the migrations folder (tests); defaults to {@link MIGRATIONS_DIR}. */
  migrationsPath?: string;
  /** Application name reported to PostgreSQL (`pg_stat_activity.application_name`). */
  applicationName?: string;
  /** `statement_timeout` (ms) as a connection start-up option; 0 or omitted: the server's. */
  statementTimeoutMs?: number;
  /** `idle_in_transaction_session_timeout` (ms) as a connection start-up option; 0 or omitted: the server's. */
  idleInTransactionTimeoutMs?: number;
  /** Retry of whole transactions (serialization failure, deadlock, connection lost before commit). */
  retry?: RetryPolicy;
  /** Retry events (tests). */
  retryEvents?: TransactionRetryEvents;
}

/** MikroORM options for our PostgreSQL schema. No global state: pass the result to `MikroORM.init`. */
export function createOrmConfig(opts: OrmConfigOptions): Options {
  const pool = opts.pool ?? {};
  const driverOptions: Record<string, unknown> = {};
  if (opts.ssl !== undefined) driverOptions.ssl = opts.ssl;
  if (opts.applicationName !== undefined) driverOptions.application_name = opts.applicationName;
  // Start-up options of every pooled connection (sent once at connect, no SET per transaction).
  if (opts.statementTimeoutMs) driverOptions.statement_timeout = opts.statementTimeoutMs;
  if (opts.idleInTransactionTimeoutMs)
    driverOptions.idle_in_transaction_session_timeout = opts.idleInTransactionTimeoutMs;
  // Dead peers (a host gone, a cut network) are noticed by TCP keepalive instead of hanging a connection.
  driverOptions.keepAlive = true;
  driverOptions.keepAliveInitialDelayMillis = 10_000;
  driverOptions.connectionTimeoutMillis = pool.acquireTimeoutMillis ?? 30_000;
  return {
    driver: PostgreSqlDriver,
    clientUrl: opts.url,
    ...(opts.schema !== undefined ? { schema: opts.schema } : {}),
    entities: [...ALL_ENTITIES],
    extensions: [Migrator],
    // Copies the call's audit context (actor, request id, ...) into each transaction for the audit triggers.
    subscribers: [new AuditContextSubscriber()],
    ...(opts.retry !== undefined && { entityManager: retryingEntityManager(opts.retry, opts.retryEvents) }),
    allowGlobalContext: false,
    debug: opts.debug ?? false,
    // Discovery from the schemas above only; never scan folders or use reflect-metadata.
    discovery: { warnWhenNoEntities: true },
    pool: {
      min: pool.min ?? 2,
      max: pool.max ?? 10,
      idleTimeoutMillis: pool.idleTimeoutMillis ?? 10_000,
    },
    driverOptions,
    migrations: {
      path: opts.migrationsPath ?? MIGRATIONS_DIR,
      pathTs: opts.migrationsPath ?? MIGRATIONS_DIR,
      glob: "!(*.d).js",
      emit: "js",
      generator: EsmMigrationGenerator,
      tableName: "mikro_orm_migrations",
      transactional: true,
      allOrNothing: true,
      snapshot: true,
      // The snapshot is written by `migrate create` only; running migrations never touches the repo.
      snapshotOnMigrate: false,
      snapshotName: ".snapshot-taskmaster",
      silent: true,
    },
  };
}

/** Creates and connects a MikroORM instance. The caller owns it and must `close()` it. */
export async function initOrm(opts: OrmConfigOptions): Promise<MikroORM> {
  return MikroORM.init(createOrmConfig(opts));
}
