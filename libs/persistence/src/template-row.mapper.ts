/**
 * Template and template-version rows: their shapes, the select lists that read them (alias `x`, templates
 * joined with `ty` template_types), the mapping from database rows, and version numbering.
 */

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

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
export const json = <T>(v: unknown, fallback: T): T =>
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

export const VERSION_SELECT_LIST = `x.id, x.template_id, x.version, x.content, x.variables, x.parameters, x.change_type, x.summary,
  x.created_by, x.rollback_of, x.created_at,
  exists (select 1 from template_reviews r where r.template_id = x.template_id and r.template_version = x.version
          and r.status = 'approved') as approved`;

export function versionRowFromDb(r: Record<string, unknown>): TemplateVersionRow {
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
