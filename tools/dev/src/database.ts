import { spawn } from "node:child_process";
import { join } from "node:path";
import pg from "pg";

/** Creates `name` on the server behind `serverUrl` when missing; returns the URL of that database. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `tools/db` as the owner (`ownerUrl` as both DATABASE_URL and MIGRATION_DATABASE_URL). */
export async function runDbTool(
  root: string,
  args: string[],
  ownerUrl: string,
  signal: AbortSignal,
  extraEnv: NodeJS.ProcessEnv = {},
  stdio: "inherit" | "ignore" = "inherit",
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "tools/db/dist/db.js"), ...args], {
      cwd: root,
      stdio,
      env: { ...process.env, ...extraEnv, DATABASE_URL: ownerUrl, MIGRATION_DATABASE_URL: ownerUrl },
      signal,
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`db ${args.join(" ")} failed (${code})`)),
    );
  });
}
