/**
 * Audit rows and security events -> messages. Every value passes the masking policy again on the way out
 * (defence in depth: whatever wrote the row, a secret never leaves through this API).
 */
import { create, fromJson, type JsonObject, type JsonValue, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { isSecretKey, MASK, maskObject, maskValue } from "@taskmaster/config/masking";
import type { AuditRow } from "@taskmaster/persistence/audit.repository";
import type { SecurityEventRow } from "@taskmaster/persistence/security-events.repository";
import {
  type AuditAction,
  AuditActionSchema,
  type AuditEvent,
  AuditEventSchema,
  type SecurityEvent,
  SecurityEventKind,
  SecurityEventKindSchema,
  SecurityEventSchema,
} from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_pb";
import { ActorType, ActorTypeSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/actor_pb";

export const AUDIT_EVENT_PATTERN = "auditEvents/{audit_event}";
export const SECURITY_EVENT_PATTERN = "securityEvents/{security_event}";

/** Database value of an enum number (lower-cased short name), or undefined for UNSPECIFIED/unknown. */
function enumToDb(desc: { values: readonly { number: number; localName: string }[] }, n: number) {
  if (n === 0) return undefined;
  return desc.values.find((v) => v.number === n)?.localName.toLowerCase();
}

function enumFromDb<T extends number>(
  desc: { values: readonly { number: number; localName: string }[] },
  s: string | null,
): T {
  return (desc.values.find((v) => v.number !== 0 && v.localName.toLowerCase() === s)?.number ?? 0) as T;
}

export const auditActionToDb = (n: number) => enumToDb(AuditActionSchema, n);
export const actorTypeToDb = (n: number) => enumToDb(ActorTypeSchema, n);
export const securityKindToDb = (n: number) => enumToDb(SecurityEventKindSchema, n);

/** `alert_rule` -> `alertRules`, `template_category` -> `templateCategories`. */
export function collectionOf(entityType: string): string {
  const camel = entityType.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  if (/[^aeiou]y$/.test(camel)) return `${camel.slice(0, -1)}ies`;
  if (/(s|x|ch|sh)$/.test(camel)) return `${camel}es`;
  return `${camel}s`;
}

export function entityName(row: Pick<AuditRow, "entityType" | "entityId">): string {
  return row.entityId.includes("/") ? row.entityId : `${collectionOf(row.entityType)}/${row.entityId}`;
}

function jsonValue(field: string, v: unknown) {
  const masked = v === undefined ? null : isSecretKey(field) && v !== null ? MASK : maskObject(v);
  return fromJson(ValueSchema, (masked ?? null) as JsonValue);
}

export function auditRowToMessage(row: AuditRow): AuditEvent {
  const fields =
    row.changedFields.length > 0
      ? row.changedFields
      : [...new Set([...Object.keys(row.oldValues ?? {}), ...Object.keys(row.newValues ?? {})])].sort();
  const actorType = enumFromDb<ActorType>(ActorTypeSchema, row.actorType);
  return create(AuditEventSchema, {
    name: `auditEvents/${row.id}`,
    entityType: row.entityType,
    entity: entityName(row),
    action: enumFromDb<AuditAction>(AuditActionSchema, row.action),
    changes: fields.map((field) => ({
      field,
      oldValue: jsonValue(field, row.oldValues?.[field]),
      newValue: jsonValue(field, row.newValues?.[field]),
    })),
    actor: {
      subject: row.actor ?? "system",
      type: actorType === ActorType.UNSPECIFIED ? ActorType.SYSTEM : actorType,
    },
    rpcMethod: row.rpcMethod ?? "",
    requestId: row.requestId ?? "",
    traceId: row.traceId ?? "",
    clientIp: row.clientIp?.replace(/\/(32|128)$/, "") ?? "",
    userAgent: maskValue(row.userAgent ?? "").slice(0, 500),
    sessionId: row.sessionId ?? "",
    eventTime: timestampFromDate(row.occurredAt),
    sequence: BigInt(row.seq),
    hash: row.hash ?? "",
    previousHash: row.prevHash ?? "",
  });
}

/** One JSON Lines line (proto3 JSON, no newline inside). */
export function auditEventJsonLine(event: AuditEvent): string {
  return `${toJsonString(AuditEventSchema, event)}\n`;
}

export function securityRowToMessage(row: SecurityEventRow): SecurityEvent {
  const kind = enumFromDb<SecurityEventKind>(SecurityEventKindSchema, row.kind);
  const actorType =
    kind === SecurityEventKind.AUTHENTICATION_FAILED || row.identity === null
      ? ActorType.ANONYMOUS
      : row.identity.includes("@")
        ? ActorType.USER
        : ActorType.SERVICE;
  return create(SecurityEventSchema, {
    name: `securityEvents/${row.id}`,
    kind,
    reason: row.reason,
    actor: { subject: row.identity ?? "", type: actorType },
    rpcMethod: row.rpcMethod ?? "",
    clientIp: row.ip ?? "",
    userAgent: maskValue(row.userAgent ?? "").slice(0, 500),
    requestId: row.requestId ?? "",
    traceId: row.traceId ?? "",
    details: maskObject(row.details) as JsonObject,
    eventTime: timestampFromDate(row.occurredAt),
  });
}
