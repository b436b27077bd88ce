import { Migration } from "@mikro-orm/migrations";

/**
 * The contract says external_id, github_issue_url, github_pr_url, linear_issue_id and jira_key are unique
 * when set among non-deleted tasks: partial unique indexes (the handlers map a violation to ALREADY_EXISTS
 * naming the field by the index name). The plain lookup indexes of the initial schema stay for deleted rows.
 */
export class Migration20261125140100_task_external_refs_unique extends Migration {
  name = "Migration20261125140100_task_external_refs_unique";

  async up() {
    this.addSql(
      `create unique index tasks_external_id_live_uniq on tasks (external_id) where external_id is not null and deleted_at is null;`,
    );
    this.addSql(
      `create unique index tasks_github_issue_url_live_uniq on tasks (github_issue_url) where github_issue_url is not null and deleted_at is null;`,
    );
    this.addSql(
      `create unique index tasks_github_pr_url_live_uniq on tasks (github_pr_url) where github_pr_url is not null and deleted_at is null;`,
    );
    this.addSql(
      `create unique index tasks_linear_issue_id_live_uniq on tasks (linear_issue_id) where linear_issue_id is not null and deleted_at is null;`,
    );
    this.addSql(
      `create unique index tasks_jira_key_live_uniq on tasks (jira_key) where jira_key is not null and deleted_at is null;`,
    );
  }

  async down() {
    this.addSql(`drop index if exists tasks_jira_key_live_uniq;`);
    this.addSql(`drop index if exists tasks_linear_issue_id_live_uniq;`);
    this.addSql(`drop index if exists tasks_github_pr_url_live_uniq;`);
    this.addSql(`drop index if exists tasks_github_issue_url_live_uniq;`);
    this.addSql(`drop index if exists tasks_external_id_live_uniq;`);
  }
}
