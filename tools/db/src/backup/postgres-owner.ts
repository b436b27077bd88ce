/**
 * Root runs the tools, PostgreSQL runs as `postgres`: whatever the server must write (the WAL archive, a
 * restored data directory) is handed to that user. As a normal user nothing changes hands.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, statSync } from "node:fs";
import { dirname } from "node:path";

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** `chown -R postgres:postgres <path>` when running as root (the user exists once embedded PG ran). */
export function giveToPostgres(path: string): void {
  if (!isRoot()) return;
  execFileSync("chown", ["-R", "postgres:postgres", path]);
  // Parents created by root (mkdtemp: 0700) must be traversable by postgres.
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const mode = statSync(dir).mode & 0o7777;
      if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o011);
    } catch {
      // not ours to change
    }
  }
}
