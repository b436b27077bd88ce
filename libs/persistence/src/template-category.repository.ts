/**
 * The template category tree (SQL statements, plain rows out). Depth and path are computed with a recursive CTE
 * walking up to the root; moves lock the moved row and refuse a new parent inside its own subtree.
 */
import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { conditionsSql, type ListColumn } from "./filter-sql.js";
import { createOnce, replayRowId } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeOffsetToken, encodeOffsetToken } from "./page-token.js";
import { allOf, query, type Row, sql } from "./sql-toolkit.js";

export interface TemplateCategoryRow {
  id: string;
  name: string;
  description: string | null;
  parentId: string | null;
  sortOrder: number;
  isActive: boolean;
  depth: number;
  path: string;
  templateCount: number;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export class CategoryNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`category ${id} not found`);
    this.name = "CategoryNotFoundError";
  }
}
export class CategoryNameTakenError extends Error {
  constructor(readonly displayName: string) {
    super("category name taken");
    this.name = "CategoryNameTakenError";
  }
}
export class CategoryVersionConflictError extends Error {
  constructor(readonly id: string) {
    super(`category ${id} was modified concurrently`);
    this.name = "CategoryVersionConflictError";
  }
}
/** The new parent lies in the moved category's subtree; `path` runs from the moved category to the parent. */
export class CategoryCycleError extends Error {
  constructor(readonly path: string[]) {
    super("category cycle");
    this.name = "CategoryCycleError";
  }
}
export class CategoryInUseError extends Error {
  constructor(
    readonly children: number,
    readonly templates: number,
  ) {
    super("category in use");
    this.name = "CategoryInUseError";
  }
}

/** Ancestors of each category (walking up), giving depth and the " / " path (CTEs `up` and `info`). */
const TREE_CTES = `up(cid, aid, depth, names) as (
    select c.id, c.parent_id, 0, array[c.name::text] from template_categories c
    union all
    select up.cid, p.parent_id, up.depth + 1, p.name::text || up.names from up join template_categories p on p.id = up.aid
  ), info as (select cid, max(depth) as depth, (array_agg(array_to_string(names, ' / ') order by depth desc))[1] as path
              from up group by cid)`;

const TREE_CTE = `with recursive ${TREE_CTES}`;

const SELECT_LIST = `x.id, x.name, x.description, x.parent_id, x.sort_order, x.is_active, x.created_at, x.updated_at,
  x.version, i.depth, i.path,
  (select count(*)::int from templates t where t.category_id = x.id and t.deleted_at is null) as template_count`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function rowFromDb(r: Record<string, unknown>): TemplateCategoryRow {
  return {
    id: String(r.id),
    name: String(r.name),
    description: (r.description as string | null) ?? null,
    parentId: (r.parent_id as string | null) ?? null,
    sortOrder: Number(r.sort_order),
    isActive: Boolean(r.is_active),
    depth: Number(r.depth ?? 0),
    path: String(r.path ?? r.name),
    templateCount: Number(r.template_count ?? 0),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    version: Number(r.version),
  };
}

export type CategoryFilterField = "parent" | "active" | "display_name";
export interface CategoryCondition {
  field: CategoryFilterField;
  op: "=" | "!=";
  value: string | boolean | null;
}
/** ListTemplateCategories filter fields over alias `x` (template_categories). */
const CATEGORY_FILTER_COLUMNS: Readonly<Record<CategoryFilterField, ListColumn>> = {
  parent: { expr: "x.parent_id", cast: "uuid" },
  active: { expr: "x.is_active", cast: "boolean" },
  display_name: { expr: "x.name", cast: "text" },
};

export type CategorySortField = "display_name" | "sort_order" | "create_time";

export class TemplateCategoryRepository {
  constructor(readonly em: EntityManager) {}

