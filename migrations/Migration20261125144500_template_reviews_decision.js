import { Migration } from "@mikro-orm/migrations";

/**
 * What TemplateReview and the permission checks need beyond the initial schema:
 * - template_reviews.request_comments: TemplateReview.request_comments (the initial `comments` column holds
 *   the decision comments);
 * - template_reviews.decided_by: the subject who approved, rejected or requested changes;
 * - a partial index serving the per-call permission check (live grants of one template).
 * The entities do not declare the new columns (raw SQL reads/writes them).
 */
export class Migration20261125144500_template_reviews_decision extends Migration {
  name = "Migration20261125144500_template_reviews_decision";

  async up() {
    this.addSql(`alter table "template_reviews" add column "request_comments" text null;`);
    this.addSql(`alter table "template_reviews" add column "decided_by" varchar(255) null;`);
    this.addSql(
      `create index "template_permissions_live_idx" on "template_permissions" ("template_id") where revoked_at is null;`,
    );
    this.addSql(
      `create index "template_reviews_template_created_idx" on "template_reviews" ("template_id", "created_at");`,
    );
  }

  async down() {
    this.addSql(`drop index if exists "template_reviews_template_created_idx";`);
    this.addSql(`drop index if exists "template_permissions_live_idx";`);
    this.addSql(`alter table "template_reviews" drop column if exists "decided_by";`);
    this.addSql(`alter table "template_reviews" drop column if exists "request_comments";`);
  }
}
