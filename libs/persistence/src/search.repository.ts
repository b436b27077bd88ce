/**
 * Ranked task search in one statement: full text over the weighted generated `search_vector`
 * (websearch_to_tsquery, GIN index `tasks_search_vector_idx`) OR, when fuzzy, trigram word similarity on
 * title/description (GIN indexes `tasks_title_trgm_idx` / `tasks_description_trgm_idx`), plus the caller's
 * filter, with highlighted snippets (ts_headline) computed for the returned page only.
 */
import type { EntityManager } from "@mikro-orm/core";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, type TaskRow, taskRowFromDb } from "./task.repository.js";

export interface SearchOptions {
  query: string;
  /** A condition over the `tasks t` alias. */
  filter: RawBuilder<unknown> | null;
  fuzzy: boolean;
  /** Minimum trigram word similarity, 0..1. */
  minSimilarity: number;
  limit: number;
  offset: number;
  includeDeleted: boolean;
}

export interface SearchSnippetRow {
  field: "title" | "summary" | "description";
  /** Text with matches wrapped in {@link HIGHLIGHT_START} / {@link HIGHLIGHT_END}. */
  text: string;
}

export interface SearchHit {
  task: TaskRow;
  score: number;
  fuzzyOnly: boolean;
  snippets: SearchSnippetRow[];
}

/** Internal highlight sentinels (replaced by the caller's markers in the service layer). */
export const HIGHLIGHT_START = "\u0002";
export const HIGHLIGHT_END = "\u0003";

const HEADLINE = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_END}`;

/**
 * At most this many matching rows are ranked per query. Ranking reads every match's tsvector, so its cost
 * grows with the number of matches; past the cap a query is too broad to rank usefully anyway (the client
 * is told through `total_size`, which is then a lower bound, and should narrow the query or add a filter).
 */
export const SEARCH_RANK_CAP = 5_000;

/**
 * The search statement, exported so the benchmark floor runs exactly the same SQL. Run it after
 * `select set_config('pg_trgm.word_similarity_threshold', <min similarity>, true)` in one transaction.
 */
export function buildSearchQuery(opts: SearchOptions): RawBuilder<Row> {
  const where: RawBuilder<unknown>[] = [];
  if (!opts.includeDeleted) where.push(sql`t.deleted_at is null`);
  if (opts.filter !== null) where.push(sql`(${opts.filter})`);
  const match = opts.fuzzy
    ? sql`(t.search_vector @@ q.tsq or q.raw <% t.title or q.raw <% t.description)`
    : sql`t.search_vector @@ q.tsq`;
  const similarity = opts.fuzzy
    ? sql`greatest(word_similarity(q.raw, t.title), word_similarity(q.raw, coalesce(t.description, '')))`
    : sql`0::real`;
  return sql<Row>`with q as (select websearch_to_tsquery('english', ${opts.query}::text) as tsq, ${opts.query}::text as raw),
     hits as (
       select t.id as hit_id,
              (t.search_vector @@ q.tsq) as fts_hit,
              ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', t.search_vector, q.tsq, 32) as fts_rank,
              ${similarity} as sim
       from tasks t, q
       where ${match}${where.length ? sql` and ${allOf(where)}` : sql``}
       limit ${sql.raw(String(SEARCH_RANK_CAP))}
     ),
     ranked as (
       select hit_id, fts_hit, (case when fts_hit then 1 + fts_rank else 0 end) + sim * 0.5 as score,
              count(*) over () as total
       from hits
     ),
     page as (select * from ranked order by score desc, hit_id limit ${opts.limit}::int offset ${opts.offset}::int)
     select ${sql.raw(TASK_SELECT_LIST)}, page.score::float8 as hit_score, page.fts_hit, page.total::int as hit_total,
            case when to_tsvector('english', t.title) @@ q.tsq
                 then ts_headline('english', t.title, q.tsq, ${sql.raw(`'${HEADLINE}, HighlightAll=true'`)}) end as hl_title,
            case when to_tsvector('english', coalesce(t.summary, '')) @@ q.tsq
                 then ts_headline('english', t.summary, q.tsq, ${sql.raw(`'${HEADLINE}, MaxWords=35, MinWords=15'`)}) end as hl_summary,
            case when to_tsvector('english', coalesce(t.description, '')) @@ q.tsq
                 then ts_headline('english', t.description, q.tsq, ${sql.raw(`'${HEADLINE}, MaxFragments=2, MaxWords=30, MinWords=10'`)}) end as hl_description
     from page join tasks t on t.id = page.hit_id cross join q
     order by page.score desc, page.hit_id`;
}

export class SearchRepository {
  constructor(private readonly em: EntityManager) {}

  async search(opts: SearchOptions): Promise<{ hits: SearchHit[]; total: number }> {
    return this.em.transactional(async (em) => {
      // `<%` (word similarity) uses this threshold and stays index-assisted; local to this transaction.
      await query(
        em,
        sql<Row>`select set_config('pg_trgm.word_similarity_threshold', ${String(opts.minSimilarity)}::text, true)`,
      );
      const rows = await query(em, buildSearchQuery(opts));
      const hits = rows.map((r) => {
        const snippets: SearchSnippetRow[] = [];
        for (const field of ["title", "summary", "description"] as const) {
          const text = r[`hl_${field}`];
          if (typeof text === "string" && text !== "") snippets.push({ field, text });
        }
        if (snippets.length === 0) snippets.push({ field: "title", text: String(r.title) });
        return {
          task: taskRowFromDb(r),
          score: Number(r.hit_score),
          fuzzyOnly: r.fts_hit !== true,
          snippets,
        };
      });
      return { hits, total: rows.length > 0 ? Number(rows[0]?.hit_total) : 0 };
    });
  }
}