  transactional<T>(fn: (repo: TemplateCategoryRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplateCategoryRepository(tx)));
  }

  async getById(id: string, forUpdate = false): Promise<TemplateCategoryRow | null> {
    if (forUpdate)
      await query(this.em, sql`select id from template_categories where id = ${id}::uuid for update`);
    const rows = await query(
      this.em,
      sql<Row>`${sql.raw(TREE_CTE)} select ${sql.raw(SELECT_LIST)} from template_categories x join info i on i.cid = x.id
       where x.id = ${id}::uuid`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  async findByRequestId(requestId: string): Promise<TemplateCategoryRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select resource_id from idempotency_keys
       where scope = 'template_category.create' and request_id = ${requestId}::text`,
    );
    return rows[0] ? this.getById(String(rows[0].resource_id)) : null;
  }

  /**
   * Inserts a category. With `requestId` it runs once per request id (createOnce, scope
   * `template_category.create`): a retry, even a concurrent one, gets the id the first call created.
   */
  async insert(
    c: {
      name: string;
      description: string | null;
      parentId: string | null;
      sortOrder: number;
      isActive: boolean;
    },
    requestId: string | null,
  ): Promise<string> {
    return createOnce<string>(this.em, {
      scope: "template_category.create",
      requestId,
      replay: replayRowId("template_categories"),
      create: async (tx) => {
        const id = newId();
        try {
          await query(
            tx,
            sql`insert into template_categories (id, name, description, parent_id, sort_order, is_active)
             values (${id}, ${c.name}, ${c.description}, ${c.parentId}, ${c.sortOrder}, ${c.isActive})`,
          );
        } catch (err) {
          if (isUniqueViolation(err, "template_categories_name_uniq"))
            throw new CategoryNameTakenError(c.name);
          throw err;
        }
        return { result: id, resourceId: id };
      },
    });
  }

  /** Updates the given columns when the row still has `expectedVersion`. */
  async update(
    id: string,
    expectedVersion: number,
    c: {
      name: string;
      description: string | null;
      sortOrder: number;
      isActive: boolean;
      parentId: string | null;
    },
  ): Promise<void> {
    let rows: Row[];
    try {
      rows = await query(
        this.em,
        sql<Row>`update template_categories set name = ${c.name}, description = ${c.description},
           sort_order = ${c.sortOrder}, is_active = ${c.isActive}, parent_id = ${c.parentId},
           version = version + 1, updated_at = now()
         where id = ${id}::uuid and version = ${expectedVersion}::int returning id`,
      );
    } catch (err) {
      if (isUniqueViolation(err, "template_categories_name_uniq")) throw new CategoryNameTakenError(c.name);
      throw err;
    }
    if (rows.length === 0) throw new CategoryVersionConflictError(id);
  }

  /**
   * Takes the transaction-scoped lock that serialises category moves (call inside a transaction before the
   * cycle check), so two crossing moves cannot both pass it.
   */
  async lockMoves(): Promise<void> {
    await query(this.em, sql`select pg_advisory_xact_lock(hashtext('template_categories.move'))`);
  }

  /**
   * The path from `id` down to `target` if `target` is `id` or one of its descendants (a move of `id` under
   * `target` would close a cycle), else null.
   */
  async pathInSubtree(id: string, target: string): Promise<string[] | null> {
    const rows = await query(
      this.em,
      sql<Row>`with recursive down(id, path) as (
         select ${id}::uuid, array[${id}::uuid]
         union all
         select c.id, down.path || c.id from template_categories c join down on c.parent_id = down.id
           where not c.id = any(down.path)
       ) select path::text[] as path from down where id = ${target}::uuid limit 1`,
    );
    const p = rows[0]?.path;
    if (!p) return null;
    return Array.isArray(p) ? p.map(String) : String(p).replace(/[{}]/g, "").split(",");
  }

  async delete(id: string, expectedVersion: number | null): Promise<void> {
    const counts = await query(
      this.em,
      sql<Row>`select (select count(*)::int from template_categories where parent_id = ${id}::uuid) as children,
              (select count(*)::int from templates where category_id = ${id}::uuid) as templates`,
    );
    const children = Number(counts[0]?.children ?? 0);
    const templates = Number(counts[0]?.templates ?? 0);
    if (children > 0 || templates > 0) throw new CategoryInUseError(children, templates);
    const rows = await query(
      this.em,
      sql<Row>`delete from template_categories
       where id = ${id}::uuid${expectedVersion === null ? sql`` : sql` and version = ${expectedVersion}::int`} returning id`,
    );
    if (rows.length === 0) throw new CategoryVersionConflictError(id);
  }

  async list(q: {
    pageSize: number;
    pageToken: string | null;
    conditions: CategoryCondition[];
    order: { field: CategorySortField; desc: boolean };
  }): Promise<{ items: TemplateCategoryRow[]; nextPageToken: string | null }> {
    const where = conditionsSql(q.conditions, CATEGORY_FILTER_COLUMNS);
    // Offset paging, bound to the query shape.
    const binding = JSON.stringify([q.conditions, q.order]);
    let offset = 0;
    if (q.pageToken) offset = decodeOffsetToken(q.pageToken, "c1", bindingDigest(binding));
    const order =
      q.order.field === "display_name"
        ? `x.name ${q.order.desc ? "desc" : "asc"}`
        : q.order.field === "sort_order"
          ? `x.sort_order ${q.order.desc ? "desc" : "asc"}, x.name asc`
          : `x.created_at ${q.order.desc ? "desc" : "asc"}`;
    const rows = await query(
      this.em,
      sql<Row>`${sql.raw(TREE_CTE)} select ${sql.raw(SELECT_LIST)} from template_categories x join info i on i.cid = x.id
       where ${allOf(where)} order by ${sql.raw(order)}, x.id limit ${q.pageSize + 1}::int offset ${offset}::int`,
    );
    return {
      items: rows.slice(0, q.pageSize).map(rowFromDb),
      nextPageToken:
        rows.length > q.pageSize
          ? encodeOffsetToken("c1", bindingDigest(binding), offset + q.pageSize)
          : null,
    };
  }

  /**
   * The subtree under `rootId` (included) or the whole forest, depth-first with siblings by sort_order then
   * name. Inactive categories (and everything under them) are skipped unless `includeInactive`.
   */
  async subtree(
    rootId: string | null,
    includeInactive: boolean,
    maxDepth: number,
  ): Promise<TemplateCategoryRow[]> {
    const active = sql.raw(includeInactive ? "" : " and c.is_active");
    const root = rootId === null ? sql`c.parent_id is null` : sql`c.id = ${rootId}::uuid`;
    const rows = await query(
      this.em,
      sql<Row>`with recursive walk(id, rel_depth, sort_path) as (
         select c.id, 0, array[row_number() over (order by c.sort_order, c.name, c.id)]::bigint[]
           from template_categories c
           where ${root}${active}
         union all
         select c.id, w.rel_depth + 1, w.sort_path || (row_number() over (partition by c.parent_id order by c.sort_order, c.name, c.id))::bigint
           from template_categories c join walk w on c.parent_id = w.id
           where (${maxDepth}::int = 0 or w.rel_depth < ${maxDepth}::int)${active}
       ), ${sql.raw(TREE_CTES)}
       select ${sql.raw(SELECT_LIST)} from walk w join template_categories x on x.id = w.id join info i on i.cid = x.id
       order by w.sort_path`,
    );
    return rows.map(rowFromDb);
  }
}
