/**
 * Templates and their immutable versions (SQL statements, plain rows out). Writers run inside a transaction the
 * caller opens (`em.transactional`) and lock the template row (`select ... for update`) before computing a
 * new version number, so concurrent version creation serialises and never yields duplicate numbers (the
 * unique (template_id, version) constraint is the backstop).
 */
import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import type { ListCondition } from "./filter-sql.js";
import { createOnce, replayRowId } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { templateFilterWhere, versionFilterWhere } from "./template-filter.columns.js";
import { hotRead } from "./template-hot-read.repository.js";
import {
  accessFromDb,
  liveGrantFor,
  type TemplateAccess,
  type TemplateAccessor,
} from "./template-permission.repository.js";
import {
  json,
  TEMPLATE_FROM,
  TEMPLATE_SELECT_LIST,
  TEMPLATE_SELECT_LIST_NO_USAGE,
  type TemplateChangeKind,
  type TemplateRow,
  TemplateSlugTakenError,
  TemplateVersionConflictError,
  type TemplateVersionRow,
  type TemplateWrite,
  templateRowFromDb,
  VERSION_SELECT_LIST,
  versionRowFromDb,
} from "./template-row.mapper.js";

const getWithAccessStatement = (id: string, a: TemplateAccessor) =>
  sql<Row>`select ${sql.raw(TEMPLATE_SELECT_LIST)}, x.owner = ${a.subject}::text as access_owner,
    coalesce((select array_agg(distinct p.permission::text) from template_permissions p
              where p.template_id = x.id and ${liveGrantFor(a)}), '{}'::text[]) as access_granted
  from ${sql.raw(TEMPLATE_FROM)} where x.id = ${id}::uuid`;

/** Versions without their content (list pages). */
const VERSION_SELECT_LIST_NO_CONTENT = VERSION_SELECT_LIST.replace("x.content,", "'' as content,");

export type TemplateSortField =
  | "title"
  | "slug"
  | "usage_count"
  | "success_rate"
  | "create_time"
  | "update_time";

const SORT_EXPR: Record<TemplateSortField, { expr: string; cast: string }> = {
  title: { expr: "x.title", cast: "text" },
  slug: { expr: "x.name", cast: "text" },
  usage_count: { expr: "x.usage_count", cast: "int" },
  success_rate: { expr: "x.success_rate", cast: "numeric" },
  create_time: { expr: "x.created_at", cast: "timestamptz" },
  update_time: { expr: "x.updated_at", cast: "timestamptz" },
};

export class TemplateRepository {
  constructor(readonly em: EntityManager) {}

