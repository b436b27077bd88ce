/** Alert rule / alert rows -> messages (and the webhook JSON payload); enum codecs for the stored values. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  AlertConditionValue,
  AlertRow,
  AlertRuleRow,
  AlertSeverityValue,
  AlertStateValue,
  WebhookDeliveryValue,
} from "@taskmaster/persistence/alert.repository";
import {
  type Alert,
  type AlertCondition,
  AlertConditionSchema,
  type AlertRule,
  AlertRuleSchema,
  AlertSchema,
  type AlertSeverity,
  AlertSeveritySchema,
  type AlertState,
  AlertStateSchema,
  type WebhookDeliveryState,
  WebhookDeliveryStateSchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/alert_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { durationFromMs } from "./monitoring.mapper.js";

export const conditionCodec = enumCodec<AlertCondition, AlertConditionValue>(AlertConditionSchema);
export const severityCodec = enumCodec<AlertSeverity, AlertSeverityValue>(AlertSeveritySchema);
export const alertStateCodec = enumCodec<AlertState, AlertStateValue>(AlertStateSchema);
export const deliveryCodec = enumCodec<WebhookDeliveryState, WebhookDeliveryValue>(
  WebhookDeliveryStateSchema,
);

export const ALERT_RULE_PATTERN = "alertRules/{alert_rule}";
export const ALERT_PATTERN = "alerts/{alert}";

export const alertRuleName = (id: string): string => `alertRules/${id}`;
export const alertName = (id: string): string => `alerts/${id}`;

/** AIP-154 etag of a rule. */
export function alertRuleEtag(row: Pick<AlertRuleRow, "version">): string {
  return `W/"${row.version}"`;
}

/** The version an etag names, or undefined when it is not one of ours. */
export function versionFromEtag(etag: string): number | undefined {
  const m = /^W\/"([1-9][0-9]{0,9})"$/.exec(etag);
  return m === null ? undefined : Number(m[1]);
}

/** Severity rank as filters compare it (info < warning < critical). */
export function severityRankOf(s: AlertSeverityValue): number {
  return s === "info" ? 1 : s === "warning" ? 2 : 3;
}

export function alertRuleToMessage(row: AlertRuleRow): AlertRule {
  return create(AlertRuleSchema, {
    name: alertRuleName(row.id),
    uid: row.id,
    displayName: row.displayName,
    description: row.description,
    condition: conditionCodec.fromDb(row.condition),
    threshold: row.threshold,
    service: row.service,
    evaluationInterval: durationFromMs(row.evaluationIntervalMs),
    ...(row.forDurationMs > 0 && { forDuration: durationFromMs(row.forDurationMs) }),
    severity: severityCodec.fromDb(row.severity),
    enabled: row.enabled,
    webhookUrl: row.webhookUrl ?? "",
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    etag: alertRuleEtag(row),
  });
}

export function alertToMessage(row: AlertRow): Alert {
  return create(AlertSchema, {
    name: alertName(row.id),
    alertRule: alertRuleName(row.ruleId),
    state: alertStateCodec.fromDb(row.state),
    severity: severityCodec.fromDb(row.severity),
    condition: conditionCodec.fromDb(row.condition),
    service: row.service,
    summary: row.summary,
    observedValue: row.observedValue,
    threshold: row.threshold,
    fireTime: timestampFromDate(row.fireTime),
    ...(row.resolveTime !== null && { resolveTime: timestampFromDate(row.resolveTime) }),
    webhookDeliveryState: deliveryCodec.fromDb(row.webhookDeliveryState),
    webhookAttempts: row.webhookAttempts,
  });
}

/** JSON body POSTed to a rule's webhook for one transition (no secrets: the URL itself is not included). */
export interface WebhookPayload {
  readonly version: "1";
  readonly status: AlertStateValue;
  readonly alert: {
    readonly name: string;
    readonly alertRule: string;
    readonly ruleDisplayName: string;
    readonly state: string;
    readonly severity: string;
    readonly condition: string;
    readonly service: string;
    readonly summary: string;
    readonly observedValue: number;
    readonly threshold: number;
    readonly fireTime: string;
    readonly resolveTime: string | null;
  };
}

export function webhookPayload(alert: AlertRow, ruleDisplayName: string): WebhookPayload {
  const upper = (s: string, prefix: string) => `${prefix}${s.toUpperCase()}`;
  return {
    version: "1",
    status: alert.state,
    alert: {
      name: alertName(alert.id),
      alertRule: alertRuleName(alert.ruleId),
      ruleDisplayName,
      state: upper(alert.state, "ALERT_STATE_"),
      severity: upper(alert.severity, "ALERT_SEVERITY_"),
      condition: upper(alert.condition, "ALERT_CONDITION_"),
      service: alert.service,
      summary: alert.summary,
      observedValue: alert.observedValue,
      threshold: alert.threshold,
      fireTime: alert.fireTime.toISOString(),
      resolveTime: alert.resolveTime?.toISOString() ?? null,
    },
  };
}
