/**
 * The backup commands of `./taskmaster db`: backup, backups, restore, verify-backup, drill, prune-backups.
 * Each takes `--json` and `--help`. Progress goes to stderr; results to stdout.
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BackupConfig, backupConfigFromEnv } from "@taskmaster/config/backup-config";
import { pruneDeletedAttachments } from "./attachment-prune.ts";
import { mergeStoreAttachments, restoreAttachments } from "./attachments.ts";
import { takeBaseBackup } from "./base-backup.ts";
import { drillLine, parseSize, runDrill } from "./drill.ts";
import { restoreLogical, takeLogicalBackup } from "./logical-backup.ts";
import { type BackupManifest, findBackup, listBackups } from "./manifest.ts";
import { pruneBackups } from "./prune.ts";
import { restoreBase } from "./restore-base.ts";
import { verifyBackup } from "./verify-backup.ts";

export const BACKUP_COMMANDS = [
  "backup",
  "backups",
  "restore",
  "verify-backup",
  "drill",
  "prune-backups",
] as const;
export type BackupCommand = (typeof BACKUP_COMMANDS)[number];

export class BackupUsageError extends Error {}

const USAGE: Record<BackupCommand, string> = {
  backup: `Usage: taskmaster db backup [--kind base|logical] [--no-verify] [--json]

Takes a backup of DATABASE_URL (MIGRATION_DATABASE_URL when set; a superuser for base backups) into
DB_BACKUP_DIR, with the attachments (TASK_ATTACHMENT_DIR), writes its manifest, then verifies it by a
restore into a scratch instance (row counts, migration level, audit chain).
  --kind base      physical copy (pg_backup_start/stop) + WAL archive: point-in-time recovery (default)
  --kind logical   pg_dump -Fc (only when pg_dump's major version equals the server's)`,
  backups: `Usage: taskmaster db backups [--json]

Lists the backups in DB_BACKUP_DIR: id, time, kind, size, verified.`,
  restore: `Usage: taskmaster db restore (--backup ID | --time RFC3339) --into DIR|URL [--replace] [--port N] [--json]

Restores a base backup (and WAL up to --time) into a new data directory DIR, starts it until recovery is
complete and it accepts connections, then stops it (start it with ./taskmaster start --data-dir DIR); or a
logical backup into the database URL. A non-empty DIR or a database with tables needs --replace; a
directory of a running server is always refused. Attachments go to --attachments-into (default: DIR-attachments
for a directory, TASK_ATTACHMENT_DIR for a URL).`,
  "verify-backup": `Usage: taskmaster db verify-backup [ID] [--json]

Checks the files of backup ID (default: the newest) against its manifest checksums, restores it into a
scratch instance and checks migration level, rows per table and the audit hash chain; records the result.`,
  drill: `Usage: taskmaster db drill [--size 50MB] [--archive-timeout 5] [--port N] [--keep] [--json]

Disaster-recovery drill on a throwaway embedded PostgreSQL with WAL archiving: load --size of data, base
backup, commit while archiving, recover to a time T and prove exactly the rows committed before T came
back, then lose the primary's disk and recover from the archive alone. Prints the measured RTO and RPO;
last line: drill: PASS rto=<s>s rpo=<s>s size=<bytes> rows=<n> (or FAIL with the reason).`,
  "prune-backups": `Usage: taskmaster db prune-backups [--dry-run] [--json]

Removes backups older than DB_BACKUP_RETENTION_DAYS (the newest verified backup is always kept) and WAL
in DB_WAL_ARCHIVE_DIR older than the oldest kept base backup needs; then (with DATABASE_URL) the files in
TASK_ATTACHMENT_DIR of attachments deleted before the oldest point a kept backup can restore.`,
};

export interface BackupCliContext {
  env: NodeJS.ProcessEnv;
  /** Owner/superuser URL (MIGRATION_DATABASE_URL, else DATABASE_URL), if set. */
  url: string | undefined;
  out: (line: string) => void;
  progress: (line: string) => void;
  now?: () => Date;
}