  /** Runs `fn` in a transaction with a repository bound to it. */
  transactional<T>(fn: (repo: TemplateRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplateRepository(tx)));
  }

  /** With `usageStats: false` the p95 and last use time (computed over usage logs) are left null. */
  async getById(
    id: string,
    opts: { includeDeleted?: boolean; forUpdate?: boolean; usageStats?: boolean } = {},
  ) {
    const list = sql.raw(opts.usageStats === false ? TEMPLATE_SELECT_LIST_NO_USAGE : TEMPLATE_SELECT_LIST);
    const live = sql.raw(opts.includeDeleted ? "" : " and x.deleted_at is null");
    if (!opts.forUpdate) {
      // GetTemplate and friends: a prepared statement outside transactions (hotRead).
      const name = `template_by_id_${opts.usageStats === false ? "n" : "u"}${opts.includeDeleted ? "d" : "l"}`;
      const found = await hotRead(
        this.em,
        name,
        sql<Row>`select ${list} from ${sql.raw(TEMPLATE_FROM)} where x.id = ${id}::uuid${live}`,
      );
      return found[0] ? templateRowFromDb(found[0]) : null;
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${list} from ${sql.raw(TEMPLATE_FROM)} where x.id = ${id}::uuid${live} for update of x`,
    );
    return rows[0] ? templateRowFromDb(rows[0]) : null;
  }

  /**
   * The template (deleted ones included, with usage statistics) together with the accessor's standing on it,
   * in ONE statement and snapshot: GetTemplate's authorization and read in a single round trip. Null when
   * the template does not exist.
   */
  async getByIdWithAccess(
    id: string,
    a: TemplateAccessor,
  ): Promise<{ row: TemplateRow; access: TemplateAccess } | null> {
    const rows = await hotRead(this.em, "template_by_id_with_access", getWithAccessStatement(id, a));
    const r = rows[0];
    if (!r) return null;
    return {
      row: templateRowFromDb(r),
      access: accessFromDb({
        owner: r.access_owner,
        is_public: r.is_public,
        deleted: r.deleted_at !== null && r.deleted_at !== undefined,
        granted: r.access_granted,
      }),
    };
  }

  /** The template created by a CreateTemplate with this request id, if any. */
  async findByRequestId(requestId: string): Promise<TemplateRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(TEMPLATE_SELECT_LIST)} from idempotency_keys k
       join ${sql.raw(TEMPLATE_FROM)} on x.id = k.resource_id::uuid
       where k.scope = 'template.create' and k.request_id = ${requestId}::text`,
    );
    return rows[0] ? templateRowFromDb(rows[0]) : null;
  }

  /**
   * Inserts a template and its first version "1.0.0" (call inside a transaction). With `requestId` it runs
   * once per request id (createOnce, scope `template.create`): a retry, even a concurrent one, gets the id of
   * the template the first call created.
   */
  async insert(
    w: TemplateWrite,
    meta: { owner: string; summary: string | null; requestId: string | null },
  ): Promise<string> {
    return createOnce<string>(this.em, {
      scope: "template.create",
      requestId: meta.requestId,
      replay: replayRowId("templates"),
      create: async (tx) => {
        const id = newId();
        try {
          await query(
            tx,
            sql`insert into templates (id, name, title, description, content, variables, parameters, tags,
               complexity_score, is_active, is_public, requires_approval, category_id, type_id, owner, current_version)
             values (${id}, ${w.slug}, ${w.title}, ${w.description}, ${w.content}, ${JSON.stringify(w.variables)}::jsonb,
               ${JSON.stringify(w.parameters)}::jsonb, ${w.tags}::text[], ${w.complexityScore}, ${w.isActive},
               ${w.isPublic}, ${w.requiresApproval}, ${w.categoryId}, ${w.typeId}, ${meta.owner}, '1.0.0')`,
          );
        } catch (err) {
          if (isUniqueViolation(err, "templates_name_uniq")) throw new TemplateSlugTakenError(w.slug);
          throw err;
        }
        await new TemplateRepository(tx).insertVersion(
          id,
          "1.0.0",
          w,
          "major",
          meta.summary,
          meta.owner,
          null,
        );
        return { result: id, resourceId: id };
      },
    });
  }

  async insertVersion(
    templateId: string,
    version: string,
    w: Pick<TemplateWrite, "content" | "variables" | "parameters">,
    kind: TemplateChangeKind,
    summary: string | null,
    author: string,
    rollbackOf: string | null,
  ): Promise<void> {
    await query(
      this.em,
      sql`insert into template_versions (id, template_id, version, content, variables, parameters, change_type, summary,
         created_by, rollback_of)
       values (${newId()}, ${templateId}, ${version}, ${w.content}, ${JSON.stringify(w.variables)}::jsonb,
         ${JSON.stringify(w.parameters)}::jsonb, ${kind}, ${summary}, ${author}, ${rollbackOf})`,
    );
  }

  /**
   * Writes `w` over the locked template (call inside a transaction after `getById(..., {forUpdate})`),
   * bumping its optimistic-lock version; `newVersion` also sets current_version.
   */
  async update(
    id: string,
    expectedVersion: number,
    w: TemplateWrite,
    newVersion: string | null,
  ): Promise<void> {
    let rows: Row[];
    try {
      rows = await query(
        this.em,
        sql<Row>`update templates set name = ${w.slug}, title = ${w.title}, description = ${w.description},
           content = ${w.content}, variables = ${JSON.stringify(w.variables)}::jsonb,
           parameters = ${JSON.stringify(w.parameters)}::jsonb, tags = ${w.tags}::text[],
           complexity_score = ${w.complexityScore}, is_active = ${w.isActive}, is_public = ${w.isPublic},
           requires_approval = ${w.requiresApproval}, category_id = ${w.categoryId}, type_id = ${w.typeId},
           current_version = coalesce(${newVersion}::text, current_version),
           version = version + 1, updated_at = now()
         where id = ${id}::uuid and version = ${expectedVersion}::int returning id`,
      );
    } catch (err) {
      if (isUniqueViolation(err, "templates_name_uniq")) throw new TemplateSlugTakenError(w.slug);
      throw err;
    }
    if (rows.length === 0) throw new TemplateVersionConflictError(id);
  }

  /** Sets or clears deleted_at (optimistic on `expectedVersion`). */
  async setDeleted(id: string, expectedVersion: number, deleted: boolean): Promise<void> {
    const rows = await query(
      this.em,
      sql<Row>`update templates set deleted_at = ${sql.raw(deleted ? "now()" : "null")}, version = version + 1,
         updated_at = now()
       where id = ${id}::uuid and version = ${expectedVersion}::int returning id`,
    );
    if (rows.length === 0) throw new TemplateVersionConflictError(id);
  }

  async getVersion(templateId: string, version: string): Promise<TemplateVersionRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(VERSION_SELECT_LIST)} from template_versions x
       where x.template_id = ${templateId}::uuid and x.version = ${version}::text`,
    );
    return rows[0] ? versionRowFromDb(rows[0]) : null;
  }

  /** Versions newest first (by creation), keyset paged; `content` is omitted. */
  async listVersions(
    templateId: string,
    q: {
      pageSize: number;
      pageToken: string | null;
      conditions: readonly ListCondition[];
      binding: string;
    },
  ): Promise<{ items: TemplateVersionRow[]; nextPageToken: string | null }> {
    const where = [sql`x.template_id = ${templateId}::uuid`, ...versionFilterWhere(q.conditions)];
    const b = bindingDigest(`versions|${templateId}|${q.binding}`);
    if (q.pageToken) {
      const c = decodeKeysetToken(q.pageToken, "t1", b, tokenField.text(300));
      where.push(sql`(x.created_at, x.id) < (${c.key}::timestamptz, ${c.id}::uuid)`);
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(VERSION_SELECT_LIST_NO_CONTENT)}, x.created_at::text as page_key
       from template_versions x where ${allOf(where)}
       order by x.created_at desc, x.id desc limit ${q.pageSize + 1}::int`,
    );
    return keysetPage(rows, q.pageSize, versionRowFromDb, { tag: "t1", binding: b });
  }

  /** Templates in `order`, keyset paged, plus the total number of matches. */
  async list(q: {
    pageSize: number;
    pageToken: string | null;
    conditions: readonly ListCondition[];
    /** Over alias `x`: only templates matching it (the caller's readable templates). */
    readable: RawBuilder<unknown>;
    order: { field: TemplateSortField; desc: boolean };
    showDeleted: boolean;
    binding: string;
  }): Promise<{ items: TemplateRow[]; nextPageToken: string | null; totalSize: number }> {
    const base: RawBuilder<unknown>[] = [];
    if (!q.showDeleted) base.push(sql`x.deleted_at is null`);
    base.push(...templateFilterWhere(q.conditions), sql`(${q.readable})`);
    const col = SORT_EXPR[q.order.field];
    const expr = sql.raw(col.expr);
    const dir = q.order.desc ? "desc" : "asc";
    const where = [...base];
    const b = bindingDigest(`templates|${q.binding}|${q.order.field}|${dir}|${q.showDeleted}`);
    if (q.pageToken) {
      const c = decodeKeysetToken(q.pageToken, "t1", b, tokenField.text(300));
      where.push(
        sql`(${expr}, x.id) ${sql.raw(q.order.desc ? "<" : ">")} (${c.key}::${sql.raw(col.cast)}, ${c.id}::uuid)`,
      );
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(TEMPLATE_SELECT_LIST)}, (${expr})::text as page_key from ${sql.raw(TEMPLATE_FROM)}
       where ${allOf(where)}
       order by ${expr} ${sql.raw(dir)}, x.id ${sql.raw(dir)} limit ${q.pageSize + 1}::int`,
    );
    const count = await query(
      this.em,
      sql<Row>`select count(*)::int as n from ${sql.raw(TEMPLATE_FROM)} where ${allOf(base)}`,
    );
    return {
      ...keysetPage(rows, q.pageSize, templateRowFromDb, { tag: "t1", binding: b }),
      totalSize: Number(count[0]?.n ?? 0),
    };
  }

  /** Type id by type name (live types only unless `includeInactive`), with its schema and rules. */
  async typeByName(name: string): Promise<{
    id: string;
    isActive: boolean;
    jsonSchema: Record<string, unknown>;
    validationRules: Record<string, unknown>;
  } | null> {
    const rows = await query(
      this.em,
      sql<Row>`select id, is_active, json_schema, validation_rules from template_types where name = ${name}::text`,
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: String(r.id),
      isActive: Boolean(r.is_active),
      jsonSchema: json(r.json_schema, {}),
      validationRules: json(r.validation_rules, {}),
    };
  }

  /** Whether a category exists (and whether it is active), or null. */
  async categoryState(id: string): Promise<{ isActive: boolean } | null> {
    const rows = await query(
      this.em,
      sql<Row>`select is_active from template_categories where id = ${id}::uuid`,
    );
    return rows[0] ? { isActive: Boolean(rows[0].is_active) } : null;
  }

  /**
   * Template ids by slug (the column `name`, unique across live and soft-deleted templates); slugs that
   * name no template are absent from the map.
   */
  async idsBySlug(slugs: readonly string[]): Promise<Map<string, string>> {
    const rows = await query(
      this.em,
      sql<Row>`select name, id from templates where name = any(${slugs}::text[])`,
    );
    return new Map(rows.map((r) => [String(r.name), String(r.id)]));
  }
}
