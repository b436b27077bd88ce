import type { MikroORM } from "@mikro-orm/core";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import { TemplateCategoryRepository } from "@taskmaster/persistence/template-category.repository";
import {
  readableTemplatesSql,
  type TemplateAccessor,
  TemplatePermissionRepository,
} from "@taskmaster/persistence/template-permission.repository";
import type { TemplateWrite } from "@taskmaster/persistence/template-row.mapper";
import { TemplateSearchRepository } from "@taskmaster/persistence/template-search.repository";
import { TemplateTypeRepository } from "@taskmaster/persistence/template-type.repository";
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
