import { Migration } from "@mikro-orm/migrations";

/**
 * TemplateDependency.alias: the partial name an INCLUDES/EXTENDS dependency is rendered under ({{> alias}}).
 * Null means "the required template's slug". Unique per dependent template so partial names never clash.
 * The entities do not declare the column (raw SQL reads/writes it; entity inserts get the default).
 */
export class Migration20261125144700_template_dependency_alias extends Migration {
  name = "Migration20261125144700_template_dependency_alias";

  async up() {
    this.addSql(`alter table "template_dependencies" add column "alias" varchar(64) null;`);
    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_alias_check" check (alias is null or alias ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$');`,
    );
    this.addSql(
      `create unique index "template_dependencies_alias_uniq" on "template_dependencies" ("template_id", "alias") where alias is not null;`,
    );
  }

  async down() {
    this.addSql(`drop index if exists "template_dependencies_alias_uniq";`);
    this.addSql(
      `alter table "template_dependencies" drop constraint if exists "template_dependencies_alias_check";`,
    );
    this.addSql(`alter table "template_dependencies" drop column if exists "alias";`);
  }
}
