import { Migration } from "@mikro-orm/migrations";

/**
 * `outbox_pruned`: one row holding the highest outbox event id ever deleted (retention or by hand), kept by
 * statement-level triggers on `outbox_events` (a delete records its highest id, a truncate every id handed
 * out). WatchTasks refuses a resume token below it and accepts every other one: ids are taken from the
 * sequence before their insert commits and rolled-back ids leave gaps, so neither the oldest kept id nor the
 * sequence can tell what was pruned.
 * Existing data: everything below the oldest kept event counts as pruned (the rule before this migration),
 * and an empty outbox counts as pruned through the last id handed out.
 * The services (`taskmaster_app`) only read it; the triggers write it with the owner's rights.
 */
export class Migration20261206233000_outbox_pruned extends Migration {
  async up() {
    this.addSql(`create table "outbox_pruned" (
  "singleton" boolean not null default true, "through_id" bigint not null default 0,
  primary key ("singleton"), constraint "outbox_pruned_singleton_check" check ("singleton"));`);
    this.addSql(`insert into "outbox_pruned" ("singleton", "through_id") values (true, coalesce(
  (select min(id) - 1 from outbox_events),
  pg_sequence_last_value(pg_get_serial_sequence('outbox_events', 'id')::regclass), 0));`);
    this.addSql(`create function "outbox_pruned_record"() returns trigger language plpgsql security definer as $$
begin
  update outbox_pruned set through_id = m.id
    from (select max(id) as id from gone) m
   where m.id > outbox_pruned.through_id;
  return null;
end $$;`);
    // TRUNCATE names no rows: everything handed out so far counts as pruned.
    this.addSql(`create function "outbox_truncated_record"() returns trigger language plpgsql security definer as $$
begin
  update outbox_pruned set through_id = m.id
    from (select pg_sequence_last_value(pg_get_serial_sequence('outbox_events', 'id')::regclass) as id) m
   where m.id > outbox_pruned.through_id;
  return null;
end $$;`);
    for (const fn of ["outbox_pruned_record", "outbox_truncated_record"]) {
      this.addSql(`do $$ begin
  execute format('alter function ${fn}() set search_path = %I, pg_temp', current_schema());
end $$;`);
      this.addSql(`revoke all on function ${fn}() from public;`);
    }
    this.addSql(
      `create trigger "outbox_events_pruned" after delete on "outbox_events" referencing old table as gone for each statement execute function "outbox_pruned_record"();`,
    );
    this.addSql(
      `create trigger "outbox_events_truncated" after truncate on "outbox_events" for each statement execute function "outbox_truncated_record"();`,
    );
    this.addSql(`do $$ begin
  if exists (select 1 from pg_roles where rolname = 'taskmaster_app') then
    revoke all on outbox_pruned from taskmaster_app;
    grant select on outbox_pruned to taskmaster_app;
  end if;
  if exists (select 1 from pg_roles where rolname = 'taskmaster_readonly') then
    grant select on outbox_pruned to taskmaster_readonly;
  end if;
  if exists (select 1 from pg_roles where rolname = 'taskmaster_owner') then
    grant all on outbox_pruned to taskmaster_owner;
  end if;
end $$;`);
  }

  async down() {
    this.addSql(`drop trigger if exists "outbox_events_truncated" on "outbox_events";`);
    this.addSql(`drop trigger if exists "outbox_events_pruned" on "outbox_events";`);
    this.addSql(`drop function if exists "outbox_truncated_record"();`);
    this.addSql(`drop function if exists "outbox_pruned_record"();`);
    this.addSql(`drop table if exists "outbox_pruned";`);
  }
}
