/**
 * Dependencies between templates (SQL statements, plain rows out).
 *
 * INCLUDES/EXTENDS edges must stay acyclic. Writers of such edges take one transaction-scoped advisory lock
 * (so two concurrent inserts A->B and B->A cannot both pass the check) and then look for a path from the
 * required template back to the dependent one with a recursive CTE; a path found is returned to the caller
 * as the cycle and nothing is written.
 */
import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";

export type TemplateDependencyKind = "includes" | "extends" | "requires" | "suggests";

export interface TemplateDependencyRow {
  id: string;
  templateId: string;
  requiredTemplateId: string;
  type: TemplateDependencyKind;
  pinnedVersion: string | null;
  /** Explicit alias; null means the required template's slug (`effectiveAlias`). */
  alias: string | null;
  effectiveAlias: string;
  createdBy: string | null;
  createdAt: Date;
}

export class DependencyTemplateNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`template ${id} not found`);
    this.name = "DependencyTemplateNotFoundError";
  }
}

export class DependencyExistsError extends Error {
  constructor() {
    super("dependency already exists");
    this.name = "DependencyExistsError";
  }
}

export class DependencyAliasTakenError extends Error {
  constructor(readonly alias: string) {
    super(`partial alias ${alias} is taken`);
    this.name = "DependencyAliasTakenError";
  }
}

/** The write would close a cycle; `path` lists template ids, first repeated last. */
export class DependencyCycleError extends Error {
  constructor(readonly path: string[]) {
    super("dependency cycle");
    this.name = "DependencyCycleError";
  }
}

const SELECT = `d.id, d.template_id, d.depends_on_template_id, d.type, d.pinned_version, d.alias,
  coalesce(d.alias, rt.name) as effective_alias, d.created_by, d.created_at`;
const FROM = "template_dependencies d join templates rt on rt.id = d.depends_on_template_id";

/** The dependency row `id` (with its effective alias). */
const byIdStatement = (id: string) =>
  sql<Row>`select ${sql.raw(SELECT)} from ${sql.raw(FROM)} where d.id = ${id}::uuid`;

/** The slug (column `name`) of a template. */
const slugStatement = (templateId: string) =>
  sql<Row>`select name from templates where id = ${templateId}::uuid`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function rowFromDb(r: Record<string, unknown>): TemplateDependencyRow {
  return {
    id: String(r.id),
    templateId: String(r.template_id),
    requiredTemplateId: String(r.depends_on_template_id),
    type: r.type as TemplateDependencyKind,
    pinnedVersion: (r.pinned_version as string | null) ?? null,
    alias: (r.alias as string | null) ?? null,
    effectiveAlias: String(r.effective_alias),
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: date(r.created_at),
  };
}

export class TemplateDependencyRepository {
  constructor(readonly em: EntityManager) {}

  /** Live template slug and versions, or null. */
  async templateState(id: string): Promise<{ slug: string; isActive: boolean; deleted: boolean } | null> {
    const rows = await query(
      this.em,
      sql<Row>`select name, is_active, deleted_at from templates where id = ${id}::uuid`,
    );
    const r = rows[0];
    return r
      ? { slug: String(r.name), isActive: Boolean(r.is_active), deleted: r.deleted_at !== null }
      : null;
  }

  async versionExists(templateId: string, version: string): Promise<boolean> {
    const rows = await query(
      this.em,
      sql<Row>`select 1 from template_versions where template_id = ${templateId}::uuid and version = ${version}::text`,
    );
    return rows.length > 0;
  }

