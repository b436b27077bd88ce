/**
 * SearchTemplates: full-text and facet search over live templates, offset paged with a token bound to the
 * query.
 */
import type { EntityManager } from "@mikro-orm/core";
import { bindingDigest, decodeOffsetToken, encodeOffsetToken } from "./page-token.js";
import type { TemplateSql } from "./template.repository.js";
import {
  TEMPLATE_FROM,
  TEMPLATE_SELECT_LIST,
  type TemplateRow,
  templateRowFromDb,
} from "./template-row.mapper.js";

export class TemplateSearchRepository {
  constructor(readonly em: EntityManager) {}

  private exec(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    return this.em.getConnection().execute(sql, params, "all", this.em.getTransactionContext());
  }

  /**
   * Full-text and facet search over live templates. With a query, hits are ranked by ts_rank (then usage and
   * success); otherwise by usage_count desc, success_rate desc as upstream. Offset paging bound to the query.
   */
  async search(q: {
    query: string;
    typeName: string | null;
    categoryId: string | null;
    tags: string[];
    active: boolean | null;
    isPublic: boolean | null;
    /** Over alias `x` (templates): only templates matching it (the caller's readable templates). */
    readable?: TemplateSql | undefined;
    order: "relevance" | "usage" | "success" | "usage_success";
    pageSize: number;
    pageToken: string | null;
    binding: string;
  }): Promise<{
    items: { row: TemplateRow; score: number; snippet: string }[];
    nextPageToken: string | null;
    totalSize: number;
  }> {
    const where = ["x.deleted_at is null"];
    const params: unknown[] = [];
    const hasQuery = q.query.trim() !== "";
    // The tsquery and the tag-based match (tags are not in search_vector).
    if (hasQuery) {
      where.push(
        "(x.search_vector @@ websearch_to_tsquery('english', ?) or exists (select 1 from unnest(x.tags) tg where lower(tg) = lower(?)))",
      );
      params.push(q.query, q.query.trim());
    }
    if (q.typeName !== null) {
      where.push("ty.name = ?");
      params.push(q.typeName);
    }
    if (q.categoryId !== null) {
      where.push(`x.category_id in (with recursive sub(id) as (select ?::uuid
          union select c.id from template_categories c join sub on c.parent_id = sub.id) select id from sub)`);
      params.push(q.categoryId);
    }
    if (q.tags.length > 0) {
      where.push("x.tags @> array(select jsonb_array_elements_text(?::jsonb))");
      params.push(JSON.stringify(q.tags));
    }
    if (q.active !== null) {
      where.push("x.is_active = ?");
      params.push(q.active);
    }
    if (q.isPublic !== null) {
      where.push("x.is_public = ?");
      params.push(q.isPublic);
    }
    if (q.readable) {
      where.push(`(${q.readable.sql})`);
      params.push(...q.readable.params);
    }
    const b = bindingDigest(`search|${q.binding}`);
    let offset = 0;
    if (q.pageToken) offset = decodeOffsetToken(q.pageToken, "t1s", b);
    const scoreSql = hasQuery
      ? "ts_rank(x.search_vector, websearch_to_tsquery('english', ?))::float8"
      : "0::float8";
    const snippetSql = hasQuery
      ? `ts_headline('english', coalesce(x.title, '') || ' ' || coalesce(x.description, '') || ' ' || x.content,
           websearch_to_tsquery('english', ?), 'StartSel=<mark>, StopSel=</mark>, MaxFragments=1, MaxWords=30, MinWords=10')`
      : "left(coalesce(nullif(x.description, ''), x.title), 200)";
    const order =
      q.order === "relevance"
        ? "score desc, x.usage_count desc, x.success_rate desc"
        : q.order === "usage"
          ? "x.usage_count desc"
          : q.order === "success"
            ? "x.success_rate desc"
            : "x.usage_count desc, x.success_rate desc";
    const selectParams = hasQuery ? [q.query, q.query] : [];
    const rows = await this.exec(
      `select ${TEMPLATE_SELECT_LIST}, ${scoreSql} as score, ${snippetSql} as snippet from ${TEMPLATE_FROM}
       where ${where.join(" and ")} order by ${order}, x.id asc limit ? offset ?`,
      [...selectParams, ...params, q.pageSize + 1, offset],
    );
    const count = await this.exec(
      `select count(*)::int as n from ${TEMPLATE_FROM} where ${where.join(" and ")}`,
      params,
    );
    const page = rows.slice(0, q.pageSize);
    return {
      items: page.map((r) => ({
        row: templateRowFromDb(r),
        score: Number(r.score ?? 0),
        snippet: String(r.snippet ?? ""),
      })),
      nextPageToken: rows.length > q.pageSize ? encodeOffsetToken("t1s", b, offset + q.pageSize) : null,
      totalSize: Number(count[0]?.n ?? 0),
    };
  }
}
