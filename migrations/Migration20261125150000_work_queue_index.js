import { Migration } from "@mikro-orm/migrations";

/**
 * ClaimNextTask/NextTask order candidates by priority rank, business value and age, then take the first
 * free one with FOR UPDATE SKIP LOCKED. Without an index in that order PostgreSQL sorts every open task on
 * each claim; with it the claim walks the index and stops at the first candidate.
 * The expression must match ORDER in libs/persistence/src/work-queue.repository.ts exactly.
 * Also: the board query "status = X AND priority = Y, newest first" reads its page straight from
 * (status, priority, created_at desc, id desc) instead of walking the whole created_at index.
 */
export class Migration20261125150000_work_queue_index extends Migration {
  name = "Migration20261125150000_work_queue_index";

  async up() {
    this.addSql(`create index "tasks_work_queue_idx" on "tasks" (
      (case "priority" when 'critical' then 0 when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end),
      "business_value" desc nulls last, "created_at", "id")
      where "deleted_at" is null;`);
    this.addSql(`create index "tasks_status_priority_created_idx" on "tasks" ("status", "priority", "created_at" desc, "id" desc)
      where "deleted_at" is null;`);
  }

  async down() {
    this.addSql(`drop index if exists "tasks_status_priority_created_idx";`);
    this.addSql(`drop index if exists "tasks_work_queue_idx";`);
  }
}
