/** LogTemplateUsage, ListTemplateUsageLogs, GetTemplateUsageStats end to end (real server, real PostgreSQL). */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { failure, useHarness, violatedFields } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";

const h = useHarness();

const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });

describe("LogTemplateUsage", () => {
  it("records a usage with secrets and sensitive variables masked", async () => {
    const t = await makeTemplate(h.client, {
      variables: [{ name: "objective" }, { name: "feature_name" }, { name: "pin", sensitive: true }],
    });
    const res = await h.client.logTemplateUsage({
      parent: t.name,
      templateUsageLog: {
        usedBy: "codegen-agent",
        workflowId: "wf'; --",
        executionTime: ms(120),
        success: false,
        errorMessage: "connect postgres://u:hunter2@db/x failed ✓",
        inputParameters: {
          password: "p",
          api_key: "k",
          Authorization: "Bearer x",
          nested: { secretValue: "s", fine: "ok" },
          pin: "1234",
          feature_name: "日本語",
        },
      },
    });
    const log = res.templateUsageLog;
    expect(log?.name).toMatch(new RegExp(`^${t.name}/usageLogs/`));
    expect(log?.version).toBe("1.0.0");
    expect(log?.usedBy).toBe("codegen-agent");
    expect(log?.workflowId).toBe("wf'; --");
    expect(log?.errorMessage).not.toContain("hunter2");
    expect(log?.inputParameters).toEqual({
      password: "***",
      api_key: "***",
      Authorization: "***",
      nested: { secretValue: "***", fine: "ok" },
      pin: "***",
      feature_name: "日本語",
    });
  });

  it("keeps statistics exact under concurrent recording", async () => {
    const t = await makeTemplate(h.client);
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        h.client.logTemplateUsage({
          parent: t.name,
          templateUsageLog: {
            executionTime: ms(10 * (i + 1)),
            success: i % 4 !== 0,
            errorMessage: i % 4 === 0 ? "boom" : "",
          },
        }),
      ),
    );
    const got = await h.client.getTemplate({ name: t.name });
    expect(got.template?.usageCount).toBe(BigInt(n));
    expect(got.template?.successRate).toBeCloseTo(0.75, 4);
    expect(
      Number(got.template?.averageExecutionTime?.seconds ?? 0n) * 1000 +
        (got.template?.averageExecutionTime?.nanos ?? 0) / 1e6,
    ).toBeCloseTo(205, 0);
    const stats = (await h.client.getTemplateUsageStats({ name: t.name })).stats;
    expect(stats?.usageCount).toBe(BigInt(n));
    expect(stats?.successCount).toBe(30n);
    expect(stats?.failureCount).toBe(10n);
    expect(stats?.successRate).toBeCloseTo(0.75, 6);
    // p95 of 10..400 step 10 (percentile_cont): 380.5 ms
    const p95 =
      Number(stats?.p95ExecutionTime?.seconds ?? 0n) * 1000 + (stats?.p95ExecutionTime?.nanos ?? 0) / 1e6;
    expect(p95).toBeCloseTo(380.5, 1);
    expect(stats?.lastUseTime).toBeDefined();
  });

  it("is idempotent by request_id", async () => {
    const t = await makeTemplate(h.client);
    const requestId = randomUUID();
    const a = await h.client.logTemplateUsage({
      parent: t.name,
      templateUsageLog: { success: true },
      requestId,
    });
    const b = await h.client.logTemplateUsage({
      parent: t.name,
      templateUsageLog: { success: true },
      requestId,
    });
    expect(b.templateUsageLog?.name).toBe(a.templateUsageLog?.name);
    expect((await h.client.getTemplate({ name: t.name })).template?.usageCount).toBe(1n);
  });

  it("refuses bad input with field violations and unknown templates with NOT_FOUND", async () => {
    const t = await makeTemplate(h.client);
    let err = await failure(h.client.logTemplateUsage({ parent: "templates/x" }), Code.InvalidArgument);
    expect(violatedFields(err).sort()).toEqual(["parent", "template_usage_log"]);
    err = await failure(
      h.client.logTemplateUsage({
        parent: t.name,
        requestId: "nope",
        templateUsageLog: {
          version: "1.2",
          task: "tasks/abc",
          workflowId: "w".repeat(256),
          usedBy: "u".repeat(256),
          errorMessage: "e".repeat(10001),
          executionTime: { seconds: -1n, nanos: 0 },
        },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err).sort()).toEqual([
      "request_id",
      "template_usage_log.error_message",
      "template_usage_log.execution_time",
      "template_usage_log.task",
      "template_usage_log.used_by",
      "template_usage_log.version",
      "template_usage_log.workflow_id",
    ]);
    err = await failure(
      h.client.logTemplateUsage({ parent: t.name, templateUsageLog: { version: "7.0.0" } }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["template_usage_log.version"]);
    err = await failure(
      h.client.logTemplateUsage({
        parent: t.name,
        templateUsageLog: { success: true, task: "tasks/0190a5c4-0000-7000-8000-000000000001" },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["template_usage_log.task"]);
    await failure(
      h.client.logTemplateUsage({
        parent: "templates/00000000-0000-4000-8000-000000000000",
        templateUsageLog: { success: true },
      }),
      Code.NotFound,
    );
  });
});

describe("ListTemplateUsageLogs / GetTemplateUsageStats", () => {
  it("pages, filters and orders", async () => {
    const t = await makeTemplate(h.client);
    for (let i = 0; i < 5; i++) {
      await h.client.logTemplateUsage({
        parent: t.name,
        templateUsageLog: { usedBy: i < 3 ? "bob" : "carol", executionTime: ms(i * 7), success: true },
      });
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await h.client.listTemplateUsageLogs({ parent: t.name, pageSize: 2, pageToken });
      expect(page.templateUsageLogs.length).toBeLessThanOrEqual(2);
      seen.push(...page.templateUsageLogs.map((l) => l.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(new Set(seen).size).toBe(5);
    const bob = await h.client.listTemplateUsageLogs({ parent: t.name, filter: 'used_by = "bob"' });
    expect(bob.templateUsageLogs).toHaveLength(3);
    const slow = await h.client.listTemplateUsageLogs({ parent: t.name, orderBy: "execution_time desc" });
    expect(slow.templateUsageLogs[0]?.executionTime?.nanos).toBe(28_000_000);
    const all = await h.client.listTemplateUsageLogs({ parent: "templates/-", filter: 'used_by = "carol"' });
    expect(all.templateUsageLogs.length).toBeGreaterThanOrEqual(2);
    // Another caller cannot see alice's private template logs through "templates/-".
    const other = await h.as("mallory").listTemplateUsageLogs({ parent: "templates/-" });
    expect(other.templateUsageLogs).toHaveLength(0);
  });

  it("refuses bad filters, order_by, page sizes and tokens", async () => {
    const t = await makeTemplate(h.client);
    let err = await failure(
      h.client.listTemplateUsageLogs({ parent: t.name, filter: "nope = 1" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["filter"]);
    err = await failure(
      h.client.listTemplateUsageLogs({ parent: t.name, filter: "success = maybe" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["filter"]);
    err = await failure(
      h.client.listTemplateUsageLogs({ parent: t.name, orderBy: "used_by" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["order_by"]);
    err = await failure(
      h.client.listTemplateUsageLogs({ parent: t.name, pageSize: -1 }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["page_size"]);
    err = await failure(
      h.client.listTemplateUsageLogs({ parent: t.name, pageToken: "garbage" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["page_token"]);
    const big = await h.client.listTemplateUsageLogs({ parent: t.name, pageSize: 5000 });
    expect(big.templateUsageLogs).toEqual([]);
  });

  it("computes stats over a time range and validates it", async () => {
    const t = await makeTemplate(h.client);
    await h.client.logTemplateUsage({ parent: t.name, templateUsageLog: { success: true } });
    const future = { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 };
    const none = await h.client.getTemplateUsageStats({ name: t.name, timeRange: { startTime: future } });
    expect(none.stats?.usageCount).toBe(0n);
    expect(none.stats?.successRate).toBe(0);
    const err = await failure(
      h.client.getTemplateUsageStats({
        name: t.name,
        timeRange: { startTime: future, endTime: { seconds: 0n, nanos: 0 } },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["time_range"]);
    await failure(
      h.client.getTemplateUsageStats({ name: "templates/00000000-0000-4000-8000-000000000000" }),
      Code.NotFound,
    );
  });
});
