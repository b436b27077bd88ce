import type { EntitySchema } from "@mikro-orm/core";
import { AuditLog } from "./entities/audit-log.entity.js";
import { IdempotencyKey } from "./entities/idempotency-key.entity.js";
import { Milestone } from "./entities/milestone.entity.js";
import { OutboxEvent } from "./entities/outbox-event.entity.js";
import { Release } from "./entities/release.entity.js";
import { SecurityEvent } from "./entities/security-event.entity.js";
import { Sprint } from "./entities/sprint.entity.js";
import { Task } from "./entities/task.entity.js";
import { TaskAttachment } from "./entities/task-attachment.entity.js";
import { TaskComment } from "./entities/task-comment.entity.js";
import { TaskRelationship } from "./entities/task-relationship.entity.js";
import { TaskStatusHistory } from "./entities/task-status-history.entity.js";
import { TaskTimeLog } from "./entities/task-time-log.entity.js";
import { Template } from "./entities/template.entity.js";
import { TemplateCategory } from "./entities/template-category.entity.js";
import { TemplateDependency } from "./entities/template-dependency.entity.js";
import { TemplatePermission } from "./entities/template-permission.entity.js";
import { TemplateReview } from "./entities/template-review.entity.js";
import { TemplateType } from "./entities/template-type.entity.js";
import { TemplateUsageLog } from "./entities/template-usage-log.entity.js";
import { TemplateVersion } from "./entities/template-version.entity.js";

/**
 * Every entity schema of the database, for `MikroORM.init({ entities })`. What the entities are for: they
 * declare the schema (columns, defaults, checks, indexes) that the migrations are generated from
 * (migration-generator.ts), and the seed (seed.ts) writes its sprint,
 * release, milestone, template types and categories through them. Runtime reads and writes go through the
 * repositories' SQL, which declare their own column lists (e.g. task-columns.ts): no unit-of-work path.
 */
export const ALL_ENTITIES: readonly EntitySchema[] = [
  Task,
  Sprint,
  Release,
  Milestone,
  TaskRelationship,
  TaskComment,
  TaskAttachment,
  TaskTimeLog,
  TaskStatusHistory,
  Template,
  TemplateCategory,
  TemplateType,
  TemplateVersion,
  TemplateUsageLog,
  TemplateDependency,
  TemplatePermission,
  TemplateReview,
  AuditLog,
  OutboxEvent,
  IdempotencyKey,
  SecurityEvent,
];
