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
 */
import type { MikroORM } from "@mikro-orm/core";
import { migrateDown, migrateUp, migrationStatus } from "@taskmaster/persistence/migrate";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { formatVerify, type Query, runAuditRetention, verifyAuditChain } from "./audit-verify.ts";

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

Environment:
  DATABASE_URL            postgres://user:password@host:port/database (required)

Options:
  -h, --help              Show this help
`;

class UsageError extends Error {}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

function requireUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new UsageError("DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/taskmaster)");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError("DATABASE_URL is not a valid URL");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new UsageError(`DATABASE_URL must start with postgres:// (got ${parsed.protocol}//)`);
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

async function main(argv: string[]): Promise<void> {
  const flags = new Set(argv.filter((a) => a.startsWith("-")));
  const words = argv.filter(
    (a, i) => !a.startsWith("-") && argv[i - 1] !== "--days" && argv[i - 1] !== "--name",
  );
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
  if (err instanceof UsageError) {
    process.stderr.write(`db: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`db: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
});
