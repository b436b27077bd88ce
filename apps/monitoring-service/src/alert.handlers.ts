/**
 * MonitoringService alerting RPCs: alert rule CRUD (validation, etag, update mask, paging, filter,
 * idempotent create), recorded alerts (Get/List) and WatchAlerts (transitions as they happen, optional
 * currently-firing alerts first, heartbeats when idle; ends cleanly on cancel and on shutdown). Database work
 * is bounded: UNAVAILABLE rather than a hang.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import {
  type AlertFilterField,
  type AlertRow,
  deleteAlertRule,
  getAlert,
  getAlertRule,
  insertAlertRule,
  listAlertRules,
  listAlerts,
  listFiringAlerts,
  updateAlertRule,
} from "@taskmaster/persistence/alert.repository";
import type { Condition } from "@taskmaster/persistence/list-page";
import {
  AlertConditionSchema,
  AlertSeveritySchema,
  AlertStateSchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/alert_pb";
import {
  type MonitoringService,
  type WatchAlertsResponse,
  WatchAlertsResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { NotFoundError, StaleEtagError } from "@taskmaster/rpc-kit/errors";
import {
  type ListFieldSpec,
  type ListSpec,
  listQueryOf,
  parseListFilter,
} from "@taskmaster/rpc-kit/list-filter";
import { validator } from "@taskmaster/rpc-kit/validation";
import {
  ALERT_PATTERN,
  ALERT_RULE_PATTERN,
  alertRuleToMessage,
  alertToMessage,
  conditionCodec,
  severityCodec,
  severityRankOf,
  versionFromEtag,
} from "./alert.mapper.js";
import { matchesAlert, ORDER_SYNTAX } from "./alert.query.js";
import {
  type AlertValidationOptions,
  validateCreateAlertRule,
  validateUpdateAlertRule,
} from "./alert.validation.js";
import type { AlertHub } from "./alert-evaluator.js";
import { boundedOrm } from "./monitoring.handlers.js";
import { msFromDuration } from "./monitoring.mapper.js";

export interface AlertHandlerDeps {
  readonly orm: MikroORM;
  readonly hub: AlertHub;
  readonly validation: AlertValidationOptions;
  /** Bound on the database work of one RPC before answering UNAVAILABLE. */
  readonly dbTimeoutMs: number;
}

type Handlers = Pick<
  ServiceImpl<typeof MonitoringService>,
  | "createAlertRule"
  | "getAlertRule"
  | "listAlertRules"
  | "updateAlertRule"
  | "deleteAlertRule"
  | "getAlert"
  | "listAlerts"
  | "watchAlerts"
>;

const severityField: ListFieldSpec = {
  kind: "enum",
  desc: AlertSeveritySchema,
  toDb: (n) => {
    const s = severityCodec.toDb(n);
    return s === undefined ? undefined : severityRankOf(s);
  },
  ordered: true,
};

const RULE_FILTER = {
  condition: { kind: "enum", desc: AlertConditionSchema, toDb: (n: number) => conditionCodec.toDb(n) },
  severity: severityField,
  enabled: { kind: "bool" },
  service: { kind: "string" },
} as const satisfies Record<string, ListFieldSpec>;

const ALERT_FILTER = {
  state: {
    kind: "enum",
    desc: AlertStateSchema,
    toDb: (n: number) => (n === 1 ? "firing" : n === 2 ? "resolved" : undefined),
  },
  severity: severityField,
  condition: { kind: "enum", desc: AlertConditionSchema, toDb: (n: number) => conditionCodec.toDb(n) },
  alert_rule: { kind: "name", pattern: ALERT_RULE_PATTERN },
  service: { kind: "string" },
  fire_time: { kind: "timestamp" },
} as const satisfies Record<AlertFilterField, ListFieldSpec>;

const RULES: ListSpec<keyof typeof RULE_FILTER, "display_name" | "severity" | "create_time"> = {
  fields: RULE_FILTER,
  orderFields: ["display_name", "severity", "create_time"],
  defaultOrder: { field: "create_time", desc: false },
  orderSyntax: ORDER_SYNTAX,
};

const ALERTS: ListSpec<AlertFilterField, "fire_time" | "resolve_time" | "severity"> = {
  fields: ALERT_FILTER,
  orderFields: ["fire_time", "resolve_time", "severity"],
  defaultOrder: { field: "fire_time", desc: true },
  orderSyntax: ORDER_SYNTAX,
};

