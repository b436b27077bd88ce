/** The template category tree end to end over a real socket and PostgreSQL. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import type { TemplateCategory } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { describe, expect, it } from "vitest";
import { failure, uniq, useHarness, violatedFields } from "./harness.test-util.js";

const h = useHarness();

async function cat(
  displayName: string,
  parent = "",
  sortOrder = 0,
  active = true,
): Promise<TemplateCategory> {
  const res = await h.client.createTemplateCategory({
    templateCategory: { displayName, parent, sortOrder, active },
  });
  return res.templateCategory as TemplateCategory;
}

describe("template categories", () => {
  it("builds a tree with depth and path; lists a subtree depth-first by sort order", async () => {
    const root = await cat(uniq("Root"));
    const b = await cat(uniq("B"), root.name, 2);
    const a = await cat(uniq("A"), root.name, 1);
    const a1 = await cat(uniq("A1 'quoted' ✓"), a.name, 0);
    const hidden = await cat(uniq("Hidden"), root.name, 3, false);
    await cat(uniq("UnderHidden"), hidden.name);
    expect(a1.depth).toBe(2);
    expect(a1.path).toBe(`${root.displayName} / ${a.displayName} / ${a1.displayName}`);
    const sub = await h.client.listTemplateCategorySubtree({ root: root.name });
    expect(sub.templateCategories.map((c) => c.name)).toEqual([root.name, a.name, a1.name, b.name]);
    const all = await h.client.listTemplateCategorySubtree({ root: root.name, includeInactive: true });
    expect(all.templateCategories).toHaveLength(6);
    const shallow = await h.client.listTemplateCategorySubtree({ root: root.name, maxDepth: 1 });
    expect(shallow.templateCategories.map((c) => c.name)).toEqual([root.name, a.name, b.name]);
    const forest = await h.client.listTemplateCategorySubtree({});
    expect(forest.templateCategories.some((c) => c.name === a1.name)).toBe(true);
    const children = await h.client.listTemplateCategories({ filter: `parent = "${root.name}"` });
    expect(children.templateCategories.map((c) => c.name)).toEqual([a.name, b.name, hidden.name]);
    const active = await h.client.listTemplateCategories({
      filter: `parent = "${root.name}" AND active = true`,
    });
    expect(active.templateCategories).toHaveLength(2);
    const paged = await h.client.listTemplateCategories({ filter: `parent = "${root.name}"`, pageSize: 2 });
    const rest = await h.client.listTemplateCategories({
      filter: `parent = "${root.name}"`,
      pageSize: 2,
      pageToken: paged.nextPageToken,
    });
    expect([...paged.templateCategories, ...rest.templateCategories]).toHaveLength(3);
  });

  it("moves with cycle prevention and etags", async () => {
    const root = await cat(uniq("MRoot"));
    const child = await cat(uniq("MChild"), root.name);
    const grand = await cat(uniq("MGrand"), child.name);
    const cyc = await failure(
      h.client.moveTemplateCategory({ name: root.name, newParent: grand.name }),
      Code.FailedPrecondition,
    );
    expect(cyc.findDetails(CycleDetailSchema)[0]?.path).toEqual([
      root.name,
      child.name,
      grand.name,
      root.name,
    ]);
    await failure(
      h.client.moveTemplateCategory({ name: root.name, newParent: root.name }),
      Code.FailedPrecondition,
    );
    await failure(
      h.client.moveTemplateCategory({ name: grand.name, newParent: root.name, etag: 'W/"42"' }),
      Code.Aborted,
    );
    const moved = await h.client.moveTemplateCategory({
      name: grand.name,
      newParent: root.name,
      sortOrder: 9,
      etag: grand.etag,
    });
    expect(moved.templateCategory?.parent).toBe(root.name);
    expect(moved.templateCategory?.depth).toBe(1);
    expect(moved.templateCategory?.sortOrder).toBe(9);
    const toRoot = await h.client.moveTemplateCategory({ name: child.name, newParent: "" });
    expect(toRoot.templateCategory?.depth).toBe(0);
    const bad = await failure(
      h.client.moveTemplateCategory({ name: "templateCategories/x", newParent: "nope" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad)).toEqual(["name", "new_parent"]);
    await failure(
      h.client.moveTemplateCategory({ name: child.name, newParent: `templateCategories/${randomUUID()}` }),
      Code.InvalidArgument,
    );
    await failure(
      h.client.moveTemplateCategory({ name: `templateCategories/${randomUUID()}` }),
      Code.NotFound,
    );
  });

  it("updates, refuses deleting non-empty categories, deletes empty ones", async () => {
    const root = await cat(uniq("DRoot"));
    const leaf = await cat(uniq("DLeaf"), root.name);
    const upd = await h.client.updateTemplateCategory({
      templateCategory: {
        name: leaf.name,
        description: "new'; --",
        sortOrder: 5,
        active: false,
        etag: leaf.etag,
      },
      updateMask: { paths: ["description", "sort_order", "active"] },
    });
    expect(upd.templateCategory?.description).toBe("new'; --");
    expect(upd.templateCategory?.active).toBe(false);
    await failure(
      h.client.updateTemplateCategory({
        templateCategory: { name: leaf.name, description: "x", etag: leaf.etag },
        updateMask: { paths: ["description"] },
      }),
      Code.Aborted,
    );
    const mask = await failure(
      h.client.updateTemplateCategory({
        templateCategory: { name: leaf.name, parent: "" },
        updateMask: { paths: ["parent"] },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(mask)).toEqual(["update_mask"]);
    await failure(h.client.deleteTemplateCategory({ name: root.name }), Code.FailedPrecondition);
    await h.client.createTemplate({
      template: {
        slug: uniq("catt"),
        title: "in leaf",
        templateType: "templateTypes/code_snippet",
        content: "x",
        parameters: { language: "ts" },
        category: leaf.name,
      },
    });
    expect((await h.client.getTemplateCategory({ name: leaf.name })).templateCategory?.templateCount).toBe(1);
    await failure(h.client.deleteTemplateCategory({ name: leaf.name }), Code.FailedPrecondition);
    const empty = await cat(uniq("Empty"), root.name);
    await failure(h.client.deleteTemplateCategory({ name: empty.name, etag: 'W/"5"' }), Code.Aborted);
    await h.client.deleteTemplateCategory({ name: empty.name, etag: empty.etag });
    await failure(h.client.getTemplateCategory({ name: empty.name }), Code.NotFound);
  });

  it("validates input and keeps names unique", async () => {
    const name = uniq("Unique");
    await cat(name);
    await failure(
      h.client.createTemplateCategory({ templateCategory: { displayName: name } }),
      Code.AlreadyExists,
    );
    const err = await failure(
      h.client.createTemplateCategory({
        templateCategory: { displayName: "x".repeat(101), description: "d".repeat(2001), parent: "bad" },
        requestId: "nope",
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(
      expect.arrayContaining([
        "template_category.display_name",
        "template_category.description",
        "template_category.parent",
        "request_id",
      ]),
    );
    const missing = await failure(
      h.client.createTemplateCategory({ templateCategory: {} }),
      Code.InvalidArgument,
    );
    expect(violatedFields(missing)).toEqual(["template_category.display_name"]);
    const requestId = randomUUID();
    const first = await h.client.createTemplateCategory({
      templateCategory: { displayName: uniq("Idem") },
      requestId,
    });
    const again = await h.client.createTemplateCategory({
      templateCategory: { displayName: uniq("Idem2") },
      requestId,
    });
    expect(again.templateCategory?.name).toBe(first.templateCategory?.name);
    const vo = await h.client.createTemplateCategory({
      templateCategory: { displayName: uniq("VO") },
      validateOnly: true,
    });
    expect(vo.templateCategory?.name).toBe("");
    await failure(h.client.getTemplateCategory({ name: "templateCategories/1" }), Code.InvalidArgument);
    await failure(h.client.listTemplateCategories({ pageSize: -1 }), Code.InvalidArgument);
    await failure(h.client.listTemplateCategories({ filter: "parent = nope" }), Code.InvalidArgument);
    await failure(
      h.client.listTemplateCategorySubtree({ root: `templateCategories/${randomUUID()}` }),
      Code.NotFound,
    );
  });
});
