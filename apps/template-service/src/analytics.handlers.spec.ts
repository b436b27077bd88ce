/** ListPopularTemplates, GetTemplatePerformance, GetTemplateUsageBreakdown end to end. */
import { Code } from "@connectrpc/connect";
import { UsageDimension } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { describe, expect, it } from "vitest";
import { failure, uniq, useHarness, violatedFields } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";

const h = useHarness();

const ts = (d: Date) => ({ seconds: BigInt(Math.floor(d.getTime() / 1000)), nanos: 0 });
const UNKNOWN = "templates/00000000-0000-4000-8000-000000000000";

async function use(name: string, n: number, opts: { usedBy?: string; fail?: number } = {}) {
  for (let i = 0; i < n; i++) {
    const success = i >= (opts.fail ?? 0);
    await h.client.logTemplateUsage({
      parent: name,
      templateUsageLog: { usedBy: opts.usedBy ?? "", success, errorMessage: success ? "" : "x" },
    });
  }
}

describe("analytics", () => {
  it("lists popular templates by usage then success rate, filtered by type, visible to the caller only", async () => {
    const tag = uniq("pop");
    const a = await makeTemplate(h.client, { title: `${tag} a` });
    const b = await makeTemplate(h.client, { title: `${tag} b` });
    const c = await makeTemplate(h.client, { title: `${tag} c` });
    await use(a.name, 3, { fail: 1 });
    await use(b.name, 3);
    await use(c.name, 1);
    const res = await h.client.listPopularTemplates({
      pageSize: 100,
      templateType: "templateTypes/prompt_instruction",
    });
    const mine = res.templates.filter((t) => t.title.startsWith(tag));
    expect(mine.map((t) => t.template)).toEqual([b.name, a.name, c.name]);
    expect(mine[1]?.stats?.successRate).toBeCloseTo(2 / 3, 6);
    const none = await h.client.listPopularTemplates({
      templateType: "templateTypes/code_snippet",
      pageSize: 100,
    });
    expect(none.templates.filter((t) => t.title.startsWith(tag))).toEqual([]);
    const other = await h.as("mallory").listPopularTemplates({ pageSize: 100 });
    expect(other.templates.filter((t) => t.title.startsWith(tag))).toEqual([]);
    const two = await h.client.listPopularTemplates({ pageSize: 2 });
    expect(two.templates.length).toBeLessThanOrEqual(2);
  });

  it("buckets performance over a window with empty buckets and totals", async () => {
    const t = await makeTemplate(h.client);
    await use(t.name, 4, { fail: 1 });
    // The usages were just logged: put them in the middle of the last bucket, never next to a bucket
    // boundary (a boundary at "now", truncated to the second, would split them between two buckets).
    const now = Date.now();
    const start = new Date(now - 3.5 * 3600_000);
    const end = new Date(now + 0.5 * 3600_000);
    const res = await h.client.getTemplatePerformance({
      name: t.name,
      timeRange: { startTime: ts(start), endTime: ts(end) },
      bucket: { seconds: 3600n, nanos: 0 },
    });
    expect(res.buckets).toHaveLength(4);
    expect(res.buckets.reduce((n, b) => n + Number(b.stats?.usageCount ?? 0n), 0)).toBe(4);
    expect(res.buckets.map((b) => b.stats?.usageCount)).toEqual([0n, 0n, 0n, 4n]);
    expect(res.total?.usageCount).toBe(4n);
    expect(res.total?.failureCount).toBe(1n);
  });

  it("breaks usage down by caller and by version", async () => {
    const t = await makeTemplate(h.client);
    await use(t.name, 2, { usedBy: "bob" });
    await use(t.name, 1, { usedBy: "carol'; --" });
    await h.client.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    await use(t.name, 1, { usedBy: "bob" });
    const byCaller = await h.client.getTemplateUsageBreakdown({
      name: t.name,
      dimension: UsageDimension.CALLER,
    });
    expect(byCaller.rows.map((r) => [r.key, r.stats?.usageCount])).toEqual([
      ["bob", 3n],
      ["carol'; --", 1n],
    ]);
    const byVersion = await h.client.getTemplateUsageBreakdown({
      name: t.name,
      dimension: UsageDimension.VERSION,
    });
    expect(byVersion.rows.map((r) => [r.key, r.stats?.usageCount])).toEqual([
      ["1.0.0", 3n],
      ["1.0.1", 1n],
    ]);
  });

  it("refuses bad requests", async () => {
    const t = await makeTemplate(h.client);
    let err = await failure(
      h.client.listPopularTemplates({ pageSize: 101, templateType: "x", category: "c" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err).sort()).toEqual(["category", "page_size", "template_type"]);
    err = await failure(h.client.getTemplatePerformance({ name: t.name }), Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(["time_range"]);
    err = await failure(
      h.client.getTemplatePerformance({
        name: t.name,
        timeRange: { endTime: ts(new Date()) },
        bucket: { seconds: 1n, nanos: 0 },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err).sort()).toEqual(["bucket", "time_range.start_time"]);
    err = await failure(
      h.client.getTemplatePerformance({
        name: t.name,
        timeRange: { startTime: ts(new Date(Date.now() - 30 * 86400_000)) },
        bucket: { seconds: 60n, nanos: 0 },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["bucket"]);
    err = await failure(h.client.getTemplateUsageBreakdown({ name: t.name }), Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(["dimension"]);
    err = await failure(
      h.client.getTemplateUsageBreakdown({ name: t.name, dimension: 7 as UsageDimension }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["dimension"]);
    await failure(
      h.client.getTemplateUsageBreakdown({ name: UNKNOWN, dimension: UsageDimension.CALLER }),
      Code.NotFound,
    );
    await failure(
      h.client.getTemplatePerformance({
        name: UNKNOWN,
        timeRange: { startTime: ts(new Date(Date.now() - 3600_000)) },
      }),
      Code.NotFound,
    );
  });
});
