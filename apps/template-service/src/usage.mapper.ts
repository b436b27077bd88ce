/** Usage rows -> messages, and the bounded shapes stored in usage logs. */
import { create } from "@bufbuild/protobuf";
import { type Duration, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { TemplateUsageRow, UsageStatsRow } from "@taskmaster/persistence/template-usage.repository";
import {
  type TemplateUsageLog,
  TemplateUsageLogSchema,
  type TemplateUsageStats,
  TemplateUsageStatsSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { templateName } from "./template.names.js";

/** Max stored output and inputs (contract: 64 KiB each). */
export const MAX_LOGGED_BYTES = 64 * 1024;

export const usageLogName = (templateId: string, id: string) => `${templateName(templateId)}/usageLogs/${id}`;

export function durationFromMs(ms: number): Duration {
  const micros = Math.max(0, Math.round(ms * 1000));
  return {
    $typeName: "google.protobuf.Duration",
    seconds: BigInt(Math.floor(micros / 1_000_000)),
    nanos: (micros % 1_000_000) * 1000,
  };
}

export function msFromDuration(d: Duration): number {
  return Number(d.seconds) * 1000 + d.nanos / 1_000_000;
}

/** Output truncated to 64 KiB of UTF-8 (on a character boundary). */
export function truncateOutput(s: string): string {
  if (Buffer.byteLength(s, "utf8") <= MAX_LOGGED_BYTES) return s;
  let out = s.slice(0, MAX_LOGGED_BYTES);
  while (Buffer.byteLength(out, "utf8") > MAX_LOGGED_BYTES) out = out.slice(0, -1024);
  return out;
}

/** Inputs as stored: the masked object, or a marker when it exceeds 64 KiB. */
export function boundedInputs(masked: Record<string, unknown>): Record<string, unknown> {
  const bytes = Buffer.byteLength(JSON.stringify(masked), "utf8");
  return bytes <= MAX_LOGGED_BYTES ? masked : { _truncated: true, _bytes: bytes };
}

export function usageToMessage(row: TemplateUsageRow): TemplateUsageLog {
  return create(TemplateUsageLogSchema, {
    name: usageLogName(row.templateId, row.id),
    version: row.version,
    task: row.taskId === null ? "" : `tasks/${row.taskId}`,
    workflowId: row.workflowId ?? "",
    usedBy: row.usedBy,
    executionTime: durationFromMs(row.executionMs),
    success: row.success,
    errorMessage: row.errorMessage ?? "",
    inputParameters: row.inputParameters as TemplateUsageLog["inputParameters"],
    output: row.output ?? "",
    createTime: timestampFromDate(row.usedAt),
  });
}

export function statsToMessage(s: UsageStatsRow): TemplateUsageStats {
  return create(TemplateUsageStatsSchema, {
    usageCount: BigInt(s.usageCount),
    successCount: BigInt(s.successCount),
    failureCount: BigInt(s.usageCount - s.successCount),
    successRate: s.usageCount === 0 ? 0 : s.successCount / s.usageCount,
    meanExecutionTime: durationFromMs(s.meanMs),
    p95ExecutionTime: durationFromMs(s.p95Ms),
    ...(s.lastUsedAt ? { lastUseTime: timestampFromDate(s.lastUsedAt) } : {}),
  });
}