  /**
   * Inserts a dependency after the cycle check (INCLUDES/EXTENDS), in one transaction. With `dryRun` the
   * checks run and nothing is written. A retry with the same `requestId` returns the first result.
   */
  async insert(
    w: {
      templateId: string;
      requiredTemplateId: string;
      type: TemplateDependencyKind;
      pinnedVersion: string | null;
      alias: string | null;
      createdBy: string;
    },
    opts: { requestId: string | null; dryRun: boolean },
  ): Promise<TemplateDependencyRow> {
    return createOnce<TemplateDependencyRow>(this.em, {
      scope: "template.dependency",
      requestId: opts.requestId,
      replay: async (tx, id) => {
        const rows = await query(tx, byIdStatement(id));
        return rows[0] ? rowFromDb(rows[0]) : null;
      },
      create: async (tx) => {
        const partial = w.type === "includes" || w.type === "extends";
        if (partial) {
          await query(
            tx,
            sql`select pg_advisory_xact_lock(hashtext('taskmaster.template_dependency_graph'))`,
          );
          const cycle = await query(
            tx,
            sql<Row>`with recursive walk(id, path) as (
                 select ${w.requiredTemplateId}::uuid, array[${w.requiredTemplateId}::uuid]
                 union all
                 select d.depends_on_template_id, w.path || d.depends_on_template_id
                 from walk w join template_dependencies d on d.template_id = w.id and d.type in ('includes', 'extends')
                 where not d.depends_on_template_id = any(w.path) and cardinality(w.path) < 1000)
               select path::text[] as path from walk where id = ${w.templateId}::uuid order by cardinality(path) limit 1`,
          );
          if (cycle[0]) {
            const raw = cycle[0].path;
            const path = Array.isArray(raw) ? raw.map(String) : String(raw).replace(/[{}]/g, "").split(",");
            throw new DependencyCycleError([w.templateId, ...path]);
          }
          const slug = await query(tx, slugStatement(w.requiredTemplateId));
          const alias = w.alias ?? String(slug[0]?.name ?? "");
          const clash = await query(
            tx,
            sql<Row>`select 1 from ${sql.raw(FROM)} where d.template_id = ${w.templateId}::uuid
                 and d.type in ('includes', 'extends') and coalesce(d.alias, rt.name) = ${alias}::text`,
          );
          if (clash.length > 0) throw new DependencyAliasTakenError(alias);
        }
        const existing = await query(
          tx,
          sql<Row>`select 1 from template_dependencies where template_id = ${w.templateId}::uuid
            and depends_on_template_id = ${w.requiredTemplateId}::uuid and type = ${w.type}::text`,
        );
        if (existing.length > 0) throw new DependencyExistsError();
        const id = newId();
        if (opts.dryRun) {
          const slug = await query(tx, slugStatement(w.requiredTemplateId));
          const dry: TemplateDependencyRow = {
            id,
            templateId: w.templateId,
            requiredTemplateId: w.requiredTemplateId,
            type: w.type,
            pinnedVersion: w.pinnedVersion,
            alias: w.alias,
            effectiveAlias: w.alias ?? String(slug[0]?.name ?? ""),
            createdBy: w.createdBy,
            createdAt: new Date(),
          };
          return { result: dry, resourceId: null };
        }
        try {
          await query(
            tx,
            sql`insert into template_dependencies (id, template_id, depends_on_template_id, type, pinned_version, alias,
                 created_by)
               values (${id}, ${w.templateId}, ${w.requiredTemplateId}, ${w.type}, ${w.pinnedVersion}, ${w.alias},
                 ${w.createdBy})`,
          );
        } catch (err) {
          if (isUniqueViolation(err, "template_dependencies_uniq")) throw new DependencyExistsError();
          if (isUniqueViolation(err, "template_dependencies_alias_uniq"))
            throw new DependencyAliasTakenError(w.alias ?? "");
          throw err;
        }
        const rows = await query(tx, byIdStatement(id));
        return { result: rowFromDb(rows[0] as Record<string, unknown>), resourceId: id };
      },
    });
  }

  async get(templateId: string, id: string): Promise<TemplateDependencyRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)} from ${sql.raw(FROM)} where d.template_id = ${templateId}::uuid and d.id = ${id}::uuid`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /** Deletes; false when absent. */
  async delete(templateId: string, id: string): Promise<boolean> {
    const rows = await query(
      this.em,
      sql<Row>`delete from template_dependencies where template_id = ${templateId}::uuid and id = ${id}::uuid returning id`,
    );
    return rows.length > 0;
  }

  /** Dependencies of a template (or, with `reverse`, its dependants), oldest first, keyset paged. */
  async list(q: {
    templateId: string;
    reverse: boolean;
    type: TemplateDependencyKind | null;
    pageSize: number;
    pageToken: string | null;
    /** Over alias `x` (templates): with `reverse`, only dependants matching it. */
    readable?: RawBuilder<unknown> | undefined;
  }): Promise<{ items: TemplateDependencyRow[]; nextPageToken: string | null }> {
    const where = [
      q.reverse
        ? sql`d.depends_on_template_id = ${q.templateId}::uuid`
        : sql`d.template_id = ${q.templateId}::uuid`,
    ];
    if (q.reverse && q.readable) {
      where.push(sql`d.template_id in (select x.id from templates x where ${q.readable})`);
    }
    if (q.type !== null) where.push(sql`d.type = ${q.type}::text`);
    const b = bindingDigest(`deps|${q.templateId}|${q.reverse}|${q.type}`);
    if (q.pageToken) {
      const c = decodeKeysetToken(q.pageToken, "d1", b, tokenField.text(100));
      where.push(sql`(d.created_at, d.id) > (${c.key}::timestamptz, ${c.id}::uuid)`);
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)}, d.created_at::text as page_key from ${sql.raw(FROM)} where ${allOf(where)}
       order by d.created_at, d.id limit ${q.pageSize + 1}::int`,
    );
    return keysetPage(rows, q.pageSize, rowFromDb, { tag: "d1", binding: b });
  }
}
