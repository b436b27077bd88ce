/**
 * Running embedded PostgreSQL as root: the server runs as the `postgres` system user, which must be able to
 * execute the binaries and own (and reach) the data directory. A clone inside a directory only root may enter
 * (mode 0700, as `/root` is) gives it neither. Instead of loosening the permissions of the user's folders,
 * whatever the `postgres` user cannot reach is placed under a shared folder it can reach (`/var/tmp`):
 * the binaries are copied there once per package location, and the data directory lives there with a
 * symbolic link at the requested path.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

export interface UserIds {
  readonly uid: number;
  readonly gid: number;
}

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

const run = promisify(execFile);

// Asynchronous on purpose: a caller may restart the server while serving traffic on the same event loop.
async function idsOf(user: string): Promise<UserIds | null> {
  try {
    const uid = Number((await run("id", ["-u", user], { encoding: "utf8" })).stdout.trim());
    const gid = Number((await run("id", ["-g", user], { encoding: "utf8" })).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** The `postgres` system user, created when missing. */
export async function postgresUser(): Promise<UserIds> {
  const found = await idsOf("postgres");
  if (found) return found;
  await run("sh", [
    "-c",
    "getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres",
  ]);
  const created = await idsOf("postgres");
  if (!created) throw new Error("could not create the postgres system user for embedded PostgreSQL");
  return created;
}

/** Whether `ids` holds permission `bit` (4 r, 2 w, 1 x) on `path` by its mode (supplementary groups ignored). */
function allowed(path: string, ids: UserIds, bit: number): boolean {
  const st = statSync(path);
  const mode = st.mode & 0o777;
  if (st.uid === ids.uid) return ((mode >> 6) & bit) === bit;
  if (st.gid === ids.gid) return ((mode >> 3) & bit) === bit;
  return (mode & bit) === bit;
}

/** Whether `ids` can traverse every existing ancestor of `path` (and, when given, use `path` itself). */
export function reachable(path: string, ids: UserIds, own?: number): boolean {
  const full = resolve(path);
  for (let dir = dirname(full); ; dir = dirname(dir)) {
    if (existsSync(dir) && !allowed(dir, ids, 1)) return false;
    if (dir === dirname(dir)) break;
  }
  return own === undefined || !existsSync(full) || allowed(full, ids, own);
}

/** A folder every user can traverse, for what the `postgres` user must reach. */
export function sharedBase(ids: UserIds): string {
  for (const candidate of ["/var/tmp", tmpdir()]) {
    if (existsSync(candidate) && reachable(join(candidate, "x"), ids)) {
      const base = join(candidate, "taskmaster-embedded-postgres");
      mkdirSync(base, { recursive: true, mode: 0o755 });
      chmodSync(base, 0o755);
      return base;
    }
  }
  throw new Error(
    "no folder the postgres user can reach for embedded PostgreSQL (tried /var/tmp and the temp dir)",
  );
}

/**
 * The `bin/` folder of `nativeDir` (the package's `bin`, `lib`, `share`) when `ids` can run it there; else a
 * copy under the shared folder (made once, atomically) and its `bin/`.
 */
export function reachableBinaries(nativeDir: string, ids: UserIds): string {
  const bin = join(nativeDir, "bin");
  if (reachable(join(bin, "postgres"), ids, 1)) return bin;
  const source = realpathSync(nativeDir);
  const binary = statSync(join(source, "bin", "postgres"));
  const key = createHash("sha256")
    .update(`${source}\0${binary.size}\0${binary.mtimeMs}`)
    .digest("hex")
    .slice(0, 16);
  const target = join(sharedBase(ids), `bin-${key}`);
  if (!existsSync(join(target, "bin", "postgres"))) {
    const staging = `${target}.${process.pid}.tmp`;
    rmSync(staging, { recursive: true, force: true });
    cpSync(source, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, target);
    } catch (error) {
      // Another process made the same copy first: use theirs.
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(target, "bin", "postgres"))) throw error;
    }
  }
  return join(target, "bin");
}

/**
 * The directory the server uses for `dataDir`, owned by `ids` with mode 0700: `dataDir` itself when `ids`
 * can reach it, else a folder under the shared folder with `dataDir` a symbolic link to it. Returns the real
 * path and whether it was placed elsewhere.
 */
export function reachableDataDir(dataDir: string, ids: UserIds): { path: string; relocated: boolean } {
  const wanted = resolve(dataDir);
  const link = existsSync(wanted) || isSymlink(wanted) ? lstatSync(wanted) : undefined;
  let path = wanted;
  let relocated = false;
  if (link?.isSymbolicLink()) {
    path = resolve(dirname(wanted), readlinkSync(wanted));
    relocated = true;
  } else if (!reachable(wanted, ids)) {
    if (link !== undefined) {
      throw new Error(
        `the postgres user cannot reach the embedded PostgreSQL data directory ${wanted}; move it or choose another --data-dir`,
      );
    }
    const key = createHash("sha256").update(wanted).digest("hex").slice(0, 16);
    path = join(sharedBase(ids), `data-${key}`);
    mkdirSync(dirname(wanted), { recursive: true });
    symlinkSync(path, wanted, "dir");
    relocated = true;
  }
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chownSync(path, ids.uid, ids.gid);
  chmodSync(path, 0o700);
  return { path, relocated };
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
