/**
 * SearchTasks end to end: ranking (title > description), typo tolerance with `fuzzy`, filter, paging,
 * highlight markers, soft-deleted tasks, validation. Real grpc-js + PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { type Client, Code } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorExpecter, type Harness, notMatching, startHarness } from "./workflow.test-util.js";

let harness: Harness;
let orm: MikroORM;
let client: Client<typeof TaskService>;

beforeAll(async () => {
  harness = await startHarness({}, { service: "search-test" });
  ({ orm, client } = harness);
});

afterAll(async () => {
  await harness?.close();
});

const expectError = errorExpecter(notMatching(/\bselect\b|constraint|tsquery|\n\s+at /i));

/** A made-up word unique to one test, so hits never collide across tests. */
const word = () =>
  `zq${randomUUID()
    .replace(/[^a-f]/g, "")
    .slice(0, 8)}x`;

async function task(title: string, extra: Record<string, unknown> = {}): Promise<string> {
  return (await client.createTask({ task: { title, ...extra } })).task?.name as string;
}

describe("SearchTasks", () => {
  it("ranks title matches above description matches and highlights with custom markers", async () => {
    const w = word();
    const inDescription = await task("Something else entirely", {
      description: `mentions ${w} once in the body`,
    });
    const inTitle = await task(`Fix ${w} handling`);
    const res = await client.searchTasks({ query: w, highlightStart: "[[", highlightEnd: "]]" });
    expect(res.results.map((r) => r.task?.name)).toEqual([inTitle, inDescription]);
    expect(res.totalSize).toBe(2);
    expect(res.results[0]?.score).toBeGreaterThan(res.results[1]?.score ?? 0);
    expect(res.results[0]?.snippets).toContainEqual({
      $typeName: "taskmaster.task.v1.SearchSnippet",
      field: "title",
      text: `Fix [[${w}]] handling`,
    });
    expect(res.results[1]?.snippets.find((s) => s.field === "description")?.text).toContain(`[[${w}]]`);
    expect(res.results.every((r) => !r.fuzzyMatch)).toBe(true);
    const def = await client.searchTasks({ query: w });
    expect(def.results[0]?.snippets[0]?.text).toContain(`<mark>${w}</mark>`);
  });

  it("tolerates typos only with fuzzy, and flags fuzzy-only hits", async () => {
    const w = word();
    const name = await task(`Refactor ${w}authentication module`);
    const typo = `${w}authentcation`;
    expect((await client.searchTasks({ query: typo })).results).toHaveLength(0);
    const fuzzy = await client.searchTasks({ query: typo, fuzzy: true });
    expect(fuzzy.results.map((r) => r.task?.name)).toEqual([name]);
    expect(fuzzy.results[0]?.fuzzyMatch).toBe(true);
    expect(
      (await client.searchTasks({ query: typo, fuzzy: true, minSimilarity: 0.99 })).results,
    ).toHaveLength(0);
  });

  it("supports websearch syntax, filters, paging, soft-deleted tasks and stores metacharacters verbatim", async () => {
    const w = word();
    const names: string[] = [];
    for (let i = 0; i < 5; i++)
      names.push(
        await task(`${w} item ${i} 'quoted'; drop table tasks;-- ü🚀`, {
          assignedTo: i % 2 ? "odd" : "even",
        }),
      );
    await task(`${w} excluded thing`);
    const all: string[] = [];
    let pageToken = "";
    do {
      const res = await client.searchTasks({ query: `${w} -excluded`, pageSize: 2, pageToken });
      expect(res.results.length).toBeLessThanOrEqual(2);
      all.push(...res.results.map((r) => r.task?.name as string));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    expect(all.sort()).toEqual([...names].sort());
    const odd = await client.searchTasks({ query: w, filter: 'assigned_to = "odd"' });
    expect(odd.results.map((r) => r.task?.assignedTo)).toEqual(["odd", "odd"]);
    expect(odd.results[0]?.task?.title).toContain("'quoted'; drop table tasks;-- ü🚀");
    const quoted = await client.searchTasks({ query: `"${w} item 3"` });
    expect(quoted.results.map((r) => r.task?.name)).toEqual([names[3]]);
    await orm.em
      .fork()
      .getConnection()
      .execute(`update tasks set deleted_at = now() where id = ?`, [names[0]?.split("/")[1]]);
    expect((await client.searchTasks({ query: `${w} item 0` })).results).toHaveLength(0);
    expect(
      (await client.searchTasks({ query: `${w} item 0`, showDeleted: true })).results.map(
        (r) => r.task?.name,
      ),
    ).toEqual([names[0]]);
    // Odd input never breaks the query parser.
    expect(
      (await client.searchTasks({ query: `'); drop table tasks; -- & | ! ( :* <->` })).results,
    ).toBeDefined();
  });

  it("validates query, similarity, page size, page token and filter", async () => {
    await expectError(client.searchTasks({ query: "" }), Code.InvalidArgument, ["query"]);
    await expectError(
      client.searchTasks({ query: "x".repeat(501), minSimilarity: 2, pageSize: -1 }),
      Code.InvalidArgument,
      ["query", "min_similarity", "page_size"],
    );
    await expectError(client.searchTasks({ query: "ok", pageToken: "nope" }), Code.InvalidArgument, [
      "page_token",
    ]);
    await expectError(client.searchTasks({ query: "ok", filter: "status = = =" }), Code.InvalidArgument, [
      "filter",
    ]);
    const w = word();
    await task(`${w} a`);
    await task(`${w} b`);
    const first = await client.searchTasks({ query: w, pageSize: 1 });
    await expectError(
      client.searchTasks({ query: `${w} other`, pageToken: first.nextPageToken }),
      Code.InvalidArgument,
      ["page_token"],
    );
    expect((await client.searchTasks({ query: w, pageSize: 5000 })).results).toHaveLength(2);
  });
});
