/**
 * The drill's writer: one session inserting ledger rows with ids 1, 2, 3, … in commit order, so "the rows
 * committed before T" is exactly an id prefix, and every acknowledged commit is remembered with the time the
 * client saw it acknowledged.
 */
import type pg from "pg";

export const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS drill_ledger (
  id bigint PRIMARY KEY,
  phase text NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  payload text NOT NULL
)`;

export class LedgerWriter {
  /** Highest id whose commit was acknowledged. */
  lastId = 0;
  /** Acknowledgement time (ms since epoch, client clock) per committed id (small transactions only). */
  readonly ackedAt = new Map<number, number>();

  private readonly client: pg.Client;

  constructor(client: pg.Client) {
    this.client = client;
  }

  /** Bulk load: `rows` rows of ~1 KB in transactions of `batch` rows. */
  async load(rows: number, batch: number, onProgress?: (done: number) => void): Promise<void> {
    for (let done = 0; done < rows; done += batch) {
      const n = Math.min(batch, rows - done);
      await this.client.query(
        `INSERT INTO drill_ledger (id, phase, payload)
         SELECT g, 'load', repeat(md5(g::text), 31) FROM generate_series($1::bigint, $2::bigint) g`,
        [this.lastId + 1, this.lastId + n],
      );
      this.lastId += n;
      onProgress?.(done + n);
    }
  }

  /** One small committed transaction of `rows` rows; records its acknowledgement time. */
  async commit(phase: string, rows = 5): Promise<void> {
    await this.client.query(
      `INSERT INTO drill_ledger (id, phase, payload)
       SELECT g, $3, repeat(md5(g::text), 4) FROM generate_series($1::bigint, $2::bigint) g`,
      [this.lastId + 1, this.lastId + rows, phase],
    );
    this.lastId += rows;
    this.ackedAt.set(this.lastId, Date.now());
  }

  /** The server's clock now, as an RFC 3339 UTC string with microseconds (a recovery target). */
  async serverNow(): Promise<string> {
    const { rows } = await this.client.query<{ t: string }>(
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
    );
    return rows[0]?.t ?? "";
  }
}

/** Checks that the ledger in `client` is exactly ids 1..expected (or, with `atMost`, some prefix 1..k with
 * minimum ≤ k ≤ expected). Returns the highest id found, or throws with the discrepancy. */
export async function checkLedgerPrefix(
  client: pg.Client,
  expected: number,
  options: { atLeast?: number } = {},
): Promise<number> {
  const { rows } = await client.query<{ n: string; lo: string | null; hi: string | null }>(
    "SELECT count(*)::bigint AS n, min(id)::bigint AS lo, max(id)::bigint AS hi FROM drill_ledger",
  );
  const n = Number(rows[0]?.n ?? 0);
  const hi = Number(rows[0]?.hi ?? 0);
  const lo = Number(rows[0]?.lo ?? 0);
  if (n > 0 && (lo !== 1 || hi !== n))
    throw new Error(`recovered ids have holes: ${n} rows, ids ${lo}..${hi}`);
  if (options.atLeast === undefined) {
    if (hi !== expected)
      throw new Error(
        `recovered ${n} rows, expected exactly ${expected} (${hi > expected ? "rows committed after the target came back" : "rows committed before the target are missing"})`,
      );
  } else {
    if (hi > expected) throw new Error(`recovered id ${hi} that was never acknowledged (last ${expected})`);
    if (hi < options.atLeast)
      throw new Error(`recovered only ids 1..${hi}; ids up to ${options.atLeast} were archived`);
  }
  return hi;
}
