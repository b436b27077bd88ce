import { Migration } from "@mikro-orm/migrations";

/**
 * `data_retention_purge(...)`: retention for the tables that grew forever (outbox events, idempotency keys,
 * security events, template usage logs, soft-deleted tasks). One call per retention run of the monitoring
 * service's audit scheduler, as a `taskmaster_retention` login (SECURITY DEFINER, owner's rights, pinned
 * search_path). Each kind with days > 0 returns its removed row count; 0 keeps that kind forever. Deleted
 * tasks go through the audit triggers like any delete, so their purge leaves audit rows. Serialised by an
 * advisory lock (replicas may run it at once).
 */
export class Migration20261206200000_data_retention extends Migration {
  async up() {
    this.addSql(`create function "data_retention_purge"(
  outbox_days integer, idempotency_days integer, security_event_days integer, usage_log_days integer,
  deleted_task_days integer)
returns table (kind text, rows_removed bigint)
language plpgsql security definer as $$
declare
  n bigint;
begin
  perform pg_advisory_xact_lock(hashtext('taskmaster_data_retention'));
  if outbox_days > 0 then
    with gone as (delete from outbox_events where created_at < now() - make_interval(days => outbox_days) returning 1)
    select count(*) into n from gone;
    kind := 'outbox_events'; rows_removed := n; return next;
  end if;
  if idempotency_days > 0 then
    with gone as (delete from idempotency_keys
                   where created_at < now() - make_interval(days => idempotency_days)
                     and (expires_at is null or expires_at < now()) returning 1)
    select count(*) into n from gone;
    kind := 'idempotency_keys'; rows_removed := n; return next;
  end if;
  if security_event_days > 0 then
    with gone as (delete from security_events where occurred_at < now() - make_interval(days => security_event_days) returning 1)
    select count(*) into n from gone;
    kind := 'security_events'; rows_removed := n; return next;
  end if;
  if usage_log_days > 0 then
    with gone as (delete from template_usage_logs where used_at < now() - make_interval(days => usage_log_days) returning 1)
    select count(*) into n from gone;
    kind := 'template_usage_logs'; rows_removed := n; return next;
  end if;
  if deleted_task_days > 0 then
    with gone as (delete from tasks where deleted_at is not null
                    and deleted_at < now() - make_interval(days => deleted_task_days) returning 1)
    select count(*) into n from gone;
    kind := 'deleted_tasks'; rows_removed := n; return next;
  end if;
end $$;`);
    this.addSql(`do $$ begin
  execute format('alter function data_retention_purge(integer, integer, integer, integer, integer) set search_path = %I, pg_temp', current_schema());
end $$;`);
    this.addSql(
      `revoke all on function data_retention_purge(integer, integer, integer, integer, integer) from public;`,
    );
    this.addSql(
      `grant execute on function data_retention_purge(integer, integer, integer, integer, integer) to taskmaster_retention;`,
    );
  }

  async down() {
    this.addSql(`drop function if exists data_retention_purge(integer, integer, integer, integer, integer);`);
  }
}
