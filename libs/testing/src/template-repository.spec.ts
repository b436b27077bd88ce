import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/core";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import { TemplateCategoryRepository } from "@taskmaster/persistence/template-category.repository";
import {
  readableTemplatesSql,
  type TemplateAccessor,
  TemplatePermissionRepository,
} from "@taskmaster/persistence/template-permission.repository";
import { TemplateReviewRepository } from "@taskmaster/persistence/template-review.repository";
import type { TemplateWrite } from "@taskmaster/persistence/template-row.mapper";
import { TemplateSearchRepository } from "@taskmaster/persistence/template-search.repository";
import { TemplateTypeRepository } from "@taskmaster/persistence/template-type.repository";
import {
  type QueuedUsageWrite,
  TemplateUsageRepository,
  type TemplateUsageWrite,
} from "@taskmaster/persistence/template-usage.repository";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

let db: TestDatabase;
let orm: MikroORM;
let typeId: string;
const templates = () => new TemplateRepository(orm.em.fork());

/** Tags that a text-built array literal would get wrong: separators, quotes, braces, escapes, NULL. */
const AWKWARD_TAGS = ["a,b", 'say "hi"', "{x}", "back\\slash", "NULL", "it's"];

function write(slug: string, over: Partial<TemplateWrite> = {}): TemplateWrite {
  return {
    slug,
    title: `Title of ${slug}`,
    description: null,
    content: "Hello {{name}}",
    variables: [{ name: "name", type: "string" }],
    parameters: {},
    tags: [],
    complexityScore: null,
    isActive: true,
    isPublic: false,
    requiresApproval: false,
    categoryId: null,
    typeId,
    ...over,
  };
}

function insert(slug: string, owner: string, over: Partial<TemplateWrite> = {}): Promise<string> {
  return templates().transactional((tx) =>
    tx.insert(write(slug, over), { owner, summary: null, requestId: null }),
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.url, pool: { min: 0, max: 4 } });
  await new TemplateTypeRepository(orm.em.fork()).insert("spec_type", {
    displayName: "Spec type",
    description: null,
    jsonSchema: {},
    validationRules: {},
    isActive: true,
  });
  typeId = (await templates().typeByName("spec_type"))?.id as string;
});

afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
});

describe("template repositories on bind parameters", () => {
  it("stores, updates and searches tags holding separators, quotes, braces and escapes", async () => {
    const id = await insert("awkward_tags", "alice", { tags: AWKWARD_TAGS });
    expect((await templates().getById(id))?.tags).toEqual(AWKWARD_TAGS);

    const found = await new TemplateSearchRepository(orm.em.fork()).search({
      query: "",
      typeName: "spec_type",
      categoryId: null,
      tags: ["a,b", 'say "hi"'],
      active: true,
      isPublic: null,
      order: "usage",
      pageSize: 10,
      pageToken: null,
      binding: "tags",
    });
    expect(found.items.map((i) => i.row.id)).toEqual([id]);

    await templates().transactional(async (tx) => {
      const cur = await tx.getById(id, { forUpdate: true });
      await tx.update(id, cur?.version as number, { ...write("awkward_tags"), tags: ["{}", "x y"] }, null);
    });
    expect((await templates().getById(id))?.tags).toEqual(["{}", "x y"]);
  });

  it("maps slugs to ids, leaving unknown slugs out", async () => {
    const id = await insert("slug_lookup", "alice");
    const ids = await templates().idsBySlug(["slug_lookup", "no_such_slug"]);
    expect([...ids]).toEqual([["slug_lookup", id]]);
    expect((await templates().idsBySlug([])).size).toBe(0);
  });

  it("limits lists to readable templates: owner, public, live role or team grant; null reads all", async () => {
    const own = await insert("readable_own", "bob");
    const pub = await insert("readable_public", "carol", { isPublic: true });
    const byRole = await insert("readable_role", "carol");
    const hidden = await insert("readable_hidden", "carol");
    const role = 'o\'brien "ops"';
    await new TemplatePermissionRepository(orm.em.fork()).transactional((tx) =>
      tx.grant({
        templateId: byRole,
        userId: null,
        role,
        team: null,
        permission: "read",
        expiresAt: null,
        grantedBy: "carol",
        requestId: null,
      }),
    );
    const listed = async (a: TemplateAccessor | null) => {
      const page = await templates().list({
        pageSize: 100,
        pageToken: null,
        conditions: [
          { field: "slug", op: ">=", value: "readable_" },
          { field: "slug", op: "<", value: "readable_z" },
        ],
        readable: readableTemplatesSql(a),
        order: { field: "slug", desc: false },
        showDeleted: false,
        binding: "readable",
      });
      return page.items.map((r) => r.id);
    };
    expect(await listed({ subject: "bob", roles: [role], teams: [] })).toEqual([own, pub, byRole]);
    expect(await listed({ subject: "dave", roles: [], teams: [] })).toEqual([pub]);
    expect(await listed(null)).toEqual([hidden, own, pub, byRole]);
  });

  it("takes the category move lock inside the caller's transaction", async () => {
    const held = await new TemplateCategoryRepository(orm.em.fork()).transactional(async (tx) => {
      await tx.lockMoves();
      const rows = (await tx.em
        .getConnection()
        .execute(
          "select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()",
          [],
          "all",
          tx.em.getTransactionContext(),
        )) as { n: number }[];
      return rows[0]?.n;
    });
    expect(held).toBe(1);
  });
});

