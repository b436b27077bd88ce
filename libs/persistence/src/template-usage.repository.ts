/**
 * Template usage logs and the statistics derived from them (SQL statements, plain rows out).
 *
 * Recording a usage locks the template row (`select ... for update`), inserts the log and recomputes the
 * template's aggregate columns (usage_count, success_rate 0-100, avg_execution_time_ms) from all its logs in
 * the same transaction, so concurrent recorders serialise per template and the aggregates always equal the
 * logs. The p95 and last use time are computed on read (see TEMPLATE_SELECT_LIST). Statistics columns are
 * output-only, so recording a usage does not bump the template's optimistic-lock `version` (its etag).
 *
 * Renders do not record one by one: they queue their usages in the template service's usage batcher, which
 * calls `recordBatch` (one transaction, one multi-row insert, one aggregate refresh per template) every
 * ~200 ms or 500 usages.
 */
import type { EntityManager } from "@mikro-orm/core";
import { isReferenceViolation } from "./db-errors.js";
import { conditionsSql, type ListColumn, type ListCondition } from "./filter-sql.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";

export interface TemplateUsageRow {
  id: string;
  templateId: string;
  version: string;
  taskId: string | null;
  workflowId: string | null;
  usedBy: string;
  executionMs: number;
  success: boolean;
  errorMessage: string | null;
  inputParameters: Record<string, unknown>;
  output: string | null;
  usedAt: Date;
}

export interface TemplateUsageWrite {
  templateId: string;
  version: string;
  taskId: string | null;
  workflowId: string | null;
  usedBy: string;
  executionMs: number;
  success: boolean;
  errorMessage: string | null;
  inputParameters: Record<string, unknown>;
  output: string | null;
}

/** A usage queued for `recordBatch`: id and time fixed when it happened, optional idempotency key. */
export interface QueuedUsageWrite extends TemplateUsageWrite {
  id: string;
  usedAt: Date;
  requestId: string | null;
}

/** Aggregates of a set of usage logs. */
export interface UsageStatsRow {
  usageCount: number;
  successCount: number;
  meanMs: number;
  p95Ms: number;
  lastUsedAt: Date | null;
}

/** ListTemplateUsage filter fields over alias `u` (template_usage_logs). */
const USAGE_FILTER_COLUMNS: Readonly<Record<string, ListColumn>> = {
  version: { expr: "u.template_version", cast: "text" },
  used_by: { expr: "u.used_by", cast: "text" },
  workflow_id: { expr: "u.workflow_id", cast: "text" },
  success: { expr: "u.success", cast: "boolean" },
  task: { expr: "u.task_id", cast: "uuid" },
  create_time: { expr: "u.used_at", cast: "timestamptz" },
};

export type UsageSortField = "create_time" | "execution_time";

/** The usage names a task that does not exist. */
export class UsageTaskNotFoundError extends Error {
  constructor(readonly taskId: string) {
    super(`task ${taskId} not found`);
    this.name = "UsageTaskNotFoundError";
  }
}

export class UsageTemplateNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`template ${id} not found`);
    this.name = "UsageTemplateNotFoundError";
  }
}

const USAGE_SELECT = `u.id, u.template_id, u.template_version, u.task_id, u.workflow_id, u.used_by, u.execution_time_ms,
  u.success, u.error_message, u.input_parameters, u.output, u.used_at`;

/** USAGE_SELECT without the alias (a `returning` list). */
const USAGE_COLUMNS = USAGE_SELECT.replace(/u\./g, "");

const STATS_SELECT = `count(u.id)::int as n, (count(u.id) filter (where u.success))::int as ok,
  coalesce(avg(u.execution_time_ms), 0)::float8 as mean_ms,
  coalesce(percentile_cont(0.95) within group (order by u.execution_time_ms), 0)::float8 as p95_ms,
  max(u.used_at) as last_used_at`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function usageFromDb(r: Record<string, unknown>): TemplateUsageRow {
  const ip = r.input_parameters;
  return {
    id: String(r.id),
    templateId: String(r.template_id),
    version: String(r.template_version),
    taskId: (r.task_id as string | null) ?? null,
    workflowId: (r.workflow_id as string | null) ?? null,
    usedBy: String(r.used_by),
    executionMs: Number(r.execution_time_ms),
    success: Boolean(r.success),
    errorMessage: (r.error_message as string | null) ?? null,
    inputParameters: (typeof ip === "string" ? JSON.parse(ip) : (ip ?? {})) as Record<string, unknown>,
    output: (r.output as string | null) ?? null,
    usedAt: date(r.used_at),
  };
}

