/**
 * Alert rules and recorded alerts (MonitoringService). Plain rows out; Kysely `sql` templates (sql-toolkit.ts).
 * Writes on rules bump `version` (the etag) and `updated_at`; a write naming an expected version that no
 * longer matches reports "stale". At most one FIRING alert exists per rule (partial unique index), so
 * {@link fireAlert} is idempotent while a rule stays firing.
 */
import type { EntityManager } from "@mikro-orm/core";
import { newId } from "./ids.js";
import { type ColumnSpec, type ListQuery, listKeysetPage, type Page } from "./list-page.js";
import { query as run, sql } from "./sql-toolkit.js";

export type AlertConditionValue =
  | "slow_query"
  | "pool_saturation"
  | "error_rate"
  | "database_down"
  | "component_down"
  | "backup_stale"
  | "restore_test_failed";
export type AlertSeverityValue = "info" | "warning" | "critical";
export type AlertStateValue = "firing" | "resolved";
export type WebhookDeliveryValue = "not_configured" | "pending" | "delivered" | "failed";

export interface AlertRuleRow {
  id: string;
  displayName: string;
  description: string;
  condition: AlertConditionValue;
  threshold: number;
  service: string;
  evaluationIntervalMs: number;
  forDurationMs: number;
  severity: AlertSeverityValue;
  enabled: boolean;
  webhookUrl: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface AlertRow {
  id: string;
  ruleId: string;
  state: AlertStateValue;
  severity: AlertSeverityValue;
  condition: AlertConditionValue;
  service: string;
  summary: string;
  observedValue: number;
  threshold: number;
  fireTime: Date;
  resolveTime: Date | null;
  webhookDeliveryState: WebhookDeliveryValue;
  webhookAttempts: number;
}

/** Updatable fields of a rule. */
export type AlertRuleInput = Omit<AlertRuleRow, "id" | "version" | "createdAt" | "updatedAt">;

type Raw = Record<string, unknown>;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

const RULE_SELECT_LIST = `x.id, x.display_name, x.description, x.condition, x.threshold, x.service,
  x.evaluation_interval_ms, x.for_duration_ms, x.severity, x.enabled, x.webhook_url, x.version,
  x.created_at, x.updated_at`;
const RULE_SELECT = sql.raw(RULE_SELECT_LIST);

const ALERT_SELECT_LIST = `x.id, x.rule_id, x.state, x.severity, x.condition, x.service, x.summary,
  x.observed_value, x.threshold, x.fire_time, x.resolve_time, x.webhook_delivery_state, x.webhook_attempts`;
const ALERT_SELECT = sql.raw(ALERT_SELECT_LIST);

export function alertRuleFromDb(r: Raw): AlertRuleRow {
  return {
    id: String(r.id),
    displayName: String(r.display_name),
    description: String(r.description ?? ""),
    condition: r.condition as AlertConditionValue,
    threshold: Number(r.threshold),
    service: String(r.service ?? ""),
    evaluationIntervalMs: Number(r.evaluation_interval_ms),
    forDurationMs: Number(r.for_duration_ms),
    severity: r.severity as AlertSeverityValue,
    enabled: r.enabled === true,
    webhookUrl: r.webhook_url === null || r.webhook_url === undefined ? null : String(r.webhook_url),
    version: Number(r.version),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function alertFromDb(r: Raw): AlertRow {
  return {
    id: String(r.id),
    ruleId: String(r.rule_id),
    state: r.state as AlertStateValue,
    severity: r.severity as AlertSeverityValue,
    condition: r.condition as AlertConditionValue,
    service: String(r.service ?? ""),
    summary: String(r.summary ?? ""),
    observedValue: Number(r.observed_value),
    threshold: Number(r.threshold),
    fireTime: date(r.fire_time),
    resolveTime: r.resolve_time === null || r.resolve_time === undefined ? null : date(r.resolve_time),
    webhookDeliveryState: r.webhook_delivery_state as WebhookDeliveryValue,
    webhookAttempts: Number(r.webhook_attempts),
  };
}

/**
 * Inserts a rule. With `requestId`, a retry with the same id returns the first rule (`created: false`)
 * instead of inserting a duplicate.
 */
export async function insertAlertRule(
  em: EntityManager,
  input: AlertRuleInput,
  requestId: string | null,
): Promise<{ row: AlertRuleRow; created: boolean }> {
  const rows = await run(
    em,
    sql<Raw>`insert into alert_rules as x (id, display_name, description, condition, threshold, service,
        evaluation_interval_ms, for_duration_ms, severity, enabled, webhook_url, request_id)
     values (${newId()}::uuid, ${input.displayName}, ${input.description}, ${input.condition},
        ${input.threshold}, ${input.service}, ${input.evaluationIntervalMs}, ${input.forDurationMs},
        ${input.severity}, ${input.enabled}, ${input.webhookUrl}, ${requestId}::uuid)
     on conflict (request_id) where request_id is not null do nothing
     returning ${RULE_SELECT}`,
  );
  if (rows[0] !== undefined) return { row: alertRuleFromDb(rows[0]), created: true };
  const existing = await run(
    em,
    sql<Raw>`select ${RULE_SELECT} from alert_rules x where x.request_id = ${requestId}::uuid`,
  );
  if (existing[0] === undefined) throw new Error("alert rule request_id conflict without a row");
  return { row: alertRuleFromDb(existing[0]), created: false };
}

export async function getAlertRule(em: EntityManager, id: string): Promise<AlertRuleRow | null> {
  const rows = await run(em, sql<Raw>`select ${RULE_SELECT} from alert_rules x where x.id = ${id}::uuid`);
  return rows[0] === undefined ? null : alertRuleFromDb(rows[0]);
}

/** Every enabled rule (the evaluator's working set). */
export async function listEnabledAlertRules(em: EntityManager): Promise<AlertRuleRow[]> {
  const rows = await run(
    em,
    sql<Raw>`select ${RULE_SELECT} from alert_rules x where x.enabled order by x.created_at, x.id`,
  );
  return rows.map(alertRuleFromDb);
}

export type AlertRuleFilterField = "condition" | "severity" | "enabled" | "service";
export type AlertRuleOrderField = "display_name" | "severity" | "create_time";

const SEVERITY_RANK = `(case x.severity when 'info' then 1 when 'warning' then 2 else 3 end)`;

const RULE_COLUMNS: Record<AlertRuleFilterField | AlertRuleOrderField, ColumnSpec> = {
  condition: { expr: "x.condition", cast: "text" },
  severity: { expr: SEVERITY_RANK, cast: "int" },
  enabled: { expr: "x.enabled::text", cast: "text" },
  service: { expr: "x.service", cast: "text" },
  display_name: { expr: "x.display_name", cast: "text" },
  create_time: { expr: "x.created_at", cast: "timestamptz" },
};

export function listAlertRules(
  em: EntityManager,
  query: ListQuery<AlertRuleFilterField, AlertRuleOrderField>,
): Promise<Page<AlertRuleRow>> {
  return listKeysetPage(
    em,
    {
      selectList: RULE_SELECT_LIST,
      from: "alert_rules x",
      where: [],
      columns: RULE_COLUMNS,
      map: alertRuleFromDb,
    },
    query,
  );
}

export type WriteOutcome<T> = { kind: "ok"; row: T } | { kind: "not_found" } | { kind: "stale" };

/** Replaces the updatable fields of a rule whose version is `expectedVersion`. */
export async function updateAlertRule(
  em: EntityManager,
  id: string,
  input: AlertRuleInput,
  expectedVersion: number,
): Promise<WriteOutcome<AlertRuleRow>> {
  const rows = await run(
    em,
    sql<Raw>`update alert_rules x set display_name = ${input.displayName}, description = ${input.description},
        condition = ${input.condition}, threshold = ${input.threshold}, service = ${input.service},
        evaluation_interval_ms = ${input.evaluationIntervalMs}, for_duration_ms = ${input.forDurationMs},
        severity = ${input.severity}, enabled = ${input.enabled}, webhook_url = ${input.webhookUrl},
        version = version + 1, updated_at = now()
      where x.id = ${id}::uuid and x.version = ${expectedVersion}::int
      returning ${RULE_SELECT}`,
  );
  if (rows[0] !== undefined) return { kind: "ok", row: alertRuleFromDb(rows[0]) };
  return (await getAlertRule(em, id)) === null ? { kind: "not_found" } : { kind: "stale" };
}

/** Deletes a rule (its alerts stay); with `expectedVersion`, only when it still matches. */
export async function deleteAlertRule(
  em: EntityManager,
  id: string,
  expectedVersion: number | null,
): Promise<WriteOutcome<null>> {
  const rows = await run(
    em,
    sql<Raw>`delete from alert_rules x
      where x.id = ${id}::uuid and (${expectedVersion}::int is null or x.version = ${expectedVersion}::int)
      returning x.id`,
  );
  if (rows[0] !== undefined) return { kind: "ok", row: null };
  return (await getAlertRule(em, id)) === null ? { kind: "not_found" } : { kind: "stale" };
}

export async function getAlert(em: EntityManager, id: string): Promise<AlertRow | null> {
  const rows = await run(em, sql<Raw>`select ${ALERT_SELECT} from alerts x where x.id = ${id}::uuid`);
  return rows[0] === undefined ? null : alertFromDb(rows[0]);
}

export type AlertFilterField = "state" | "severity" | "condition" | "alert_rule" | "service" | "fire_time";
export type AlertOrderField = "fire_time" | "resolve_time" | "severity";

const ALERT_COLUMNS: Record<AlertFilterField | AlertOrderField, ColumnSpec> = {
  state: { expr: "x.state", cast: "text" },
  severity: { expr: SEVERITY_RANK, cast: "int" },
  condition: { expr: "x.condition", cast: "text" },
  alert_rule: { expr: "x.rule_id", cast: "uuid" },
  service: { expr: "x.service", cast: "text" },
  fire_time: { expr: "x.fire_time", cast: "timestamptz" },
  resolve_time: { expr: "x.resolve_time", cast: "timestamptz" },
};

export function listAlerts(
  em: EntityManager,
  query: ListQuery<AlertFilterField, AlertOrderField>,
): Promise<Page<AlertRow>> {
  return listKeysetPage(
    em,
    { selectList: ALERT_SELECT_LIST, from: "alerts x", where: [], columns: ALERT_COLUMNS, map: alertFromDb },
    query,
  );
}

/** The FIRING alert of a rule, if any. */
export async function firingAlertOfRule(em: EntityManager, ruleId: string): Promise<AlertRow | null> {
  const rows = await run(
    em,
    sql<Raw>`select ${ALERT_SELECT} from alerts x where x.rule_id = ${ruleId}::uuid and x.state = 'firing'`,
  );
  return rows[0] === undefined ? null : alertFromDb(rows[0]);
}

/** Every FIRING alert, oldest first. */
export async function listFiringAlerts(em: EntityManager): Promise<AlertRow[]> {
  const rows = await run(
    em,
    sql<Raw>`select ${ALERT_SELECT} from alerts x where x.state = 'firing' order by x.fire_time, x.id`,
  );
  return rows.map(alertFromDb);
}

export interface FireInput {
  /** New alert id (the caller's, so an alert can be announced before it is stored). */
  id: string;
  ruleId: string;
  severity: AlertSeverityValue;
  condition: AlertConditionValue;
  service: string;
  summary: string;
  observedValue: number;
  threshold: number;
  fireTime: Date;
  webhookDeliveryState: WebhookDeliveryValue;
}

/** Records a FIRING alert; null when the rule already has one (nothing is written then). */
export async function fireAlert(em: EntityManager, input: FireInput): Promise<AlertRow | null> {
  const rows = await run(
    em,
    sql<Raw>`insert into alerts as x (id, rule_id, state, severity, condition, service, summary, observed_value,
        threshold, fire_time, webhook_delivery_state)
     values (${input.id}::uuid, ${input.ruleId}::uuid, 'firing', ${input.severity}, ${input.condition},
        ${input.service}, ${input.summary}, ${input.observedValue}, ${input.threshold},
        ${input.fireTime.toISOString()}::timestamptz, ${input.webhookDeliveryState})
     on conflict (rule_id) where state = 'firing' do nothing
     returning ${ALERT_SELECT}`,
  );
  return rows[0] === undefined ? null : alertFromDb(rows[0]);
}

/** Resolves the FIRING alert of a rule; null when it has none. */
export async function resolveAlert(
  em: EntityManager,
  ruleId: string,
  resolveTime: Date,
  webhookDeliveryState: WebhookDeliveryValue,
): Promise<AlertRow | null> {
  const rows = await run(
    em,
    sql<Raw>`update alerts x
        set state = 'resolved', resolve_time = greatest(${resolveTime.toISOString()}::timestamptz, x.fire_time),
            webhook_delivery_state = ${webhookDeliveryState}, webhook_attempts = 0, version = version + 1,
            updated_at = now()
      where x.rule_id = ${ruleId}::uuid and x.state = 'firing'
      returning ${ALERT_SELECT}`,
  );
  return rows[0] === undefined ? null : alertFromDb(rows[0]);
}

/**
 * Records the webhook delivery of the alert's transition `state` (ignored when the alert moved on to
 * another transition meanwhile).
 */
export async function recordWebhookDelivery(
  em: EntityManager,
  alertId: string,
  state: AlertStateValue,
  delivery: WebhookDeliveryValue,
  attempts: number,
): Promise<AlertRow | null> {
  const rows = await run(
    em,
    sql<Raw>`update alerts x set webhook_delivery_state = ${delivery}, webhook_attempts = ${attempts}::int,
        version = version + 1, updated_at = now()
      where x.id = ${alertId}::uuid and x.state = ${state}::text
      returning ${ALERT_SELECT}`,
  );
  return rows[0] === undefined ? null : alertFromDb(rows[0]);
}

/**
 * The slowest statement of the current database by mean execution time (ms) from pg_stat_statements
 * (its query id only, never text or parameters); null when no statement was recorded. Callers check that
 * the extension is available first.
 */
export async function slowestStatement(
  em: EntityManager,
): Promise<{ meanMs: number; queryId: string } | null> {
  const rows = await run(
    em,
    sql<Raw>`select s.mean_exec_time as mean_ms, s.queryid::text as query_id
       from pg_stat_statements s
      where s.dbid = (select oid from pg_database where datname = current_database())
      order by s.mean_exec_time desc limit 1`,
  );
  const r = rows[0];
  return r === undefined ? null : { meanMs: Number(r.mean_ms), queryId: String(r.query_id ?? "") };
}
