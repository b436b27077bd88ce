/**
 * Templates and their immutable versions (raw SQL, plain rows out). Writers run inside a transaction the
 * caller opens (`em.transactional`) and lock the template row (`select ... for update`) before computing a
 * new version number, so concurrent version creation serialises and never yields duplicate numbers (the
 * unique (template_id, version) constraint is the backstop).
 */
import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { storeIdempotentResource } from "./idempotency.js";
import { newId } from "./ids.js";
import {
  bindingDigest,
  decodeKeysetToken,
  decodeOffsetToken,
  encodeOffsetToken,
  keysetPage,
  tokenField,
} from "./page-token.js";
import { hotRead } from "./template-hot-read.repository.js";
import {
  accessFromDb,
  accessorParams,
  LIVE_GRANT_FOR,
  type TemplateAccess,
  type TemplateAccessor,
} from "./template-permission.repository.js";

export type TemplateChangeKind = "major" | "minor" | "patch" | "hotfix";

/** A template as a plain object. `successRate` is 0-100 as stored. */
export interface TemplateRow {
  id: string;
  slug: string;
  title: string;
  description: string | null;
  content: string;
  variables: Record<string, unknown>[];
  parameters: Record<string, unknown>;
  tags: string[];
  usageCount: number;
  successRate: number;
  avgExecutionMs: number;
  p95ExecutionMs: number | null;
  lastUsedAt: Date | null;
  complexityScore: number | null;
  isActive: boolean;
  isPublic: boolean;
  requiresApproval: boolean;
  approvedBy: string | null;
  approvedAt: Date | null;
  approvedVersion: string | null;
  currentVersion: string;
  categoryId: string | null;
  typeName: string;
  owner: string;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  version: number;
}

export interface TemplateVersionRow {
  id: string;
  templateId: string;
  version: string;
  content: string;
  variables: Record<string, unknown>[];
  parameters: Record<string, unknown>;
  changeType: TemplateChangeKind;
  summary: string | null;
  createdBy: string;
  rollbackOf: string | null;
  approved: boolean;
  createdAt: Date;
}

/** Writable template columns. */
export interface TemplateWrite {
  slug: string;
  title: string;
  description: string | null;
  content: string;
  variables: Record<string, unknown>[];
  parameters: Record<string, unknown>;
  tags: string[];
  complexityScore: number | null;
  isActive: boolean;
  isPublic: boolean;
  requiresApproval: boolean;
  categoryId: string | null;
  typeId: string;
}

export class TemplateNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`template ${id} not found`);
    this.name = "TemplateNotFoundError";
  }
}

export class TemplateVersionConflictError extends Error {
  constructor(readonly id: string) {
    super(`template ${id} was modified concurrently`);
    this.name = "TemplateVersionConflictError";
  }
}

export class TemplateSlugTakenError extends Error {
  constructor(readonly slug: string) {
    super(`template slug ${slug} is taken`);
    this.name = "TemplateSlugTakenError";
  }
}

const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;

/** "x.y.z" without leading zeros. */
export function isSemver(v: string): boolean {
  return SEMVER.test(v);
}

/** The next version after `current` for a change of `kind` (MAJOR x+1.0.0, MINOR x.y+1.0, else x.y.z+1). */
export function bumpVersion(current: string, kind: TemplateChangeKind): string {
  const m = SEMVER.exec(current);
  if (!m) throw new Error(`not a semantic version: ${current}`);
  const [x, y, z] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (kind === "major") return `${x + 1}.0.0`;
  if (kind === "minor") return `${x}.${y + 1}.0`;
  return `${x}.${y}.${z + 1}`;
}

export const TEMPLATE_SELECT_LIST = `x.id, x.name as slug, x.title, x.description, x.content, x.variables, x.parameters, x.tags,
  x.usage_count, x.success_rate::float8 as success_rate, x.avg_execution_time_ms::float8 as avg_execution_time_ms,
  x.complexity_score, x.is_active, x.is_public, x.requires_approval, x.approved_by, x.approved_at, x.current_version,
  x.category_id, ty.name as type_name, x.owner, x.created_at, x.updated_at, x.deleted_at, x.version,
  (select r.template_version from template_reviews r where r.template_id = x.id and r.status = 'approved'
     order by r.decided_at desc, r.id desc limit 1) as approved_version,
  (select max(u.used_at) from template_usage_logs u where u.template_id = x.id) as last_used_at,
  (select percentile_cont(0.95) within group (order by u.execution_time_ms) from template_usage_logs u
     where u.template_id = x.id) as p95_ms`;