function statsFromDb(r: Record<string, unknown> | undefined): UsageStatsRow {
  return {
    usageCount: Number(r?.n ?? 0),
    successCount: Number(r?.ok ?? 0),
    meanMs: Number(r?.mean_ms ?? 0),
    p95Ms: Number(r?.p95_ms ?? 0),
    lastUsedAt: r?.last_used_at ? date(r.last_used_at) : null,
  };
}

/** Optional time window [start, end). */
export interface TimeWindow {
  start: Date | null;
  end: Date | null;
}

/** The window as conditions over alias `u` (template_usage_logs). */
function windowSql(w: TimeWindow): RawBuilder<unknown>[] {
  const parts: RawBuilder<unknown>[] = [];
  if (w.start) parts.push(sql`u.used_at >= ${w.start.toISOString()}::timestamptz`);
  if (w.end) parts.push(sql`u.used_at < ${w.end.toISOString()}::timestamptz`);
  return parts;
}

/** Recomputes one template's aggregate columns from all its usage logs. */
const refreshAggregatesStatement = (templateId: string) =>
  sql`update templates t set usage_count = s.n,
     success_rate = case when s.n = 0 then 0 else round(100.0 * s.ok / s.n, 2) end,
     avg_execution_time_ms = round(s.mean_ms::numeric, 2)
   from (select ${sql.raw(STATS_SELECT)} from template_usage_logs u where u.template_id = ${templateId}::uuid) s
   where t.id = ${templateId}::uuid`;

/** The idempotency scope of recorded usages (RecordTemplateUsage and the render path's request ids). */
const USAGE_SCOPE = "template.usage";

export class TemplateUsageRepository {
  constructor(readonly em: EntityManager) {}

