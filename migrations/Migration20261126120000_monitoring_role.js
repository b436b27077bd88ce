import { Migration } from "@mikro-orm/migrations";

/**
 * Least privilege for the monitoring service (issue 8). Found by running the services' tests as a login in
 * `taskmaster_app`: MonitoringService's database diagnostics read `shared_preload_libraries`, other sessions'
 * `pg_stat_activity` rows (state, query, transaction start) and `pg_stat_statements`, which PostgreSQL shows
 * only to superusers and members of `pg_monitor`. The application role stays without them:
 *
 * - `taskmaster_monitor` (cluster-wide NOLOGIN group role, created if missing, never dropped) is a member of
 *   the built-in `pg_monitor` (read-only statistics and settings). The monitoring service's login is in
 *   `taskmaster_app` and `taskmaster_monitor` (`./taskmaster db roles grant --role monitor --user NAME`).
 *
 * Needs a superuser, or CREATEROLE with ADMIN on pg_monitor (PostgreSQL 16+); otherwise a notice, as the
 * audit trail migration does for its roles. Nothing per database: down() leaves the cluster-wide role.
 */
export class Migration20261126120000_monitoring_role extends Migration {
  name = "Migration20261126120000_monitoring_role";

  async up() {
    this.addSql(`do $$
begin
  if not exists (select 1 from pg_roles where rolname = current_user and (rolsuper or rolcreaterole)) then
    raise notice 'taskmaster_monitor not created: % may not create roles', current_user;
    return;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'taskmaster_monitor') then
    begin
      create role taskmaster_monitor nologin;
    exception when duplicate_object or unique_violation then null;
    end;
  end if;
  if not pg_has_role('taskmaster_monitor', 'pg_monitor', 'member') then
    begin
      grant pg_monitor to taskmaster_monitor;
    exception when insufficient_privilege then
      raise notice 'pg_monitor not granted to taskmaster_monitor: % lacks ADMIN on pg_monitor', current_user;
    end;
  end if;
end $$;`);
  }

  async down() {
    // The role is cluster-wide (other databases may use it) and grants nothing per database.
  }
}
