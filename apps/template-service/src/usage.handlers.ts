/**
 * TemplateService usage RPCs: LogTemplateUsage, ListTemplateUsageLogs, GetTemplateUsageStats. Recording a
 * usage updates the template statistics atomically (see TemplateUsageRepository.record).
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { type MaskingPolicy, maskingPolicy } from "@taskmaster/config/masking";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import {
  TemplateUsageRepository,
  type TimeWindow,
  UsageTaskNotFoundError,
  UsageTemplateNotFoundError,
} from "@taskmaster/persistence/template-usage.repository";
import type { TimeRange } from "@taskmaster/proto/gen/taskmaster/common/v1/time_range_pb";
import {
  GetTemplateUsageStatsResponseSchema,
  ListTemplateUsageLogsResponseSchema,
  LogTemplateUsageResponseSchema,
  type TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { actor } from "@taskmaster/rpc-kit/call-context";
import { InvalidArgumentError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { callerOf as authCallerOf, readableBy } from "./authorization.js";
import { maskInputs } from "./render.service.js";
import { USAGE_LOGS } from "./template.filter.js";
import { SEMVER, TEMPLATE_PATTERN, templateName } from "./template.names.js";
import {
  boundedInputs,
  MAX_LOGGED_BYTES,
  msFromDuration,
  statsToMessage,
  truncateOutput,
  usageToMessage,
} from "./usage.mapper.js";

export interface UsageHandlerDeps {
  readonly orm: MikroORM;
  /** Writes the usages queued by renders (usage-batcher.ts) before a read, so reads see the caller's renders. */
  readonly flushUsage?: (() => Promise<void>) | undefined;
  /** The masking policy for stored usage inputs and error messages (default: the built-in one). */
  readonly masking?: MaskingPolicy | undefined;
}

const TASK_NAME = /^tasks\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const MAX_EXECUTION_MS = 2_147_483_647;

export function usageDomainError(err: unknown, taskField = "task"): unknown {
  if (err instanceof UsageTaskNotFoundError) {
    return new InvalidArgumentError([
      { field: taskField, description: `task "tasks/${err.taskId}" does not exist`, reason: "NOT_FOUND" },
    ]);
  }
  if (err instanceof UsageTemplateNotFoundError) return new NotFoundError("template", templateName(err.id));
  return err;
}

export async function mappedUsage<T>(work: () => Promise<T>, taskField = "task"): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw usageDomainError(err, taskField);
  }
}

/** Template id of `name` ("templates/{uuid}"), collecting a violation on `field`. */
export function templateIdOf(v: Validator, field: string, name: string): string | undefined {
  return v.resourceName(field, TEMPLATE_PATTERN, name)?.toLowerCase();
}

/** A validated optional time range (start before end). */
export function timeWindow(v: Validator, field: string, r: TimeRange | undefined): TimeWindow {
  const start = r?.startTime ? timestampDate(r.startTime) : null;
  const end = r?.endTime ? timestampDate(r.endTime) : null;
  if (start && end && start.getTime() >= end.getTime()) {
    v.add(field, "start_time must be before end_time", "INVALID_TIME_RANGE");
  }
  return { start, end };
}

/** Task id of "tasks/{uuid}", collecting a violation. */
export function taskIdOf(v: Validator, field: string, task: string): string | null {
  if (task === "") return null;
  const m = TASK_NAME.exec(task);
  if (!m) {
    v.add(field, 'must be "tasks/{task}" with a UUID', "INVALID_RESOURCE_NAME");
    return null;
  }
  return (m[1] as string).toLowerCase();
}

