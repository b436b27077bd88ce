/**
 * Request validation of the alert RPCs. Every problem is collected as a field violation (field names as in
 * the request, e.g. `alert_rule.display_name`) and thrown together as INVALID_ARGUMENT.
 */
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { AlertRuleInput, AlertRuleRow } from "@taskmaster/persistence/alert.repository";
import {
  AlertCondition,
  AlertConditionSchema,
  type AlertRule,
  AlertSeverity,
  AlertSeveritySchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/alert_pb";
import type {
  CreateAlertRuleRequest,
  UpdateAlertRuleRequest,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { codePointLength, type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { ALERT_RULE_PATTERN, conditionCodec, severityCodec, versionFromEtag } from "./alert.mapper.js";

export const DEFAULT_EVALUATION_INTERVAL_MS = 30_000;
export const DEFAULT_SLOW_QUERY_THRESHOLD_MS = 1_000;

/** Fields UpdateAlertRule may name in its mask. */
export const UPDATABLE_RULE_FIELDS = [
  "display_name",
  "description",
  "condition",
  "threshold",
  "service",
  "evaluation_interval",
  "for_duration",
  "severity",
  "enabled",
  "webhook_url",
] as const;
type RuleField = (typeof UPDATABLE_RULE_FIELDS)[number];
const OUTPUT_ONLY = ["name", "uid", "create_time", "update_time", "etag"];

export interface AlertValidationOptions {
  /** Allow http:// webhook URLs (development and test profiles); https is always allowed. */
  readonly allowHttpWebhooks: boolean;
}

function durationMs(v: Validator, field: string, d: Duration): number | undefined {
  if (d.seconds < 0n || d.nanos < 0 || d.nanos > 999_999_999 || d.seconds > 315_576_000_000n) {
    v.add(field, "must be a valid non-negative duration", "OUT_OF_RANGE");
    return undefined;
  }
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function webhook(v: Validator, field: string, raw: string, options: AlertValidationOptions): string | null {
  if (raw === "") return null;
  if (raw.length > 2048) {
    v.add(field, "must be at most 2048 characters", "TOO_LONG");
    return null;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    v.add(field, "must be an absolute URL", "INVALID_FORMAT");
    return null;
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && options.allowHttpWebhooks)) {
    v.add(
      field,
      options.allowHttpWebhooks ? "must be an http or https URL" : "must be an https URL",
      "INVALID_FORMAT",
    );
    return null;
  }
  if (url.hash !== "") v.add(field, "must not contain a fragment", "INVALID_FORMAT");
  return raw;
}

/**
 * Applies the fields of `rule` selected by `paths` (every field on create) onto `base`, validating each,
 * then checks the combination. Returns the complete input (meaningful only when `v` has no violations).
 */
function applyRuleFields(
  v: Validator,
  rule: AlertRule,
  paths: readonly RuleField[],
  base: AlertRuleInput,
  options: AlertValidationOptions,
  creating: boolean,
): AlertRuleInput {
  const out: AlertRuleInput = { ...base };
  const f = (name: string) => `alert_rule.${name}`;
  for (const path of paths) {
    switch (path) {
      case "display_name":
        if (v.required(f(path), rule.displayName)) v.length(f(path), rule.displayName, 1, 100);
        if (rule.displayName.trim() === "" && rule.displayName !== "") v.add(f(path), "must not be blank");
        out.displayName = rule.displayName;
        break;
      case "description":
        v.maxLength(f(path), rule.description, 2000);
        out.description = rule.description;
        break;
      case "condition":
        v.enumDefined(f(path), rule.condition, AlertConditionSchema);
        out.condition = conditionCodec.toDb(rule.condition) ?? out.condition;
        break;
      case "threshold":
        if (!Number.isFinite(rule.threshold) || rule.threshold < 0) {
          v.add(f(path), "must be a finite number >= 0", "OUT_OF_RANGE");
        }
        out.threshold = rule.threshold;
        break;
      case "service":
        if (codePointLength(rule.service) > 100) v.add(f(path), "must be at most 100 characters", "TOO_LONG");
        v.pattern(
          f(path),
          rule.service,
          SERVICE_RE,
          "must be a service or component name (letters, digits, . _ -)",
        );
        out.service = rule.service;
        break;
      case "evaluation_interval": {
        if (rule.evaluationInterval === undefined) {
          out.evaluationIntervalMs = DEFAULT_EVALUATION_INTERVAL_MS;
          break;
        }
        const ms = durationMs(v, f(path), rule.evaluationInterval);
        if (ms !== undefined && (ms < 5_000 || ms > 3_600_000)) {
          v.add(f(path), "must be between 5 s and 1 h", "OUT_OF_RANGE");
        }
        out.evaluationIntervalMs = ms ?? DEFAULT_EVALUATION_INTERVAL_MS;
        break;
      }
      case "for_duration": {
        if (rule.forDuration === undefined) {
          out.forDurationMs = 0;
          break;
        }
        const ms = durationMs(v, f(path), rule.forDuration);
        if (ms !== undefined && ms > 86_400_000) v.add(f(path), "must be at most 24 h", "OUT_OF_RANGE");
        out.forDurationMs = ms ?? 0;
        break;
      }
      case "severity":
        v.enumDefined(f(path), rule.severity, AlertSeveritySchema, { allowUnspecified: creating });
        out.severity =
          rule.severity === AlertSeverity.UNSPECIFIED
            ? "warning"
            : (severityCodec.toDb(rule.severity) ?? "warning");
        break;
      case "enabled":
        out.enabled = rule.enabled;
        break;
      case "webhook_url":
        out.webhookUrl = webhook(v, f(path), rule.webhookUrl, options);
        break;
    }
  }
  // The combination: ratios are at most 1; a slow-query rule without threshold uses the default.
  const condition = conditionCodec.fromDb(out.condition);
  if (
    (condition === AlertCondition.POOL_SATURATION || condition === AlertCondition.ERROR_RATE) &&
    out.threshold > 1 &&
    !v.has("alert_rule.threshold")
  ) {
    v.add("alert_rule.threshold", "is a ratio between 0 and 1 for this condition", "OUT_OF_RANGE");
  }
  if (condition === AlertCondition.SLOW_QUERY && out.threshold === 0 && paths.includes("threshold")) {
    out.threshold = DEFAULT_SLOW_QUERY_THRESHOLD_MS;
  }
  return out;
}

const EMPTY_INPUT: AlertRuleInput = {
  displayName: "",
  description: "",
  condition: "slow_query",
  threshold: 0,
  service: "",
  evaluationIntervalMs: DEFAULT_EVALUATION_INTERVAL_MS,
  forDurationMs: 0,
  severity: "warning",
  enabled: false,
  webhookUrl: null,
};

/** A neutral base for validating update values alone (combination checks happen on merge). */
const EMPTY_INPUT_FOR_UPDATE: AlertRuleInput = { ...EMPTY_INPUT, condition: "database_down" };

export function validateCreateAlertRule(
  req: CreateAlertRuleRequest,
  options: AlertValidationOptions,
): { input: AlertRuleInput; requestId: string | null } {
  const v = validator();
  v.uuid("request_id", req.requestId);
  const rule = req.alertRule;
  if (rule === undefined) {
    v.add("alert_rule", "is required", "REQUIRED");
    v.check();
    throw new Error("unreachable");
  }
  const input = applyRuleFields(v, rule, UPDATABLE_RULE_FIELDS, EMPTY_INPUT, options, true);
  v.check();
  return { input, requestId: req.requestId === "" ? null : req.requestId.toLowerCase() };
}

export interface ValidatedUpdate {
  readonly id: string;
  readonly expectedVersion: number | null;
  /** Merges the masked fields onto the current row; throws INVALID_ARGUMENT on bad values. */
  readonly merge: (current: AlertRuleRow) => AlertRuleInput;
}

export function validateUpdateAlertRule(
  req: UpdateAlertRuleRequest,
  options: AlertValidationOptions,
): ValidatedUpdate {
  const v = validator();
  const rule = req.alertRule;
  if (rule === undefined) v.add("alert_rule", "is required", "REQUIRED");
  const id = v.resourceName("alert_rule.name", ALERT_RULE_PATTERN, rule?.name);
  let expectedVersion: number | null = null;
  if (rule !== undefined && rule.etag !== "") {
    const ver = versionFromEtag(rule.etag);
    if (ver === undefined)
      v.add("alert_rule.etag", 'must be an etag returned by the server (W/"n")', "INVALID_FORMAT");
    else expectedVersion = ver;
  }
  let paths: RuleField[] = [];
  const rawPaths = req.updateMask?.paths ?? [];
  if (req.updateMask === undefined || rawPaths.length === 0) {
    v.add("update_mask", "is required and must name at least one field", "REQUIRED");
  } else if (rawPaths.includes("*")) {
    if (rawPaths.length > 1) v.add("update_mask", '"*" must be the only path', "INVALID_FORMAT");
    paths = [...UPDATABLE_RULE_FIELDS];
  } else {
    rawPaths.forEach((p, i) => {
      if ((UPDATABLE_RULE_FIELDS as readonly string[]).includes(p)) {
        if (!paths.includes(p as RuleField)) paths.push(p as RuleField);
      } else if (OUTPUT_ONLY.includes(p)) {
        v.add(`update_mask.paths[${i}]`, `"${p}" is not updatable`, "OUTPUT_ONLY_FIELD");
      } else {
        v.add(
          `update_mask.paths[${i}]`,
          `unknown field "${Array.from(p).slice(0, 100).join("")}" (updatable: ${UPDATABLE_RULE_FIELDS.join(", ")})`,
          "UNKNOWN_FIELD",
        );
      }
    });
  }
  // Validate the supplied values up front, independent of the stored row.
  if (rule !== undefined) applyRuleFields(v, rule, paths, EMPTY_INPUT_FOR_UPDATE, options, false);
  v.check();
  return {
    id: id as string,
    expectedVersion,
    merge(current) {
      const mv = validator();
      const out = applyRuleFields(mv, rule as AlertRule, paths, current, options, false);
      mv.check();
      return out;
    },
  };
}
