import { Migration } from "@mikro-orm/migrations";

/**
 * Default alert rules, so every database (production included) starts watched: database down, component
 * down, error rate and pool saturation, each over every service (`service` empty; since issue 12 the
 * monitoring service reads every process's pool and RPC figures). Fixed ids make the insert idempotent
 * (`on conflict do nothing`): re-running, or a rule an operator already edited, changes nothing. Operators
 * tune or disable them with UpdateAlertRule; down removes only rules still at version 1 (never edited).
 */
const DEFAULT_ALERT_RULES = [
  {
    id: "a1e7d0f0-0000-4000-8000-000000000001",
    displayName: "Database down",
    description: "The database does not answer the monitoring service's health checks.",
    condition: "database_down",
    threshold: 0,
    intervalMs: 30_000,
    forMs: 60_000,
    severity: "critical",
  },
  {
    id: "a1e7d0f0-0000-4000-8000-000000000002",
    displayName: "Component down",
    description: "A service answers NOT_SERVING (or not at all) on grpc.health.v1.",
    condition: "component_down",
    threshold: 0,
    intervalMs: 30_000,
    forMs: 60_000,
    severity: "critical",
  },
  {
    id: "a1e7d0f0-0000-4000-8000-000000000003",
    displayName: "Error rate above 5%",
    description: "More than 5% of all services' RPCs fail with server-side codes.",
    condition: "error_rate",
    threshold: 0.05,
    intervalMs: 60_000,
    forMs: 300_000,
    severity: "warning",
  },
  {
    id: "a1e7d0f0-0000-4000-8000-000000000004",
    displayName: "Pool saturation above 90%",
    description: "A service's database pool has more than 90% of its connections in use.",
    condition: "pool_saturation",
    threshold: 0.9,
    intervalMs: 30_000,
    forMs: 300_000,
    severity: "warning",
  },
];

const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;

export class Migration20261206121000_default_alert_rules extends Migration {
  name = "Migration20261206121000_default_alert_rules";

  async up() {
    const rows = DEFAULT_ALERT_RULES.map(
      (r) =>
        `(${quote(r.id)}, ${quote(r.displayName)}, ${quote(r.description)}, ${quote(r.condition)}, ${r.threshold}, '', ${r.intervalMs}, ${r.forMs}, ${quote(r.severity)}, true)`,
    );
    // The defaults are part of the schema version (the migrations table records when they came), not a
    // caller's change: no audit rows for them, so a fresh database's audit trail starts with its first user.
    this.addSql(`alter table "alert_rules" disable trigger "alert_rules_audit";`);
    this.addSql(
      `insert into "alert_rules" ("id", "display_name", "description", "condition", "threshold", "service", "evaluation_interval_ms", "for_duration_ms", "severity", "enabled") values ${rows.join(", ")} on conflict ("id") do nothing;`,
    );
    this.addSql(`alter table "alert_rules" enable trigger "alert_rules_audit";`);
  }

  async down() {
    const ids = DEFAULT_ALERT_RULES.map((r) => quote(r.id)).join(", ");
    this.addSql(
      `delete from "alerts" where "rule_id" in (select "id" from "alert_rules" where "id" in (${ids}) and "version" = 1);`,
    );
    this.addSql(`delete from "alert_rules" where "id" in (${ids}) and "version" = 1;`);
  }
}
