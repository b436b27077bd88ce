import { Migration } from "@mikro-orm/migrations";

export class Migration20261125130538_initial_schema extends Migration {
  name = "Migration20261125130538_initial_schema";

  async up() {
    // Extensions first: pg_trgm is required (trigram indexes); pg_stat_statements is optional and only
    // useful when preloaded, so a server without it (or without the privilege) must not fail here.
    this.addSql(`create extension if not exists pg_trgm;`);
    this.addSql(
      `do $$ begin if exists (select 1 from pg_available_extensions where name = 'pg_stat_statements') then create extension if not exists pg_stat_statements; end if; exception when others then raise notice 'pg_stat_statements not installed: %', sqlerrm; end $$;`,
    );
    this.addSql(
      `create table "audit_log" ("id" uuid not null, "seq" bigserial, "entity_type" varchar(64) not null, "entity_id" varchar(255) not null, "action" varchar(16) not null, "changed_fields" text[] not null default '{}', "old_values" jsonb null, "new_values" jsonb null, "actor" varchar(255) null, "request_id" varchar(255) null, "trace_id" varchar(64) null, "client_ip" inet null, "user_agent" text null, "occurred_at" timestamptz not null default now(), "prev_hash" varchar(64) null, "hash" varchar(64) null, primary key ("id"));`,
    );
    this.addSql(`alter table "audit_log" add constraint "audit_log_seq_uniq" unique ("seq");`);
    this.addSql(
      `create index "audit_log_entity_idx" on "audit_log" ("entity_type", "entity_id", "occurred_at");`,
    );
    this.addSql(`create index "audit_log_actor_idx" on "audit_log" ("actor", "occurred_at");`);
    this.addSql(`create index "audit_log_action_idx" on "audit_log" ("action", "occurred_at");`);
    this.addSql(`create index "audit_log_occurred_at_idx" on "audit_log" ("occurred_at");`);
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_entity_type_check" check (entity_type ~ '^[a-z][a-z0-9_]{0,63}$');`,
    );
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_action_check" check (action in ('create', 'update', 'delete', 'status_change', 'restore', 'purge'));`,
    );
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_hash_check" check (hash is null or hash ~ '^[0-9a-f]{64}$');`,
    );
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_prev_hash_check" check (prev_hash is null or prev_hash ~ '^[0-9a-f]{64}$');`,
    );

    this.addSql(
      `create table "idempotency_keys" ("id" uuid not null, "scope" varchar(255) not null, "request_id" varchar(255) not null, "request_hash" varchar(64) null, "resource_id" varchar(255) null, "response_json" jsonb null, "response_bytes" bytea null, "created_at" timestamptz not null default now(), "expires_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "idempotency_keys_created_at_idx" on "idempotency_keys" ("created_at");`);
    this.addSql(
      `alter table "idempotency_keys" add constraint "idempotency_keys_scope_request_uniq" unique ("scope", "request_id");`,
    );
    this.addSql(
      `alter table "idempotency_keys" add constraint "idempotency_keys_request_id_check" check (char_length(request_id) between 1 and 255);`,
    );
    this.addSql(
      `alter table "idempotency_keys" add constraint "idempotency_keys_request_hash_check" check (request_hash is null or request_hash ~ '^[0-9a-f]{64}$');`,
    );

    this.addSql(
      `create table "outbox_events" ("id" bigserial primary key, "aggregate_type" varchar(64) not null, "aggregate_id" uuid not null, "event_kind" varchar(64) not null, "payload" jsonb not null default '{}', "actor" varchar(255) null, "request_id" varchar(255) null, "trace_id" varchar(64) null, "created_at" timestamptz not null default now());`,
    );
    this.addSql(
      `create index "outbox_events_aggregate_idx" on "outbox_events" ("aggregate_type", "aggregate_id", "id");`,
    );
    this.addSql(`create index "outbox_events_created_at_idx" on "outbox_events" ("created_at");`);
    this.addSql(
      `alter table "outbox_events" add constraint "outbox_events_aggregate_type_check" check (aggregate_type ~ '^[a-z][a-z0-9_]{0,63}$');`,
    );
    this.addSql(
      `alter table "outbox_events" add constraint "outbox_events_event_kind_check" check (event_kind ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$');`,
    );
    this.addSql(
      `alter table "outbox_events" add constraint "outbox_events_payload_check" check (jsonb_typeof(payload) = 'object');`,
    );
    this.addSql(
      `create or replace function "outbox_events_outbox_events_notify_fn"() returns trigger as $$ begin perform pg_notify('taskmaster_outbox', new.id::text); return null; end; $$ language plpgsql;`,
    );
    this.addSql(
      `create trigger "outbox_events_notify" AFTER INSERT on "outbox_events" for each ROW execute function "outbox_events_outbox_events_notify_fn"();`,
    );

    this.addSql(
      `create table "releases" ("id" uuid not null, "name" varchar(255) not null, "version_label" varchar(64) not null, "description" text null, "status" varchar(16) not null default 'planned', "target_date" timestamptz null, "released_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "deleted_at" timestamptz null, "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(`create index "releases_status_idx" on "releases" ("status");`);
    this.addSql(`create index "releases_target_date_idx" on "releases" ("target_date");`);
    this.addSql(
      `create unique index releases_version_label_live_uniq on releases (version_label) where deleted_at is null;`,
    );
    this.addSql(
      `alter table "releases" add constraint "releases_name_length_check" check (char_length(btrim(name)) between 1 and 255);`,
    );
    this.addSql(
      `alter table "releases" add constraint "releases_version_label_check" check (char_length(btrim(version_label)) between 1 and 64);`,
    );
    this.addSql(
      `alter table "releases" add constraint "releases_status_check" check (status in ('planned', 'in_progress', 'released', 'cancelled'));`,
    );
    this.addSql(
      `alter table "releases" add constraint "releases_released_at_check" check ((status = 'released') = (released_at is not null));`,
    );

    this.addSql(
      `create table "milestones" ("id" uuid not null, "name" varchar(255) not null, "description" text null, "status" varchar(16) not null default 'open', "due_date" timestamptz null, "reached_at" timestamptz null, "release_id" uuid null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "deleted_at" timestamptz null, "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(`create index "milestones_status_idx" on "milestones" ("status");`);
    this.addSql(`create index "milestones_release_id_idx" on "milestones" ("release_id");`);
    this.addSql(`create index "milestones_due_date_idx" on "milestones" ("due_date");`);
    this.addSql(
      `alter table "milestones" add constraint "milestones_name_length_check" check (char_length(btrim(name)) between 1 and 255);`,
    );
    this.addSql(
      `alter table "milestones" add constraint "milestones_status_check" check (status in ('open', 'reached', 'missed', 'cancelled'));`,
    );

    this.addSql(
      `create table "security_events" ("id" uuid not null, "kind" varchar(32) not null, "identity" varchar(255) null, "ip" inet null, "detail" jsonb not null default '{}', "occurred_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(`create index "security_events_kind_idx" on "security_events" ("kind", "occurred_at");`);
    this.addSql(
      `create index "security_events_identity_idx" on "security_events" ("identity", "occurred_at");`,
    );
    this.addSql(`create index "security_events_occurred_at_idx" on "security_events" ("occurred_at");`);
    this.addSql(
      `alter table "security_events" add constraint "security_events_kind_check" check (kind in ('authentication_failed', 'permission_denied', 'rate_limited', 'suspicious_input'));`,
    );
    this.addSql(
      `alter table "security_events" add constraint "security_events_detail_check" check (jsonb_typeof(detail) = 'object');`,
    );

    this.addSql(
      `create table "sprints" ("id" uuid not null, "name" varchar(255) not null, "goal" text null, "status" varchar(16) not null default 'planned', "starts_at" timestamptz null, "ends_at" timestamptz null, "capacity_points" int null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "closed_at" timestamptz null, "deleted_at" timestamptz null, "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(`create index "sprints_status_idx" on "sprints" ("status");`);
    this.addSql(`create index "sprints_starts_at_idx" on "sprints" ("starts_at");`);
    this.addSql(`create unique index sprints_name_live_uniq on sprints (name) where deleted_at is null;`);
    this.addSql(
      `alter table "sprints" add constraint "sprints_name_length_check" check (char_length(btrim(name)) between 1 and 255);`,
    );
    this.addSql(
      `alter table "sprints" add constraint "sprints_status_check" check (status in ('planned', 'active', 'closed', 'cancelled'));`,
    );
    this.addSql(
      `alter table "sprints" add constraint "sprints_dates_check" check (starts_at is null or ends_at is null or ends_at > starts_at);`,
    );
    this.addSql(
      `alter table "sprints" add constraint "sprints_capacity_points_check" check (capacity_points is null or capacity_points >= 0);`,
    );

    this.addSql(
      `create table "tasks" ("id" uuid not null, "title" varchar(255) not null, "description" text null, "summary" text null, "type" varchar(32) not null default 'task', "category" varchar(100) null, "priority" varchar(16) not null default 'medium', "status" varchar(16) not null default 'pending', "complexity" varchar(16) not null default 'moderate', "parent_id" uuid null, "epic_id" uuid null, "story_points" int null, "business_value" smallint null, "technical_debt_score" smallint null, "risk_level" smallint null, "requirements" jsonb not null default '[]', "acceptance_criteria" jsonb not null default '[]', "definition_of_done" jsonb not null default '[]', "test_criteria" jsonb not null default '[]', "affected_files" jsonb not null default '[]', "affected_components" jsonb not null default '[]', "technical_notes" text null, "architecture_notes" text null, "assigned_to" varchar(255) null, "reporter" varchar(255) null, "product_owner" varchar(255) null, "tech_lead" varchar(255) null, "reviewer" varchar(255) null, "estimated_hours" numeric(8,2) null, "actual_hours" numeric(8,2) not null default 0, "remaining_hours" numeric(8,2) null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "started_at" timestamptz null, "completed_at" timestamptz null, "due_date" timestamptz null, "sprint_id" uuid null, "release_id" uuid null, "milestone_id" uuid null, "labels" text[] not null default '{}', "tags" text[] not null default '{}', "external_id" varchar(255) null, "github_issue_url" varchar(500) null, "github_pr_url" varchar(500) null, "linear_issue_id" varchar(64) null, "jira_key" varchar(64) null, "code_quality_score" numeric(5,2) null, "test_coverage_target" numeric(5,2) not null default 80, "performance_requirements" jsonb not null default '{}', "security_requirements" jsonb not null default '{}', "automation_level" varchar(50) null, "ci_cd_pipeline" varchar(255) null, "deployment_strategy" varchar(100) null, "metadata" jsonb not null default '{}', "custom_fields" jsonb not null default '{}', "claimed_by" varchar(255) null, "claimed_at" timestamptz null, "lease_expires_at" timestamptz null, "deleted_at" timestamptz null, "version" int not null default 1, "search_vector" tsvector generated always as (setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(technical_notes, '') || ' ' || coalesce(architecture_notes, '')), 'C')) stored null, primary key ("id"));`,
    );
    this.addSql(`create index "tasks_status_idx" on "tasks" ("status");`);
    this.addSql(`create index "tasks_priority_idx" on "tasks" ("priority");`);
    this.addSql(`create index "tasks_type_idx" on "tasks" ("type");`);
    this.addSql(`create index "tasks_assigned_to_idx" on "tasks" ("assigned_to");`);
    this.addSql(`create index "tasks_epic_id_idx" on "tasks" ("epic_id");`);
    this.addSql(`create index "tasks_parent_id_idx" on "tasks" ("parent_id");`);
    this.addSql(`create index "tasks_sprint_id_idx" on "tasks" ("sprint_id");`);
    this.addSql(`create index "tasks_release_id_idx" on "tasks" ("release_id");`);
    this.addSql(`create index "tasks_milestone_id_idx" on "tasks" ("milestone_id");`);
    this.addSql(`create index "tasks_created_at_id_idx" on "tasks" ("created_at", "id");`);
    this.addSql(`create index "tasks_updated_at_idx" on "tasks" ("updated_at");`);
    this.addSql(`create index "tasks_due_date_idx" on "tasks" ("due_date");`);
    this.addSql(`create index "tasks_completed_at_idx" on "tasks" ("completed_at");`);
    this.addSql(`create index "tasks_external_id_idx" on "tasks" ("external_id");`);
    this.addSql(`create index "tasks_github_issue_url_idx" on "tasks" ("github_issue_url");`);
    this.addSql(`create index "tasks_github_pr_url_idx" on "tasks" ("github_pr_url");`);
    this.addSql(`create index "tasks_linear_issue_id_idx" on "tasks" ("linear_issue_id");`);
    this.addSql(`create index "tasks_jira_key_idx" on "tasks" ("jira_key");`);
    this.addSql(`create index "tasks_status_priority_idx" on "tasks" ("status", "priority");`);
    this.addSql(`create index "tasks_assigned_to_status_idx" on "tasks" ("assigned_to", "status");`);
    this.addSql(`create index "tasks_sprint_id_status_idx" on "tasks" ("sprint_id", "status");`);
    this.addSql(`create index "tasks_type_status_idx" on "tasks" ("type", "status");`);
    this.addSql(`create index "tasks_labels_gin_idx" on "tasks" using gin ("labels");`);
    this.addSql(`create index "tasks_tags_gin_idx" on "tasks" using gin ("tags");`);
    this.addSql(`create index "tasks_requirements_gin_idx" on "tasks" using gin ("requirements");`);
    this.addSql(`create index "tasks_metadata_gin_idx" on "tasks" using gin ("metadata");`);
    this.addSql(`create index "tasks_custom_fields_gin_idx" on "tasks" using gin ("custom_fields");`);
    this.addSql(`create index "tasks_search_vector_idx" on "tasks" using gin ("search_vector");`);
    this.addSql(`create index tasks_title_trgm_idx on tasks using gin (title gin_trgm_ops);`);
    this.addSql(`create index tasks_description_trgm_idx on tasks using gin (description gin_trgm_ops);`);
    this.addSql(
      `create index tasks_lease_expires_at_idx on tasks (lease_expires_at) where claimed_by is not null;`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_title_length_check" check (char_length(btrim(title)) between 5 and 255);`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_type_check" check (type in ('feature', 'bug', 'enhancement', 'task', 'story', 'epic', 'spike', 'refactor', 'documentation', 'test', 'deployment', 'security', 'performance', 'maintenance'));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_priority_check" check (priority in ('critical', 'high', 'medium', 'low', 'backlog'));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_status_check" check (status in ('draft', 'pending', 'ready', 'in_progress', 'blocked', 'review', 'testing', 'completed', 'failed', 'cancelled', 'archived'));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_complexity_check" check (complexity in ('trivial', 'simple', 'moderate', 'complex', 'expert'));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_parent_not_self_check" check (parent_id is null or parent_id <> id);`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_epic_not_self_check" check (epic_id is null or epic_id <> id);`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_story_points_check" check (story_points is null or (story_points >= 0 and story_points <= 100));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_business_value_check" check (business_value is null or (business_value >= 1 and business_value <= 10));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_technical_debt_score_check" check (technical_debt_score is null or (technical_debt_score >= 0 and technical_debt_score <= 100));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_risk_level_check" check (risk_level is null or (risk_level >= 1 and risk_level <= 10));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_requirements_check" check (jsonb_typeof(requirements) = 'array');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_acceptance_criteria_check" check (jsonb_typeof(acceptance_criteria) = 'array');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_definition_of_done_check" check (jsonb_typeof(definition_of_done) = 'array');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_test_criteria_check" check (jsonb_typeof(test_criteria) = 'array');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_affected_files_check" check (jsonb_typeof(affected_files) = 'array');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_affected_components_check" check (jsonb_typeof(affected_components) = 'array');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_performance_requirements_check" check (jsonb_typeof(performance_requirements) = 'object');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_security_requirements_check" check (jsonb_typeof(security_requirements) = 'object');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_metadata_check" check (jsonb_typeof(metadata) = 'object');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_custom_fields_check" check (jsonb_typeof(custom_fields) = 'object');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_estimated_hours_check" check (estimated_hours is null or estimated_hours >= 0);`,
    );
    this.addSql(`alter table "tasks" add constraint "tasks_actual_hours_check" check (actual_hours >= 0);`);
    this.addSql(
      `alter table "tasks" add constraint "tasks_remaining_hours_check" check (remaining_hours is null or remaining_hours >= 0);`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_code_quality_score_check" check (code_quality_score is null or (code_quality_score >= 0 and code_quality_score <= 100));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_test_coverage_target_check" check (test_coverage_target >= 0 and test_coverage_target <= 100);`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_github_issue_url_check" check (github_issue_url is null or github_issue_url ~ '^https://github\\.com/[^/]+/[^/]+/issues/[0-9]+$');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_github_pr_url_check" check (github_pr_url is null or github_pr_url ~ '^https://github\\.com/[^/]+/[^/]+/pull/[0-9]+$');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_jira_key_check" check (jira_key is null or jira_key ~ '^[A-Z][A-Z0-9_]*-[0-9]+$');`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_claim_lease_check" check ((claimed_by is null) = (lease_expires_at is null));`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_completed_after_started_check" check (completed_at is null or started_at is null or completed_at >= started_at);`,
    );

    this.addSql(
      `create table "task_attachments" ("id" uuid not null, "task_id" uuid not null, "filename" varchar(255) not null, "storage_key" varchar(64) not null, "size_bytes" bigint not null, "file_type" varchar(50) null, "mime_type" varchar(255) not null, "description" text null, "uploaded_by" varchar(255) null, "is_public" boolean not null default false, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(`create index "task_attachments_task_idx" on "task_attachments" ("task_id");`);
    this.addSql(`create index "task_attachments_storage_key_idx" on "task_attachments" ("storage_key");`);
    this.addSql(
      `alter table "task_attachments" add constraint "task_attachments_filename_check" check (char_length(btrim(filename)) >= 1);`,
    );
    this.addSql(
      `alter table "task_attachments" add constraint "task_attachments_storage_key_check" check (storage_key ~ '^[0-9a-f]{64}$');`,
    );
    this.addSql(
      `alter table "task_attachments" add constraint "task_attachments_size_check" check (size_bytes >= 0);`,
    );
    this.addSql(
      `alter table "task_attachments" add constraint "task_attachments_mime_type_check" check (mime_type ~ '^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*$');`,
    );

    this.addSql(
      `create table "task_comments" ("id" uuid not null, "task_id" uuid not null, "parent_id" uuid null, "author" varchar(255) not null, "content" text not null, "type" varchar(16) not null default 'general', "is_internal" boolean not null default false, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "deleted_at" timestamptz null, "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(
      `create index "task_comments_task_created_idx" on "task_comments" ("task_id", "created_at");`,
    );
    this.addSql(`create index "task_comments_parent_idx" on "task_comments" ("parent_id");`);
    this.addSql(
      `alter table "task_comments" add constraint "task_comments_type_check" check (type in ('general', 'technical', 'review', 'question', 'decision', 'blocker', 'solution', 'update', 'approval'));`,
    );
    this.addSql(
      `alter table "task_comments" add constraint "task_comments_content_check" check (char_length(content) between 1 and 65536);`,
    );
    this.addSql(
      `alter table "task_comments" add constraint "task_comments_author_check" check (char_length(btrim(author)) >= 1);`,
    );
    this.addSql(
      `alter table "task_comments" add constraint "task_comments_parent_not_self_check" check (parent_id is null or parent_id <> id);`,
    );

    this.addSql(
      `create table "task_relationships" ("id" uuid not null, "source_task_id" uuid not null, "target_task_id" uuid not null, "type" varchar(32) not null, "strength" smallint not null default 5, "note" text null, "created_by" varchar(255) null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create index "task_relationships_target_idx" on "task_relationships" ("target_task_id", "type");`,
    );
    this.addSql(`create index "task_relationships_type_idx" on "task_relationships" ("type");`);
    this.addSql(
      `alter table "task_relationships" add constraint "task_relationships_source_target_type_uniq" unique ("source_task_id", "target_task_id", "type");`,
    );
    this.addSql(
      `alter table "task_relationships" add constraint "task_relationships_type_check" check (type in ('blocks', 'blocked_by', 'depends_on', 'dependency_of', 'relates_to', 'duplicates', 'duplicated_by', 'parent_of', 'child_of', 'follows', 'precedes', 'conflicts_with'));`,
    );
    this.addSql(
      `alter table "task_relationships" add constraint "task_relationships_not_self_check" check (source_task_id <> target_task_id);`,
    );
    this.addSql(
      `alter table "task_relationships" add constraint "task_relationships_strength_check" check (strength >= 1 and strength <= 10);`,
    );

    this.addSql(
      `create table "task_status_history" ("id" uuid not null, "task_id" uuid not null, "from_status" varchar(16) null, "to_status" varchar(16) not null, "changed_by" varchar(255) null, "reason" text null, "changed_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create index "task_status_history_task_changed_idx" on "task_status_history" ("task_id", "changed_at");`,
    );
    this.addSql(`create index "task_status_history_changed_at_idx" on "task_status_history" ("changed_at");`);
    this.addSql(
      `alter table "task_status_history" add constraint "task_status_history_from_status_check" check (from_status is null or from_status in ('draft', 'pending', 'ready', 'in_progress', 'blocked', 'review', 'testing', 'completed', 'failed', 'cancelled', 'archived'));`,
    );
    this.addSql(
      `alter table "task_status_history" add constraint "task_status_history_to_status_check" check (to_status in ('draft', 'pending', 'ready', 'in_progress', 'blocked', 'review', 'testing', 'completed', 'failed', 'cancelled', 'archived'));`,
    );

    this.addSql(
      `create table "task_time_logs" ("id" uuid not null, "task_id" uuid not null, "user_id" varchar(255) not null, "activity_type" varchar(32) not null default 'development', "description" text null, "hours" numeric(5,2) not null, "log_date" date not null default current_date, "started_at" timestamptz null, "ended_at" timestamptz null, "is_billable" boolean not null default false, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(`create index "task_time_logs_task_idx" on "task_time_logs" ("task_id", "log_date");`);
    this.addSql(`create index "task_time_logs_user_date_idx" on "task_time_logs" ("user_id", "log_date");`);
    this.addSql(`create index "task_time_logs_log_date_idx" on "task_time_logs" ("log_date");`);
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_activity_type_check" check (activity_type in ('development', 'testing', 'review', 'documentation', 'design', 'research', 'meeting', 'deployment', 'support', 'other'));`,
    );
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_hours_check" check (hours > 0 and hours <= 24);`,
    );
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_log_date_check" check (log_date <= ((now() at time zone 'utc')::date + 1));`,
    );
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_start_end_check" check ((started_at is null) = (ended_at is null));`,
    );
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_end_after_start_check" check (started_at is null or ended_at > started_at);`,
    );
    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_user_check" check (char_length(btrim(user_id)) >= 1);`,
    );

    this.addSql(
      `create table "template_categories" ("id" uuid not null, "name" varchar(100) not null, "description" text null, "parent_id" uuid null, "sort_order" int not null default 0, "is_active" boolean not null default true, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(
      `alter table "template_categories" add constraint "template_categories_name_uniq" unique ("name");`,
    );
    this.addSql(
      `create index "template_categories_parent_sort_idx" on "template_categories" ("parent_id", "sort_order");`,
    );
    this.addSql(
      `alter table "template_categories" add constraint "template_categories_name_check" check (char_length(btrim(name)) between 1 and 100);`,
    );
    this.addSql(
      `alter table "template_categories" add constraint "template_categories_parent_not_self_check" check (parent_id is null or parent_id <> id);`,
    );

    this.addSql(
      `create table "template_types" ("id" uuid not null, "name" varchar(64) not null, "display_name" varchar(255) not null, "description" text null, "json_schema" jsonb not null default '{}', "validation_rules" jsonb not null default '{}', "is_active" boolean not null default true, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(`alter table "template_types" add constraint "template_types_name_uniq" unique ("name");`);
    this.addSql(
      `alter table "template_types" add constraint "template_types_name_check" check (name ~ '^[a-z][a-z0-9_]{1,63}$');`,
    );
    this.addSql(
      `alter table "template_types" add constraint "template_types_json_schema_check" check (jsonb_typeof(json_schema) = 'object');`,
    );
    this.addSql(
      `alter table "template_types" add constraint "template_types_validation_rules_check" check (jsonb_typeof(validation_rules) = 'object');`,
    );

    this.addSql(
      `create table "templates" ("id" uuid not null, "name" varchar(255) not null, "title" varchar(255) not null, "description" text null, "content" text not null, "variables" jsonb not null default '[]', "parameters" jsonb not null default '{}', "tags" text[] not null default '{}', "usage_count" int not null default 0, "success_rate" numeric(5,2) not null default 0, "avg_execution_time_ms" numeric(12,2) not null default 0, "complexity_score" smallint null, "is_active" boolean not null default true, "is_public" boolean not null default false, "requires_approval" boolean not null default false, "approved_by" varchar(255) null, "approved_at" timestamptz null, "current_version" varchar(32) not null default '1.0.0', "category_id" uuid null, "type_id" uuid not null, "owner" varchar(255) not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "deleted_at" timestamptz null, "version" int not null default 1, "search_vector" tsvector generated always as (setweight(to_tsvector('english'::regconfig, coalesce(name, '') || ' ' || coalesce(title, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'C')) stored null, primary key ("id"));`,
    );
    this.addSql(`alter table "templates" add constraint "templates_name_uniq" unique ("name");`);
    this.addSql(`create index "templates_type_idx" on "templates" ("type_id");`);
    this.addSql(`create index "templates_category_idx" on "templates" ("category_id");`);
    this.addSql(`create index "templates_active_public_idx" on "templates" ("is_active", "is_public");`);
    this.addSql(`create index "templates_usage_idx" on "templates" ("usage_count", "success_rate");`);
    this.addSql(`create index "templates_owner_idx" on "templates" ("owner");`);
    this.addSql(`create index "templates_created_at_id_idx" on "templates" ("created_at", "id");`);
    this.addSql(`create index "templates_tags_gin_idx" on "templates" using gin ("tags");`);
    this.addSql(`create index "templates_search_vector_idx" on "templates" using gin ("search_vector");`);
    this.addSql(`create index templates_title_trgm_idx on templates using gin (title gin_trgm_ops);`);
    this.addSql(
      `alter table "templates" add constraint "templates_name_check" check (char_length(btrim(name)) between 1 and 255);`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_title_check" check (char_length(btrim(title)) between 1 and 255);`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_variables_check" check (jsonb_typeof(variables) = 'array');`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_parameters_check" check (jsonb_typeof(parameters) = 'object');`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_usage_count_check" check (usage_count >= 0);`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_success_rate_check" check (success_rate >= 0 and success_rate <= 100);`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_avg_execution_time_check" check (avg_execution_time_ms >= 0);`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_complexity_score_check" check (complexity_score is null or (complexity_score >= 1 and complexity_score <= 10));`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_current_version_check" check (current_version ~ '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$');`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_approval_check" check ((approved_by is null) = (approved_at is null));`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_owner_check" check (char_length(btrim(owner)) >= 1);`,
    );

    this.addSql(
      `create table "template_reviews" ("id" uuid not null, "template_id" uuid not null, "template_version" varchar(32) not null, "review_type" varchar(16) not null default 'approval', "status" varchar(16) not null default 'pending', "rating" smallint null, "comments" text null, "reviewer" varchar(255) null, "requested_by" varchar(255) null, "decided_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "version" int not null default 1, primary key ("id"));`,
    );
    this.addSql(
      `create index "template_reviews_template_status_idx" on "template_reviews" ("template_id", "status");`,
    );
    this.addSql(`create index "template_reviews_reviewer_idx" on "template_reviews" ("reviewer");`);
    this.addSql(
      `alter table "template_reviews" add constraint "template_reviews_version_check" check (template_version ~ '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$');`,
    );
    this.addSql(
      `alter table "template_reviews" add constraint "template_reviews_type_check" check (review_type in ('approval', 'quality', 'security', 'performance'));`,
    );
    this.addSql(
      `alter table "template_reviews" add constraint "template_reviews_status_check" check (status in ('pending', 'approved', 'rejected', 'needs_changes'));`,
    );
    this.addSql(
      `alter table "template_reviews" add constraint "template_reviews_rating_check" check (rating is null or (rating >= 1 and rating <= 5));`,
    );
    this.addSql(
      `alter table "template_reviews" add constraint "template_reviews_decision_check" check ((status = 'pending') = (decided_at is null));`,
    );

    this.addSql(
      `create table "template_permissions" ("id" uuid not null, "template_id" uuid not null, "user_id" varchar(255) null, "role" varchar(255) null, "team" varchar(255) null, "permission" varchar(16) not null, "granted_by" varchar(255) null, "granted_at" timestamptz not null default now(), "expires_at" timestamptz null, "revoked_at" timestamptz null, "revoked_by" varchar(255) null, primary key ("id"));`,
    );
    this.addSql(
      `create index "template_permissions_template_idx" on "template_permissions" ("template_id", "permission");`,
    );
    this.addSql(`create index "template_permissions_user_idx" on "template_permissions" ("user_id");`);
    this.addSql(`create index "template_permissions_role_idx" on "template_permissions" ("role");`);
    this.addSql(`create index "template_permissions_team_idx" on "template_permissions" ("team");`);
    this.addSql(
      `create unique index template_permissions_active_grant_uniq on template_permissions (template_id, permission, coalesce(user_id, ''), coalesce(role, ''), coalesce(team, '')) where revoked_at is null;`,
    );
    this.addSql(
      `alter table "template_permissions" add constraint "template_permissions_one_grantee_check" check (num_nonnulls(user_id, role, team) = 1);`,
    );
    this.addSql(
      `alter table "template_permissions" add constraint "template_permissions_permission_check" check (permission in ('read', 'write', 'execute', 'admin', 'approve'));`,
    );
    this.addSql(
      `alter table "template_permissions" add constraint "template_permissions_expiry_check" check (expires_at is null or expires_at > granted_at);`,
    );

    this.addSql(
      `create table "template_dependencies" ("id" uuid not null, "template_id" uuid not null, "depends_on_template_id" uuid not null, "type" varchar(16) not null, "pinned_version" varchar(32) null, "created_by" varchar(255) null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create index "template_dependencies_depends_on_idx" on "template_dependencies" ("depends_on_template_id");`,
    );
    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_uniq" unique ("template_id", "depends_on_template_id", "type");`,
    );
    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_type_check" check (type in ('includes', 'extends', 'requires', 'suggests'));`,
    );
    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_not_self_check" check (template_id <> depends_on_template_id);`,
    );
    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_pinned_version_check" check (pinned_version is null or pinned_version ~ '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$');`,
    );

    this.addSql(
      `create table "template_usage_logs" ("id" uuid not null, "template_id" uuid not null, "template_version" varchar(32) not null, "task_id" uuid null, "workflow_id" varchar(255) null, "used_by" varchar(255) not null, "execution_time_ms" int not null, "success" boolean not null, "error_message" text null, "input_parameters" jsonb not null default '{}', "output" text null, "used_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create index "template_usage_logs_template_used_idx" on "template_usage_logs" ("template_id", "used_at");`,
    );
    this.addSql(
      `create index "template_usage_logs_template_version_idx" on "template_usage_logs" ("template_id", "template_version");`,
    );
    this.addSql(`create index "template_usage_logs_task_idx" on "template_usage_logs" ("task_id");`);
    this.addSql(
      `create index "template_usage_logs_used_by_idx" on "template_usage_logs" ("used_by", "used_at");`,
    );
    this.addSql(`create index "template_usage_logs_used_at_idx" on "template_usage_logs" ("used_at");`);
    this.addSql(
      `alter table "template_usage_logs" add constraint "template_usage_logs_version_check" check (template_version ~ '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$');`,
    );
    this.addSql(
      `alter table "template_usage_logs" add constraint "template_usage_logs_execution_time_check" check (execution_time_ms >= 0);`,
    );
    this.addSql(
      `alter table "template_usage_logs" add constraint "template_usage_logs_input_parameters_check" check (jsonb_typeof(input_parameters) = 'object');`,
    );
    this.addSql(
      `alter table "template_usage_logs" add constraint "template_usage_logs_error_check" check (success or error_message is not null);`,
    );

    this.addSql(
      `create table "template_versions" ("id" uuid not null, "template_id" uuid not null, "version" varchar(32) not null, "content" text not null, "variables" jsonb not null default '[]', "parameters" jsonb not null default '{}', "change_type" varchar(16) not null, "summary" text null, "created_by" varchar(255) not null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create index "template_versions_template_created_idx" on "template_versions" ("template_id", "created_at");`,
    );
    this.addSql(
      `alter table "template_versions" add constraint "template_versions_template_version_uniq" unique ("template_id", "version");`,
    );
    this.addSql(
      `alter table "template_versions" add constraint "template_versions_version_check" check (version ~ '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$');`,
    );
    this.addSql(
      `alter table "template_versions" add constraint "template_versions_change_type_check" check (change_type in ('major', 'minor', 'patch', 'hotfix'));`,
    );
    this.addSql(
      `alter table "template_versions" add constraint "template_versions_variables_check" check (jsonb_typeof(variables) = 'array');`,
    );
    this.addSql(
      `alter table "template_versions" add constraint "template_versions_parameters_check" check (jsonb_typeof(parameters) = 'object');`,
    );
    this.addSql(
      `create or replace function "template_versions_template_versions_immutable_fn"() returns trigger as $$ begin raise exception 'template_versions rows are immutable' using errcode = 'check_violation'; end; $$ language plpgsql;`,
    );
    this.addSql(
      `create trigger "template_versions_immutable" BEFORE UPDATE on "template_versions" for each ROW execute function "template_versions_template_versions_immutable_fn"();`,
    );

    this.addSql(
      `alter table "milestones" add constraint "milestones_release_id_foreign" foreign key ("release_id") references "releases" ("id") on delete set null;`,
    );

    this.addSql(
      `alter table "tasks" add constraint "tasks_parent_id_foreign" foreign key ("parent_id") references "tasks" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_epic_id_foreign" foreign key ("epic_id") references "tasks" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_sprint_id_foreign" foreign key ("sprint_id") references "sprints" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_release_id_foreign" foreign key ("release_id") references "releases" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "tasks" add constraint "tasks_milestone_id_foreign" foreign key ("milestone_id") references "milestones" ("id") on delete set null;`,
    );

    this.addSql(
      `alter table "task_attachments" add constraint "task_attachments_task_id_foreign" foreign key ("task_id") references "tasks" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "task_comments" add constraint "task_comments_task_id_foreign" foreign key ("task_id") references "tasks" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "task_comments" add constraint "task_comments_parent_id_foreign" foreign key ("parent_id") references "task_comments" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "task_relationships" add constraint "task_relationships_source_task_id_foreign" foreign key ("source_task_id") references "tasks" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "task_relationships" add constraint "task_relationships_target_task_id_foreign" foreign key ("target_task_id") references "tasks" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "task_status_history" add constraint "task_status_history_task_id_foreign" foreign key ("task_id") references "tasks" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "task_time_logs" add constraint "task_time_logs_task_id_foreign" foreign key ("task_id") references "tasks" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "template_categories" add constraint "template_categories_parent_id_foreign" foreign key ("parent_id") references "template_categories" ("id") on delete restrict;`,
    );

    this.addSql(
      `alter table "templates" add constraint "templates_category_id_foreign" foreign key ("category_id") references "template_categories" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "templates" add constraint "templates_type_id_foreign" foreign key ("type_id") references "template_types" ("id") on delete restrict;`,
    );

    this.addSql(
      `alter table "template_reviews" add constraint "template_reviews_template_id_foreign" foreign key ("template_id") references "templates" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "template_permissions" add constraint "template_permissions_template_id_foreign" foreign key ("template_id") references "templates" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_template_id_foreign" foreign key ("template_id") references "templates" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "template_dependencies" add constraint "template_dependencies_depends_on_template_id_foreign" foreign key ("depends_on_template_id") references "templates" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "template_usage_logs" add constraint "template_usage_logs_template_id_foreign" foreign key ("template_id") references "templates" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "template_usage_logs" add constraint "template_usage_logs_task_id_foreign" foreign key ("task_id") references "tasks" ("id") on delete set null;`,
    );

    this.addSql(
      `alter table "template_versions" add constraint "template_versions_template_id_foreign" foreign key ("template_id") references "templates" ("id") on delete cascade;`,
    );
  }

  async down() {
    this.addSql(`drop table if exists "template_versions" cascade;`);
    this.addSql(`drop table if exists "template_usage_logs" cascade;`);
    this.addSql(`drop table if exists "template_dependencies" cascade;`);
    this.addSql(`drop table if exists "template_permissions" cascade;`);
    this.addSql(`drop table if exists "template_reviews" cascade;`);
    this.addSql(`drop table if exists "templates" cascade;`);
    this.addSql(`drop table if exists "template_types" cascade;`);
    this.addSql(`drop table if exists "template_categories" cascade;`);
    this.addSql(`drop table if exists "task_time_logs" cascade;`);
    this.addSql(`drop table if exists "task_status_history" cascade;`);
    this.addSql(`drop table if exists "task_relationships" cascade;`);
    this.addSql(`drop table if exists "task_comments" cascade;`);
    this.addSql(`drop table if exists "task_attachments" cascade;`);
    this.addSql(`drop table if exists "tasks" cascade;`);
    this.addSql(`drop table if exists "sprints" cascade;`);
    this.addSql(`drop table if exists "security_events" cascade;`);
    this.addSql(`drop table if exists "milestones" cascade;`);
    this.addSql(`drop table if exists "releases" cascade;`);
    this.addSql(`drop table if exists "outbox_events" cascade;`);
    this.addSql(`drop table if exists "idempotency_keys" cascade;`);
    this.addSql(`drop table if exists "audit_log" cascade;`);
    this.addSql(`drop function if exists "outbox_events_outbox_events_notify_fn"();`);
    this.addSql(`drop function if exists "template_versions_template_versions_immutable_fn"();`);
    this.addSql(`drop extension if exists pg_stat_statements;`);
    this.addSql(`drop extension if exists pg_trgm;`);
  }
}
