/**
 * AuditService request checks: admin access (UNAUTHENTICATED without `x-taskmaster-actor`, PERMISSION_DENIED
 * without the `admin` role in `x-taskmaster-roles`), filters (AIP-160 subset of alert.query), order, page
 * size and time ranges.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AuditCondition, AuditOrderField } from "@taskmaster/persistence/audit.repository";
import type { SecurityCondition } from "@taskmaster/persistence/security-events.repository";
import {
  AuditActionSchema,
  SecurityEventKindSchema,
} from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_pb";
import { ActorTypeSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/actor_pb";
import type { TimeRange } from "@taskmaster/proto/gen/taskmaster/common/v1/time_range_pb";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { type ListFieldSpec, parseListFilter } from "@taskmaster/rpc-kit/list-filter";
import type { Validator } from "@taskmaster/rpc-kit/validation";
import { parseOrderBy } from "./alert.query.js";
import { actorTypeToDb, auditActionToDb, securityKindToDb } from "./audit.mapper.js";

export const ACTOR_HEADER = "x-taskmaster-actor";
export const ROLES_HEADER = "x-taskmaster-roles";
export const ADMIN_ROLE = "admin";

export type AccessDecision =
  | { ok: true; actor: string }
  | { ok: false; kind: "authentication_failed" | "permission_denied"; actor: string | null; reason: string };

/** Who is calling and whether they may use the audit API. */
export function checkAdmin(headers: Headers): AccessDecision {
  const actor = headers.get(ACTOR_HEADER)?.trim() ?? "";
  if (actor === "") return { ok: false, kind: "authentication_failed", actor: null, reason: "missing_actor" };
  const roles = (headers.get(ROLES_HEADER) ?? "")
    .split(",")
    .map((r) => r.trim().toLowerCase())
    .filter((r) => r !== "");
  if (!roles.includes(ADMIN_ROLE)) {
    return { ok: false, kind: "permission_denied", actor, reason: "audit_requires_admin" };
  }
  return { ok: true, actor };
}

const AUDIT_FILTER = {
  entity_type: { kind: "string" },
  entity: { kind: "string" },
  action: { kind: "enum", desc: AuditActionSchema, toDb: auditActionToDb },
  "actor.subject": { kind: "string" },
  "actor.type": { kind: "enum", desc: ActorTypeSchema, toDb: actorTypeToDb },
  request_id: { kind: "string" },
  trace_id: { kind: "string" },
  rpc_method: { kind: "string" },
  event_time: { kind: "timestamp" },
} as const satisfies Record<AuditCondition["field"], ListFieldSpec>;

const SECURITY_FILTER = {
  kind: { kind: "enum", desc: SecurityEventKindSchema, toDb: securityKindToDb },
  reason: { kind: "string" },
  "actor.subject": { kind: "string" },
  client_ip: { kind: "string" },
  rpc_method: { kind: "string" },
  event_time: { kind: "timestamp" },
} as const satisfies Record<SecurityCondition["field"], ListFieldSpec>;

export function parseAuditFilter(filter: string): AuditCondition[] {
  const conditions = parseListFilter(filter, AUDIT_FILTER);
  for (const c of conditions) {
    if (c.field === "entity" && c.op !== "=" && c.op !== "!=") {
      throw new InvalidArgumentError([
        { field: "filter", description: "entity only supports = and !=", reason: "INVALID_SYNTAX" },
      ]);
    }
  }
  return conditions;
}

export function parseSecurityFilter(filter: string): SecurityCondition[] {
  return parseListFilter(filter, SECURITY_FILTER);
}

export function parseAuditOrder(orderBy: string): { field: AuditOrderField; desc: boolean } {
  const spec = parseOrderBy(orderBy, ["event_time", "sequence"] as const, {
    field: "event_time",
    desc: true,
  });
  return spec;
}

export function parseSecurityOrder(orderBy: string): { desc: boolean } {
  return { desc: parseOrderBy(orderBy, ["event_time"] as const, { field: "event_time", desc: true }).desc };
}

/** Checks a time range (start < end when both are set); returns the bounds. */
export function timeRange(
  v: Validator,
  field: string,
  range: TimeRange | undefined,
  options: { startRequired?: boolean } = {},
): { start?: Date; end?: Date } {
  if (range === undefined) {
    if (options.startRequired === true) v.add(field, "is required", "REQUIRED");
    return {};
  }
  const out: { start?: Date; end?: Date } = {};
  for (const key of ["start_time", "end_time"] as const) {
    const ts = key === "start_time" ? range.startTime : range.endTime;
    if (ts === undefined) continue;
    const d = timestampDate(ts);
    if (
      Number.isNaN(d.getTime()) ||
      ts.nanos < 0 ||
      ts.nanos > 999_999_999 ||
      d.getUTCFullYear() > 9999 ||
      d.getUTCFullYear() < 1
    ) {
      v.add(`${field}.${key}`, "must be a valid timestamp", "INVALID_TIMESTAMP");
      continue;
    }
    if (key === "start_time") out.start = d;
    else out.end = d;
  }
  if (options.startRequired === true && range.startTime === undefined) {
    v.add(`${field}.start_time`, "is required", "REQUIRED");
  }
  if (out.start !== undefined && out.end !== undefined && out.end <= out.start) {
    v.add(`${field}.end_time`, "must be after start_time", "INVALID_RANGE");
  }
  return out;
}
