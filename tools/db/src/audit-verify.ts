/**
 * `db audit verify` and `db audit retention`: the audit trail's tamper evidence and retention, run against
 * the database functions of migration `..._audit_trail` (`audit_seal`, `audit_verify`, `audit_drop_expired`).
 */

/** Runs SQL with `?` placeholders and returns the rows (e.g. MikroORM `connection.execute`). */
export type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

export interface AuditProblem {
  /** `seq` of the first row with a broken link (null: the chain's end is missing). */
  readonly seq: string | null;
  readonly id: string | null;
  readonly occurredAt: Date | null;
  readonly problem: string;
}

export interface AuditVerifyResult {
  /** Rows chained by this run (0 with `seal: false`). */
  readonly sealed: number;
  /** Rows checked. */
  readonly rows: number;
  /** Rows not chained yet (written after the seal, or `seal: false`): hashed when sealed, not checked before. */
  readonly unsealed: number;
  /** Broken links, first (lowest `seq`) first; empty when the chain is intact. */
  readonly problems: readonly AuditProblem[];
}

/** Seals pending rows (unless `seal: false`), then verifies the whole hash chain. */
export async function verifyAuditChain(
  query: Query,
  options: { seal?: boolean; maxProblems?: number } = {},
): Promise<AuditVerifyResult> {
  let sealed = 0;
  if (options.seal !== false) {
    const [row] = await query("select audit_seal() as sealed");
    sealed = Number(row?.sealed ?? 0);
  }
  const problems = await query(
    "select seq::text as seq, id::text as id, occurred_at, problem from audit_verify(?)",
    [options.maxProblems ?? 1],
  );
  const [counts] = await query(
    "select count(*)::int as rows, count(*) filter (where prev_hash is null)::int as unsealed from audit_log",
  );
  return {
    sealed,
    rows: Number(counts?.rows ?? 0),
    unsealed: Number(counts?.unsealed ?? 0),
    problems: problems.map((p) => ({
      seq: (p.seq as string | null) ?? null,
      id: (p.id as string | null) ?? null,
      occurredAt:
        p.occurred_at === null || p.occurred_at === undefined ? null : new Date(String(p.occurred_at)),
      problem: String(p.problem),
    })),
  };
}

export interface RemovedRange {
  readonly partition: string;
  readonly rangeStart: Date | null;
  readonly rangeEnd: Date | null;
  readonly rowsRemoved: number;
}

/**
 * Drops audit partitions entirely older than `days` (default 90) and creates upcoming partitions. Safe to
 * run concurrently (the second run waits, then finds nothing left to remove).
 */
export async function runAuditRetention(query: Query, days = 90): Promise<RemovedRange[]> {
  const rows = await query(
    "select partition_name, range_start, range_end, rows_removed::text as rows_removed from audit_drop_expired(?)",
    [days],
  );
  const date = (v: unknown) => (v === null || v === undefined ? null : new Date(String(v)));
  return rows.map((r) => ({
    partition: String(r.partition_name),
    rangeStart: date(r.range_start),
    rangeEnd: date(r.range_end),
    rowsRemoved: Number(r.rows_removed),
  }));
}

/** Human-readable report lines of a verification. */
export function formatVerify(result: AuditVerifyResult): string[] {
  const lines = [
    `audit chain: ${result.rows} row(s) checked, ${result.sealed} newly sealed, ${result.unsealed} unsealed`,
  ];
  const first = result.problems[0];
  if (first === undefined) {
    lines.push("audit chain OK");
  } else {
    const where =
      first.seq === null
        ? "at the end of the chain"
        : `at seq ${first.seq} (id ${first.id}, ${first.occurredAt?.toISOString()})`;
    lines.push(`audit chain BROKEN ${where}: ${first.problem}`);
  }
  return lines;
}
