/**
 * AuditService (admin only): audit trail listing/get/export (JSON Lines, streamed in chunks that end at
 * line boundaries), security events listing/get, and on-demand retention through the SQL function
 * `audit_drop_expired(days)`. Every refused call is itself recorded as a security event.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import {
  exportAuditEvents,
  getAuditEvent,
  listAuditEvents,
  retentionResult,
  runAuditRetention,
} from "@taskmaster/persistence/audit.repository";
import {
  getSecurityEvent,
  listSecurityEvents,
  recordSecurityEvent,
} from "@taskmaster/persistence/security-events.repository";
import type {
  AuditService,
  ExportAuditEventsResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { currentAuditContext } from "@taskmaster/rpc-kit/audit-context";
import {
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
} from "@taskmaster/rpc-kit/errors";
import { validator } from "@taskmaster/rpc-kit/validation";
import type { Logger } from "@taskmaster/telemetry/logger";
import {
  AUDIT_EVENT_PATTERN,
  auditEventJsonLine,
  auditRowToMessage,
  SECURITY_EVENT_PATTERN,
  securityRowToMessage,
} from "./audit.mapper.js";
import {
  checkAdmin,
  parseAuditFilter,
  parseAuditOrder,
  parseSecurityFilter,
  parseSecurityOrder,
  timeRange,
} from "./audit.validation.js";
import { boundedOrm } from "./monitoring.handlers.js";

export interface AuditHandlerDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  /** Bound on the database work of one RPC (not of a whole export stream). */
  readonly dbTimeoutMs: number;
  /** Retention in days (default: env AUDIT_RETENTION_DAYS, else 90). */
  readonly retentionDays?: number | undefined;
  /** Export chunk size in bytes (default 256 KiB; a chunk always ends at a line boundary). */
  readonly exportChunkBytes?: number | undefined;
  /** Called for every refused call after it was recorded (metrics). */
  readonly onSecurityEvent?: ((kind: string, reason: string) => void) | undefined;
  /**
   * Runs retention for RunAuditRetention (not for dry runs): the audit scheduler's run on the retention
   * connection. `null`: not configured (FAILED_PRECONDITION); absent: on this service's own connection.
   */
  readonly retention?: AuditRetentionRunner | null | undefined;
}

/** One retention run: partitions created ahead, expired ranges removed (`audit_log_default` = stray rows). */
export type AuditRetentionRunner = () => Promise<{
  readonly createdPartitions: readonly string[];
  readonly dropped: readonly { readonly partition: string; readonly rows: number }[];
  readonly removedRows: number;
}>;

export function retentionDaysFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.AUDIT_RETENTION_DAYS);
  return Number.isInteger(n) && n >= 1 && n <= 36_500 ? n : 90;
}

