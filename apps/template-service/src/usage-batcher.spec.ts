/** UsageBatcher against real PostgreSQL: batching, exact statistics under concurrent flushers, bad rows. */
import { randomUUID } from "node:crypto";
import type { QueuedUsageWrite, TemplateUsageWrite } from "@taskmaster/persistence/template-usage.repository";
import { describe, expect, it } from "vitest";
import { useHarness } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";
import { UsageBatcher } from "./usage-batcher.js";

const h = useHarness();

/** A batcher that never flushes on its own (no timer fires within a test). */
const manual = (over: Partial<ConstructorParameters<typeof UsageBatcher>[0]> = {}) =>
  new UsageBatcher({ orm: h.orm, flushMs: 3_600_000, ...over });

const usage = (
  templateId: string,
  i: number,
  over: Partial<TemplateUsageWrite> = {},
): TemplateUsageWrite => ({
  templateId,
  version: "1.0.0",
  taskId: null,
  workflowId: null,
  usedBy: "bench",
  executionMs: 10 * (i + 1),
  success: i % 4 !== 0,
  errorMessage: i % 4 === 0 ? "boom" : null,
  inputParameters: { i },
  output: `out ${i}`,
  ...over,
});

async function sql(q: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return h.orm.em.getConnection().execute(q, params);
}

async function templateStats(id: string) {
  const [t] = await sql(
    "select usage_count, success_rate::float8 as rate, avg_execution_time_ms::float8 as mean from templates where id = ?",
    [id],
  );
  const [n] = await sql("select count(*)::int as n from template_usage_logs where template_id = ?", [id]);
  return { count: Number(t?.usage_count), rate: Number(t?.rate), mean: Number(t?.mean), rows: Number(n?.n) };
}

describe("UsageBatcher", () => {
  it("queues usages and writes them in one batch on flush, with exact statistics", async () => {
    const t = await makeTemplate(h.client);
    const b = manual();
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => b.add(usage(t.id, i))));
    expect(new Set(ids).size).toBe(40);
    expect(b.pending).toBe(40);
    expect((await templateStats(t.id)).rows).toBe(0);
    await b.flush();
    expect(b.pending).toBe(0);
    expect(b.stats).toEqual({ written: 40, dropped: 0, batches: 1 });
    expect(await templateStats(t.id)).toEqual({ count: 40, rate: 75, mean: 205, rows: 40 });
    const rows = await sql(
      "select id, output, input_parameters, success, error_message from template_usage_logs where template_id = ? order by execution_time_ms",
      [t.id],
    );
    expect(rows.map((r) => String(r.id)).sort()).toEqual([...ids].sort());
    expect(rows[0]).toMatchObject({
      output: "out 0",
      input_parameters: { i: 0 },
      success: false,
      error_message: "boom",
    });
    await b.stop();
  });

  it("keeps counts exact when several instances flush the same template at once (and explicit logs interleave)", async () => {
    const t = await makeTemplate(h.client);
    const instances = [manual(), manual(), manual()];
    let i = 0;
    for (const b of instances) for (let k = 0; k < 60; k += 1) await b.add(usage(t.id, i++));
    await Promise.all([
      ...instances.map((b) => b.flush()),
      ...Array.from({ length: 20 }, (_, k) =>
        h.client.logTemplateUsage({
          parent: t.name,
          templateUsageLog: {
            executionTime: { seconds: 0n, nanos: 5_000_000 },
            success: k % 2 === 0,
            errorMessage: k % 2 ? "x" : "",
          },
        }),
      ),
    ]);
    // 180 batched (135 ok, durations 10..1800) + 20 explicit (10 ok, 5 ms each)
    const s = await templateStats(t.id);
    expect(s.rows).toBe(200);
    expect(s.count).toBe(200);
    expect(s.rate).toBeCloseTo((100 * 145) / 200, 2);
    expect(s.mean).toBeCloseTo((10 * ((180 * 181) / 2) + 20 * 5) / 200, 2);
    for (const b of instances) expect(b.stats.batches).toBe(1);
  });

  it("caps the rows per transaction at maxBatch and flushes when the queue reaches it", async () => {
    const t = await makeTemplate(h.client);
    const b = manual({ maxBatch: 10 });
    for (let i = 0; i < 25; i += 1) await b.add(usage(t.id, i));
    await b.flush();
    expect(b.stats.written).toBe(25);
    expect(b.stats.batches).toBeGreaterThanOrEqual(3);
    expect((await templateStats(t.id)).count).toBe(25);
  });

  it("drops only the row that cannot be written (unknown task) and reports it", async () => {
    const t = await makeTemplate(h.client);
    const failed: QueuedUsageWrite[] = [];
    const b = manual({ onError: (_err, rows) => failed.push(...rows) });
    const missingTask = randomUUID();
    for (let i = 0; i < 10; i += 1) await b.add(usage(t.id, i, i === 3 ? { taskId: missingTask } : {}));
    await b.flush();
    expect(b.stats).toMatchObject({ written: 9, dropped: 1 });
    expect(failed.map((r) => r.taskId)).toEqual([missingTask]);
    expect(await templateStats(t.id)).toMatchObject({ count: 9, rows: 9 });
  });

  it("records a request id once, within a batch and across batches", async () => {
    const t = await makeTemplate(h.client);
    const b = manual();
    const rid = randomUUID();
    await b.add(usage(t.id, 1), rid);
    await b.add(usage(t.id, 2), rid);
    await b.add(usage(t.id, 3));
    await b.flush();
    await b.add(usage(t.id, 4), rid);
    await b.flush();
    expect(await templateStats(t.id)).toMatchObject({ count: 2, rows: 2 });
  });

  it("writes before resolving with flushMs 0 and after stop()", async () => {
    const t = await makeTemplate(h.client);
    const sync = new UsageBatcher({ orm: h.orm, flushMs: 0 });
    const id = await sync.add(usage(t.id, 1));
    expect(await sql("select 1 from template_usage_logs where id = ?", [id])).toHaveLength(1);
    const b = manual();
    await b.add(usage(t.id, 2));
    await b.stop();
    expect((await templateStats(t.id)).count).toBe(2);
    const late = await b.add(usage(t.id, 3));
    expect(await sql("select 1 from template_usage_logs where id = ?", [late])).toHaveLength(1);
  });
});
