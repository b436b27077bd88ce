/**
 * Templates, versions, diff, rollback and search end to end: real grpc-js server, Connect client, a fresh
 * migrated and seeded PostgreSQL database. No mocks.
 */
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  type Template,
  TemplateChangeType,
  type TemplateSchema,
  TemplateSyntaxErrorDetailSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { describe, expect, it } from "vitest";
import { failure, uniq, useHarness, violatedFields } from "./harness.test-util.js";

const h = useHarness();

type TemplateInit = MessageInitShape<typeof TemplateSchema>;

function draft(over: Omit<TemplateInit, "$typeName"> = {}): TemplateInit {
  return {
    slug: uniq("tpl"),
    title: "Implement a feature",
    templateType: "templateTypes/prompt_instruction",
    content: "Build {{feature_name}}\n{{#each steps}}- {{this}}\n{{/each}}",
    variables: [
      { name: "objective", required: true },
      { name: "feature_name", required: true, description: "what to build" },
      { name: "steps" },
    ],
    parameters: { objective: "ship it" },
    tags: ["backend"],
    active: true,
    ...over,
  };
}

async function createTemplate(
  over: Partial<TemplateInit> = {},
  extra: { requestId?: string } = {},
): Promise<Template> {
  const res = await h.client.createTemplate({ template: draft(over), ...extra });
  if (!res.template) throw new Error("no template");
  return res.template;
}

