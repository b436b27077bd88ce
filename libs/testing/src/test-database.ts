import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateUp } from "@taskmaster/persistence/migrate";
import { initOrm, MIGRATIONS_DIR } from "@taskmaster/persistence/orm-config";
import pg from "pg";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "./embedded.js";

export interface EmptyTestDatabase {
  /** Connection URL of the new database, as the test server's (super)user: setup and inspection SQL. */
  url: string;
  /** Its name (`tm_test_<unix seconds>_<random>`). */
  name: string;
  /** Drops it (terminating leftover connections). Safe to call twice. */
  drop(): Promise<void>;
}

export interface TestDatabase extends EmptyTestDatabase {
  /**
   * The same database as the login user {@link TEST_APP_USER}, a member of `taskmaster_app` only: what a
   * service under test connects with, so tests prove the services work with least privilege.
   */
  appUrl: string;
  /**
   * The same database as {@link TEST_MONITOR_USER}, in `taskmaster_app` and `taskmaster_monitor` (pg_monitor's
   * statistics): what the monitoring service connects with.
   */
  monitorUrl: string;
}

/**
 * Cluster-wide login user in the `taskmaster_app` group role, created once per server by the harness.
 * Its password only matters for servers with password authentication (the embedded one); test use only.
 */
export const TEST_APP_USER = "taskmaster_test_app";
/** Cluster-wide login user in `taskmaster_app` and `taskmaster_monitor`, like the monitoring service's. */
export const TEST_MONITOR_USER = "taskmaster_test_monitor";
/** Password of both test users (the user names again): test clusters only. */
const testPassword = (user: string) => user;

export interface CreateTestDatabaseOptions {
  /** Server to use; default `TEST_DATABASE_URL`, else one embedded PostgreSQL per process. */
  serverUrl?: string;
  /** Migrations folder (default: the repository's top-level `migrations/`). */
  migrationsDir?: string;
}

const LOCK_KEY = 0x7a5c_0001; // pg_advisory_lock key for template creation and cleanup
const USERS_LOCK = 0x7a5c_0002; // serialises creating/updating the test login users across processes
const STALE_SECONDS = 3600;

let embedded: Promise<EmbeddedPostgresHandle> | undefined;

/** Lazily starts one throw-away embedded PostgreSQL for this process (stopped and deleted on exit). */
function embeddedServer(): Promise<EmbeddedPostgresHandle> {
  embedded ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "taskmaster-pg-"));
    const handle = await startEmbeddedPostgres({
      dataDir: join(dir, "data"),
      persistent: false,
      unsafeFast: true,
    });
    process.once("exit", () => {
      // No asynchronous stop at exit: tell the server to stop at once, and remove the temp folder.
      handle.signalGroup("SIGQUIT");
      rmSync(dir, { recursive: true, force: true });
      rmSync(handle.dataPath, { recursive: true, force: true });
    });
    return handle;
  })();
  return embedded;
}

/** URL of the test server: `TEST_DATABASE_URL`, else the per-process embedded server. */
export async function testServerUrl(): Promise<string> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) return fromEnv;
  return (await embeddedServer()).url;
}

/** sha256 over the migration file names and contents: changes whenever a migration does. */
export function migrationsHash(dir: string = MIGRATIONS_DIR): string {
  const h = createHash("sha256");
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith(".js")) continue;
    h.update(f)
      .update("\0")
      .update(readFileSync(join(dir, f)))
      .update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/** The same server URL pointing at another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function withAdmin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, application_name: "taskmaster-test-harness" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function databaseExists(c: pg.Client, name: string): Promise<boolean> {
  const r = await c.query("select 1 from pg_database where datname = $1", [name]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Makes sure `taskmaster_tpl_<hash>` exists and is fully migrated. Several test processes may race:
 * a session advisory lock serialises them, and the template is built under a temporary name and
 * renamed when complete, so a crash never leaves a half-migrated template behind.
 */
async function ensureTemplate(serverUrl: string, migrationsDir: string): Promise<string> {
  const template = `taskmaster_tpl_${migrationsHash(migrationsDir)}`;
  return withAdmin(serverUrl, async (c) => {
    if (await databaseExists(c, template)) return template;
    await c.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    try {
      if (await databaseExists(c, template)) return template;
      const building = `${template}_build`;
      await c.query(`drop database if exists ${quoteIdent(building)} with (force)`);
      await c.query(`create database ${quoteIdent(building)}`);
      const orm = await initOrm({
        url: withDatabase(serverUrl, building),
        migrationsPath: migrationsDir,
        pool: { min: 0, max: 2 },
      });
      try {
        await migrateUp(orm);
      } finally {
        await orm.close(true);
      }
      await c.query(`alter database ${quoteIdent(building)} rename to ${quoteIdent(template)}`);
      await dropStale(c);
      return template;
    } finally {
      await c.query("select pg_advisory_unlock($1)", [LOCK_KEY]);
    }
  });
}

