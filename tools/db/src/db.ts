#!/usr/bin/env node
/**
 * Database tool: `node tools/db/dist/db.js <command>` with `DATABASE_URL` set.
 *
 *   migrate up        apply pending migrations (all in one transaction)
 *   migrate down      revert the last migration (`--all` reverts everything: empty schema)
 *   migrate status    list executed and pending migrations
 *   migrate create    generate a migration from the entity/snapshot diff (developers; `--name x`)
 *   seed              template types, category tree and demo tasks (idempotent; `--no-demo`)
 *   audit verify      seal pending audit rows and verify the hash chain (exit 1 on a broken link)
 *   audit retention   drop audit partitions older than `--days` (default 90), create upcoming ones
 *   roles grant       create/update a LOGIN user in a taskmaster group role (`--role`, `--user`, `--password-env`)
 *   roles list        members of the taskmaster group roles
 *
 * Connects with `MIGRATION_DATABASE_URL` (the owner) when set, else `DATABASE_URL`.
 */
import type { MikroORM } from "@mikro-orm/core";
import { backupConfigFromEnv } from "@taskmaster/config/backup-config";
import { migrateDown, migrateUp, migrationStatus } from "@taskmaster/persistence/migrate";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { formatVerify, type Query, runAuditRetention, verifyAuditChain } from "./audit-verify.ts";
import {
  BACKUP_COMMANDS,
  type BackupCommand,
  BackupUsageError,
  runBackupCommand,
} from "./backup/backup-cli.ts";
import { runBackupDaemon } from "./backup/backup-daemon.ts";
import { GROUP_ROLES, grantRole, isRoleName, listRoleMembers, userNameProblem } from "./roles.ts";

const HELP = `Usage: db <command> [options]

Commands:
  migrate up              Apply all pending migrations
  migrate down [--all]    Revert the last migration, or all of them (--all)
  migrate status          Show executed and pending migrations
  migrate create [--name <name>] [--blank]
                          Generate a new migration from the entity definitions (developers)
  seed [--no-demo]        Seed template types and categories (+ demo sprint/release/tasks)
  audit verify [--no-seal]
                          Seal pending audit rows, verify the hash chain, report the first broken link
  audit retention [--days 90]
                          Drop whole audit partitions older than the retention, create upcoming ones
  roles grant --role app|readonly|retention|owner|monitor --user <name> [--password-env <VAR>]
                          Create or update LOGIN user <name> as a member of taskmaster_<role>, or of
                          several roles with a comma list (--role app,monitor) (idempotent;
                          needs a superuser or CREATEROLE). The password is read from the environment
                          variable <VAR>, never from the command line, and sent only as a SCRAM verifier;
                          without --password-env an existing password is kept (new users get none).
                          Services: app (the monitoring service: app and monitor); reporting: readonly;
                          the audit retention job: retention; migrations: owner.
  roles list              Members of the taskmaster group roles
  backup [--kind base|logical]
                          Back up the database and attachments, then verify by a restore (see docs/operations.md)
  backups                 List backups: time, kind, size, verified
  restore (--backup ID | --time RFC3339) --into DIR|URL [--replace]
                          Restore a backup, or recover to a point in time, into a new directory or database
  verify-backup [ID]      Check a backup's checksums and restore it into a scratch instance
  drill [--size 50MB]     Disaster-recovery drill on a throwaway cluster: measured RTO and RPO
  backup-daemon [--now]   Scheduled backups (DB_BACKUP_AT, daily) with verification, pruning and metrics
                          (DB_BACKUP_METRICS_PORT, DB_BACKUP_METRICS_HOST); --now also runs one at start
  prune-backups           Remove backups past DB_BACKUP_RETENTION_DAYS and WAL no kept backup needs
                          (each of these takes --json and --help)

Environment:
  MIGRATION_DATABASE_URL  the schema owner's connection (used when set)
  DATABASE_URL            postgres://user:password@host:port/database (used otherwise; one is required)

Options:
  -h, --help              Show this help
`;

class UsageError extends Error {}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

function requireUrl(): string {
  const variable = process.env.MIGRATION_DATABASE_URL ? "MIGRATION_DATABASE_URL" : "DATABASE_URL";
  const url = process.env[variable];
  if (!url)
    throw new UsageError("DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/taskmaster)");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${variable} is not a valid URL`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new UsageError(`${variable} must start with postgres:// (got ${parsed.protocol}//)`);
  }
  return url;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

const progress = {
  onEvent: (event: string, name: string) => {
    const verb = { migrating: "applying", migrated: "applied", reverting: "reverting", reverted: "reverted" }[
      event
    ];
    log(`  ${verb ?? event} ${name}`);
  },
};

