/**
 * Task columns and row mapping: the column list (declared once), the select lists over the `tasks t` alias
 * with the derived fields, and the raw-row -> {@link TaskRow} mapper.
 */
import type { DerivedKeys, TaskRow } from "./task-model.js";

/**
 * How a column is stored when it is not plain text/uuid/int: `num` numeric (read as a JS number), `date`
 * timestamptz, `jsonArray` / `jsonObject` jsonb created as `[]` / `{}` when absent, `textArray` text[]
 * created as `{}` when absent.
 */
type ColumnKind = "num" | "date" | "jsonArray" | "jsonObject" | "textArray";

/**
 * THE task columns (row key, column, kind), declared once for the repositories: select lists, the create
 * statement, UpdateTask's SET list and the row mapper derive from it. The MikroORM entity
 * (entities/task.entity.ts) declares the same table for the schema snapshot the migrations are generated
 * from; the table's own defaults live there (and in the migrations).
 */
export const TASK_COLUMNS: readonly (readonly [Exclude<keyof TaskRow, DerivedKeys>, string, ColumnKind?])[] =
  [
    ["id", "id"],
    ["title", "title"],
    ["description", "description"],
    ["summary", "summary"],
    ["type", "type"],
    ["category", "category"],
    ["priority", "priority"],
    ["status", "status"],
    ["complexity", "complexity"],
    ["parentId", "parent_id"],
    ["epicId", "epic_id"],
    ["storyPoints", "story_points"],
    ["businessValue", "business_value"],
    ["technicalDebtScore", "technical_debt_score"],
    ["riskLevel", "risk_level"],
    ["requirements", "requirements", "jsonArray"],
    ["acceptanceCriteria", "acceptance_criteria", "jsonArray"],
    ["definitionOfDone", "definition_of_done", "jsonArray"],
    ["testCriteria", "test_criteria", "jsonArray"],
    ["affectedFiles", "affected_files", "jsonArray"],
    ["affectedComponents", "affected_components", "jsonArray"],
    ["technicalNotes", "technical_notes"],
    ["architectureNotes", "architecture_notes"],
    ["assignedTo", "assigned_to"],
    ["reporter", "reporter"],
    ["productOwner", "product_owner"],
    ["techLead", "tech_lead"],
    ["reviewer", "reviewer"],
    ["estimatedHours", "estimated_hours", "num"],
    ["actualHours", "actual_hours", "num"],
    ["remainingHours", "remaining_hours", "num"],
    ["createdAt", "created_at", "date"],
    ["updatedAt", "updated_at", "date"],
    ["startedAt", "started_at", "date"],
    ["completedAt", "completed_at", "date"],
    ["dueDate", "due_date", "date"],
    ["sprintId", "sprint_id"],
    ["releaseId", "release_id"],
    ["milestoneId", "milestone_id"],
    ["labels", "labels", "textArray"],
    ["tags", "tags", "textArray"],
    ["externalId", "external_id"],
    ["githubIssueUrl", "github_issue_url"],
    ["githubPrUrl", "github_pr_url"],
    ["linearIssueId", "linear_issue_id"],
    ["jiraKey", "jira_key"],
    ["codeQualityScore", "code_quality_score", "num"],
    ["testCoverageTarget", "test_coverage_target", "num"],
    ["performanceRequirements", "performance_requirements", "jsonObject"],
    ["securityRequirements", "security_requirements", "jsonObject"],
    ["automationLevel", "automation_level"],
    ["ciCdPipeline", "ci_cd_pipeline"],
    ["deploymentStrategy", "deployment_strategy"],
    ["metadata", "metadata", "jsonObject"],
    ["customFields", "custom_fields", "jsonObject"],
    ["claimedBy", "claimed_by"],
    ["claimedAt", "claimed_at", "date"],
    ["leaseExpiresAt", "lease_expires_at", "date"],
    ["deletedAt", "deleted_at", "date"],
    ["version", "version"],
  ];

/** Every stored task column except the generated search vector (for RETURNING of inserts). */
export const TASK_COLUMN_LIST = TASK_COLUMNS.map(([, c]) => c).join(", ");

/**
 * The claim id is derived (md5 of task id, claimant and claim time as a UUID): no extra column needed, and a
 * new claim of the same task always has a different id.
 */
export const CLAIM_ID_SQL = `md5(t.id::text || '|' || coalesce(t.claimed_by, '') || '|' || coalesce(extract(epoch from t.claimed_at)::text, ''))::uuid::text`;

/**
 * Output-only fields computed in the same statement as the row (no extra round trip per task): live direct
 * children (index on parent_id), the statuses of live blockers (both relationship directions, indexed) and the
 * active claim's id. Which blocker statuses count as open is the service's status table, applied by the mapper.
 */
const DERIVED_SELECT = `(select count(*) from tasks ch where ch.parent_id = t.id and ch.deleted_at is null)::int as derived_child_count,
  array(select b.status::text from tasks b where b.deleted_at is null and b.id in (
      select r.source_task_id from task_relationships r where r.target_task_id = t.id and r.type in ('blocks', 'dependency_of')
      union select r.target_task_id from task_relationships r where r.source_task_id = t.id and r.type in ('blocked_by', 'depends_on'))
    ) as derived_blocker_statuses,
  case when t.claimed_by is not null and t.lease_expires_at > clock_timestamp() then ${CLAIM_ID_SQL} end as derived_claim_id`;

/** `select` list over the `tasks t` alias: every stored column (not the search vector) and the derived fields. */
export const TASK_SELECT_LIST = `${TASK_COLUMNS.map(([, c]) => `t.${c}`).join(", ")}, ${DERIVED_SELECT}`;

const keysOf = (...kinds: ColumnKind[]): ReadonlySet<keyof TaskRow> =>
  new Set(
    TASK_COLUMNS.filter(([, , kind]) => kind !== undefined && kinds.includes(kind)).map(([key]) => key),
  );

/** jsonb columns (bound as JSON text). */
export const JSONB_KEYS = keysOf("jsonArray", "jsonObject");
/** jsonb columns holding an object (`{}` when empty). */
export const OBJECT_JSON_KEYS = keysOf("jsonObject");
/** text[] columns. */
export const TEXT_ARRAY_KEYS = keysOf("textArray");
/**
 * The value (as JSON) a create writes to a jsonb column (`[]` or `{}`) or a text[] column (`[]`, the empty
 * array) when the input leaves it absent or null.
 */
export function emptyValueOf(key: keyof TaskRow): Record<string, never> | never[] {
  return OBJECT_JSON_KEYS.has(key) ? {} : [];
}

/** Maps a raw `tasks` row (snake_case columns, as `pg` returns them) to a {@link TaskRow}. */
export function taskRowFromDb(raw: Record<string, unknown>): TaskRow {
  const out: Record<string, unknown> = {};
  for (const [key, column, kind] of TASK_COLUMNS) {
    const v = raw[column];
    if (v === null || v === undefined) out[key] = null;
    else if (kind === "num") out[key] = Number(v);
    else if (kind === "date") out[key] = v instanceof Date ? v : new Date(String(v));
    else out[key] = v;
  }
  out.childCount = Number(raw.derived_child_count ?? 0);
  out.blockerStatuses = Array.isArray(raw.derived_blocker_statuses)
    ? raw.derived_blocker_statuses.map(String)
    : [];
  out.claimId = typeof raw.derived_claim_id === "string" ? raw.derived_claim_id : null;
  return out as unknown as TaskRow;
}
