/**
 * SearchTemplates: full-text and facet search over live templates, offset paged with a token bound to the
 * query.
 */
import type { EntityManager } from "@mikro-orm/core";
import { bindingDigest, decodeOffsetToken, encodeOffsetToken } from "./page-token.js";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import {
  TEMPLATE_FROM,
  TEMPLATE_SELECT_LIST,
  type TemplateRow,
  templateRowFromDb,
} from "./template-row.mapper.js";

export class TemplateSearchRepository {
  constructor(readonly em: EntityManager) {}

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
    readable?: RawBuilder<unknown> | undefined;
    order: "relevance" | "usage" | "success" | "usage_success";
    pageSize: number;
    pageToken: string | null;
    binding: string;
  }): Promise<{
    items: { row: TemplateRow; score: number; snippet: string }[];
    nextPageToken: string | null;
    totalSize: number;
  }> {
    const where: RawBuilder<unknown>[] = [sql`x.deleted_at is null`];
    const hasQuery = q.query.trim() !== "";
    const tsquery = sql`websearch_to_tsquery('english', ${q.query}::text)`;
    // The tsquery and the tag-based match (tags are not in search_vector).
    if (hasQuery) {
      where.push(
        sql`(x.search_vector @@ ${tsquery} or exists (select 1 from unnest(x.tags) tg where lower(tg) = lower(${q.query.trim()}::text)))`,
      );
    }
    if (q.typeName !== null) where.push(sql`ty.name = ${q.typeName}::text`);
    if (q.categoryId !== null) {
      where.push(sql`x.category_id in (with recursive sub(id) as (select ${q.categoryId}::uuid
          union select c.id from template_categories c join sub on c.parent_id = sub.id) select id from sub)`);
    }
    if (q.tags.length > 0) where.push(sql`x.tags @> ${q.tags}::text[]`);
    if (q.active !== null) where.push(sql`x.is_active = ${q.active}::boolean`);
    if (q.isPublic !== null) where.push(sql`x.is_public = ${q.isPublic}::boolean`);
    if (q.readable) where.push(sql`(${q.readable})`);
    const b = bindingDigest(`search|${q.binding}`);
    let offset = 0;
    if (q.pageToken) offset = decodeOffsetToken(q.pageToken, "t1s", b);
    const score = hasQuery ? sql`ts_rank(x.search_vector, ${tsquery})::float8` : sql`0::float8`;
    const snippet = hasQuery
      ? sql`ts_headline('english', coalesce(x.title, '') || ' ' || coalesce(x.description, '') || ' ' || x.content,
           ${tsquery}, 'StartSel=<mark>, StopSel=</mark>, MaxFragments=1, MaxWords=30, MinWords=10')`
      : sql`left(coalesce(nullif(x.description, ''), x.title), 200)`;
    const order =
      q.order === "relevance"
        ? "score desc, x.usage_count desc, x.success_rate desc"
        : q.order === "usage"
          ? "x.usage_count desc"
          : q.order === "success"
            ? "x.success_rate desc"
            : "x.usage_count desc, x.success_rate desc";
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(TEMPLATE_SELECT_LIST)}, ${score} as score, ${snippet} as snippet
       from ${sql.raw(TEMPLATE_FROM)} where ${allOf(where)}
       order by ${sql.raw(order)}, x.id asc limit ${q.pageSize + 1}::int offset ${offset}::int`,
    );
    const count = await query(
      this.em,
      sql<Row>`select count(*)::int as n from ${sql.raw(TEMPLATE_FROM)} where ${allOf(where)}`,
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
