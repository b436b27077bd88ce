/**
 * Lists over many templates only show what the caller may read: ListTemplates, SearchTemplates,
 * ListPopularTemplates and ListTemplateUsageLogs on "templates/-". Another user's private template is
 * invisible; public templates, own templates and templates shared by a live READ grant are visible.
 */
import { TemplatePermissionLevel } from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, uniq } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";
import { durationFromMs } from "./usage.mapper.js";

let h: Harness;
/** A word only this file's templates carry in their title (ListTemplates filter, search query). */
const word = `quokka${Math.random().toString(36).slice(2, 8)}`;
const names = { bobPrivate: "", bobPublic: "", bobShared: "", alicePrivate: "" };

beforeAll(async () => {
  h = await startHarness();
  const bob = h.as("bob");
  const make = async (client: typeof bob, title: string, isPublic: boolean) => {
    const t = await makeTemplate(client, { slug: uniq("vis"), title: `${word} ${title}`, public: isPublic });
    // One usage each, logged by the owner, so every template shows up in usage lists and popularity.
    await client.logTemplateUsage({
      parent: t.name,
      templateUsageLog: { executionTime: durationFromMs(5), success: true },
    });
    return t.name;
  };
  names.bobPrivate = await make(bob, "bob private", false);
  names.bobPublic = await make(bob, "bob public", true);
  names.bobShared = await make(bob, "bob shared", false);
  names.alicePrivate = await make(h.client, "alice private", false);
  await bob.grantTemplatePermission({
    parent: names.bobShared,
    templatePermission: {
      grantee: { case: "user", value: "alice" },
      permission: TemplatePermissionLevel.READ,
    },
  });
});
afterAll(async () => {
  await h?.close();
});

/** What alice must see among this file's templates, and what she must not. */
function expectAliceView(seen: Iterable<string>): void {
  const mine = new Set(seen);
  expect(mine.has(names.bobPrivate), "another user's private template").toBe(false);
  expect(mine.has(names.bobPublic), "a public template").toBe(true);
  expect(mine.has(names.bobShared), "a template shared with a READ grant").toBe(true);
  expect(mine.has(names.alicePrivate), "an own private template").toBe(true);
}

describe("lists over many templates only show readable templates", () => {
  it("ListTemplates (items and total_size)", async () => {
    const res = await h.client.listTemplates({ filter: `title:${word}`, pageSize: 100 });
    expectAliceView(res.templates.map((t) => t.name));
    expect(res.totalSize).toBe(3);
    // the owner sees all of their own
    const bobs = await h.as("bob").listTemplates({ filter: `title:${word}`, pageSize: 100 });
    expect(bobs.templates.map((t) => t.name).sort()).toEqual(
      [names.bobPrivate, names.bobPublic, names.bobShared].sort(),
    );
  });

  it("ListTemplates with show_deleted still hides unreadable templates", async () => {
    const res = await h.client.listTemplates({ filter: `title:${word}`, pageSize: 100, showDeleted: true });
    expectAliceView(res.templates.map((t) => t.name));
  });

  it("SearchTemplates (results and total_size)", async () => {
    const res = await h.client.searchTemplates({ query: word, pageSize: 100 });
    expectAliceView(res.results.map((r) => r.template?.name ?? ""));
    expect(res.totalSize).toBe(3);
    const privateOnly = await h.client.searchTemplates({ query: word, public: false, pageSize: 100 });
    expect(privateOnly.results.map((r) => r.template?.name).sort()).toEqual(
      [names.alicePrivate, names.bobShared].sort(),
    );
  });

  it("ListPopularTemplates", async () => {
    const res = await h.client.listPopularTemplates({ pageSize: 100 });
    expectAliceView(res.templates.map((t) => t.template));
  });

  it('ListTemplateUsageLogs on "templates/-"', async () => {
    const res = await h.client.listTemplateUsageLogs({ parent: "templates/-", pageSize: 100 });
    expectAliceView(res.templateUsageLogs.map((l) => l.name.replace(/\/usageLogs\/.*$/, "")));
  });

  it("a caller with no standing sees only the public template", async () => {
    const eve = h.as("eve");
    const listed = await eve.listTemplates({ filter: `title:${word}`, pageSize: 100 });
    expect(listed.templates.map((t) => t.name)).toEqual([names.bobPublic]);
    const found = await eve.searchTemplates({ query: word, pageSize: 100 });
    expect(found.results.map((r) => r.template?.name)).toEqual([names.bobPublic]);
    const popular = await eve.listPopularTemplates({ pageSize: 100 });
    const ours = new Set(Object.values(names));
    expect(popular.templates.map((t) => t.template).filter((n) => ours.has(n))).toEqual([names.bobPublic]);
    const logs = await eve.listTemplateUsageLogs({ parent: "templates/-", pageSize: 100 });
    expect(
      [...new Set(logs.templateUsageLogs.map((l) => l.name.replace(/\/usageLogs\/.*$/, "")))].filter((n) =>
        ours.has(n),
      ),
    ).toEqual([names.bobPublic]);
  });
});
