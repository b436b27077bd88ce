/**
 * TemplateService analytics RPCs over the usage logs: ListPopularTemplates, GetTemplatePerformance,
 * GetTemplateUsageBreakdown. All aggregation happens in SQL.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import { TemplateUsageRepository } from "@taskmaster/persistence/template-usage.repository";
import {
  GetTemplatePerformanceResponseSchema,
  GetTemplateUsageBreakdownResponseSchema,
  ListPopularTemplatesResponseSchema,
  PopularTemplateSchema,
  TemplatePerformanceBucketSchema,
  type TemplateService,
  UsageBreakdownRowSchema,
  UsageDimension,
  UsageDimensionSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { NotFoundError } from "@taskmaster/rpc-kit/errors";
import { validator } from "@taskmaster/rpc-kit/validation";
import { callerOf, readableBy } from "./authorization.js";
import { CATEGORY_PATTERN, parseTypeName, templateName } from "./template.names.js";
import { mappedUsage, templateIdOf, timeWindow } from "./usage.handlers.js";
import { msFromDuration, statsToMessage } from "./usage.mapper.js";

export interface AnalyticsHandlerDeps {
  readonly orm: MikroORM;
  /** Writes the usages queued by renders (usage-batcher.ts) before a read, so reads see the caller's renders. */
  readonly flushUsage?: (() => Promise<void>) | undefined;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const MAX_BUCKETS = 10_000;

export function createAnalyticsHandlers(
  deps: AnalyticsHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  "listPopularTemplates" | "getTemplatePerformance" | "getTemplateUsageBreakdown"
> {
  async function requireTemplate(em: MikroORM["em"], id: string): Promise<void> {
    const t = await new TemplateRepository(em).getById(id, { includeDeleted: true });
    if (t === null) throw new NotFoundError("template", templateName(id));
  }

  return {
    async listPopularTemplates(req, ctx) {
      const v = validator();
      const window = timeWindow(v, "time_range", req.timeRange);
      if (req.timeRange === undefined) window.start = new Date(Date.now() - 30 * DAY);
      if (req.pageSize < 0 || req.pageSize > 100) {
        v.add("page_size", `must be between 1 and 100 (0 means 10; got ${req.pageSize})`, "OUT_OF_RANGE");
      }
      let typeName: string | null = null;
      if (req.templateType !== "") {
        typeName = parseTypeName(req.templateType);
        if (typeName === null)
          v.add("template_type", 'must be "templateTypes/{id}"', "INVALID_RESOURCE_NAME");
      }
      const categoryId =
        req.category === "" ? null : (v.resourceName("category", CATEGORY_PATTERN, req.category) ?? null);
      v.check();
      return mappedUsage(async () => {
        await deps.flushUsage?.();
        const rows = await new TemplateUsageRepository(deps.orm.em.fork()).popular({
          window,
          limit: req.pageSize === 0 ? 10 : req.pageSize,
          typeName,
          categoryId: categoryId?.toLowerCase() ?? null,
          readable: readableBy(callerOf(ctx), "t"),
        });
        return create(ListPopularTemplatesResponseSchema, {
          templates: rows.map((r) =>
            create(PopularTemplateSchema, {
              template: templateName(r.templateId),
              title: r.title,
              stats: statsToMessage(r.stats),
            }),
          ),
        });
      });
    },

    async getTemplatePerformance(req) {
      const v = validator();
      const templateId = templateIdOf(v, "name", req.name);
      let start: Date | null = null;
      let end = new Date();
      if (v.required("time_range", req.timeRange) && req.timeRange) {
        if (!req.timeRange.startTime) v.add("time_range.start_time", "is required", "REQUIRED");
        else start = timestampDate(req.timeRange.startTime);
        if (req.timeRange.endTime) end = timestampDate(req.timeRange.endTime);
        if (start && start.getTime() >= end.getTime()) {
          v.add("time_range", "start_time must be before end_time", "INVALID_TIME_RANGE");
        }
      }
      let bucketMs = DAY;
      if (req.bucket) {
        bucketMs = msFromDuration(req.bucket);
        if (!(bucketMs >= MINUTE && bucketMs <= 31 * DAY)) {
          v.add("bucket", "must be between 1 minute and 31 days", "OUT_OF_RANGE");
        }
      }
      if (start && !v.has("time_range") && !v.has("bucket")) {
        const n = Math.ceil((end.getTime() - start.getTime()) / bucketMs);
        if (n > MAX_BUCKETS) {
          v.add("bucket", `would give ${n} buckets; at most ${MAX_BUCKETS} are allowed`, "TOO_MANY_BUCKETS");
        }
      }
      v.check();
      const id = templateId as string;
      const from = start as Date;
      return mappedUsage(async () => {
        await deps.flushUsage?.();
        const em = deps.orm.em.fork();
        await requireTemplate(em, id);
        const repo = new TemplateUsageRepository(em);
        const buckets = await repo.performance(id, from, end, bucketMs);
        const total = await repo.stats(id, { start: from, end });
        return create(GetTemplatePerformanceResponseSchema, {
          buckets: buckets.map((b) =>
            create(TemplatePerformanceBucketSchema, {
              startTime: timestampFromDate(b.start),
              stats: statsToMessage(b.stats),
            }),
          ),
          total: statsToMessage(total),
        });
      });
    },

    async getTemplateUsageBreakdown(req) {
      const v = validator();
      const templateId = templateIdOf(v, "name", req.name);
      v.enumDefined("dimension", req.dimension, UsageDimensionSchema);
      const window = timeWindow(v, "time_range", req.timeRange);
      v.check();
      const id = templateId as string;
      const dimension = req.dimension === UsageDimension.CALLER ? "caller" : "version";
      return mappedUsage(async () => {
        await deps.flushUsage?.();
        const em = deps.orm.em.fork();
        await requireTemplate(em, id);
        const rows = await new TemplateUsageRepository(em).breakdown(id, dimension, window);
        return create(GetTemplateUsageBreakdownResponseSchema, {
          rows: rows.map((r) =>
            create(UsageBreakdownRowSchema, { key: r.key, stats: statsToMessage(r.stats) }),
          ),
        });
      });
    },
  };
}
