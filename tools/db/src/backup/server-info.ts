/** What a backup records about the server it was taken from. */
import type pg from "pg";

export interface ServerInfo {
  serverVersion: string;
  serverVersionNum: number;
  dataDirectory: string | null;
  archiveMode: string;
  database: string;
  migrationLevel: string | null;
}

export async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const { rows } = await client.query<{ v: string; n: string; am: string; db: string; super: boolean }>(
    `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n,
            current_setting('archive_mode') AS am, current_database() AS db,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super`,
  );
  const row = rows[0];
  if (!row) throw new Error("server did not answer");
  let dataDirectory: string | null = null;
  if (row.super)
    dataDirectory =
      (await client.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]?.d ?? null;
  return {
    serverVersion: row.v,
    serverVersionNum: Number(row.n),
    dataDirectory,
    archiveMode: row.am,
    database: row.db,
    migrationLevel: await migrationLevel(client),
  };
}

/** Newest applied migration (MikroORM's table), or null when there is none. */
export async function migrationLevel(client: pg.Client): Promise<string | null> {
  const exists = await client.query(
    "SELECT 1 FROM pg_class WHERE relname = 'mikro_orm_migrations' AND relkind = 'r'",
  );
  if (exists.rowCount === 0) return null;
  const { rows } = await client.query<{ name: string }>(
    "SELECT name FROM mikro_orm_migrations ORDER BY executed_at DESC, id DESC LIMIT 1",
  );
  return rows[0]?.name ?? null;
}

/** Rows per table of the ordinary schemas (not the catalogs), `schema.table` → count. */
export async function rowCounts(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ s: string; t: string }>(
    `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const { s, t } of rows) {
    const q = `SELECT count(*)::bigint AS n FROM "${s.replaceAll('"', '""')}"."${t.replaceAll('"', '""')}"`;
    counts[`${s}.${t}`] = Number((await client.query<{ n: string }>(q)).rows[0]?.n ?? 0);
  }
  return counts;
}