/** Drops `tm_test_*` databases created more than an hour ago (left behind by killed test runs). */
async function dropStale(c: pg.Client): Promise<void> {
  const r = await c.query<{ datname: string }>(
    "select datname from pg_database where datname like 'tm\\_test\\_%'",
  );
  const cutoff = Math.floor(Date.now() / 1000) - STALE_SECONDS;
  for (const { datname } of r.rows) {
    const created = Number(datname.split("_")[2]);
    if (Number.isFinite(created) && created < cutoff) {
      await c.query(`drop database if exists ${quoteIdent(datname)} with (force)`).catch(() => {});
    }
  }
}

/** The URL `url` with another user and password. */
export function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

const testUsersReady = new Map<string, Promise<void>>();

/** A login user and the group roles it must be in (created by the migrations). */
const TEST_USERS: ReadonlyArray<readonly [string, readonly string[]]> = [
  [TEST_APP_USER, ["taskmaster_app"]],
  [TEST_MONITOR_USER, ["taskmaster_app", "taskmaster_monitor"]],
];

/**
 * Makes sure the test login users exist, members of their group roles and nothing more. Roles are
 * cluster-wide and test processes start together: an advisory lock serialises them. Once per server and
 * process.
 */
function ensureTestUsers(serverUrl: string): Promise<void> {
  let done = testUsersReady.get(serverUrl);
  if (done === undefined) {
    const statements = TEST_USERS.map(
      ([user, groups]) => `
  if not exists (select 1 from pg_roles where rolname = '${user}') then
    create role ${user} login;
  end if;
  alter role ${user} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit
    password '${testPassword(user)}';
  foreach g in array array[${groups.map((g) => `'${g}'`).join(", ")}] loop
    if not exists (select 1 from pg_roles where rolname = g) then
      raise exception 'role % is missing: the migrations create it (they need a superuser or CREATEROLE)', g;
    end if;
    if not pg_has_role('${user}', g, 'member') then
      execute format('grant %I to ${user}', g);
    end if;
  end loop;`,
    ).join("");
    done = withAdmin(serverUrl, async (c) => {
      await c.query(`do $$
declare g text;
begin
  perform pg_advisory_xact_lock(${USERS_LOCK});${statements}
end $$`);
    });
    done.catch(() => testUsersReady.delete(serverUrl));
    testUsersReady.set(serverUrl, done);
  }
  return done;
}

/**
 * A fresh, fully migrated database for one test file: cloned (`CREATE DATABASE ... TEMPLATE`) from a
 * template database that is migrated once per migration-set hash. Call `drop()` in `afterAll`.
 */
export async function createTestDatabase(opts: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = opts.serverUrl ?? (await testServerUrl());
  const template = await ensureTemplate(serverUrl, opts.migrationsDir ?? MIGRATIONS_DIR);
  await ensureTestUsers(serverUrl);
  const name = `tm_test_${Math.floor(Date.now() / 1000)}_${randomBytes(5).toString("hex")}`;
  await withAdmin(serverUrl, async (c) => {
    // A template being connected to cannot be cloned; retry briefly if another process is mid-check.
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`create database ${quoteIdent(name)} template ${quoteIdent(template)}`);
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== "55006" || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  let dropped = false;
  const url = withDatabase(serverUrl, name);
  return {
    url,
    appUrl: withUser(url, TEST_APP_USER, testPassword(TEST_APP_USER)),
    monitorUrl: withUser(url, TEST_MONITOR_USER, testPassword(TEST_MONITOR_USER)),
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdmin(serverUrl, (c) => c.query(`drop database if exists ${quoteIdent(name)} with (force)`));
    },
  };
}

/**
 * Creates an empty database (no migrations) on the test server, e.g. to test migrations themselves.
 */
export async function createEmptyTestDatabase(opts: { serverUrl?: string } = {}): Promise<EmptyTestDatabase> {
  const serverUrl = opts.serverUrl ?? (await testServerUrl());
  const name = `tm_test_${Math.floor(Date.now() / 1000)}_${randomBytes(5).toString("hex")}`;
  await withAdmin(serverUrl, (c) => c.query(`create database ${quoteIdent(name)}`));
  let dropped = false;
  return {
    url: withDatabase(serverUrl, name),
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdmin(serverUrl, (c) => c.query(`drop database if exists ${quoteIdent(name)} with (force)`));
    },
  };
}