/** TEMPLATE_SELECT_LIST without the p95 / last-use subqueries over usage logs (for paths not returning them). */
export const TEMPLATE_SELECT_LIST_NO_USAGE = TEMPLATE_SELECT_LIST.replace(
  /,\s*\(select max\(u\.used_at\)[\s\S]*$/,
  ", null::timestamptz as last_used_at, null::float8 as p95_ms",
);

export const TEMPLATE_FROM = "templates x join template_types ty on ty.id = x.type_id";

const GET_WITH_ACCESS_SQL = `select ${TEMPLATE_SELECT_LIST}, x.owner = ? as access_owner,
    coalesce((select array_agg(distinct p.permission::text) from template_permissions p
              where p.template_id = x.id and ${LIVE_GRANT_FOR}), '{}'::text[]) as access_granted
  from ${TEMPLATE_FROM} where x.id = ?::uuid`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const json = <T>(v: unknown, fallback: T): T =>
  v === null || v === undefined ? fallback : typeof v === "string" ? (JSON.parse(v) as T) : (v as T);

export function templateRowFromDb(r: Record<string, unknown>): TemplateRow {
  return {
    id: String(r.id),
    slug: String(r.slug),
    title: String(r.title),
    description: (r.description as string | null) ?? null,
    content: String(r.content),
    variables: json(r.variables, []),
    parameters: json(r.parameters, {}),
    tags: (r.tags as string[] | null) ?? [],
    usageCount: Number(r.usage_count),
    successRate: Number(r.success_rate),
    avgExecutionMs: Number(r.avg_execution_time_ms),
    p95ExecutionMs: r.p95_ms === null || r.p95_ms === undefined ? null : Number(r.p95_ms),
    lastUsedAt: dateOrNull(r.last_used_at),
    complexityScore: r.complexity_score === null ? null : Number(r.complexity_score),
    isActive: Boolean(r.is_active),
    isPublic: Boolean(r.is_public),
    requiresApproval: Boolean(r.requires_approval),
    approvedBy: (r.approved_by as string | null) ?? null,
    approvedAt: dateOrNull(r.approved_at),
    approvedVersion: (r.approved_version as string | null) ?? null,
    currentVersion: String(r.current_version),
    categoryId: (r.category_id as string | null) ?? null,
    typeName: String(r.type_name),
    owner: String(r.owner),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    deletedAt: dateOrNull(r.deleted_at),
    version: Number(r.version),
  };
}

const VERSION_SELECT_LIST = `x.id, x.template_id, x.version, x.content, x.variables, x.parameters, x.change_type, x.summary,
  x.created_by, x.rollback_of, x.created_at,
  exists (select 1 from template_reviews r where r.template_id = x.template_id and r.template_version = x.version
          and r.status = 'approved') as approved`;

function versionRowFromDb(r: Record<string, unknown>): TemplateVersionRow {
  return {
    id: String(r.id),
    templateId: String(r.template_id),
    version: String(r.version),
    content: String(r.content ?? ""),
    variables: json(r.variables, []),
    parameters: json(r.parameters, {}),
    changeType: r.change_type as TemplateChangeKind,
    summary: (r.summary as string | null) ?? null,
    createdBy: String(r.created_by),
    rollbackOf: (r.rollback_of as string | null) ?? null,
    approved: Boolean(r.approved),
    createdAt: date(r.created_at),
  };
}

/** SQL fragment over alias `x` (templates) with bind parameters. */
export interface TemplateSql {
  sql: string;
  params: unknown[];
}

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

  private exec(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    return this.em.getConnection().execute(sql, params, "all", this.em.getTransactionContext());
  }

  /** Runs `fn` in a transaction with a repository bound to it. */
  transactional<T>(fn: (repo: TemplateRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplateRepository(tx)));
  }

  /** With `usageStats: false` the p95 and last use time (computed over usage logs) are left null. */
  async getById(
    id: string,
    opts: { includeDeleted?: boolean; forUpdate?: boolean; usageStats?: boolean } = {},
  ) {
    const list = opts.usageStats === false ? TEMPLATE_SELECT_LIST_NO_USAGE : TEMPLATE_SELECT_LIST;
    if (!opts.forUpdate) {
      // GetTemplate and friends: a prepared statement outside transactions (hotRead).
      const name = `template_by_id_${opts.usageStats === false ? "n" : "u"}${opts.includeDeleted ? "d" : "l"}`;
      const sql = `select ${list} from ${TEMPLATE_FROM} where x.id = ?::uuid${opts.includeDeleted ? "" : " and x.deleted_at is null"}`;
      const found = await hotRead(this.em, name, sql, [id]);
      return found[0] ? templateRowFromDb(found[0]) : null;
    }
    const rows = await this.exec(
      `select ${list} from ${TEMPLATE_FROM} where x.id = ?${opts.includeDeleted ? "" : " and x.deleted_at is null"}${opts.forUpdate ? " for update of x" : ""}`,
      [id],
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
    const rows = await hotRead(this.em, "template_by_id_with_access", GET_WITH_ACCESS_SQL, [
      a.subject,
      ...accessorParams(a),
      id,
    ]);
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
    const rows = await this.exec(
      `select ${TEMPLATE_SELECT_LIST} from idempotency_keys k join ${TEMPLATE_FROM} on x.id = k.resource_id::uuid
       where k.scope = 'template.create' and k.request_id = ?`,
      [requestId],
    );
    return rows[0] ? templateRowFromDb(rows[0]) : null;
  }

  /** Inserts a template and its first version "1.0.0" (call inside a transaction). */
  async insert(
    w: TemplateWrite,
    meta: { owner: string; summary: string | null; requestId: string | null },
  ): Promise<string> {
    const id = newId();
    try {
      await this.exec(
        `insert into templates (id, name, title, description, content, variables, parameters, tags, complexity_score,
           is_active, is_public, requires_approval, category_id, type_id, owner, current_version)
         values (?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, array(select jsonb_array_elements_text(?::jsonb)), ?, ?, ?, ?, ?, ?, ?, '1.0.0')`,
        [
          id,
          w.slug,
          w.title,
          w.description,
          w.content,
          JSON.stringify(w.variables),
          JSON.stringify(w.parameters),
          JSON.stringify(w.tags),
          w.complexityScore,
          w.isActive,
          w.isPublic,
          w.requiresApproval,
          w.categoryId,
          w.typeId,
          meta.owner,
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err, "templates_name_uniq")) throw new TemplateSlugTakenError(w.slug);
      throw err;
    }
    await this.insertVersion(id, "1.0.0", w, "major", meta.summary, meta.owner, null);
    if (meta.requestId) {
      await storeIdempotentResource(this.em, "template.create", meta.requestId, id);
    }
    return id;
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
    await this.exec(
      `insert into template_versions (id, template_id, version, content, variables, parameters, change_type, summary,
         created_by, rollback_of) values (?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?, ?)`,
      [
        newId(),
        templateId,
        version,
        w.content,
        JSON.stringify(w.variables),
        JSON.stringify(w.parameters),
        kind,
        summary,
        author,
        rollbackOf,
      ],
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
    let rows: Record<string, unknown>[];
    try {
      rows = await this.exec(
        `update templates set name = ?, title = ?, description = ?, content = ?, variables = ?::jsonb,
           parameters = ?::jsonb, tags = array(select jsonb_array_elements_text(?::jsonb)), complexity_score = ?, is_active = ?, is_public = ?,
           requires_approval = ?, category_id = ?, type_id = ?, current_version = coalesce(?, current_version),
           version = version + 1, updated_at = now()
         where id = ? and version = ? returning id`,
        [
          w.slug,
          w.title,
          w.description,
          w.content,
          JSON.stringify(w.variables),
          JSON.stringify(w.parameters),
          JSON.stringify(w.tags),
          w.complexityScore,
          w.isActive,
          w.isPublic,
          w.requiresApproval,
          w.categoryId,
          w.typeId,
          newVersion,
          id,
          expectedVersion,
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err, "templates_name_uniq")) throw new TemplateSlugTakenError(w.slug);
      throw err;
    }
    if (rows.length === 0) throw new TemplateVersionConflictError(id);
  }

  /** Sets or clears deleted_at (optimistic on `expectedVersion`). */
  async setDeleted(id: string, expectedVersion: number, deleted: boolean): Promise<void> {
    const rows = await this.exec(
      `update templates set deleted_at = ${deleted ? "now()" : "null"}, version = version + 1, updated_at = now()
       where id = ? and version = ? returning id`,
      [id, expectedVersion],
    );
    if (rows.length === 0) throw new TemplateVersionConflictError(id);
  }

  async getVersion(templateId: string, version: string): Promise<TemplateVersionRow | null> {
    const rows = await this.exec(
      `select ${VERSION_SELECT_LIST} from template_versions x where x.template_id = ? and x.version = ?`,
      [templateId, version],
    );
    return rows[0] ? versionRowFromDb(rows[0]) : null;
  }

  /** Versions newest first (by creation), keyset paged; `content` is omitted. */
  async listVersions(
    templateId: string,
    q: {
      pageSize: number;
      pageToken: string | null;
      where: TemplateSql;
      binding: string;
    },
  ): Promise<{ items: TemplateVersionRow[]; nextPageToken: string | null }> {
    const params: unknown[] = [templateId, ...q.where.params];
    const where = ["x.template_id = ?"];
    if (q.where.sql) where.push(`(${q.where.sql})`);
    const b = bindingDigest(`versions|${templateId}|${q.binding}`);
    if (q.pageToken) {
      const c = decodeKeysetToken(q.pageToken, "t1", b, tokenField.text(300));
      where.push("(x.created_at, x.id) < (?::timestamptz, ?::uuid)");
      params.push(c.key, c.id);
    }
    params.push(q.pageSize + 1);
    const rows = await this.exec(
      `select ${VERSION_SELECT_LIST.replace("x.content,", "'' as content,")}, x.created_at::text as page_key
       from template_versions x where ${where.join(" and ")} order by x.created_at desc, x.id desc limit ?`,
      params,
    );
    return keysetPage(rows, q.pageSize, versionRowFromDb, { tag: "t1", binding: b });
  }

  /** Templates in `order`, keyset paged, plus the total number of matches. */
  async list(q: {
    pageSize: number;
    pageToken: string | null;
    where: TemplateSql;
    order: { field: TemplateSortField; desc: boolean };
    showDeleted: boolean;
    binding: string;
  }): Promise<{ items: TemplateRow[]; nextPageToken: string | null; totalSize: number }> {
    const base: string[] = [];
    const baseParams: unknown[] = [];
    if (!q.showDeleted) base.push("x.deleted_at is null");
    if (q.where.sql) {
      base.push(`(${q.where.sql})`);
      baseParams.push(...q.where.params);
    }
    const col = SORT_EXPR[q.order.field];
    const dir = q.order.desc ? "desc" : "asc";
    const where = [...base];
    const params = [...baseParams];
    const b = bindingDigest(`templates|${q.binding}|${q.order.field}|${dir}|${q.showDeleted}`);
    if (q.pageToken) {
      const c = decodeKeysetToken(q.pageToken, "t1", b, tokenField.text(300));
      where.push(`(${col.expr}, x.id) ${q.order.desc ? "<" : ">"} (?::${col.cast}, ?::uuid)`);
      params.push(c.key, c.id);
    }
    params.push(q.pageSize + 1);
    const rows = await this.exec(
      `select ${TEMPLATE_SELECT_LIST}, (${col.expr})::text as page_key from ${TEMPLATE_FROM}
       ${where.length ? `where ${where.join(" and ")}` : ""}
       order by ${col.expr} ${dir}, x.id ${dir} limit ?`,
      params,
    );
    const count = await this.exec(
      `select count(*)::int as n from ${TEMPLATE_FROM} ${base.length ? `where ${base.join(" and ")}` : ""}`,
      baseParams,
    );
    return {
      ...keysetPage(rows, q.pageSize, templateRowFromDb, { tag: "t1", binding: b }),
      totalSize: Number(count[0]?.n ?? 0),
    };
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

  /** Type id by type name (live types only unless `includeInactive`), with its schema and rules. */
  async typeByName(name: string): Promise<{
    id: string;
    isActive: boolean;
    jsonSchema: Record<string, unknown>;
    validationRules: Record<string, unknown>;
  } | null> {
    const rows = await this.exec(
      "select id, is_active, json_schema, validation_rules from template_types where name = ?",
      [name],
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
    const rows = await this.exec("select is_active from template_categories where id = ?", [id]);
    return rows[0] ? { isActive: Boolean(rows[0].is_active) } : null;
  }
}
