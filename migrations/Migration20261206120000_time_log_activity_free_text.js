import { Migration } from "@mikro-orm/migrations";

/**
 * `task_time_logs.activity_type` becomes free text, as the contract (`TimeLog.activity_type`) and the upstream
 * seed ("Initial research and planning") always said: 1-50 characters, not blank. The ten former values
 * (development, testing, review, documentation, design, research, meeting, deployment, support, other) stay
 * as documented suggestions. Down restores the closed set; it fails while rows hold other values, on purpose.
 */
export class Migration20261206120000_time_log_activity_free_text extends Migration {
  name = "Migration20261206120000_time_log_activity_free_text";

  async up() {
    this.addSql(
      `alter table "task_time_logs" drop constraint if exists "task_time_logs_activity_type_check";`,
    );
    this.addSql(`alter table "task_time_logs" alter column "activity_type" type varchar(50);`);
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_activity_type_check" check (char_length(btrim(activity_type)) >= 1);`,
    );
  }

  async down() {
    this.addSql(
      `alter table "task_time_logs" drop constraint if exists "task_time_logs_activity_type_check";`,
    );
    this.addSql(`alter table "task_time_logs" alter column "activity_type" type varchar(32);`);
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_activity_type_check" check (activity_type in ('development', 'testing', 'review', 'documentation', 'design', 'research', 'meeting', 'deployment', 'support', 'other'));`,
    );
  }
}
