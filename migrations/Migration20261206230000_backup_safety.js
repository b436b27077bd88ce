import { Migration } from "@mikro-orm/migrations";

/**
 * Data safety bookkeeping (issue 14):
 * - `attachment_deletions`: when the last row of an attachment's content was deleted (a trigger on every
 *   delete of `task_attachments`, cascades included). The file stays in the store until backup pruning finds
 *   that no retained backup or point-in-time window reaches back before that deletion, then goes with it.
 * - `backup_restore_tests`: every restore test (verification of a backup by a restore into a scratch
 *   instance, scheduled or on demand) with its outcome; the monitoring service alerts on the newest failure
 *   (`restore_test_failed`) and on the newest verified backup growing too old (`backup_stale`).
 * - the two alert conditions and a default rule for each (fixed ids, `on conflict do nothing`).
 */
const CONDITIONS_BEFORE = ["slow_query", "pool_saturation", "error_rate", "database_down", "component_down"];
const CONDITIONS = [...CONDITIONS_BEFORE, "backup_stale", "restore_test_failed"];

const DEFAULT_RULES = [
  {
    id: "a1e7d0f0-0000-4000-8000-000000000005",
    displayName: "Backup too old",
    description:
      "The newest backup verified by a restore is older than the threshold (hours; daily schedule).",
    condition: "backup_stale",
    threshold: 26,
    intervalMs: 300_000,
    forMs: 0,
    severity: "critical",
  },
  {
    id: "a1e7d0f0-0000-4000-8000-000000000006",
    displayName: "Restore test failed",
    description: "The newest restore test of a backup failed (see backup_restore_tests and the backup logs).",
    condition: "restore_test_failed",
    threshold: 0,
    intervalMs: 300_000,
    forMs: 0,
    severity: "critical",
  },
];

const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;
const list = (values) => values.map(quote).join(", ");

export class Migration20261206230000_backup_safety extends Migration {
  async up() {
    this.addSql(
      `create table "attachment_deletions" ("storage_key" varchar(64) not null, "deleted_at" timestamptz not null default now(), primary key ("storage_key"));`,
    );
    this.addSql(`create function "attachment_deletion_record"() returns trigger language plpgsql as $$
begin
  insert into attachment_deletions (storage_key, deleted_at) values (old.storage_key, now())
  on conflict (storage_key) do update set deleted_at = greatest(attachment_deletions.deleted_at, excluded.deleted_at);
  return null;
end $$;`);
    this.addSql(
      `create trigger "task_attachments_deletion_record" after delete on "task_attachments" for each row execute function "attachment_deletion_record"();`,
    );
    this.addSql(`create table "backup_restore_tests" (
  "id" uuid not null default gen_random_uuid(), "backup_id" varchar(64) not null,
  "backup_kind" varchar(16) not null, "backup_finished_at" timestamptz not null,
  "tested_at" timestamptz not null default now(), "ok" boolean not null, "problems" text not null default '',
  primary key ("id"),
  constraint "backup_restore_tests_kind_check" check ("backup_kind" in ('base', 'logical')));`);
    this.addSql(
      `create index "backup_restore_tests_tested_at_idx" on "backup_restore_tests" ("tested_at" desc);`,
    );
    for (const table of ["alert_rules", "alerts"]) {
      this.addSql(`alter table "${table}" drop constraint "${table}_condition_check";`);
      this.addSql(
        `alter table "${table}" add constraint "${table}_condition_check" check ("condition" in (${list(CONDITIONS)}));`,
      );
    }
    const rows = DEFAULT_RULES.map(
      (r) =>
        `(${quote(r.id)}, ${quote(r.displayName)}, ${quote(r.description)}, ${quote(r.condition)}, ${r.threshold}, '', ${r.intervalMs}, ${r.forMs}, ${quote(r.severity)}, true)`,
    );
    this.addSql(`alter table "alert_rules" disable trigger "alert_rules_audit";`);
    this.addSql(
      `insert into "alert_rules" ("id", "display_name", "description", "condition", "threshold", "service", "evaluation_interval_ms", "for_duration_ms", "severity", "enabled") values ${rows.join(", ")} on conflict ("id") do nothing;`,
    );
    this.addSql(`alter table "alert_rules" enable trigger "alert_rules_audit";`);
  }

  async down() {
    this.addSql(`delete from "alerts" where "condition" in ('backup_stale', 'restore_test_failed');`);
    this.addSql(`alter table "alert_rules" disable trigger "alert_rules_audit";`);
    this.addSql(`delete from "alert_rules" where "condition" in ('backup_stale', 'restore_test_failed');`);
    this.addSql(`alter table "alert_rules" enable trigger "alert_rules_audit";`);
    for (const table of ["alert_rules", "alerts"]) {
      this.addSql(`alter table "${table}" drop constraint "${table}_condition_check";`);
      this.addSql(
        `alter table "${table}" add constraint "${table}_condition_check" check ("condition" in (${list(CONDITIONS_BEFORE)}));`,
      );
    }
    this.addSql(`drop table if exists "backup_restore_tests";`);
    this.addSql(`drop trigger if exists "task_attachments_deletion_record" on "task_attachments";`);
    this.addSql(`drop function if exists "attachment_deletion_record"();`);
    this.addSql(`drop table if exists "attachment_deletions";`);
  }
}