export function createUsageHandlers(
  deps: UsageHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  "logTemplateUsage" | "listTemplateUsageLogs" | "getTemplateUsageStats"
> {
  const masking = deps.masking ?? maskingPolicy();
  return {
    async logTemplateUsage(req, ctx) {
      const v = validator();
      const templateId = templateIdOf(v, "parent", req.parent);
      const log = req.templateUsageLog;
      let taskId: string | null = null;
      let executionMs = 0;
      if (v.required("template_usage_log", log) && log) {
        const f = "template_usage_log";
        if (log.version !== "" && !SEMVER.test(log.version)) {
          v.add(
            `${f}.version`,
            'must be a semantic version "x.y.z" without leading zeros',
            "INVALID_VERSION",
          );
        }
        taskId = taskIdOf(v, `${f}.task`, log.task);
        v.maxLength(`${f}.workflow_id`, log.workflowId, 255);
        v.maxLength(`${f}.used_by`, log.usedBy, 255);
        if (log.usedBy !== "" && log.usedBy.trim() === "")
          v.add(`${f}.used_by`, "must not be blank", "REQUIRED");
        v.maxLength(`${f}.error_message`, log.errorMessage, 10000);
        v.maxLength(`${f}.output`, log.output, MAX_LOGGED_BYTES);
        if (log.executionTime) {
          executionMs = msFromDuration(log.executionTime);
          if (!(executionMs >= 0 && executionMs <= MAX_EXECUTION_MS) || log.executionTime.nanos < 0) {
            v.add(`${f}.execution_time`, "must be between 0 and 24 days", "OUT_OF_RANGE");
          }
        }
        if (log.inputParameters) {
          const bytes = Buffer.byteLength(JSON.stringify(log.inputParameters), "utf8");
          if (bytes > MAX_LOGGED_BYTES)
            v.add(`${f}.input_parameters`, "must be at most 64 KiB serialized", "TOO_LONG");
        }
      }
      v.uuid("request_id", req.requestId);
      v.check();
      const l = log as NonNullable<typeof log>;
      const id = templateId as string;
      return mappedUsage(async () => {
        const em = deps.orm.em.fork();
        const template = await new TemplateRepository(em).getById(id, { includeDeleted: true });
        if (template === null) throw new NotFoundError("template", templateName(id));
        const version = l.version === "" ? template.currentVersion : l.version;
        const usage = new TemplateUsageRepository(em);
        if (!(await usage.versionExists(id, version))) {
          throw new InvalidArgumentError([
            {
              field: "template_usage_log.version",
              description: `version ${version} of the template does not exist`,
              reason: "NOT_FOUND",
            },
          ]);
        }
        const sensitive = new Set(
          template.variables.filter((x) => x.sensitive === true).map((x) => String(x.name)),
        );
        const { row } = await usage.record(
          {
            templateId: id,
            version,
            taskId,
            workflowId: l.workflowId === "" ? null : l.workflowId,
            usedBy: l.usedBy === "" ? (actor(ctx) ?? "service:internal") : l.usedBy,
            executionMs,
            success: l.success,
            errorMessage: l.errorMessage === "" ? (l.success ? null : "") : masking.maskValue(l.errorMessage),
            inputParameters: boundedInputs(maskInputs(l.inputParameters ?? {}, sensitive, masking)),
            output: l.output === "" ? null : truncateOutput(l.output),
          },
          req.requestId === "" ? null : req.requestId,
        );
        return create(LogTemplateUsageResponseSchema, { templateUsageLog: usageToMessage(row) });
      }, "template_usage_log.task");
    },

    async listTemplateUsageLogs(req, ctx) {
      const v = validator();
      let templateId: string | null = null;
      if (req.parent !== "templates/-") templateId = templateIdOf(v, "parent", req.parent) ?? null;
      const { orderBy, ...query } = listQueryOf(req, USAGE_LOGS, { pageSize: v, binding: req.filter });
      return mappedUsage(async () => {
        await deps.flushUsage?.();
        const em = deps.orm.em.fork();
        if (templateId !== null) {
          const t = await new TemplateRepository(em).getById(templateId, { includeDeleted: true });
          if (t === null) throw new NotFoundError("template", templateName(templateId));
        }
        const page = await new TemplateUsageRepository(em).list({
          templateId,
          ...query,
          order: orderBy,
          readable: templateId === null ? readableBy(authCallerOf(ctx), "x") : undefined,
        });
        return create(ListTemplateUsageLogsResponseSchema, {
          templateUsageLogs: page.items.map(usageToMessage),
          nextPageToken: page.nextPageToken ?? "",
        });
      });
    },

    async getTemplateUsageStats(req) {
      const v = validator();
      const templateId = templateIdOf(v, "name", req.name);
      const window = timeWindow(v, "time_range", req.timeRange);
      v.check();
      const id = templateId as string;
      return mappedUsage(async () => {
        await deps.flushUsage?.();
        const em = deps.orm.em.fork();
        const t = await new TemplateRepository(em).getById(id, { includeDeleted: true });
        if (t === null) throw new NotFoundError("template", templateName(id));
        const stats = await new TemplateUsageRepository(em).stats(id, window);
        return create(GetTemplateUsageStatsResponseSchema, { stats: statsToMessage(stats) });
      });
    },
  };
}
