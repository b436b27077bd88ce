import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedPostgres } from "./embedded.js";

/**
 * Vitest `globalSetup`: without `TEST_DATABASE_URL`, starts ONE embedded PostgreSQL for the whole run
 * and exports its URL as `TEST_DATABASE_URL` to the worker processes (so each test file does not start
 * its own server). Returns the teardown.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.TEST_DATABASE_URL) return async () => {};
  const dir = mkdtempSync(join(tmpdir(), "taskmaster-pg-"));
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, "data"), persistent: false, unsafeFast: true });
  process.env.TEST_DATABASE_URL = pg.url;
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.TEST_DATABASE_URL;
  };
}
