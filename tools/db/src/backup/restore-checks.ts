/**
 * What a restore test checks in the restored copy: the migration level against the manifest, the rows per
 * table (recorded in the manifest), every foreign key (no row points at a missing row, whatever the
 * constraint's trigger state was when the data was written) and the audit hash chain.
 */
import type pg from "pg";
import { verifyAuditChain } from "../audit-verify.ts";
import type { BackupManifest } from "./manifest.ts";
import { migrationLevel, rowCounts } from "./server-info.ts";

interface ForeignKey {
  name: string;
  tbl: string;
  ref: string;
  cols: string[];
  refcols: string[];
}

/** Foreign keys with rows whose referenced row is missing ("name on table: n row(s) ..."), none when clean. */
export async function foreignKeyProblems(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<ForeignKey>(`
    SELECT c.conname AS name, c.conrelid::regclass::text AS tbl, c.confrelid::regclass::text AS ref,
           array(SELECT quote_ident(a.attname) FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
           array(SELECT quote_ident(a.attname) FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS refcols
      FROM pg_constraint c JOIN pg_namespace ns ON ns.oid = c.connamespace
     WHERE c.contype = 'f' AND c.conparentid = 0
       AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 2, 1`);
  const problems: string[] = [];
  for (const fk of rows) {
    // MATCH SIMPLE: a row with any null key column references nothing.
    const present = fk.cols.map((c) => `t.${c} IS NOT NULL`).join(" AND ");
    const joined = fk.cols.map((c, i) => `r.${fk.refcols[i]} = t.${c}`).join(" AND ");
    const { rows: n } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${fk.tbl} t WHERE ${present}
          AND NOT EXISTS (SELECT 1 FROM ${fk.ref} r WHERE ${joined})`,
    );
    const missing = n[0]?.n ?? 0;
    if (missing > 0)
      problems.push(
        `foreign key ${fk.name} on ${fk.tbl}: ${missing} row(s) reference a missing row of ${fk.ref}`,
      );
  }
  return problems;
}

/** Checks a restored copy against its manifest; appends to `problems`, returns the rows per table. */
export async function checkRestored(
  client: pg.Client,
  manifest: BackupManifest,
  problems: string[],
): Promise<Record<string, number>> {
  const level = await migrationLevel(client);
  if (level !== manifest.migrationLevel)
    problems.push(
      `migration level ${level ?? "none"} in the restore, manifest says ${manifest.migrationLevel ?? "none"}`,
    );
  const counts = await rowCounts(client);
  problems.push(...(await foreignKeyProblems(client)));
  const hasAudit = await client.query("SELECT 1 FROM pg_proc WHERE proname = 'audit_verify'");
  if ((hasAudit.rowCount ?? 0) > 0) {
    const audit = await verifyAuditChain(
      async (sql, params) => {
        let n = 0;
        return (
          await client.query(
            sql.replace(/\?/g, () => `$${++n}`),
            params,
          )
        ).rows;
      },
      { seal: false },
    );
    for (const p of audit.problems) problems.push(`audit chain broken at seq ${p.seq}: ${p.problem}`);
  }
  return counts;
}
