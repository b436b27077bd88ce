import { Migration } from "@mikro-orm/migrations";

/**
 * What the TemplateService contract needs beyond the initial schema:
 * - template_versions.rollback_of: TemplateVersion.rollback_of, the version a RollbackTemplate restored;
 * - templates.complexity_score: the contract's 0-100 scale (the initial check allowed 1-10);
 * The entities do not declare the new column (raw SQL reads/writes it; entity inserts get the default).
 */
export class Migration20261125143000_template_versions_rollback extends Migration {
  name = "Migration20261125143000_template_versions_rollback";

  async up() {
    this.addSql(`alter table "template_versions" add column "rollback_of" varchar(32) null;`);
    this.addSql(
      `alter table "template_versions" add constraint "template_versions_rollback_of_check" check (rollback_of is null or rollback_of ~ '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$');`,
    );
    this.addSql(`alter table "templates" drop constraint if exists "templates_complexity_score_check";`);
    this.addSql(
      `alter table "templates" add constraint "templates_complexity_score_check" check (complexity_score is null or (complexity_score >= 0 and complexity_score <= 100));`,
    );
  }

  async down() {
    this.addSql(`alter table "templates" drop constraint if exists "templates_complexity_score_check";`);
    this.addSql(
      `update "templates" set complexity_score = least(greatest(complexity_score, 1), 10) where complexity_score is not null;`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_complexity_score_check" check (complexity_score is null or (complexity_score >= 1 and complexity_score <= 10));`,
    );
    this.addSql(
      `alter table "template_versions" drop constraint if exists "template_versions_rollback_of_check";`,
    );
    this.addSql(`alter table "template_versions" drop column if exists "rollback_of";`);
  }
}
