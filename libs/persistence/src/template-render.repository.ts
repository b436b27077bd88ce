/**
 * Everything the database decides about one render, read in ONE round trip (one statement, one snapshot):
 * the template row, the version to render (pin, else the approved version when approval is required, else
 * the current one) with its content and variables, whether that version is usable (approved when required),
 * the type's JSON Schema, the unmet REQUIRES dependencies and the INCLUDES/EXTENDS partials (transitively,
 * nearest alias first) each with its resolved version, content and approval state. Also the ids of every
 * template the answer depends on, so a cache of it can be dropped when any of them changes.
 */
import type { EntityManager } from "@mikro-orm/core";
import { type Row, sql } from "./sql-toolkit.js";
import { hotRead } from "./template-hot-read.repository.js";
import {
  TEMPLATE_FROM,
  TEMPLATE_SELECT_LIST_NO_USAGE,
  type TemplateRow,
  templateRowFromDb,
} from "./template-row.mapper.js";

export interface RenderPlanPartial {
  alias: string;
  templateId: string;
  /** Null when the partial's template is deleted or requires approval and has no approved version. */
  version: string | null;
  /** Null when that version does not exist. */
  content: string | null;
  /** False when the partial's template requires approval and `version` is not approved. */
  usable: boolean;
}

export interface RenderPlanRow {
  template: TemplateRow;
  /** The version to render; null when approval is required and nothing is approved (and no pin). */
  version: string | null;
  /** The version row (null when it does not exist). */
  versionRow: { content: string; variables: Record<string, unknown>[] } | null;
  /** Not requiring approval, or `version` approved. */
  usable: boolean;
  /** The type's JSON Schema (null when the type row has none). */
  typeSchema: Record<string, unknown> | null;
  /** Ids of REQUIRES targets that are deleted or inactive. */
  unmetRequirements: string[];
  /** At most 100 partials, ordered by alias. */
  partials: RenderPlanPartial[];
  /** Every template id whose rows decide this plan (the template, partial chains, REQUIRES targets). */
  dependsOn: string[];
}

const json = <T>(v: unknown, fallback: T): T =>
  v === null || v === undefined ? fallback : typeof v === "string" ? (JSON.parse(v) as T) : (v as T);

/** The render plan statement of `templateId` at `pin` ("" for the default version). */
const planStatement = (templateId: string, pin: string) => sql<Row>`with recursive
  base as (
    select ${sql.raw(TEMPLATE_SELECT_LIST_NO_USAGE)}, ty.json_schema as type_json_schema from ${sql.raw(TEMPLATE_FROM)}
    where x.id = ${templateId}::uuid),
  target as (
    select b.id, case when ${pin}::text <> '' then ${pin}::text when b.requires_approval then b.approved_version
                      else b.current_version end as resolved
    from base b),
  walk(template_id, depth, path) as (
    select b.id, 0, array[b.id] from base b
    union all
    select d.depends_on_template_id, w.depth + 1, w.path || d.depends_on_template_id
    from walk w join template_dependencies d on d.template_id = w.template_id and d.type in ('includes', 'extends')
    where not d.depends_on_template_id = any(w.path) and w.depth < 32),
  edges as (
    select distinct on (coalesce(d.alias, rt.name)) coalesce(d.alias, rt.name) as alias, rt.id as required_id,
      rt.requires_approval,
      case when rt.deleted_at is not null then null
           when d.pinned_version is not null then d.pinned_version
           when rt.requires_approval then (select r.template_version from template_reviews r
             where r.template_id = rt.id and r.status = 'approved' order by r.decided_at desc, r.id desc limit 1)
           else rt.current_version end as resolved
    from walk w join template_dependencies d on d.template_id = w.template_id and d.type in ('includes', 'extends')
      join templates rt on rt.id = d.depends_on_template_id
    order by coalesce(d.alias, rt.name), w.depth, d.created_at),
  parts as (
    select e.alias, e.required_id, e.resolved, v.content,
      (not e.requires_approval or exists (select 1 from template_reviews r where r.template_id = e.required_id
         and r.template_version = e.resolved and r.status = 'approved')) as usable
    from edges e left join template_versions v on v.template_id = e.required_id and v.version = e.resolved
    order by e.alias
    limit 100)
select b.*, tg.resolved, v.content as version_content, v.variables as version_variables, v.id is not null as version_found,
  (not b.requires_approval or exists (select 1 from template_reviews r where r.template_id = b.id
     and r.template_version = tg.resolved and r.status = 'approved')) as usable,
  (select coalesce(array_agg(rt.id::text), '{}') from template_dependencies d join templates rt on rt.id = d.depends_on_template_id
     where d.template_id = b.id and d.type = 'requires' and (rt.deleted_at is not null or not rt.is_active)) as unmet,
  (select coalesce(jsonb_agg(jsonb_build_object('alias', p.alias, 'templateId', p.required_id, 'version', p.resolved,
     'content', p.content, 'usable', p.usable) order by p.alias), '[]'::jsonb) from parts p) as partials,
  (select array_agg(distinct i::text) from (select w.template_id as i from walk w
     union all select d.depends_on_template_id from template_dependencies d where d.template_id = b.id) ids) as depends_on
from base b join target tg on tg.id = b.id
  left join template_versions v on v.template_id = b.id and v.version = tg.resolved`;

export class TemplateRenderRepository {
  constructor(readonly em: EntityManager) {}

  /** The render plan of `templateId` at `pin` ("" for the default version); null when the template is absent. */
  async plan(templateId: string, pin: string): Promise<RenderPlanRow | null> {
    const rows = await hotRead(this.em, "template_render_plan", planStatement(templateId, pin));
    const r = rows[0];
    if (!r) return null;
    const partials = json<Record<string, unknown>[]>(r.partials, []).map((p) => ({
      alias: String(p.alias),
      templateId: String(p.templateId),
      version: (p.version as string | null) ?? null,
      content: (p.content as string | null) ?? null,
      usable: p.usable === true,
    }));
    return {
      template: templateRowFromDb(r),
      version: (r.resolved as string | null) ?? null,
      versionRow: r.version_found
        ? { content: String(r.version_content ?? ""), variables: json(r.version_variables, []) }
        : null,
      usable: Boolean(r.usable),
      typeSchema: r.type_json_schema === null ? null : json(r.type_json_schema, {}),
      unmetRequirements: ((r.unmet as string[] | null) ?? []).map(String),
      partials,
      dependsOn: ((r.depends_on as string[] | null) ?? []).map(String),
    };
  }
}
