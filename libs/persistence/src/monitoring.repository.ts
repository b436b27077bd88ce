/**
 * Read-only database diagnostics for MonitoringService: `SELECT 1` latency, server facts, pg_stat_activity,
 * replication, size, cache hit ratio, long transactions, waiting locks, pg_stat_statements and applied
 * migrations. Plain rows out.
 */
import { runOn as all, type SqlTarget } from "./bounded-read.js";
import { type Row, sql } from "./sql-toolkit.js";

/** Where the statements run: an entity manager's connection, or a bounded connection (bounded-read.ts). */
export type MonitoringDb = SqlTarget;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const str = (v: unknown): string => (v === null || v === undefined ? "" : String(v));

export interface DatabaseDiagnostics {
  readonly roundTripMs: number;
  readonly serverVersion: string;
  readonly connections: { state: string; count: number }[];
  readonly maxConnections: number;
  readonly isReplica: boolean;
  readonly replication: { applicationName: string; state: string; syncState: string; replayLagMs: number }[];
  readonly databaseSizeBytes: bigint;
  readonly cacheHitRatio: number;
  readonly longRunning: {
    pid: number;
    durationMs: number;
    state: string;
    applicationName: string;
    user: string;
    waitEventType: string;
    query: string;
  }[];
  readonly locksWaiting: number;
  readonly pgStatStatements: boolean;
}

/** Round-trip of `SELECT 1` in ms; throws when the database does not answer. */
export async function pingDatabase(db: MonitoringDb): Promise<number> {
  const start = process.hrtime.bigint();
  await all(db, sql<Row>`select 1`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Replace literals with "?" (strings, numbers) and truncate, so diagnostics never show parameter values.
 */
export function redactQueryText(query: string, max = 200): string {
  const redacted = query
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "?")
    .replace(/'(?:[^']|'')*'/g, "?")
    .replace(/\b\d+(?:\.\d+)?\b/g, "?")
    .replace(/\s+/g, " ")
    .trim();
  return Array.from(redacted).slice(0, max).join("");
}

/** Whether pg_stat_statements can be queried (extension created AND library preloaded). */
export async function pgStatStatementsAvailable(db: MonitoringDb): Promise<boolean> {
  const rows = await all(
    db,
    sql<Row>`select exists (select 1 from pg_extension where extname = 'pg_stat_statements') as installed,
            current_setting('shared_preload_libraries') ~ 'pg_stat_statements' as preloaded`,
  );
  return rows[0]?.installed === true && rows[0]?.preloaded === true;
}

export async function databaseDiagnostics(
  db: MonitoringDb,
  options: { longTransactionMs: number },
): Promise<DatabaseDiagnostics> {
  const roundTripMs = await pingDatabase(db);
  const [facts] = await all(
    db,
    sql<Row>`select current_setting('server_version') as version,
            current_setting('max_connections')::int as max_connections,
            pg_is_in_recovery() as replica,
            pg_database_size(current_database())::text as size,
            (select case when sum(blks_hit) + sum(blks_read) = 0 then 1
                         else sum(blks_hit)::float8 / (sum(blks_hit) + sum(blks_read)) end
               from pg_stat_database where datname = current_database()) as hit_ratio,
            (select count(*) from pg_locks where not granted)::int as locks_waiting`,
  );
  const connections = await all(
    db,
    sql<Row>`select coalesce(state, 'unknown') as state, count(*)::int as count
       from pg_stat_activity where backend_type = 'client backend'
      group by 1 order by 1`,
  );
  const replication = await all(
    db,
    sql<Row>`select coalesce(application_name, '') as application_name, coalesce(state, '') as state,
            coalesce(sync_state, '') as sync_state,
            coalesce(extract(epoch from replay_lag) * 1000, 0)::float8 as replay_lag_ms
       from pg_stat_replication order by application_name`,
  );
  const long = await all(
    db,
    sql<Row>`select pid, extract(epoch from (now() - xact_start)) * 1000 as duration_ms, coalesce(state, '') as state,
            coalesce(application_name, '') as application_name, coalesce(usename::text, '') as usename,
            coalesce(wait_event_type, '') as wait_event_type, left(coalesce(query, ''), 2000) as query
       from pg_stat_activity
      where xact_start is not null and pid <> pg_backend_pid()
        and now() - xact_start > make_interval(secs => ${options.longTransactionMs}::float8 / 1000)
      order by xact_start limit 50`,
  );
  return {
    roundTripMs,
    serverVersion: str(facts?.version),
    connections: connections.map((r) => ({ state: str(r.state), count: num(r.count) })),
    maxConnections: num(facts?.max_connections),
    isReplica: facts?.replica === true,
    replication: replication.map((r) => ({
      applicationName: str(r.application_name),
      state: str(r.state),
      syncState: str(r.sync_state),
      replayLagMs: num(r.replay_lag_ms),
    })),
    databaseSizeBytes: BigInt(str(facts?.size) || "0"),
    cacheHitRatio: num(facts?.hit_ratio),
    longRunning: long.map((r) => ({
      pid: num(r.pid),
      durationMs: num(r.duration_ms),
      state: str(r.state),
      applicationName: str(r.application_name),
      user: str(r.usename),
      waitEventType: str(r.wait_event_type),
      query: redactQueryText(str(r.query)),
    })),
    locksWaiting: num(facts?.locks_waiting),
    pgStatStatements: await pgStatStatementsAvailable(db),
  };
}