  transactional<T>(fn: (repo: TemplateUsageRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplateUsageRepository(tx)));
  }

  /** Whether the version exists for the template. */
  async versionExists(templateId: string, version: string): Promise<boolean> {
    const rows = await query(
      this.em,
      sql<Row>`select 1 from template_versions where template_id = ${templateId}::uuid and version = ${version}::text`,
    );
    return rows.length > 0;
  }

  /**
   * Records a usage (locks the template, inserts, recomputes the aggregates) in its own transaction or the
   * caller's. With `requestId` it runs once per request id (createOnce, scope `template.usage`): a retry,
   * even a concurrent one, returns the log recorded first (`reused: true`).
   */
  async record(
    w: TemplateUsageWrite,
    requestId: string | null = null,
  ): Promise<{ row: TemplateUsageRow; reused: boolean }> {
    return createOnce<{ row: TemplateUsageRow; reused: boolean }>(this.em, {
      scope: USAGE_SCOPE,
      requestId,
      replay: async (tx, resourceId) => {
        const prior = await query(
          tx,
          sql<Row>`select ${sql.raw(USAGE_SELECT)} from template_usage_logs u where u.id = ${resourceId}::uuid`,
        );
        return prior[0] ? { row: usageFromDb(prior[0]), reused: true } : null;
      },
      create: async (tx) => {
        const locked = await query(
          tx,
          sql<Row>`select id from templates where id = ${w.templateId}::uuid for update`,
        );
        if (locked.length === 0) throw new UsageTemplateNotFoundError(w.templateId);
        const id = newId();
        let inserted: Row[];
        try {
          inserted = await query(
            tx,
            sql<Row>`insert into template_usage_logs (id, template_id, template_version, task_id, workflow_id, used_by,
             execution_time_ms, success, error_message, input_parameters, output)
           values (${id}, ${w.templateId}, ${w.version}, ${w.taskId}, ${w.workflowId}, ${w.usedBy},
             ${Math.max(0, Math.round(w.executionMs))}, ${w.success}, ${w.success ? w.errorMessage : (w.errorMessage ?? "")},
             ${JSON.stringify(w.inputParameters)}::jsonb, ${w.output})
           returning ${sql.raw(USAGE_COLUMNS)}`,
          );
        } catch (err) {
          if (isReferenceViolation(err, "template_usage_logs_task_id_foreign")) {
            throw new UsageTaskNotFoundError(String(w.taskId));
          }
          throw err;
        }
        await query(tx, refreshAggregatesStatement(w.templateId));
        return {
          result: { row: usageFromDb(inserted[0] as Record<string, unknown>), reused: false },
          resourceId: id,
        };
      },
    });
  }

  /**
   * Records a batch of usages in ONE transaction (the render path's usage batcher): claims the request ids
   * (a retried request is recorded once), locks the affected templates in id order (`for no key update`, so
   * concurrent flushers of other instances queue instead of losing counts), inserts every row with one
   * multi-row insert and recomputes each affected template's aggregates once from its rows. Throws (nothing
   * written) when any row is invalid, e.g. its task or template was removed; the caller may retry per row.
   */
  async recordBatch(items: readonly QueuedUsageWrite[]): Promise<{ inserted: number; templates: number }> {
    if (items.length === 0) return { inserted: 0, templates: 0 };
    return this.em.transactional(async (tx) => {
      // Each request id is claimed through createOnce before the template locks (request ids in order, so
      // flushers and `record`, which also takes the request id's lock first, take the locks in one order);
      // its row is then written by the multi-row insert below, in the same transaction. An item whose request
      // id is already claimed (by an earlier batch, a concurrent flusher or an earlier item of this batch) is
      // dropped.
      const won = new Set<string>();
      const keyed = items
        .filter((i): i is QueuedUsageWrite & { requestId: string } => i.requestId !== null)
        .sort((a, b) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
      for (const item of keyed) {
        const claimed = await createOnce<boolean>(tx, {
          scope: USAGE_SCOPE,
          requestId: item.requestId,
          replay: async () => false,
          create: async () => ({ result: true, resourceId: item.id }),
        });
        if (claimed) won.add(item.id);
      }
      const templateIds = [...new Set(items.map((i) => i.templateId))].sort();
      await query(
        tx,
        sql`select id from templates where id = any(${templateIds}::uuid[]) order by id for no key update`,
      );
      const rows = keyed.length === 0 ? items : items.filter((i) => i.requestId === null || won.has(i.id));
      if (rows.length === 0) return { inserted: 0, templates: 0 };
      const records = JSON.stringify(
        rows.map((w) => ({
          id: w.id,
          template_id: w.templateId,
          template_version: w.version,
          task_id: w.taskId,
          workflow_id: w.workflowId,
          used_by: w.usedBy,
          execution_time_ms: Math.max(0, Math.round(w.executionMs)),
          success: w.success,
          error_message: w.success ? w.errorMessage : (w.errorMessage ?? ""),
          input_parameters: w.inputParameters,
          output: w.output,
          used_at: w.usedAt.toISOString(),
        })),
      );
      await query(
        tx,
        sql`insert into template_usage_logs (id, template_id, template_version, task_id, workflow_id, used_by,
           execution_time_ms, success, error_message, input_parameters, output, used_at)
         select r.id, r.template_id, r.template_version, r.task_id, r.workflow_id, r.used_by, r.execution_time_ms,
           r.success, r.error_message, r.input_parameters, r.output, r.used_at
         from jsonb_to_recordset(${records}::jsonb) as r(id uuid, template_id uuid, template_version text, task_id uuid,
           workflow_id text, used_by text, execution_time_ms int, success boolean, error_message text,
           input_parameters jsonb, output text, used_at timestamptz)`,
      );
      const touched = [...new Set(rows.map((i) => i.templateId))];
      await query(
        tx,
        sql`update templates t set usage_count = s.n,
           success_rate = case when s.n = 0 then 0 else round(100.0 * s.ok / s.n, 2) end,
           avg_execution_time_ms = round(s.mean_ms::numeric, 2)
         from (select u.template_id, count(u.id)::int as n, (count(u.id) filter (where u.success))::int as ok,
                 coalesce(avg(u.execution_time_ms), 0)::float8 as mean_ms
               from template_usage_logs u where u.template_id = any(${touched}::uuid[]) group by u.template_id) s
         where t.id = s.template_id`,
      );
      return { inserted: rows.length, templates: touched.length };
    });
  }

  /** Usage logs (of one template, or all when `templateId` is null), keyset paged. */
  async list(q: {
    templateId: string | null;
    pageSize: number;
    pageToken: string | null;
    conditions: readonly ListCondition[];
    order: { field: UsageSortField; desc: boolean };
    binding: string;
    /** Over alias `x` (templates): only logs of templates matching it (used for "all templates"). */
    readable?: RawBuilder<unknown> | undefined;
  }): Promise<{ items: TemplateUsageRow[]; nextPageToken: string | null }> {
    const where: RawBuilder<unknown>[] = [];
    if (q.templateId !== null) where.push(sql`u.template_id = ${q.templateId}::uuid`);
    if (q.readable) where.push(sql`u.template_id in (select x.id from templates x where ${q.readable})`);
    where.push(...conditionsSql(q.conditions, USAGE_FILTER_COLUMNS));
    const col =
      q.order.field === "create_time"
        ? { expr: "u.used_at", cast: "timestamptz" }
        : { expr: "u.execution_time_ms", cast: "int" };
    const dir = q.order.desc ? "desc" : "asc";
    const b = bindingDigest(`usage|${q.templateId}|${q.binding}|${q.order.field}|${dir}`);
    const expr = sql.raw(col.expr);
    if (q.pageToken) {
      const c = decodeKeysetToken(q.pageToken, "u1", b, tokenField.text(100));
      where.push(
        sql`(${expr}, u.id) ${sql.raw(q.order.desc ? "<" : ">")} (${c.key}::${sql.raw(col.cast)}, ${c.id}::uuid)`,
      );
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(USAGE_SELECT)}, (${expr})::text as page_key from template_usage_logs u
       where ${allOf(where)}
       order by ${expr} ${sql.raw(dir)}, u.id ${sql.raw(dir)} limit ${q.pageSize + 1}::int`,
    );
    return keysetPage(rows, q.pageSize, usageFromDb, { tag: "u1", binding: b });
  }

  /** Statistics of one template's usages in the window. */
  async stats(templateId: string, w: TimeWindow): Promise<UsageStatsRow> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(STATS_SELECT)} from template_usage_logs u
       where ${allOf([sql`u.template_id = ${templateId}::uuid`, ...windowSql(w)])}`,
    );
    return statsFromDb(rows[0]);
  }

  /** Live templates by usage count desc, success rate desc in the window (optionally of a type/category subtree). */
  async popular(q: {
    window: TimeWindow;
    limit: number;
    typeName: string | null;
    categoryId: string | null;
    /** Over alias `t` (templates): only templates matching it. */
    readable?: RawBuilder<unknown> | undefined;
  }): Promise<{ templateId: string; title: string; stats: UsageStatsRow }[]> {
    const where = [...windowSql(q.window), sql`t.deleted_at is null`];
    if (q.readable) where.push(sql`(${q.readable})`);
    if (q.typeName !== null) where.push(sql`ty.name = ${q.typeName}::text`);
    const cte =
      q.categoryId === null
        ? sql``
        : sql`with recursive sub(id) as (select id from template_categories where id = ${q.categoryId}::uuid
               union all select c.id from template_categories c join sub on c.parent_id = sub.id) `;
    if (q.categoryId !== null) where.push(sql`t.category_id in (select id from sub)`);
    const rows = await query(
      this.em,
      sql<Row>`${cte}select t.id as template_id, t.title, ${sql.raw(STATS_SELECT)}
       from template_usage_logs u join templates t on t.id = u.template_id join template_types ty on ty.id = t.type_id
       where ${allOf(where)}
       group by t.id, t.title
       order by count(*) desc, (count(*) filter (where u.success))::float8 / count(*) desc, t.id
       limit ${q.limit}::int`,
    );
    return rows.map((r) => ({
      templateId: String(r.template_id),
      title: String(r.title),
      stats: statsFromDb(r),
    }));
  }

  /** Fixed-width buckets from `start` (inclusive) to `end` (exclusive), empty buckets included. */
  async performance(
    templateId: string,
    start: Date,
    end: Date,
    bucketMs: number,
  ): Promise<{ start: Date; stats: UsageStatsRow }[]> {
    const from = sql`${start.toISOString()}::timestamptz`;
    const to = sql`${end.toISOString()}::timestamptz`;
    const width = sql`${bucketMs}::float8`;
    const rows = await query(
      this.em,
      sql<Row>`with b as (
         select g as i, ${from} + make_interval(secs => g * ${width} / 1000) as bstart
         from generate_series(0, ceil(extract(epoch from (${to} - ${from})) * 1000 / ${width})::int - 1) g)
       select b.i, b.bstart, ${sql.raw(STATS_SELECT)}
       from b left join template_usage_logs u on u.template_id = ${templateId}::uuid and u.used_at >= ${from}
         and u.used_at < ${to} and floor(extract(epoch from (u.used_at - ${from})) * 1000 / ${width})::int = b.i
       group by b.i, b.bstart order by b.i`,
    );
    return rows.map((r) => ({ start: date(r.bstart), stats: statsFromDb(r) }));
  }

  /** Usage of one template grouped by caller or version, by usage count desc. */
  async breakdown(
    templateId: string,
    dimension: "caller" | "version",
    w: TimeWindow,
  ): Promise<{ key: string; stats: UsageStatsRow }[]> {
    const key = sql.raw(dimension === "caller" ? "u.used_by" : "u.template_version");
    const rows = await query(
      this.em,
      sql<Row>`select ${key} as key, ${sql.raw(STATS_SELECT)} from template_usage_logs u
       where ${allOf([sql`u.template_id = ${templateId}::uuid`, ...windowSql(w)])}
       group by ${key} order by count(*) desc, ${key} limit 1000`,
    );
    return rows.map((r) => ({ key: String(r.key), stats: statsFromDb(r) }));
  }
}
