/**
 * Closed value sets of the schema (UPSTREAM_SCHEMA_NOTES.md "Value sets" plus our own additions).
 * The database enforces each with a CHECK constraint built from these arrays, so the TypeScript unions
 * and the SQL can never drift apart.
 */

export const TASK_STATUSES = [
  "draft",
  "pending",
  "ready",
  "in_progress",
  "blocked",
  "review",
  "testing",
  "completed",
  "failed",
  "cancelled",
  "archived",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TASK_PRIORITIES = ["critical", "high", "medium", "low", "backlog"] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

export const TASK_COMPLEXITIES = ["trivial", "simple", "moderate", "complex", "expert"] as const;
export type TaskComplexity = (typeof TASK_COMPLEXITIES)[number];

export const TASK_TYPES = [
  "feature",
  "bug",
  "enhancement",
  "task",
  "story",
  "epic",
  "spike",
  "refactor",
  "documentation",
  "test",
  "deployment",
  "security",
  "performance",
  "maintenance",
] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const RELATIONSHIP_TYPES = [
  "blocks",
  "blocked_by",
  "depends_on",
  "dependency_of",
  "relates_to",
  "duplicates",
  "duplicated_by",
  "parent_of",
  "child_of",
  "follows",
  "precedes",
  "conflicts_with",
] as const;
export type RelationshipType = (typeof RELATIONSHIP_TYPES)[number];

export const COMMENT_TYPES = [
  "general",
  "technical",
  "review",
  "question",
  "decision",
  "blocker",
  "solution",
  "update",
  "approval",
] as const;
export type CommentType = (typeof COMMENT_TYPES)[number];

/**
 * Suggested time-log activity types. `activity_type` is free text (1-50 characters, as in the contract and
 * the upstream seed, e.g. "Initial research and planning"); these are the usual values clients offer.
 */
export const TIME_LOG_ACTIVITY_SUGGESTIONS = [
  "development",
  "testing",
  "review",
  "documentation",
  "design",
  "research",
  "meeting",
  "deployment",
  "support",
  "other",
] as const;
/** Free text, 1-50 characters (see TIME_LOG_ACTIVITY_SUGGESTIONS for the usual values). */
export type TimeLogActivityType = string;

export const SPRINT_STATUSES = ["planned", "active", "closed", "cancelled"] as const;
export type SprintStatus = (typeof SPRINT_STATUSES)[number];

export const RELEASE_STATUSES = ["planned", "in_progress", "released", "cancelled"] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

export const MILESTONE_STATUSES = ["open", "reached", "missed", "cancelled"] as const;
export type MilestoneStatus = (typeof MILESTONE_STATUSES)[number];

export const TEMPLATE_TYPE_NAMES = [
  "prompt_instruction",
  "task_template",
  "workflow_template",
  "validation_template",
  "deployment_script",
  "configuration_template",
  "code_snippet",
  "documentation_template",
  "test_template",
] as const;
export type TemplateTypeName = (typeof TEMPLATE_TYPE_NAMES)[number];

export const TEMPLATE_CHANGE_TYPES = ["major", "minor", "patch", "hotfix"] as const;
export type TemplateChangeType = (typeof TEMPLATE_CHANGE_TYPES)[number];

export const TEMPLATE_DEPENDENCY_TYPES = ["includes", "extends", "requires", "suggests"] as const;
export type TemplateDependencyType = (typeof TEMPLATE_DEPENDENCY_TYPES)[number];

export const TEMPLATE_PERMISSIONS = ["read", "write", "execute", "admin", "approve"] as const;
export type TemplatePermissionName = (typeof TEMPLATE_PERMISSIONS)[number];

export const TEMPLATE_REVIEW_TYPES = ["approval", "quality", "security", "performance"] as const;
export type TemplateReviewType = (typeof TEMPLATE_REVIEW_TYPES)[number];

export const TEMPLATE_REVIEW_STATUSES = ["pending", "approved", "rejected", "needs_changes"] as const;
export type TemplateReviewStatus = (typeof TEMPLATE_REVIEW_STATUSES)[number];

export const AUDIT_ACTIONS = ["create", "update", "delete", "status_change", "restore", "purge"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const SECURITY_EVENT_KINDS = [
  "authentication_failed",
  "permission_denied",
  "rate_limited",
  "suspicious_input",
] as const;
export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

/** Semantic version x.y.z without leading zeros (POSIX regex, used in CHECK constraints too). */
export const SEMVER_PATTERN = "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$";
export const SEMVER_REGEX = new RegExp(SEMVER_PATTERN);