async function* watchAlerts(
  deps: AlertHandlerDeps,
  conditions: readonly Condition<AlertFilterField>[],
  includeFiring: boolean,
  heartbeatMs: number,
  ctx: HandlerContext,
): AsyncGenerator<WatchAlertsResponse> {
  const queue: AlertRow[] = [];
  let wake: (() => void) | undefined;
  let closed = deps.hub.closed;
  const unsubscribe = deps.hub.subscribe(
    (alert) => {
      if (!matchesAlert(alert, conditions)) return;
      queue.push(alert);
      wake?.();
    },
    () => {
      closed = true;
      wake?.();
    },
  );
  const onAbort = () => wake?.();
  ctx.signal.addEventListener("abort", onAbort);
  try {
    if (includeFiring) {
      const firing = await boundedOrm(deps.orm.em, deps.dbTimeoutMs, listFiringAlerts);
      const sent = new Set<string>();
      for (const a of firing.filter((f) => matchesAlert(f, conditions))) {
        sent.add(`${a.id}:${a.state}`);
        yield create(WatchAlertsResponseSchema, { message: { case: "alert", value: alertToMessage(a) } });
      }
      // Transitions that happened while loading and were already sent as part of the snapshot.
      for (let i = queue.length - 1; i >= 0; i--) {
        const q = queue[i] as AlertRow;
        if (sent.has(`${q.id}:${q.state}`)) queue.splice(i, 1);
      }
    }
    while (!ctx.signal.aborted && !closed) {
      if (queue.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        let timedOut = false;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(() => {
            timedOut = true;
            resolve();
          }, heartbeatMs);
        });
        clearTimeout(timer);
        wake = undefined;
        if (ctx.signal.aborted || (closed && queue.length === 0)) return;
        if (timedOut && queue.length === 0) {
          yield create(WatchAlertsResponseSchema, {
            message: { case: "heartbeat", value: { serverTime: timestampFromDate(new Date()) } },
          });
          continue;
        }
      }
      const next = queue.shift();
      if (next !== undefined) {
        yield create(WatchAlertsResponseSchema, { message: { case: "alert", value: alertToMessage(next) } });
      }
    }
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

export function createAlertHandlers(deps: AlertHandlerDeps): Handlers {
  const bounded = <T>(work: (em: EntityManager) => Promise<T>) =>
    boundedOrm(deps.orm.em, deps.dbTimeoutMs, work);

  return {
    async createAlertRule(req) {
      const { input, requestId } = validateCreateAlertRule(req, deps.validation);
      if (req.validateOnly) {
        const now = new Date();
        return {
          alertRule: alertRuleToMessage({
            ...input,
            id: "00000000-0000-0000-0000-000000000000",
            version: 1,
            createdAt: now,
            updatedAt: now,
          }),
        };
      }
      // Writes run in a transaction: the audit context (actor, request id, ...) is set per transaction.
      const { row } = await bounded((tx) => insertAlertRule(tx, input, requestId));
      return { alertRule: alertRuleToMessage(row) };
    },

    async getAlertRule(req) {
      const v = validator();
      const id = v.resourceName("name", ALERT_RULE_PATTERN, req.name);
      v.check();
      const row = await bounded((em) => getAlertRule(em, id as string));
      if (row === null) throw new NotFoundError("alertRule", req.name);
      return { alertRule: alertRuleToMessage(row) };
    },

    async listAlertRules(req) {
      const query = listQueryOf(req, RULES, { binding: ["alertRules", req.filter, req.orderBy] });
      const page = await bounded((em) => listAlertRules(em, query));
      return { alertRules: page.items.map(alertRuleToMessage), nextPageToken: page.nextPageToken ?? "" };
    },

    async updateAlertRule(req) {
      const upd = validateUpdateAlertRule(req, deps.validation);
      const name = req.alertRule?.name ?? "";
      const current = await bounded((em) => getAlertRule(em, upd.id));
      if (current === null) throw new NotFoundError("alertRule", name);
      if (upd.expectedVersion !== null && upd.expectedVersion !== current.version) {
        throw new StaleEtagError("alertRule", name);
      }
      const input = upd.merge(current);
      if (req.validateOnly) return { alertRule: alertRuleToMessage({ ...current, ...input }) };
      const out = await bounded((tx) => updateAlertRule(tx, upd.id, input, current.version));
      if (out.kind === "not_found") throw new NotFoundError("alertRule", name);
      if (out.kind === "stale") throw new StaleEtagError("alertRule", name);
      return { alertRule: alertRuleToMessage(out.row) };
    },

    async deleteAlertRule(req) {
      const v = validator();
      const id = v.resourceName("name", ALERT_RULE_PATTERN, req.name);
      let expected: number | null = null;
      if (req.etag !== "") {
        const ver = versionFromEtag(req.etag);
        if (ver === undefined)
          v.add("etag", 'must be an etag returned by the server (W/"n")', "INVALID_FORMAT");
        else expected = ver;
      }
      v.check();
      const out = await bounded((tx) => deleteAlertRule(tx, id as string, expected));
      if (out.kind === "not_found") throw new NotFoundError("alertRule", req.name);
      if (out.kind === "stale") throw new StaleEtagError("alertRule", req.name);
      return {};
    },

    async getAlert(req) {
      const v = validator();
      const id = v.resourceName("name", ALERT_PATTERN, req.name);
      v.check();
      const row = await bounded((em) => getAlert(em, id as string));
      if (row === null) throw new NotFoundError("alert", req.name);
      return { alert: alertToMessage(row) };
    },

    async listAlerts(req) {
      const query = listQueryOf(req, ALERTS, { binding: ["alerts", req.filter, req.orderBy] });
      const page = await bounded((em) => listAlerts(em, query));
      return { alerts: page.items.map(alertToMessage), nextPageToken: page.nextPageToken ?? "" };
    },

    watchAlerts(req, ctx) {
      const v = validator();
      let heartbeatMs = 30_000;
      if (req.heartbeatInterval !== undefined) {
        heartbeatMs = msFromDuration(req.heartbeatInterval);
        if (!(heartbeatMs >= 5_000 && heartbeatMs <= 60_000)) {
          v.add("heartbeat_interval", "must be between 5 s and 60 s", "OUT_OF_RANGE");
        }
      }
      v.check();
      const conditions = parseListFilter(req.filter, ALERT_FILTER);
      return watchAlerts(deps, conditions, req.includeFiring, heartbeatMs, ctx);
    },
  };
}
