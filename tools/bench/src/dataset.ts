/**
 * Benchmark dataset: `count` realistic tasks generated inside PostgreSQL (INSERT ... SELECT over
 * generate_series, in batches with progress), with UUIDv7-style ids, varied statuses, priorities, types,
 * labels and searchable English titles and descriptions.
 */
import type pg from "pg";

const WORDS = [
  "authentication",
  "billing",
  "search",
  "dashboard",
  "export",
  "import",
  "notification",
  "payment",
  "profile",
  "report",
  "sync",
  "upload",
  "webhook",
  "cache",
  "migration",
  "permission",
  "audit",
  "template",
  "sprint",
  "release",
] as const;
const VERBS = ["Implement", "Fix", "Refactor", "Document", "Test", "Optimize", "Design", "Review"] as const;

/**
 * Syllables of a synthetic vocabulary: three of them make one of 27,000 distinct words ("kalotem"), so the
 * text has the long tail of real task titles and descriptions instead of twenty words repeated a million times.
 */
const SYLLABLES = [
  "ka",
  "lo",
  "tem",
  "ri",
  "zan",
  "mu",
  "pel",
  "dor",
  "si",
  "vak",
  "ne",
  "gul",
  "tro",
  "bim",
  "fa",
  "yer",
  "qui",
  "hos",
  "lin",
  "dez",
  "ora",
  "pun",
  "cev",
  "mal",
  "tis",
  "ber",
  "jo",
  "wex",
  "nal",
  "sor",
] as const;

const array = (items: readonly string[]) => `array[${items.map((w) => `'${w}'`).join(",")}]`;

/** SQL for the synthetic word number `expr` (0..26999). */
function word(expr: string): string {
  const syl = array(SYLLABLES);
  const n = SYLLABLES.length;
  return `(${syl})[1 + ((${expr}) % ${n})::int] || (${syl})[1 + (((${expr}) / ${n}) % ${n})::int] || (${syl})[1 + (((${expr}) / ${n * n}) % ${n})::int]`;
}

/** One batch: tasks number `from`..`to` (inclusive). Deterministic per number. */
function batchSql(from: number, to: number): string {
  const ts = `(now() - ((${to} - i) * interval '1 second'))`;
  return `
insert into tasks (id, title, description, type, priority, status, complexity, story_points, business_value,
                   labels, tags, assigned_to, estimated_hours, created_at, updated_at)
select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                placing substring(int8send((extract(epoch from ${ts}) * 1000)::bigint) from 3) from 1 for 6),
              52, 1), 53, 1), 'hex')::uuid,
       (${array(VERBS)})[1 + i % ${VERBS.length}] || ' ' || (${array(WORDS)})[1 + (i / 7) % ${WORDS.length}]
         || ' ' || ${word("(i::bigint * 7919) % 27000")} || ' ' || ${word("(i::bigint * 104729) % 27000")} || ' #' || i,
       'Users need the ' || (${array(WORDS)})[1 + (i / 11) % ${WORDS.length}] || ' flow in '
         || ${word("(i::bigint * 15485863) % 27000")} || ' to handle ' || ${word("(i::bigint * 32452843) % 27000")} || ' and '
         || ${word("(i::bigint * 49979687) % 27000")} || ' edge cases. Acceptance: tests pass, docs updated.',
       (array['feature','bug','enhancement','task','story','spike','refactor','documentation','test'])[1 + i % 9],
       (array['critical','high','medium','low','backlog'])[1 + (i / 5) % 5],
       (array['draft','pending','ready','in_progress','blocked','review','testing','completed','cancelled'])[1 + (i / 2) % 9],
       (array['trivial','simple','moderate','complex','expert'])[1 + (i / 17) % 5],
       (i % 13), 1 + (i % 10),
       array['area:' || (${array(WORDS)})[1 + i % ${WORDS.length}]],
       array['bench-v2', 'batch-' || (i / 1000)::text],
       'user' || (i % 50) || '@example.com',
       (i % 40)::numeric / 2,
       ${ts}, ${ts}
from generate_series(${from}, ${to}) as i`;
}

export type DatasetProgress = (done: number, total: number) => void;

/** Adds tasks until the database holds at least `count` bench tasks; returns how many exist. */
export async function ensureDataset(
  client: pg.Client,
  count: number,
  progress: DatasetProgress,
): Promise<number> {
  const existing = Number(
    (await client.query("select count(*)::bigint as n from tasks where 'bench-v2' = any(tags)")).rows[0]?.n ??
      0,
  );
  const batch = 50_000;
  for (let from = existing + 1; from <= count; from += batch) {
    const to = Math.min(count, from + batch - 1);
    await client.query(batchSql(from, to));
    progress(to, count);
  }
  if (existing < count) await client.query("analyze tasks");
  return Math.max(existing, count);
}

/** Ids of `n` bench tasks spread over the table, for point reads. */
export async function sampleIds(client: pg.Client, n: number): Promise<string[]> {
  const rows = await client.query<{ id: string }>(
    "select id from tasks tablesample system (5) where deleted_at is null limit $1",
    [n],
  );
  if (rows.rows.length >= Math.min(n, 100)) return rows.rows.map((r) => r.id);
  return (await client.query<{ id: string }>("select id from tasks limit $1", [n])).rows.map((r) => r.id);
}
