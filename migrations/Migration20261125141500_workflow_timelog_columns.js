import { Migration } from "@mikro-orm/migrations";

/**
 * Columns the workflow/time-log contract needs that the initial schema lacks:
 * - task_status_history.forced: StatusChange.forced (the transition table or open blockers were overridden);
 * - task_time_logs.sprint_id: TimeLog.sprint, the task's sprint when the entry was written (sums by sprint);
 * plus the lookup indexes for "tasks/-" listings and reports.
 * The entities do not declare these columns yet (raw SQL reads/writes them; entity inserts get the defaults).
 */
export class Migration20261125141500_workflow_timelog_columns extends Migration {
  name = "Migration20261125141500_workflow_timelog_columns";

  async up() {
    this.addSql(`alter table "task_status_history" add column "forced" boolean not null default false;`);
    this.addSql(`alter table "task_time_logs" add column "sprint_id" uuid null;`);
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_sprint_id_foreign" foreign key ("sprint_id") references "sprints" ("id") on update cascade on delete set null;`,
    );
    this.addSql(`create index "task_time_logs_sprint_idx" on "task_time_logs" ("sprint_id", "log_date");`);
    this.addSql(`create index "task_time_logs_created_idx" on "task_time_logs" ("created_at", "id");`);
  }

  async down() {
    this.addSql(`drop index if exists "task_time_logs_created_idx";`);
    this.addSql(`drop index if exists "task_time_logs_sprint_idx";`);
    this.addSql(`alter table "task_time_logs" drop constraint if exists "task_time_logs_sprint_id_foreign";`);
    this.addSql(`alter table "task_time_logs" drop column if exists "sprint_id";`);
    this.addSql(`alter table "task_status_history" drop column if exists "forced";`);
  }
}