async function withOrm<T>(fn: (orm: MikroORM) => Promise<T>): Promise<T> {
  const url = requireUrl();
  log(`database: ${redact(url)}`);
  let orm: MikroORM;
  try {
    orm = await initOrm({ url, pool: { min: 0, max: 2 } });
    await orm.em.getConnection().execute("select 1");
  } catch (err) {
    throw new UsageError(
      `cannot connect to the database: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  try {
    return await fn(orm);
  } finally {
    await orm.close(true);
  }
}

async function migrate(sub: string | undefined, flags: Set<string>, args: string[]): Promise<void> {
  switch (sub) {
    case "up":
      await withOrm(async (orm) => {
        const started = Date.now();
        const applied = await migrateUp(orm, progress);
        log(
          applied.length
            ? `migrated up: ${applied.length} migration(s) in ${Date.now() - started} ms`
            : "already up to date",
        );
      });
      return;
    case "down":
      await withOrm(async (orm) => {
        const reverted = await migrateDown(orm, { all: flags.has("--all") }, progress);
        log(reverted.length ? `reverted ${reverted.length} migration(s)` : "nothing to revert");
      });
      return;
    case "status":
      await withOrm(async (orm) => {
        const s = await migrationStatus(orm);
        for (const m of s.executed) log(`  [x] ${m.name}  (${m.executedAt.toISOString()})`);
        for (const m of s.pending) log(`  [ ] ${m}`);
        log(`${s.executed.length} executed, ${s.pending.length} pending`);
      });
      return;
    case "create":
      await withOrm(async (orm) => {
        const i = args.indexOf("--name");
        const name = i >= 0 ? args[i + 1] : undefined;
        const r = await orm.migrator.create(undefined, flags.has("--blank"), false, name);
        log(r.fileName ? `created migrations/${r.fileName}` : "no schema changes: nothing to generate");
      });
      return;
    default:
      throw new UsageError(
        `unknown migrate subcommand ${sub ? `"${sub}"` : "(missing)"}: use up, down, status or create`,
      );
  }
}

async function audit(sub: string | undefined, flags: Set<string>, args: string[]): Promise<void> {
  const queryOf =
    (orm: MikroORM): Query =>
    (sql, params) =>
      orm.em.getConnection().execute(sql, params ?? [], "all");
  switch (sub) {
    case "verify":
      await withOrm(async (orm) => {
        const result = await verifyAuditChain(queryOf(orm), { seal: !flags.has("--no-seal") });
        for (const line of formatVerify(result)) log(line);
        if (result.problems.length > 0) process.exitCode = 1;
      });
      return;
    case "retention": {
      const i = args.indexOf("--days");
      const days = i >= 0 ? Number(args[i + 1]) : 90;
      if (!Number.isInteger(days) || days < 1) throw new UsageError("--days must be a positive integer");
      await withOrm(async (orm) => {
        const removed = await runAuditRetention(queryOf(orm), days);
        for (const r of removed) {
          const range = r.rangeStart
            ? `${r.rangeStart.toISOString()} .. ${r.rangeEnd?.toISOString()}`
            : `before ${r.rangeEnd?.toISOString()}`;
          log(`  removed ${r.partition} (${range}): ${r.rowsRemoved} row(s)`);
        }
        const total = removed.reduce((a, r) => a + r.rowsRemoved, 0);
        log(
          removed.length
            ? `audit retention (${days} days): removed ${removed.length} range(s), ${total} row(s)`
            : `audit retention (${days} days): nothing expired`,
        );
      });
      return;
    }
    default:
      throw new UsageError(
        `unknown audit subcommand ${sub ? `"${sub}"` : "(missing)"}: use verify or retention`,
      );
  }
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function roles(sub: string | undefined, args: string[]): Promise<void> {
  switch (sub) {
    case "grant": {
      const roleList = (option(args, "--role") ?? "").split(",").filter((r) => r !== "");
      const user = option(args, "--user");
      const passwordEnv = option(args, "--password-env");
      if (roleList.length === 0 || !roleList.every(isRoleName))
        throw new UsageError(
          `--role must be one of ${Object.keys(GROUP_ROLES).join(", ")} (or a comma list)`,
        );
      const problem = userNameProblem(user);
      if (problem !== undefined || user === undefined) throw new UsageError(problem ?? "--user is required");
      let password: string | undefined;
      if (args.includes("--password-env")) {
        if (passwordEnv === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(passwordEnv))
          throw new UsageError(
            "--password-env must name an environment variable, e.g. --password-env APP_DB_PASSWORD",
          );
        password = process.env[passwordEnv];
        if (!password)
          throw new UsageError(`environment variable ${passwordEnv} (--password-env) is empty or not set`);
      }
      await withOrm(async (orm) => {
        // One transaction: every membership or none.
        const results = await orm.em.fork().transactional(async (em) => {
          const query: Query = (sql, params) =>
            em.getConnection().execute(sql, params ?? [], "all", em.getTransactionContext());
          const out = [];
          for (const [i, role] of roleList.entries())
            out.push(
              await grantRole(query, { role, user, ...(i === 0 && password !== undefined && { password }) }),
            );
          return out;
        });
        const first = results[0];
        log(`  ${first?.created ? "created" : "updated"} login user ${user}`);
        for (const [i, role] of roleList.entries()) {
          const granted = results[i]?.granted === true;
          log(
            `  ${granted ? "granted" : "already a member of"} ${GROUP_ROLES[role]}${granted ? ` to ${user}` : ""}`,
          );
        }
        log(`  password ${first?.passwordSet ? `set from $${passwordEnv} (SCRAM-SHA-256)` : "unchanged"}`);
        log(`${user} is a member of ${results.at(-1)?.memberOf.join(", ")}`);
      });
      return;
    }
    case "list":
      await withOrm(async (orm) => {
        const members = await listRoleMembers((sql, params) =>
          orm.em.getConnection().execute(sql, params ?? [], "all"),
        );
        for (const group of Object.values(GROUP_ROLES)) {
          const users = members.filter((m) => m.group === group);
          log(
            `  ${group.padEnd(22)} ${users.length ? users.map((m) => (m.canLogin ? m.user : `${m.user} (nologin)`)).join(", ") : "-"}`,
          );
        }
      });
      return;
    default:
      throw new UsageError(`unknown roles subcommand ${sub ? `"${sub}"` : "(missing)"}: use grant or list`);
  }
}

async function main(argv: string[]): Promise<void> {
  const first = argv[0];
  if (first === "backup-daemon") {
    const url = process.env.MIGRATION_DATABASE_URL || process.env.DATABASE_URL;
    if (!url) throw new UsageError("DATABASE_URL is not set");
    const config = backupConfigFromEnv(process.env);
    if (!config.enabled) {
      log("DB_BACKUP_ENABLED=false: no scheduled backups");
      return;
    }
    const abort = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => abort.abort());
    await runBackupDaemon({
      config,
      url,
      attachmentsDir: process.env.TASK_ATTACHMENT_DIR?.trim() || ".data/attachments",
      metricsPort: Number(process.env.DB_BACKUP_METRICS_PORT ?? 0) || 0,
      metricsHost: process.env.DB_BACKUP_METRICS_HOST?.trim() || "127.0.0.1",
      signal: abort.signal,
      log,
      runNow: argv.includes("--now"),
    });
    return;
  }
  if (first !== undefined && (BACKUP_COMMANDS as readonly string[]).includes(first)) {
    const url = process.env.MIGRATION_DATABASE_URL || process.env.DATABASE_URL || undefined;
    process.exitCode = await runBackupCommand(first as BackupCommand, argv.slice(1), {
      env: process.env,
      url,
      out: log,
      progress: (m) => process.stderr.write(`${m}\n`),
    });
    return;
  }
  const flags = new Set(argv.filter((a) => a.startsWith("-")));
  const valued = new Set(["--days", "--name", "--role", "--user", "--password-env"]);
  const words = argv.filter((a, i) => !a.startsWith("-") && !valued.has(argv[i - 1] ?? ""));
  if (flags.has("-h") || flags.has("--help") || words.length === 0) {
    process.stdout.write(HELP);
    if (words.length === 0 && !flags.has("-h") && !flags.has("--help")) process.exitCode = 2;
    return;
  }
  const [command, sub] = words;
  switch (command) {
    case "migrate":
      await migrate(sub, flags, argv);
      return;
    case "audit":
      await audit(sub, flags, argv);
      return;
    case "roles":
      await roles(sub, argv);
      return;
    case "seed":
      await withOrm(async (orm) => {
        const r = await seedDatabase(orm, {
          demo: !flags.has("--no-demo"),
          onProgress: (m) => log(`  ${m}`),
        });
        const total = Object.values(r).reduce((a, b) => a + b, 0);
        log(total ? `seeded ${total} row(s)` : "seed data already present: nothing inserted");
      });
      return;
    default:
      throw new UsageError(`unknown command "${command}" (see --help)`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof BackupUsageError) {
    process.stderr.write(`db: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`db: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
});
