/**
 * Ranked task search in one statement: full text over the weighted generated `search_vector`
 * (websearch_to_tsquery, GIN index `tasks_search_vector_idx`) OR, when fuzzy, trigram word similarity on
 * title/description (GIN indexes `tasks_title_trgm_idx` / `tasks_description_trgm_idx`), plus the caller's
 * filter, with highlighted snippets (ts_headline) computed for the returned page only.
 */
import type { EntityManager } from "@mikro-orm/core";
import { TASK_SELECT_LIST, type TaskRow, taskRowFromDb } from "./task.repository.js";

/** A parameterised condition over the `tasks t` alias (`?` placeholders). */
export interface TaskCondition {
  sql: string;
  params: unknown[];
}

export interface SearchOptions {
  query: string;
  filter: TaskCondition | null;
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
 * The search statement and its parameters (`?` placeholders), exported so the benchmark floor runs exactly
 * the same SQL. Run it after `select set_config('pg_trgm.word_similarity_threshold', ?, true)` in one transaction.
 */
/**
 * At most this many matching rows are ranked per query. Ranking reads every match's tsvector, so its cost
 * grows with the number of matches; past the cap a query is too broad to rank usefully anyway (the client
 * is told through `total_size`, which is then a lower bound, and should narrow the query or add a filter).
 */
export const SEARCH_RANK_CAP = 5_000;

export function buildSearchQuery(opts: SearchOptions): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [opts.query, opts.query];
  if (!opts.includeDeleted) where.push("t.deleted_at is null");
  if (opts.filter !== null) {
    where.push(`(${opts.filter.sql})`);
    params.push(...opts.filter.params);
  }
  const match = opts.fuzzy
    ? "(t.search_vector @@ q.tsq or q.raw <% t.title or q.raw <% t.description)"
    : "t.search_vector @@ q.tsq";
  params.push(opts.limit, opts.offset);
  return {
    sql: `with q as (select websearch_to_tsquery('english', ?) as tsq, ?::text as raw),
     hits as (
       select t.id as hit_id,
              (t.search_vector @@ q.tsq) as fts_hit,
              ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', t.search_vector, q.tsq, 32) as fts_rank,
              ${opts.fuzzy ? "greatest(word_similarity(q.raw, t.title), word_similarity(q.raw, coalesce(t.description, '')))" : "0::real"} as sim
       from tasks t, q
       where ${match}${where.length ? ` and ${where.join(" and ")}` : ""}
       limit ${SEARCH_RANK_CAP}
     ),
     ranked as (
       select hit_id, fts_hit, (case when fts_hit then 1 + fts_rank else 0 end) + sim * 0.5 as score,
              count(*) over () as total
       from hits
     ),
     page as (select * from ranked order by score desc, hit_id limit ? offset ?)
     select ${TASK_SELECT_LIST}, page.score::float8 as hit_score, page.fts_hit, page.total::int as hit_total,
            case when to_tsvector('english', t.title) @@ q.tsq
                 then ts_headline('english', t.title, q.tsq, '${HEADLINE}, HighlightAll=true') end as hl_title,
            case when to_tsvector('english', coalesce(t.summary, '')) @@ q.tsq
                 then ts_headline('english', t.summary, q.tsq, '${HEADLINE}, MaxWords=35, MinWords=15') end as hl_summary,
            case when to_tsvector('english', coalesce(t.description, '')) @@ q.tsq
                 then ts_headline('english', t.description, q.tsq, '${HEADLINE}, MaxFragments=2, MaxWords=30, MinWords=10') end as hl_description
     from page join tasks t on t.id = page.hit_id cross join q
     order by page.score desc, page.hit_id`,
    params,
  };
}

export class SearchRepository {
  constructor(private readonly em: EntityManager) {}

  async search(opts: SearchOptions): Promise<{ hits: SearchHit[]; total: number }> {
    return this.em.transactional(async (em) => {
      const exec = (sql: string, params: unknown[]): Promise<Record<string, unknown>[]> =>
        em.getConnection().execute(sql, params, "all", em.getTransactionContext());
      // `<%` (word similarity) uses this threshold and stays index-assisted; local to this transaction.
      await exec(`select set_config('pg_trgm.word_similarity_threshold', ?, true)`, [
        String(opts.minSimilarity),
      ]);
      const { sql, params } = buildSearchQuery(opts);
      const rows = await exec(sql, params);
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