export interface SlowQueryRow {
  readonly queryId: string;
  readonly query: string;
  readonly calls: bigint;
  readonly meanMs: number;
  readonly totalMs: number;
  readonly maxMs: number;
  readonly stddevMs: number;
  readonly rows: bigint;
  readonly cacheHitRatio: number;
  readonly user: string;
}

/**
 * Statements of the current database from pg_stat_statements (PG13+ columns) with mean_exec_time >=
 * `thresholdMs`, ordered by mean or total time desc (queryid as tie-break), `limit` rows after `offset`.
 * Text is pg_stat_statements' normalised form ($n placeholders), truncated to 10000 characters.
 */
export async function listSlowQueries(
  db: MonitoringDb,
  options: { thresholdMs: number; order: "mean" | "total"; limit: number; offset: number },
): Promise<SlowQueryRow[]> {
  const orderColumn = sql.raw(options.order === "total" ? "s.total_exec_time" : "s.mean_exec_time");
  const rows = await all(
    db,
    sql<Row>`select s.queryid::text as query_id, left(s.query, 10000) as query, s.calls::text as calls,
            s.mean_exec_time, s.total_exec_time, s.max_exec_time, s.stddev_exec_time, s.rows::text as rows,
            case when s.shared_blks_hit + s.shared_blks_read = 0 then 1
                 else s.shared_blks_hit::float8 / (s.shared_blks_hit + s.shared_blks_read) end as hit_ratio,
            coalesce(r.rolname::text, '') as rolname
       from pg_stat_statements s
       left join pg_roles r on r.oid = s.userid
      where s.dbid = (select oid from pg_database where datname = current_database())
        and s.mean_exec_time >= ${options.thresholdMs}::float8
      order by ${orderColumn} desc, s.queryid
      limit ${options.limit}::int offset ${options.offset}::int`,
  );
  return rows.map((r) => ({
    queryId: str(r.query_id),
    query: str(r.query),
    calls: BigInt(str(r.calls) || "0"),
    meanMs: num(r.mean_exec_time),
    totalMs: num(r.total_exec_time),
    maxMs: num(r.max_exec_time),
    stddevMs: num(r.stddev_exec_time),
    rows: BigInt(str(r.rows) || "0"),
    cacheHitRatio: num(r.hit_ratio),
    user: str(r.rolname),
  }));
}

/** Applied migrations, oldest first. */
export async function appliedMigrations(db: MonitoringDb): Promise<{ name: string; appliedAt: Date }[]> {
  const rows = await all(
    db,
    sql<Row>`select name, executed_at from mikro_orm_migrations order by executed_at, id`,
  );
  return rows.map((r) => ({ name: str(r.name), appliedAt: new Date(r.executed_at as string | Date) }));
}

/** `server_version` of the database. */
export async function serverVersion(db: MonitoringDb): Promise<string> {
  const rows = await all(db, sql<Row>`select current_setting('server_version') as v`);
  return str(rows[0]?.v);
}
