import { Migration } from "@mikro-orm/migrations";

/**
 * Alerting (MonitoringService alert rules and recorded alerts):
 * - alert_rules: configurable thresholds evaluated periodically; optimistic-lock `version` (etag), optional
 *   client `request_id` (idempotent create);
 * - alerts: one row per firing episode of a rule. At most one FIRING alert per rule (partial unique index),
 *   so a rule that stays firing is never recorded twice, even by concurrent evaluators. `rule_id` has no
 *   foreign key on purpose: recorded alerts outlive their deleted rule.
 */
export class Migration20261125144712_alerting extends Migration {
  name = "Migration20261125144712_alerting";

  async up() {
    this.addSql(`create table "alert_rules" (
      "id" uuid not null,
      "display_name" text not null,
      "description" text not null default '',
      "condition" text not null,
      "threshold" double precision not null default 0,
      "service" text not null default '',
      "evaluation_interval_ms" integer not null default 30000,
      "for_duration_ms" integer not null default 0,
      "severity" text not null default 'warning',
      "enabled" boolean not null default true,
      "webhook_url" text null,
      "request_id" uuid null,
      "version" integer not null default 1,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      constraint "alert_rules_pkey" primary key ("id"),
      constraint "alert_rules_display_name_check" check (char_length("display_name") between 1 and 100),
      constraint "alert_rules_description_check" check (char_length("description") <= 2000),
      constraint "alert_rules_condition_check" check ("condition" in ('slow_query', 'pool_saturation', 'error_rate', 'database_down', 'component_down')),
      constraint "alert_rules_threshold_check" check ("threshold" >= 0 and "threshold" < 'infinity'::double precision),
      constraint "alert_rules_service_check" check (char_length("service") <= 100),
      constraint "alert_rules_interval_check" check ("evaluation_interval_ms" between 5000 and 3600000),
      constraint "alert_rules_for_duration_check" check ("for_duration_ms" between 0 and 86400000),
      constraint "alert_rules_severity_check" check ("severity" in ('info', 'warning', 'critical')),
      constraint "alert_rules_webhook_url_check" check ("webhook_url" is null or ("webhook_url" ~ '^https?://' and char_length("webhook_url") <= 2048)),
      constraint "alert_rules_version_check" check ("version" >= 1)
    );`);
    this.addSql(
      `create unique index "alert_rules_request_id_unique" on "alert_rules" ("request_id") where "request_id" is not null;`,
    );
    this.addSql(`create index "alert_rules_created_idx" on "alert_rules" ("created_at", "id");`);

    this.addSql(`create table "alerts" (
      "id" uuid not null,
      "rule_id" uuid not null,
      "state" text not null default 'firing',
      "severity" text not null,
      "condition" text not null,
      "service" text not null default '',
      "summary" text not null default '',
      "observed_value" double precision not null default 0,
      "threshold" double precision not null default 0,
      "fire_time" timestamptz not null,
      "resolve_time" timestamptz null,
      "webhook_delivery_state" text not null default 'not_configured',
      "webhook_attempts" integer not null default 0,
      "version" integer not null default 1,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      constraint "alerts_pkey" primary key ("id"),
      constraint "alerts_state_check" check ("state" in ('firing', 'resolved')),
      constraint "alerts_resolve_time_check" check (("state" = 'firing') = ("resolve_time" is null)),
      constraint "alerts_resolve_after_fire_check" check ("resolve_time" is null or "resolve_time" >= "fire_time"),
      constraint "alerts_severity_check" check ("severity" in ('info', 'warning', 'critical')),
      constraint "alerts_condition_check" check ("condition" in ('slow_query', 'pool_saturation', 'error_rate', 'database_down', 'component_down')),
      constraint "alerts_service_check" check (char_length("service") <= 100),
      constraint "alerts_summary_check" check (char_length("summary") <= 1000),
      constraint "alerts_webhook_state_check" check ("webhook_delivery_state" in ('not_configured', 'pending', 'delivered', 'failed')),
      constraint "alerts_webhook_attempts_check" check ("webhook_attempts" >= 0),
      constraint "alerts_version_check" check ("version" >= 1)
    );`);
    this.addSql(
      `create unique index "alerts_one_firing_per_rule" on "alerts" ("rule_id") where "state" = 'firing';`,
    );
    this.addSql(`create index "alerts_fire_time_idx" on "alerts" ("fire_time", "id");`);
    this.addSql(`create index "alerts_rule_idx" on "alerts" ("rule_id", "fire_time");`);
  }

  async down() {
    this.addSql(`drop index if exists "alerts_rule_idx";`);
    this.addSql(`drop index if exists "alerts_fire_time_idx";`);
    this.addSql(`drop index if exists "alerts_one_firing_per_rule";`);
    this.addSql(`drop table if exists "alerts";`);
    this.addSql(`drop index if exists "alert_rules_created_idx";`);
    this.addSql(`drop index if exists "alert_rules_request_id_unique";`);
    this.addSql(`drop table if exists "alert_rules";`);
  }
}