describe("CreateTemplate / GetTemplate", () => {
  it("creates version 1.0.0 owned by the caller and reads it back", async () => {
    const t = await createTemplate();
    expect(t.name).toMatch(/^templates\/[0-9a-f-]{36}$/);
    expect(t.version).toBe("1.0.0");
    expect(t.owner).toBe("alice");
    expect(t.etag).toBe('W/"1"');
    expect(t.templateType).toBe("templateTypes/prompt_instruction");
    const got = await h.client.getTemplate({ name: t.name });
    expect(got.template?.content).toBe(t.content);
    expect(got.template?.variables.map((v) => v.name)).toEqual(["objective", "feature_name", "steps"]);
    const v1 = await h.client.getTemplateVersion({ name: `${t.name}/versions/1.0.0` });
    expect(v1.templateVersion?.author).toBe("alice");
    expect(v1.templateVersion?.content).toBe(t.content);
  });

  it("stores SQL metacharacters and unicode verbatim", async () => {
    const title = "Robert'); DROP TABLE templates;-- 🚀 ünïcödé";
    const content = "Hi {{feature_name}} '; select 1; -- 日本語";
    const t = await createTemplate({ title, content, description: "50% off_\\" });
    const got = (await h.client.getTemplate({ name: t.name })).template;
    expect(got?.title).toBe(title);
    expect(got?.content).toBe(content);
    expect(got?.description).toBe("50% off_\\");
  });

  it("is idempotent by request_id", async () => {
    const requestId = randomUUID();
    const a = await createTemplate({}, { requestId });
    const b = await createTemplate({ slug: uniq("other") }, { requestId });
    expect(b.name).toBe(a.name);
  });

  it("refuses a duplicate slug with ALREADY_EXISTS", async () => {
    const t = await createTemplate();
    await failure(h.client.createTemplate({ template: draft({ slug: t.slug }) }), Code.AlreadyExists);
  });

  it("reports every missing or bad field", async () => {
    const err = await failure(
      h.client.createTemplate({
        template: {
          slug: "X",
          title: "",
          templateType: "types/x",
          content: "",
          tags: ["", "a".repeat(65)],
          variables: [{ name: "1bad" }, { name: "dup" }, { name: "dup" }],
          complexityScore: 101,
          category: "templateCategories/not-a-uuid",
        },
        requestId: "nope",
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(
      expect.arrayContaining([
        "template.slug",
        "template.title",
        "template.template_type",
        "template.content",
        "template.tags[0]",
        "template.tags[1]",
        "template.variables[0].name",
        "template.variables[2].name",
        "template.complexity_score",
        "template.category",
        "request_id",
      ]),
    );
    const missing = await failure(h.client.createTemplate({}), Code.InvalidArgument);
    expect(violatedFields(missing)).toEqual(["template"]);
  });

  it("refuses oversize content and titles", async () => {
    const err = await failure(
      h.client.createTemplate({
        template: draft({ content: "x".repeat(1024 * 1024 + 1), title: "t".repeat(256) }),
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(expect.arrayContaining(["template.content", "template.title"]));
  });

  it("reports a Handlebars syntax error with line and column", async () => {
    const err = await failure(
      h.client.createTemplate({ template: draft({ content: "line one\n  {{#each items}}unclosed" }) }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["template.content"]);
    const [detail] = err.findDetails(TemplateSyntaxErrorDetailSchema);
    expect(detail?.line).toBe(2);
    expect(detail?.column).toBeGreaterThan(1);
    const err2 = await failure(
      h.client.createTemplate({ template: draft({ content: "a\nb\n{{#if x}}y{{/each}}" }) }),
      Code.InvalidArgument,
    );
    expect(err2.findDetails(TemplateSyntaxErrorDetailSchema)[0]?.line).toBe(3);
  });

  it("checks parameters against the type's JSON Schema and its rules", async () => {
    // prompt_instruction requires `objective` and an output_format from its enum.
    const err = await failure(
      h.client.createTemplate({ template: draft({ parameters: { output_format: "pdf" } }) }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(
      expect.arrayContaining(["template.parameters.objective", "template.parameters.output_format"]),
    );
    // Its validation rules require the variable `objective` to be declared.
    const rules = await failure(
      h.client.createTemplate({ template: draft({ variables: [{ name: "feature_name" }] }) }),
      Code.InvalidArgument,
    );
    expect(violatedFields(rules)).toContain("template.variables");
  });

  it("refuses unknown types and categories", async () => {
    const err = await failure(
      h.client.createTemplate({
        template: draft({ templateType: "templateTypes/no_such_type" }),
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["template.template_type"]);
    const cat = await failure(
      h.client.createTemplate({ template: draft({ category: `templateCategories/${randomUUID()}` }) }),
      Code.InvalidArgument,
    );
    expect(violatedFields(cat)).toEqual(["template.category"]);
  });

  it("validate_only writes nothing", async () => {
    const slug = uniq("vo");
    const res = await h.client.createTemplate({ template: draft({ slug }), validateOnly: true });
    expect(res.template?.slug).toBe(slug);
    expect(res.template?.name).toBe("");
    const list = await h.client.listTemplates({ filter: `slug = "${slug}"` });
    expect(list.templates).toHaveLength(0);
  });

  it("GetTemplate: malformed name is INVALID_ARGUMENT, unknown is NOT_FOUND", async () => {
    const bad = await failure(h.client.getTemplate({ name: "templates/123" }), Code.InvalidArgument);
    expect(violatedFields(bad)).toEqual(["name"]);
    await failure(h.client.getTemplate({ name: `templates/${randomUUID()}` }), Code.NotFound);
  });
});

describe("UpdateTemplate and versions", () => {
  it("bumps the version by change type and records immutable versions", async () => {
    const t = await createTemplate();
    const minor = await h.client.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}", etag: t.etag },
      updateMask: { paths: ["content"] },
      changeType: TemplateChangeType.MINOR,
      changeSummary: "more words",
    });
    expect(minor.template?.version).toBe("1.1.0");
    expect(minor.newVersion?.version).toBe("1.1.0");
    expect(minor.newVersion?.changeType).toBe(TemplateChangeType.MINOR);
    expect(minor.newVersion?.changeSummary).toBe("more words");
    const major = await h.client.updateTemplate({
      template: {
        name: t.name,
        variables: [{ name: "objective" }, { name: "feature_name" }, { name: "extra" }],
      },
      updateMask: { paths: ["variables"] },
      changeType: TemplateChangeType.MAJOR,
    });
    expect(major.template?.version).toBe("2.0.0");
    const patch = await h.client.updateTemplate({
      template: { name: t.name, parameters: { objective: "changed" } },
      updateMask: { paths: ["parameters"] },
    });
    expect(patch.template?.version).toBe("2.0.1");
    const hotfix = await h.client.updateTemplate({
      template: { name: t.name, content: "hot {{feature_name}}" },
      updateMask: { paths: ["content"] },
      changeType: TemplateChangeType.HOTFIX,
    });
    expect(hotfix.template?.version).toBe("2.0.2");
    // A change of title alone creates no version.
    const titled = await h.client.updateTemplate({
      template: { name: t.name, title: "Renamed" },
      updateMask: { paths: ["title"] },
    });
    expect(titled.newVersion).toBeUndefined();
    expect(titled.template?.version).toBe("2.0.2");
    const versions = await h.client.listTemplateVersions({ parent: t.name });
    expect(versions.templateVersions.map((v) => v.version)).toEqual([
      "2.0.2",
      "2.0.1",
      "2.0.0",
      "1.1.0",
      "1.0.0",
    ]);
    expect(versions.templateVersions.every((v) => v.content === "")).toBe(true);
    const old = await h.client.getTemplateVersion({ name: `${t.name}/versions/1.0.0` });
    expect(old.templateVersion?.content).toBe(t.content);
    const latest = await h.client.getTemplateVersion({ name: `${t.name}/versions/latest` });
    expect(latest.templateVersion?.version).toBe("2.0.2");
    await failure(h.client.getTemplateVersion({ name: `${t.name}/versions/approved` }), Code.NotFound);
    const majors = await h.client.listTemplateVersions({ parent: t.name, filter: "change_type = MAJOR" });
    expect(majors.templateVersions.map((v) => v.version)).toEqual(["2.0.0", "1.0.0"]);
  });

  it("pages versions with a bound page token", async () => {
    const t = await createTemplate();
    for (let i = 0; i < 3; i++) {
      await h.client.updateTemplate({
        template: { name: t.name, content: `c${i} {{feature_name}}` },
        updateMask: { paths: ["content"] },
      });
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await h.client.listTemplateVersions({ parent: t.name, pageSize: 1, pageToken });
      expect(page.templateVersions.length).toBeLessThanOrEqual(1);
      seen.push(...page.templateVersions.map((v) => v.version));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(["1.0.3", "1.0.2", "1.0.1", "1.0.0"]);
    await failure(h.client.listTemplateVersions({ parent: t.name, pageSize: -1 }), Code.InvalidArgument);
    await failure(
      h.client.listTemplateVersions({ parent: t.name, pageToken: "garbage" }),
      Code.InvalidArgument,
    );
    await failure(h.client.listTemplateVersions({ parent: `templates/${randomUUID()}` }), Code.NotFound);
  });

  it("concurrent version creation never duplicates a number", async () => {
    const t = await createTemplate();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        h.client.updateTemplate({
          template: { name: t.name, content: `parallel ${i} {{feature_name}}` },
          updateMask: { paths: ["content"] },
        }),
      ),
    );
    const numbers = results.map((r) => r.newVersion?.version);
    expect(new Set(numbers).size).toBe(8);
    const versions = await h.client.listTemplateVersions({ parent: t.name });
    expect(versions.templateVersions.map((v) => v.version).sort()).toEqual(
      ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6", "1.0.7", "1.0.8"].sort(),
    );
  });

  it("concurrent writers with the same etag: one wins, the others are ABORTED", async () => {
    const t = await createTemplate();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) =>
        h.client.updateTemplate({
          template: { name: t.name, content: `etag race ${i}`, etag: t.etag },
          updateMask: { paths: ["content"] },
        }),
      ),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    for (const o of outcomes)
      if (o.status === "rejected") await failure(Promise.reject(o.reason), Code.Aborted);
  });

  it("stale etag is ABORTED; bad masks, enums and syntax are INVALID_ARGUMENT; unknown is NOT_FOUND", async () => {
    const t = await createTemplate();
    await failure(
      h.client.updateTemplate({
        template: { name: t.name, title: "x", etag: 'W/"99"' },
        updateMask: { paths: ["title"] },
      }),
      Code.Aborted,
    );
    const err = await failure(
      h.client.updateTemplate({
        template: { name: t.name, content: "{{#if}" },
        updateMask: { paths: ["content", "owner"] },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(expect.arrayContaining(["update_mask"]));
    // An unknown enum number is refused by the request check (rpc-kit request-check.ts) before the handler.
    const badEnum = await failure(
      h.client.updateTemplate({
        template: { name: t.name, title: "fine" },
        updateMask: { paths: ["title"] },
        changeType: 42 as TemplateChangeType,
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(badEnum)).toEqual(["change_type"]);
    const noMask = await failure(
      h.client.updateTemplate({ template: { name: t.name } }),
      Code.InvalidArgument,
    );
    expect(violatedFields(noMask)).toEqual(["update_mask"]);
    const syntax = await failure(
      h.client.updateTemplate({
        template: { name: t.name, content: "{{#if}" },
        updateMask: { paths: ["content"] },
      }),
      Code.InvalidArgument,
    );
    expect(syntax.findDetails(TemplateSyntaxErrorDetailSchema)).toHaveLength(1);
    await failure(
      h.client.updateTemplate({
        template: { name: `templates/${randomUUID()}`, title: "x" },
        updateMask: { paths: ["title"] },
      }),
      Code.NotFound,
    );
    await failure(
      h.client.updateTemplate({
        template: { name: t.name, parameters: { output_format: 7 } },
        updateMask: { paths: ["parameters"] },
      }),
      Code.InvalidArgument,
    );
  });

  it("rejects malformed version names", async () => {
    const t = await createTemplate();
    for (const v of ["1.2", "01.2.3", "1.2.3.4", "x"]) {
      const err = await failure(
        h.client.getTemplateVersion({ name: `${t.name}/versions/${v}` }),
        Code.InvalidArgument,
      );
      expect(violatedFields(err)).toEqual(["name"]);
      const diff = await failure(
        h.client.diffTemplateVersions({ name: t.name, baseVersion: v }),
        Code.InvalidArgument,
      );
      expect(violatedFields(diff)).toEqual(["base_version"]);
      const rb = await failure(h.client.rollbackTemplate({ name: t.name, version: v }), Code.InvalidArgument);
      expect(violatedFields(rb)).toEqual(["version"]);
    }
    await failure(h.client.getTemplateVersion({ name: `${t.name}/versions/9.9.9` }), Code.NotFound);
  });
});

describe("Diff and rollback", () => {
  it("diffs content lines and variables; rollback creates a new equal version", async () => {
    const t = await createTemplate({
      content: "one\ntwo\nthree {{feature_name}}\n",
      variables: [{ name: "objective" }, { name: "feature_name", required: true }, { name: "gone" }],
    });
    await h.client.updateTemplate({
      template: {
        name: t.name,
        content: "one\n2\nthree {{feature_name}}\nfour\n",
        variables: [{ name: "objective" }, { name: "feature_name", required: false }, { name: "added" }],
        parameters: { objective: "other" },
      },
      updateMask: { paths: ["content", "variables", "parameters"] },
      changeType: TemplateChangeType.MAJOR,
    });
    const diff = await h.client.diffTemplateVersions({
      name: t.name,
      baseVersion: "1.0.0",
      targetVersion: "2.0.0",
    });
    expect(diff.contentDiff).toContain("--- a/1.0.0\n+++ b/2.0.0\n");
    expect(diff.contentDiff).toContain("-two\n+2\n");
    expect(diff.contentDiff).toContain("+four\n");
    expect(diff.addedLines).toBe(2);
    expect(diff.removedLines).toBe(1);
    expect(diff.variableChanges.map((c) => c.name)).toEqual(["added", "feature_name", "gone"]);
    expect(diff.variableChanges.find((c) => c.name === "added")?.base).toBeUndefined();
    expect(diff.variableChanges.find((c) => c.name === "gone")?.target).toBeUndefined();
    expect(diff.changedParameters).toEqual(["objective"]);
    const same = await h.client.diffTemplateVersions({ name: t.name, baseVersion: "2.0.0" });
    expect(same.contentDiff).toBe("");
    await failure(h.client.diffTemplateVersions({ name: t.name, baseVersion: "3.0.0" }), Code.NotFound);
    await failure(
      h.client.diffTemplateVersions({ name: t.name, baseVersion: "1.0.0", contextLines: 21 }),
      Code.InvalidArgument,
    );

    const current = (await h.client.getTemplate({ name: t.name })).template as Template;
    const rb = await h.client.rollbackTemplate({ name: t.name, version: "1.0.0", etag: current.etag });
    expect(rb.newVersion?.version).toBe("2.0.1");
    expect(rb.newVersion?.rollbackOf).toBe("1.0.0");
    expect(rb.newVersion?.changeSummary).toBe("Rollback to 1.0.0");
    expect(rb.template?.content).toBe("one\ntwo\nthree {{feature_name}}\n");
    const versions = await h.client.listTemplateVersions({ parent: t.name });
    expect(versions.templateVersions.map((v) => v.version)).toEqual(["2.0.1", "2.0.0", "1.0.0"]);
    const back = await h.client.diffTemplateVersions({
      name: t.name,
      baseVersion: "1.0.0",
      targetVersion: "2.0.1",
    });
    expect(back.contentDiff).toBe("");
    expect(back.variableChanges).toHaveLength(0);
    await failure(
      h.client.rollbackTemplate({ name: t.name, version: "1.0.0", etag: current.etag }),
      Code.Aborted,
    );
    await failure(h.client.rollbackTemplate({ name: t.name, version: "7.0.0" }), Code.NotFound);
  });
});

describe("Delete / Undelete / List", () => {
  it("soft-deletes and restores with etags", async () => {
    const t = await createTemplate();
    await failure(h.client.deleteTemplate({ name: t.name, etag: 'W/"7"' }), Code.Aborted);
    const del = await h.client.deleteTemplate({ name: t.name, etag: t.etag });
    expect(del.template?.deleteTime).toBeDefined();
    await failure(h.client.deleteTemplate({ name: t.name }), Code.NotFound);
    const hidden = await h.client.listTemplates({ filter: `slug = "${t.slug}"` });
    expect(hidden.templates).toHaveLength(0);
    const shown = await h.client.listTemplates({ filter: `slug = "${t.slug}"`, showDeleted: true });
    expect(shown.templates).toHaveLength(1);
    const restored = await h.client.undeleteTemplate({ name: t.name });
    expect(restored.template?.deleteTime).toBeUndefined();
    await failure(h.client.undeleteTemplate({ name: t.name }), Code.FailedPrecondition);
    await failure(h.client.undeleteTemplate({ name: `templates/${randomUUID()}` }), Code.NotFound);
    await failure(h.client.deleteTemplate({ name: "templates/x" }), Code.InvalidArgument);
  });

  it("filters, orders and pages", async () => {
    const tag = uniq("tag");
    for (const title of ["b title", "a title", "c title"]) await createTemplate({ title, tags: [tag] });
    const page1 = await h.client.listTemplates({ filter: `tags:"${tag}"`, pageSize: 2 });
    expect(page1.templates.map((t) => t.title)).toEqual(["a title", "b title"]);
    expect(page1.totalSize).toBe(3);
    const page2 = await h.client.listTemplates({
      filter: `tags:"${tag}"`,
      pageSize: 2,
      pageToken: page1.nextPageToken,
    });
    expect(page2.templates.map((t) => t.title)).toEqual(["c title"]);
    expect(page2.nextPageToken).toBe("");
    const desc = await h.client.listTemplates({
      filter: `tags:"${tag}" AND active = true`,
      orderBy: "title desc",
    });
    expect(desc.templates.map((t) => t.title)).toEqual(["c title", "b title", "a title"]);
    const typed = await h.client.listTemplates({
      filter: `tags:"${tag}" AND template_type = "templateTypes/prompt_instruction" AND owner = "alice"`,
    });
    expect(typed.templates).toHaveLength(3);
    const big = await h.client.listTemplates({ filter: `tags:"${tag}"`, pageSize: 5000 });
    expect(big.templates).toHaveLength(3);
    // An empty string is no number between 0 and 1 (it must not read as 0).
    for (const filter of [
      "nope = 1",
      "active = maybe",
      "title",
      'slug = "x" OR slug = "y"',
      'success_rate = ""',
    ]) {
      const err = await failure(h.client.listTemplates({ filter }), Code.InvalidArgument);
      expect(violatedFields(err)).toEqual(["filter"]);
    }
    await failure(h.client.listTemplates({ orderBy: "owner" }), Code.InvalidArgument);
    await failure(h.client.listTemplates({ pageSize: -5 }), Code.InvalidArgument);
    await failure(
      h.client.listTemplates({ filter: `tags:"${tag}"`, pageToken: "zzz" }),
      Code.InvalidArgument,
    );
    // A filter value with SQL metacharacters is just a value.
    const inj = await h.client.listTemplates({ filter: `slug = "x' or '1'='1"` });
    expect(inj.templates).toHaveLength(0);
  });
});

describe("SearchTemplates", () => {
  it("finds by full text, tags, type, category subtree, flags; ordered by usage", async () => {
    const tag = uniq("srch");
    const cats = await h.client.listTemplateCategorySubtree({});
    const parent = cats.templateCategories.find(
      (c) => c.depth === 0 && cats.templateCategories.some((d) => d.parent === c.name),
    );
    const child = cats.templateCategories.find((c) => c.parent === parent?.name);
    expect(child).toBeDefined();
    const a = await createTemplate({
      title: "Kubernetes rollout guide",
      tags: [tag],
      category: child?.name,
      public: true,
    });
    const b = await createTemplate({
      title: "Database migration",
      tags: [tag, "db"],
      category: parent?.name,
    });
    await createTemplate({ title: "Inactive kubernetes", tags: [tag], active: false });
    await h.orm.em
      .fork()
      .getConnection()
      .execute("update templates set usage_count = 10, success_rate = 90 where id = ?", [b.uid]);

    const text = await h.client.searchTemplates({ query: "kubernetes", tags: [tag] });
    expect(text.results.map((r) => r.template?.title).sort()).toEqual([
      "Inactive kubernetes",
      "Kubernetes rollout guide",
    ]);
    expect(text.results[0]?.score).toBeGreaterThan(0);
    expect(text.results[0]?.snippet).toContain("<mark>");
    expect(text.results[0]?.template?.content).toBe("");
    const active = await h.client.searchTemplates({ query: "kubernetes", tags: [tag], active: true });
    expect(active.results.map((r) => r.template?.name)).toEqual([a.name]);
    const pub = await h.client.searchTemplates({ tags: [tag], public: true });
    expect(pub.results.map((r) => r.template?.name)).toEqual([a.name]);
    const byUsage = await h.client.searchTemplates({ tags: [tag] });
    expect(byUsage.results[0]?.template?.name).toBe(b.name);
    expect(byUsage.totalSize).toBe(3);
    const subtree = await h.client.searchTemplates({ tags: [tag], category: parent?.name });
    expect(subtree.results.map((r) => r.template?.name).sort()).toEqual([a.name, b.name].sort());
    const leaf = await h.client.searchTemplates({ tags: [tag], category: child?.name });
    expect(leaf.results.map((r) => r.template?.name)).toEqual([a.name]);
    const typed = await h.client.searchTemplates({ tags: [tag], templateType: "templateTypes/code_snippet" });
    expect(typed.results).toHaveLength(0);
    const both = await h.client.searchTemplates({ tags: [tag, "db"] });
    expect(both.results.map((r) => r.template?.name)).toEqual([b.name]);
    const p1 = await h.client.searchTemplates({ tags: [tag], pageSize: 2 });
    const p2 = await h.client.searchTemplates({ tags: [tag], pageSize: 2, pageToken: p1.nextPageToken });
    expect([...p1.results, ...p2.results].map((r) => r.template?.name)).toHaveLength(3);
    const weird = await h.client.searchTemplates({ query: "'); drop table templates; -- & | ! :*" });
    expect(Array.isArray(weird.results)).toBe(true);
  });

  it("rejects bad arguments", async () => {
    const err = await failure(
      h.client.searchTemplates({
        templateType: "bad",
        category: "templateCategories/1",
        orderBy: "title",
        pageSize: -1,
        query: "q".repeat(501),
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(
      expect.arrayContaining(["template_type", "category", "order_by", "page_size", "query"]),
    );
    await failure(h.client.searchTemplates({ pageToken: "bad" }), Code.InvalidArgument);
  });
});