export function createAuditHandlers(deps: AuditHandlerDeps): ServiceImpl<typeof AuditService> {
  const fork = () => deps.orm.em.fork();
  const bounded = <T>(work: (em: EntityManager) => Promise<T>) =>
    boundedOrm(deps.orm.em, deps.dbTimeoutMs, work);
  const retentionDays = deps.retentionDays ?? retentionDaysFromEnv();
  const chunkBytes = Math.max(deps.exportChunkBytes ?? 256 * 1024, 1);

  /** Admin gate: records the refusal (awaited, so it is visible when the error arrives), then throws. */
  async function requireAdmin(ctx: HandlerContext): Promise<string> {
    const decision = checkAdmin(ctx.requestHeader);
    if (decision.ok) return decision.actor;
    const method = `/${ctx.service.typeName}/${ctx.method.name}`;
    await bounded((em) =>
      recordSecurityEvent(em, {
        kind: decision.kind,
        reason: decision.reason,
        identity: decision.actor,
        rpcMethod: method,
        userAgent: ctx.requestHeader.get("user-agent"),
        requestId: ctx.requestHeader.get("x-request-id"),
        // The call's W3C trace id (the audit context interceptor read it from the span or `traceparent`).
        traceId: currentAuditContext()?.traceId,
        ip: ctx.requestHeader.get("x-forwarded-for")?.split(",")[0]?.trim(),
      }),
    ).catch((err: unknown) =>
      deps.logger.error({ err, kind: decision.kind }, "cannot record security event"),
    );
    deps.onSecurityEvent?.(decision.kind, decision.reason);
    if (decision.kind === "authentication_failed") {
      throw new UnauthenticatedError("the audit API requires an authenticated caller");
    }
    throw new PermissionDeniedError("the audit API requires the admin role", "PERMISSION_DENIED");
  }

  async function* exportStream(
    query: Parameters<typeof exportAuditEvents>[1],
    ctx: HandlerContext,
  ): AsyncGenerator<MessageInitShape<typeof ExportAuditEventsResponseSchema>> {
    const encoder = new TextEncoder();
    let lines: string[] = [];
    let size = 0;
    let lastSequence = 0n;
    const flush = () => {
      const out = { data: encoder.encode(lines.join("")), eventCount: lines.length, lastSequence };
      lines = [];
      size = 0;
      return out;
    };
    for await (const batch of exportAuditEvents(fork(), query, { batchSize: 500, signal: ctx.signal })) {
      for (const row of batch) {
        const line = auditEventJsonLine(auditRowToMessage(row));
        const bytes = Buffer.byteLength(line);
        if (lines.length > 0 && size + bytes > chunkBytes) yield flush();
        lines.push(line);
        size += bytes;
        lastSequence = BigInt(row.seq);
      }
    }
    if (lines.length > 0) yield flush();
  }

  return {
    async listAuditEvents(req, ctx) {
      await requireAdmin(ctx);
      const v = validator();
      const pageSize = v.pageSize("page_size", req.pageSize);
      const range = timeRange(v, "time_range", req.timeRange);
      v.check();
      const conditions = parseAuditFilter(req.filter);
      const orderBy = parseAuditOrder(req.orderBy);
      const page = await bounded((em) =>
        listAuditEvents(em, {
          conditions,
          ...range,
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          orderBy,
          binding: JSON.stringify([
            "auditEvents",
            req.filter,
            req.orderBy,
            range.start?.toISOString() ?? "",
            range.end?.toISOString() ?? "",
          ]),
        }),
      );
      return { auditEvents: page.items.map(auditRowToMessage), nextPageToken: page.nextPageToken ?? "" };
    },

    async getAuditEvent(req, ctx) {
      await requireAdmin(ctx);
      const v = validator();
      const id = v.resourceName("name", AUDIT_EVENT_PATTERN, req.name);
      v.check();
      const row = await bounded((em) => getAuditEvent(em, id as string));
      if (row === null) throw new NotFoundError("auditEvent", req.name);
      return { auditEvent: auditRowToMessage(row) };
    },

    async *exportAuditEvents(req, ctx) {
      await requireAdmin(ctx);
      const v = validator();
      const range = timeRange(v, "time_range", req.timeRange, { startRequired: true });
      v.check();
      const conditions = parseAuditFilter(req.filter);
      yield* exportStream({ conditions, ...range }, ctx);
    },

    async listSecurityEvents(req, ctx) {
      await requireAdmin(ctx);
      const v = validator();
      const pageSize = v.pageSize("page_size", req.pageSize);
      const range = timeRange(v, "time_range", req.timeRange);
      v.check();
      const conditions = parseSecurityFilter(req.filter);
      const { desc } = parseSecurityOrder(req.orderBy);
      const page = await bounded((em) =>
        listSecurityEvents(em, {
          conditions,
          ...range,
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          desc,
          binding: JSON.stringify([
            "securityEvents",
            req.filter,
            req.orderBy,
            range.start?.toISOString() ?? "",
            range.end?.toISOString() ?? "",
          ]),
        }),
      );
      return {
        securityEvents: page.items.map(securityRowToMessage),
        nextPageToken: page.nextPageToken ?? "",
      };
    },

    async getSecurityEvent(req, ctx) {
      await requireAdmin(ctx);
      const v = validator();
      const id = v.resourceName("name", SECURITY_EVENT_PATTERN, req.name);
      v.check();
      const row = await bounded((em) => getSecurityEvent(em, id as string));
      if (row === null) throw new NotFoundError("securityEvent", req.name);
      return { securityEvent: securityRowToMessage(row) };
    },

    async runAuditRetention(req, ctx) {
      const actor = await requireAdmin(ctx);
      if (!req.dryRun && deps.retention === null) {
        throw new FailedPreconditionError(
          "audit retention is not configured: AUDIT_RETENTION_DATABASE_URL (a taskmaster_retention login) is not set",
          {
            reason: "NOT_CONFIGURED",
            violations: [
              {
                type: "CONFIGURATION",
                subject: "AUDIT_RETENTION_DATABASE_URL",
                description: "the application role may not drop audit partitions",
              },
            ],
          },
        );
      }
      const runner = req.dryRun ? undefined : deps.retention;
      // Dropping partitions can take longer than one query; bounded by the caller's deadline instead.
      const out =
        runner === undefined || runner === null
          ? await runAuditRetention(fork(), retentionDays, req.dryRun)
          : await runner().then((r) => ({
              kind: "ok" as const,
              result: retentionResult(new Date(Date.now() - retentionDays * 86_400_000), r.dropped),
            }));
      if (out.kind === "missing") {
        throw new FailedPreconditionError(`audit retention is not available: ${out.description}`, {
          reason: "NOT_CONFIGURED",
          metadata: { missing: out.missing },
          violations: [{ type: "SQL_FUNCTION", subject: out.missing, description: out.description }],
        });
      }
      const r = out.result;
      deps.logger.info(
        {
          actor,
          dryRun: req.dryRun,
          ran: r.ran,
          dropped: r.droppedPartitions,
          removedRows: r.removedRowCount.toString(),
          created: r.createdPartitions,
        },
        "audit retention run",
      );
      return {
        cutoffTime: timestampFromDate(r.cutoffTime),
        droppedPartitions: r.droppedPartitions,
        removedRowCount: r.removedRowCount,
        createdPartitions: r.createdPartitions,
        ran: r.ran,
      };
    },
  };
}
