import { Migration } from "@mikro-orm/migrations";

/**
 * Change notifications for the template-service's render-plan cache (apps/template-service/src/render-plan.cache.ts):
 * every committed change to a row that decides a render sends pg_notify('template_changed', <template id>)
 * ('*' for template types, which many templates share, and for TRUNCATE). NOTIFY is transactional: it is
 * delivered at commit, never for a rolled-back change, and identical payloads of one transaction are sent once.
 *
 * Row-level triggers (not statement-level with transition tables): PostgreSQL refuses transition tables on
 * triggers with column lists, and the templates trigger needs one, so the usage statistics the usage
 * batcher rewrites every flush (usage_count, success_rate, avg_execution_time_ms) do not invalidate plans.
 */
const TABLES = [
  // [table, trigger timing clause, payload expression]
  [
    "templates",
    `after insert or delete or update of name, content, variables, parameters, is_active, requires_approval,
       approved_by, approved_at, current_version, type_id, deleted_at, version`,
    "id",
  ],
  ["template_versions", "after insert or update or delete", "template_id"],
  ["template_reviews", "after insert or update or delete", "template_id"],
  ["template_dependencies", "after insert or update or delete", "template_id"],
  ["template_types", "after insert or update or delete", null],
];

export class Migration20261126130000_template_render_notify extends Migration {
  name = "Migration20261126130000_template_render_notify";

  async up() {
    this.addSql(`create or replace function template_changed_notify() returns trigger language plpgsql as $$
begin
  if TG_LEVEL = 'STATEMENT' or TG_NARGS = 0 then
    perform pg_notify('template_changed', '*');
  elsif TG_OP = 'DELETE' then
    perform pg_notify('template_changed', (to_jsonb(old) ->> TG_ARGV[0]));
  else
    perform pg_notify('template_changed', (to_jsonb(new) ->> TG_ARGV[0]));
    -- An update moving a row to another template (never done today) must reach both.
    if TG_OP = 'UPDATE' then
      perform pg_notify('template_changed', (to_jsonb(old) ->> TG_ARGV[0]));
    end if;
  end if;
  return null;
end $$;`);
    for (const [table, timing, column] of TABLES) {
      const args = column === null ? "" : `'${column}'`;
      this.addSql(
        `create trigger "${table}_render_notify" ${timing} on "${table}" for each row execute function template_changed_notify(${args});`,
      );
      this.addSql(
        `create trigger "${table}_render_notify_truncate" after truncate on "${table}" for each statement execute function template_changed_notify();`,
      );
    }
  }

  async down() {
    for (const [table] of TABLES) {
      this.addSql(`drop trigger if exists "${table}_render_notify_truncate" on "${table}";`);
      this.addSql(`drop trigger if exists "${table}_render_notify" on "${table}";`);
    }
    this.addSql(`drop function if exists template_changed_notify();`);
  }
}
