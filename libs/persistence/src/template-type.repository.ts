/** Template types with their JSON Schema and validation rules (SQL statements, plain rows out). */
import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { conditionsSql, type ListColumn } from "./filter-sql.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeOffsetToken, encodeOffsetToken } from "./page-token.js";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";

export interface TemplateTypeRow {
  id: string;
  name: string;
  displayName: string;
  description: string | null;
  jsonSchema: Record<string, unknown>;
  validationRules: Record<string, unknown>;
  isActive: boolean;
  templateCount: number;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export class TemplateTypeNotFoundError extends Error {
  constructor(readonly typeName: string) {
    super(`template type ${typeName} not found`);
    this.name = "TemplateTypeNotFoundError";
  }
}
export class TemplateTypeTakenError extends Error {
  constructor(readonly typeName: string) {
    super(`template type ${typeName} exists`);
    this.name = "TemplateTypeTakenError";
  }
}
export class TemplateTypeVersionConflictError extends Error {
  constructor(readonly typeName: string) {
    super(`template type ${typeName} was modified concurrently`);
    this.name = "TemplateTypeVersionConflictError";
  }
}
export class TemplateTypeInUseError extends Error {
  constructor(readonly templates: number) {
    super("template type in use");
    this.name = "TemplateTypeInUseError";
  }
}

const SELECT_LIST = `x.id, x.name, x.display_name, x.description, x.json_schema, x.validation_rules, x.is_active,
  x.created_at, x.updated_at, x.version,
  (select count(*)::int from templates t where t.type_id = x.id and t.deleted_at is null) as template_count`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const json = <T>(v: unknown, fallback: T): T =>
  v === null || v === undefined ? fallback : typeof v === "string" ? (JSON.parse(v) as T) : (v as T);

function rowFromDb(r: Record<string, unknown>): TemplateTypeRow {
  return {
    id: String(r.id),
    name: String(r.name),
    displayName: String(r.display_name),
    description: (r.description as string | null) ?? null,
    jsonSchema: json(r.json_schema, {}),
    validationRules: json(r.validation_rules, {}),
    isActive: Boolean(r.is_active),
    templateCount: Number(r.template_count ?? 0),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    version: Number(r.version),
  };
}

export interface TemplateTypeWrite {
  displayName: string;
  description: string | null;
  jsonSchema: Record<string, unknown>;
  validationRules: Record<string, unknown>;
  isActive: boolean;
}

export interface TypeCondition {
  field: "active" | "builtin" | "display_name";
  op: "=" | "!=";
  value: string | boolean;
}

/** ListTemplateTypes filter fields (but `builtin`) over alias `x` (template_types). */
const TYPE_FILTER_COLUMNS: Readonly<Record<string, ListColumn>> = {
  active: { expr: "x.is_active", cast: "boolean" },
  display_name: { expr: "x.display_name", cast: "text" },
};

export class TemplateTypeRepository {
  constructor(readonly em: EntityManager) {}

  transactional<T>(fn: (repo: TemplateTypeRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplateTypeRepository(tx)));
  }

  async getByName(name: string, forUpdate = false): Promise<TemplateTypeRow | null> {
    if (forUpdate) {
      await query(this.em, sql`select id from template_types where name = ${name}::text for update`);
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT_LIST)} from template_types x where x.name = ${name}::text`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  async insert(name: string, w: TemplateTypeWrite): Promise<void> {
    try {
      await query(
        this.em,
        sql`insert into template_types (id, name, display_name, description, json_schema, validation_rules, is_active)
         values (${newId()}, ${name}, ${w.displayName}, ${w.description}, ${JSON.stringify(w.jsonSchema)}::jsonb,
           ${JSON.stringify(w.validationRules)}::jsonb, ${w.isActive})`,
      );
    } catch (err) {
      if (isUniqueViolation(err, "template_types_name_uniq")) throw new TemplateTypeTakenError(name);
      throw err;
    }
  }

  async update(name: string, expectedVersion: number, w: TemplateTypeWrite): Promise<void> {
    const rows = await query(
      this.em,
      sql<Row>`update template_types set display_name = ${w.displayName}, description = ${w.description},
         json_schema = ${JSON.stringify(w.jsonSchema)}::jsonb, validation_rules = ${JSON.stringify(w.validationRules)}::jsonb,
         is_active = ${w.isActive}, version = version + 1, updated_at = now()
       where name = ${name}::text and version = ${expectedVersion}::int returning id`,
    );
    if (rows.length === 0) throw new TemplateTypeVersionConflictError(name);
  }

  /** Deletes a type with no templates at all (soft-deleted ones still reference it). */
  async delete(name: string, expectedVersion: number): Promise<void> {
    const counts = await query(
      this.em,
      sql<Row>`select count(*)::int as n from templates t join template_types ty on ty.id = t.type_id
       where ty.name = ${name}::text`,
    );
    const n = Number(counts[0]?.n ?? 0);
    if (n > 0) throw new TemplateTypeInUseError(n);
    const rows = await query(
      this.em,
      sql<Row>`delete from template_types where name = ${name}::text and version = ${expectedVersion}::int returning id`,
    );
    if (rows.length === 0) throw new TemplateTypeVersionConflictError(name);
  }

  /** Live templates of a type (slug-less: id, parameters) for re-validation after a schema change. */
  async templatesOfType(typeId: string): Promise<{ id: string; parameters: Record<string, unknown> }[]> {
    const rows = await query(
      this.em,
      sql<Row>`select id, parameters from templates where type_id = ${typeId}::uuid and deleted_at is null order by id`,
    );
    return rows.map((r) => ({ id: String(r.id), parameters: json(r.parameters, {}) }));
  }

  async list(q: {
    pageSize: number;
    pageToken: string | null;
    conditions: TypeCondition[];
    builtinNames: readonly string[];
    order: { field: "display_name" | "create_time"; desc: boolean };
  }): Promise<{ items: TemplateTypeRow[]; nextPageToken: string | null }> {
    const where: RawBuilder<unknown>[] = [];
    for (const c of q.conditions) {
      const neg = c.op === "!=";
      if (c.field === "builtin") {
        const builtin = sql`(x.name = any(${q.builtinNames}::text[]))`;
        where.push(neg !== (c.value === true) ? builtin : sql`not ${builtin}`);
      } else {
        where.push(...conditionsSql([c], TYPE_FILTER_COLUMNS));
      }
    }
    const binding = bindingDigest(JSON.stringify([q.conditions, q.order]));
    let offset = 0;
    if (q.pageToken) offset = decodeOffsetToken(q.pageToken, "y1", binding);
    const dir = q.order.desc ? "desc" : "asc";
    const order = q.order.field === "display_name" ? `x.display_name ${dir}` : `x.created_at ${dir}`;
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT_LIST)} from template_types x where ${allOf(where)}
       order by ${sql.raw(order)}, x.name limit ${q.pageSize + 1}::int offset ${offset}::int`,
    );
    return {
      items: rows.slice(0, q.pageSize).map(rowFromDb),
      nextPageToken: rows.length > q.pageSize ? encodeOffsetToken("y1", binding, offset + q.pageSize) : null,
    };
  }
}