/**
 * Runs `a` and `b` (two calls with one request id) truly concurrently: a third connection holds
 * idempotency_keys in share row exclusive mode (reads pass, inserts wait) until both calls wait for a lock
 * (the table lock, a row or unique-index wait, or createOnce's advisory lock), then lets them go. Fails if a
 * call ends before that. Returns both results (or errors).
 */
async function race<T>(a: () => Promise<T>, b: () => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  const blocker = new pg.Client({ connectionString: db.url });
  await blocker.connect();
  try {
    await blocker.query("begin");
    await blocker.query("lock table idempotency_keys in share row exclusive mode");
    const calls = [a(), b()];
    let ended = false;
    for (const c of calls)
      c.then(
        () => (ended = true),
        () => (ended = true),
      );
    for (;;) {
      if (ended) {
        await blocker.query("rollback");
        throw new Error("a call ended before both waited for a lock");
      }
      // Statistics views are a snapshot per transaction: clear it to see the current waits.
      await blocker.query("select pg_stat_clear_snapshot()");
      const { rows } = await blocker.query(
        `select count(*)::int as n from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
      );
      if (rows[0].n >= 2) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await blocker.query("commit");
    return await Promise.allSettled(calls);
  } finally {
    await blocker.end();
  }
}

/** Both settled results, which must be fulfilled (with the reasons otherwise). */
function values<T>(results: PromiseSettledResult<T>[]): T[] {
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  expect(failed.map((r) => String(r.reason))).toEqual([]);
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

async function keyCount(scope: string, requestId: string): Promise<number> {
  const rows = (await orm.em
    .fork()
    .getConnection()
    .execute(
      "select count(*)::int as n from idempotency_keys where scope = ? and request_id = ?",
      [scope, requestId],
      "all",
    )) as { n: number }[];
  return rows[0]?.n ?? 0;
}

async function countWhere(table: string, column: string, value: string): Promise<number> {
  const rows = (await orm.em
    .fork()
    .getConnection()
    .execute(`select count(*)::int as n from ${table} where ${column} = ?`, [value], "all")) as {
    n: number;
  }[];
  return rows[0]?.n ?? 0;
}

describe("template creates with a request id, two concurrent calls", () => {
  it("template.create: one template, both get its id", async () => {
    const requestId = randomUUID();
    const create = () =>
      templates().transactional(async (tx) => {
        const id = await tx.insert(write("race_same_request"), { owner: "alice", summary: null, requestId });
        return (await tx.getById(id))?.id;
      });
    const [a, b] = values(await race(create, create));
    expect(a).toBeTruthy();
    expect(b).toBe(a);
    expect(await countWhere("templates", "name", "race_same_request")).toBe(1);
    expect(await keyCount("template.create", requestId)).toBe(1);
  });

  it("template_category.create: one category, both get its id", async () => {
    const requestId = randomUUID();
    const categories = () => new TemplateCategoryRepository(orm.em.fork());
    const create = () =>
      categories().transactional(async (tx) => {
        const id = await tx.insert(
          { name: "Race category", description: null, parentId: null, sortOrder: 0, isActive: true },
          requestId,
        );
        return (await tx.getById(id))?.id;
      });
    const [a, b] = values(await race(create, create));
    expect(a).toBeTruthy();
    expect(b).toBe(a);
    expect(await countWhere("template_categories", "name", "Race category")).toBe(1);
    expect(await keyCount("template_category.create", requestId)).toBe(1);
  });

  it("template.permission.grant: one grant, both get its id", async () => {
    const templateId = await insert("race_grant", "alice");
    const requestId = randomUUID();
    const grant = () =>
      new TemplatePermissionRepository(orm.em.fork()).transactional(async (tx) => {
        const id = await tx.grant({
          templateId,
          userId: "bob",
          role: null,
          team: null,
          permission: "read",
          expiresAt: null,
          grantedBy: "alice",
          requestId,
        });
        return (await tx.get(templateId, id))?.id;
      });
    const [a, b] = values(await race(grant, grant));
    expect(a).toBeTruthy();
    expect(b).toBe(a);
    expect(await countWhere("template_permissions", "template_id", templateId)).toBe(1);
    expect(await keyCount("template.permission.grant", requestId)).toBe(1);
  });

  it("template.review.request: one review, both get its id", async () => {
    const templateId = await insert("race_review", "alice");
    const requestId = randomUUID();
    const request = () =>
      new TemplateReviewRepository(orm.em.fork()).transactional(async (tx) => {
        const id = await tx.insert({
          templateId,
          templateVersion: "1.0.0",
          reviewType: "approval",
          reviewer: null,
          requestComments: null,
          requestedBy: "alice",
          requestId,
        });
        return (await tx.get(templateId, id))?.id;
      });
    const [a, b] = values(await race(request, request));
    expect(a).toBeTruthy();
    expect(b).toBe(a);
    expect(await countWhere("template_reviews", "template_id", templateId)).toBe(1);
    expect(await keyCount("template.review.request", requestId)).toBe(1);
  });

  const usage = (templateId: string): TemplateUsageWrite => ({
    templateId,
    version: "1.0.0",
    taskId: null,
    workflowId: null,
    usedBy: "alice",
    executionMs: 3,
    success: true,
    errorMessage: null,
    inputParameters: { name: "x" },
    output: "Hello x",
  });

  it("template.usage (record): one log, both get it, the second as reused", async () => {
    const templateId = await insert("race_usage", "alice");
    const requestId = randomUUID();
    const record = () => new TemplateUsageRepository(orm.em.fork()).record(usage(templateId), requestId);
    const [a, b] = values(await race(record, record));
    expect(b?.row.id).toBe(a?.row.id);
    expect([a?.reused, b?.reused].sort()).toEqual([false, true]);
    expect(await countWhere("template_usage_logs", "template_id", templateId)).toBe(1);
    expect((await templates().getById(templateId))?.usageCount).toBe(1);
    expect(await keyCount("template.usage", requestId)).toBe(1);
  });

  it("template.usage (recordBatch): one log per request id across concurrent batches and within a batch", async () => {
    const templateId = await insert("race_usage_batch", "alice");
    const requestId = randomUUID();
    const item = (rid: string | null): QueuedUsageWrite => ({
      ...usage(templateId),
      id: randomUUID(),
      usedAt: new Date(),
      requestId: rid,
    });
    const batch = () =>
      new TemplateUsageRepository(orm.em.fork()).recordBatch([item(requestId), item(null), item(requestId)]);
    const [a, b] = values(await race(batch, batch));
    expect([a?.inserted, b?.inserted].sort()).toEqual([1, 2]);
    expect(await countWhere("template_usage_logs", "template_id", templateId)).toBe(3);
    expect((await templates().getById(templateId))?.usageCount).toBe(3);
    expect(await keyCount("template.usage", requestId)).toBe(1);
  });
});
