/**
 * Continuous WAL archiving for the embedded cluster: the server flags that turn it on and the archive
 * folder they point at. `archive_command` copies a finished segment once (never overwrites: a second copy of
 * the same name succeeds only when identical, so nothing in the archive is ever clobbered).
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { giveToPostgres } from "./postgres-owner.ts";

/** Creates the archive folder (writable by the postgres user) and returns the server flags for it. */
export function walArchiveFlags(archiveDir: string, archiveTimeoutSeconds: number): string[] {
  const dir = resolve(archiveDir);
  if (/['\s]/.test(dir)) throw new Error(`WAL archive path must not contain quotes or spaces: ${dir}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  giveToPostgres(dir);
  return [
    "-c",
    "wal_level=replica",
    "-c",
    "archive_mode=on",
    "-c",
    `archive_command=if [ -f ${dir}/%f ]; then cmp -s %p ${dir}/%f; else cp %p ${dir}/%f.part && mv ${dir}/%f.part ${dir}/%f; fi`,
    "-c",
    `archive_timeout=${archiveTimeoutSeconds}`,
  ];
}

/** The restore_command reading segments back from the archive. */
export function restoreCommand(archiveDir: string): string {
  return `cp ${resolve(archiveDir)}/%f %p`;
}