function describe(m: BackupManifest) {
  return {
    id: m.id,
    time: m.finishedAt,
    kind: m.kind,
    sizeBytes: m.sizeBytes,
    attachmentsBytes: m.attachmentsBytes,
    verified: m.verification === undefined ? null : m.verification.ok,
    migrationLevel: m.migrationLevel,
    serverVersion: m.serverVersion,
  };
}

function needUrl(ctx: BackupCliContext): string {
  if (!ctx.url)
    throw new BackupUsageError(
      "DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:54329/taskmaster)",
    );
  return ctx.url;
}

export async function runBackupCommand(
  command: BackupCommand,
  argv: string[],
  ctx: BackupCliContext,
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        kind: { type: "string" },
        "no-verify": { type: "boolean", default: false },
        backup: { type: "string" },
        time: { type: "string" },
        into: { type: "string" },
        "attachments-into": { type: "string" },
        replace: { type: "boolean", default: false },
        port: { type: "string" },
        size: { type: "string", default: "50MB" },
        "archive-timeout": { type: "string", default: "5" },
        keep: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new BackupUsageError(`${(error as Error).message}\n\n${USAGE[command]}`);
  }
  const { values, positionals } = parsed;
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help) {
    ctx.out(USAGE[command]);
    return 0;
  }
  const json = v.json === true;
  const config: BackupConfig = backupConfigFromEnv(ctx.env);
  const attachmentsDir = ctx.env.TASK_ATTACHMENT_DIR?.trim() || ".data/attachments";
  const port = typeof v.port === "string" ? Number(v.port) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new BackupUsageError("--port must be a TCP port");
  const emit = (data: unknown, lines: string[]) => {
    if (json) ctx.out(JSON.stringify(data, null, 2));
    else for (const l of lines) ctx.out(l);
  };

  switch (command) {
    case "backup": {
      const url = needUrl(ctx);
      const kind = (v.kind as string | undefined) ?? config.kind;
      if (kind !== "base" && kind !== "logical") throw new BackupUsageError("--kind must be base or logical");
      const started = performance.now();
      const manifest =
        kind === "base"
          ? await takeBaseBackup({
              url,
              backupRoot: config.backupDir,
              walArchiveDir: config.walArchiveDir,
              attachmentsDir,
              onProgress: ctx.progress,
              ...(ctx.now && { now: ctx.now }),
            })
          : await takeLogicalBackup({
              url,
              backupRoot: config.backupDir,
              attachmentsDir,
              onProgress: ctx.progress,
              ...(ctx.now && { now: ctx.now }),
            });
      const verification =
        v["no-verify"] || !config.verify
          ? undefined
          : await verifyBackup({ backupRoot: config.backupDir, manifest, url, onProgress: ctx.progress });
      const seconds = (performance.now() - started) / 1000;
      emit({ ...describe({ ...manifest, ...(verification && { verification }) }), seconds, verification }, [
        `backup ${manifest.id}: ${kind}, ${manifest.sizeBytes} bytes, ${manifest.attachments.length} attachment file(s), ${seconds.toFixed(1)} s`,
        verification === undefined
          ? "not verified (--no-verify)"
          : verification.ok
            ? `verified: restored in ${verification.restoreSeconds.toFixed(1)} s, ${Object.keys(verification.rowCounts).length} tables, ${Object.values(verification.rowCounts).reduce((a, b) => a + b, 0)} rows`
            : `VERIFICATION FAILED: ${verification.problems.join("; ")}`,
      ]);
      return verification === undefined || verification.ok ? 0 : 1;
    }
    case "backups": {
      const all = await listBackups(config.backupDir);
      emit(
        all.map(describe),
        all.length === 0
          ? [`no backups in ${config.backupDir}`]
          : [
              `${"id".padEnd(28)} ${"time".padEnd(24)} ${"kind".padEnd(8)} ${"size".padStart(14)}  verified`,
              ...all.map(
                (m) =>
                  `${m.id.padEnd(28)} ${m.finishedAt.padEnd(24)} ${m.kind.padEnd(8)} ${String(m.sizeBytes).padStart(14)}  ${m.verification === undefined ? "no" : m.verification.ok ? "yes" : "FAILED"}`,
              ),
            ],
      );
      return 0;
    }
    case "restore": {
      const into = v.into as string | undefined;
      if (!into) throw new BackupUsageError(`--into is required\n\n${USAGE.restore}`);
      if ((v.backup === undefined) === (v.time === undefined))
        throw new BackupUsageError(`give exactly one of --backup ID or --time RFC3339\n\n${USAGE.restore}`);
      const time = v.time as string | undefined;
      if (time !== undefined && (Number.isNaN(Date.parse(time)) || !/^\d{4}-\d\d-\d\dT/.test(time)))
        throw new BackupUsageError(
          `--time must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z (got "${time}")`,
        );
      let manifest: BackupManifest;
      if (time !== undefined) {
        const candidates = (await listBackups(config.backupDir)).filter(
          (m) => m.kind === "base" && m.finishedAt <= new Date(time).toISOString(),
        );
        const found = candidates.at(-1);
        if (!found) throw new Error(`no base backup finished before ${time}: nothing to recover from`);
        manifest = found;
      } else manifest = await findBackup(config.backupDir, v.backup as string);
      const isUrl = /^postgres(ql)?:\/\//.test(into);
      const started = performance.now();
      let seconds: number;
      const attachmentsTarget =
        (v["attachments-into"] as string | undefined) ??
        (isUrl ? attachmentsDir : `${into.replace(/\/$/, "")}-attachments`);
      if (isUrl) {
        if (time !== undefined)
          throw new BackupUsageError("--time needs a base backup restored --into a directory");
        seconds = (
          await restoreLogical({
            backupRoot: config.backupDir,
            manifest,
            url: into,
            replace: v.replace === true,
            onProgress: ctx.progress,
          })
        ).seconds;
      } else {
        const source = ctx.url ? new URL(ctx.url) : undefined;
        seconds = (
          await restoreBase({
            backupRoot: config.backupDir,
            manifest,
            into,
            targetTime: time,
            replace: v.replace === true,
            walArchiveDir: config.walArchiveDir,
            port,
            password: source?.password ? decodeURIComponent(source.password) : undefined,
            onProgress: ctx.progress,
          })
        ).seconds;
      }
      const attachmentProblems = await restoreAttachments(
        join(config.backupDir, manifest.id),
        manifest.attachments,
        attachmentsTarget,
      );
      if (attachmentProblems.length > 0)
        throw new Error(`attachments differ from the manifest: ${attachmentProblems.slice(0, 3).join("; ")}`);
      // Recovered past the backup: files uploaded since then are only in the live store.
      const fromStore =
        time !== undefined
          ? await mergeStoreAttachments(attachmentsDir, attachmentsTarget)
          : { copied: 0, problems: [] };
      for (const p of fromStore.problems) ctx.progress(`attachment not restored: ${p}`);
      const total = (performance.now() - started) / 1000;
      emit(
        {
          backup: manifest.id,
          kind: manifest.kind,
          into,
          time: time ?? null,
          seconds: total,
          recoverySeconds: seconds,
          attachments: manifest.attachments.length,
          attachmentsFromStore: fromStore.copied,
          attachmentsInto: attachmentsTarget,
        },
        [
          `restored ${manifest.id}${time ? ` to ${time}` : ""} into ${isUrl ? into.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@") : into} in ${total.toFixed(1)} s`,
          `${manifest.attachments.length} attachment file(s) from the backup${fromStore.copied > 0 ? ` and ${fromStore.copied} uploaded since (from ${attachmentsDir})` : ""} in ${attachmentsTarget}`,
          ...(isUrl ? [] : [`start it: ./taskmaster start --data-dir ${into}`]),
        ],
      );
      return 0;
    }
    case "verify-backup": {
      const url = needUrl(ctx);
      const manifest = await findBackup(config.backupDir, positionals[0]);
      const verification = await verifyBackup({
        backupRoot: config.backupDir,
        manifest,
        url,
        onProgress: ctx.progress,
      });
      emit({ id: manifest.id, ...verification }, [
        verification.ok
          ? `backup ${manifest.id}: verified (restore ${verification.restoreSeconds.toFixed(1)} s; ${Object.entries(
              verification.rowCounts,
            )
              .map(([t, n]) => `${t}=${n}`)
              .join(", ")})`
          : `backup ${manifest.id}: FAILED: ${verification.problems.join("; ")}`,
      ]);
      return verification.ok ? 0 : 1;
    }
    case "drill": {
      let sizeBytes: number;
      try {
        sizeBytes = parseSize(v.size as string);
      } catch (error) {
        throw new BackupUsageError((error as Error).message);
      }
      const archiveTimeoutSeconds = Number(v["archive-timeout"]);
      if (!Number.isInteger(archiveTimeoutSeconds) || archiveTimeoutSeconds < 1)
        throw new BackupUsageError("--archive-timeout must be a whole number of seconds >= 1");
      const r = await runDrill({
        sizeBytes,
        archiveTimeoutSeconds,
        port,
        keep: v.keep === true,
        onProgress: ctx.progress,
      });
      const mbps = (bytes: number, s: number) => (s > 0 ? (bytes / 1048576 / s).toFixed(0) : "-");
      emit({ ...r, line: drillLine(r) }, [
        "| step | result |",
        "| --- | --- |",
        `| database size | ${r.sizeBytes} bytes (${r.rows} ledger rows recovered) |`,
        `| base backup | ${r.backupSeconds.toFixed(1)} s, ${r.backupBytes} bytes (${mbps(r.backupBytes, r.backupSeconds)} MB/s) |`,
        `| PITR to T | ${r.pitrSeconds.toFixed(1)} s, exactly ${r.pitrRows} rows committed before T |`,
        `| disk lost: RTO | ${r.rtoSeconds.toFixed(1)} s (restore ${mbps(r.backupBytes, r.rtoSeconds)} MB/s incl. WAL replay) |`,
        `| disk lost: RPO | ${r.rpoSeconds.toFixed(1)} s, ${r.lostCommits} acknowledged commit(s) lost (archive_timeout ${r.archiveTimeoutSeconds} s) |`,
        drillLine(r),
      ]);
      return r.ok ? 0 : 1;
    }
    case "prune-backups": {
      const r = await pruneBackups({
        backupRoot: config.backupDir,
        walArchiveDir: config.walArchiveDir,
        retentionDays: config.retentionDays,
        now: (ctx.now ?? (() => new Date()))(),
        dryRun: v["dry-run"] === true,
      });
      const files = ctx.url
        ? await pruneDeletedAttachments({
            url: ctx.url,
            attachmentsDir,
            oldestRestorablePoint: r.oldestRestorablePoint,
            dryRun: v["dry-run"] === true,
          })
        : null;
      emit({ ...r, attachments: files }, [
        `${v["dry-run"] ? "would remove" : "removed"} ${r.removedBackups.length} backup(s) and ${r.removedWalFiles} WAL file(s) (${r.freedBytes} bytes); kept ${r.keptBackups.length}`,
        files === null
          ? "deleted attachments' files: not pruned (DATABASE_URL is not set)"
          : `${v["dry-run"] ? "would remove" : "removed"} ${files.removedFiles} deleted attachment file(s) (${files.freedBytes} bytes); ${files.keptFiles} kept while a retained backup can restore their rows`,
      ]);
      return 0;
    }
  }
}
