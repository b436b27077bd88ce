/** Comment RPCs end to end (real grpc-js server, real PostgreSQL). */
import { Code } from "@connectrpc/connect";
import { CommentType } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import { describe, expect, it } from "vitest";
import { expectError, marker, NIL_TASK, newTask, RANDOM_UUID, useHarness } from "./workflow.test-util.js";

const h = useHarness();

async function comment(parent: string, content: string, extra: Record<string, unknown> = {}, as?: string) {
  const client = as === undefined ? h.client : h.as(as);
  const res = await client.createComment({ parent, comment: { content, ...extra } });
  if (!res.comment) throw new Error("no comment");
  return res.comment;
}

describe("CreateComment / GetComment", () => {
  it("creates threads of replies with authors, types and flags", async () => {
    const ada = marker("ada");
    const task = await newTask(h.client);
    const root = await comment(task.name, "Root remark", {}, ada);
    expect(root.name).toMatch(new RegExp(`^${task.name}/comments/[0-9a-f-]{36}$`));
    expect(root).toMatchObject({
      uid: root.name.split("/")[3],
      parentComment: "",
      thread: root.name,
      type: CommentType.GENERAL,
      content: "Root remark",
      internal: false,
      author: ada,
      etag: 'W/"1"',
      replyCount: 0,
    });
    expect(root.updateTime).toEqual(root.createTime);
    const reply = await comment(task.name, "A question?", {
      parentComment: root.name,
      type: CommentType.QUESTION,
    });
    const nested = await comment(task.name, "Internal answer", { parentComment: reply.name, internal: true });
    expect(reply).toMatchObject({ parentComment: root.name, thread: root.name, type: CommentType.QUESTION });
    expect(reply.author).toBe("anonymous");
    expect(nested).toMatchObject({ parentComment: reply.name, thread: root.name, internal: true });
    const got = await h.client.getComment({ name: root.name });
    expect(got.comment?.replyCount).toBe(1);
    const events = await h.sql(
      "select payload from outbox_events where aggregate_id = ? and event_kind = 'task.comment' order by id",
      [task.uid],
    );
    expect(events).toHaveLength(3);
  });

  it("stores SQL metacharacters and unicode verbatim and counts characters as code points", async () => {
    const task = await newTask(h.client);
    const content = `'); delete from task_comments; -- \\ % _ "q" 😀 Ünïcødé 中文\nline two`;
    const c = await comment(task.name, content);
    expect((await h.client.getComment({ name: c.name })).comment?.content).toBe(content);
    const emoji = await comment(task.name, "😀".repeat(20_000));
    expect([...(emoji.content ?? "")]).toHaveLength(20_000);
  });

  it("is idempotent on request_id and writes nothing with validate_only", async () => {
    const task = await newTask(h.client);
    const requestId = RANDOM_UUID();
    const a = await h.client.createComment({ parent: task.name, comment: { content: "once" }, requestId });
    const b = await h.client.createComment({ parent: task.name, comment: { content: "once" }, requestId });
    expect(b.comment?.name).toBe(a.comment?.name);
    const dry = await h.client.createComment({
      parent: task.name,
      comment: { content: "dry" },
      validateOnly: true,
    });
    expect(dry.comment).toBeUndefined();
    const list = await h.client.listComments({ parent: task.name });
    expect(list.comments.map((c) => c.content)).toEqual(["once"]);
  });

  it("rejects invalid input naming the fields", async () => {
    const task = await newTask(h.client);
    const other = await newTask(h.client);
    const foreign = await comment(other.name, "elsewhere");
    await expectError(h.client.createComment({ parent: "" }), Code.InvalidArgument, ["parent", "comment"]);
    await expectError(
      h.client.createComment({ parent: "tasks/1", comment: { content: "x" } }),
      Code.InvalidArgument,
      ["parent"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "" } }),
      Code.InvalidArgument,
      ["comment.content"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "x".repeat(20_001) } }),
      Code.InvalidArgument,
      ["comment.content"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "a\0b" } }),
      Code.InvalidArgument,
      ["comment.content"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "x", type: 77 as CommentType } }),
      Code.InvalidArgument,
      ["comment.type"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "x", parentComment: foreign.name } }),
      Code.InvalidArgument,
      ["comment.parent_comment"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "x", parentComment: "comments/1" } }),
      Code.InvalidArgument,
      ["comment.parent_comment"],
    );
    await expectError(
      h.client.createComment({
        parent: task.name,
        comment: { content: "x", parentComment: `${task.name}/comments/${RANDOM_UUID()}` },
      }),
      Code.InvalidArgument,
      ["comment.parent_comment"],
    );
    await expectError(
      h.client.createComment({ parent: task.name, comment: { content: "x" }, requestId: "r1" }),
      Code.InvalidArgument,
      ["request_id"],
    );
    await expectError(h.client.createComment({ parent: NIL_TASK, comment: { content: "x" } }), Code.NotFound);
    await expectError(h.client.getComment({ name: task.name }), Code.InvalidArgument, ["name"]);
    await expectError(h.client.getComment({ name: `${task.name}/comments/${RANDOM_UUID()}` }), Code.NotFound);
  });
});

describe("ListComments", () => {
  it("lists by task or thread, in creation order, with filters, paging and deleted ones on request", async () => {
    const bob = marker("bob");
    const task = await newTask(h.client);
    const r1 = await comment(task.name, "r1", {}, bob);
    const r1a = await comment(task.name, "r1a", { parentComment: r1.name, type: CommentType.DECISION });
    const r2 = await comment(task.name, "r2", { internal: true });
    const r1b = await comment(task.name, "r1b", { parentComment: r1a.name });
    const all = await h.client.listComments({ parent: task.name });
    expect(all.comments.map((c) => c.content)).toEqual(["r1", "r1a", "r2", "r1b"]);
    const thread = await h.client.listComments({ parent: task.name, thread: r1.name });
    expect(thread.comments.map((c) => c.name)).toEqual([r1.name, r1a.name, r1b.name]);
    const desc = await h.client.listComments({ parent: task.name, orderBy: "create_time desc" });
    expect(desc.comments.map((c) => c.content)).toEqual(["r1b", "r2", "r1a", "r1"]);
    const paged: string[] = [];
    let pageToken = "";
    do {
      const res = await h.client.listComments({ parent: task.name, pageSize: 3, pageToken });
      paged.push(...res.comments.map((c) => c.content));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    expect(paged).toEqual(["r1", "r1a", "r2", "r1b"]);
    const filtered = async (filter: string) =>
      (await h.client.listComments({ parent: task.name, filter })).comments.map((c) => c.content);
    expect(await filtered("type = DECISION")).toEqual(["r1a"]);
    expect(await filtered(`author = "${bob}"`)).toEqual(["r1"]);
    expect(await filtered("internal = true")).toEqual(["r2"]);
    expect(await filtered(`create_time > "${new Date(Date.now() + 60_000).toISOString()}"`)).toEqual([]);

    await h.client.deleteComment({ name: r2.name });
    expect((await h.client.listComments({ parent: task.name })).comments).toHaveLength(3);
    const withDeleted = await h.client.listComments({ parent: task.name, showDeleted: true });
    const deleted = withDeleted.comments.find((c) => c.name === r2.name);
    expect(deleted?.content).toBe("");
    expect(deleted?.deleteTime).toBeDefined();
  });

  it("rejects bad arguments", async () => {
    const task = await newTask(h.client);
    const other = await newTask(h.client);
    const foreign = await comment(other.name, "x");
    await expectError(h.client.listComments({ parent: "" }), Code.InvalidArgument, ["parent"]);
    await expectError(h.client.listComments({ parent: task.name, pageSize: -5 }), Code.InvalidArgument, [
      "page_size",
    ]);
    await expectError(
      h.client.listComments({ parent: task.name, thread: foreign.name }),
      Code.InvalidArgument,
      ["thread"],
    );
    await expectError(h.client.listComments({ parent: task.name, thread: "nope" }), Code.InvalidArgument, [
      "thread",
    ]);
    await expectError(
      h.client.listComments({ parent: task.name, filter: "content = x" }),
      Code.InvalidArgument,
      ["filter"],
    );
    await expectError(
      h.client.listComments({ parent: task.name, filter: "type = NOPE" }),
      Code.InvalidArgument,
      ["filter"],
    );
    await expectError(h.client.listComments({ parent: task.name, orderBy: "author" }), Code.InvalidArgument, [
      "order_by",
    ]);
    await expectError(h.client.listComments({ parent: task.name, pageToken: "abc" }), Code.InvalidArgument, [
      "page_token",
    ]);
    await expectError(h.client.listComments({ parent: NIL_TASK }), Code.NotFound);
    await expectError(
      h.client.listComments({ parent: task.name, thread: `${task.name}/comments/${RANDOM_UUID()}` }),
      Code.NotFound,
    );
    const big = await h.client.listComments({ parent: task.name, pageSize: 100_000 });
    expect(big.comments).toEqual([]);
  });
});

describe("UpdateComment / DeleteComment", () => {
  it("edits content, type and internal with etags; only the author may edit", async () => {
    const ada = marker("ada");
    const task = await newTask(h.client);
    const c = await comment(task.name, "first draft", {}, ada);
    const res = await h.as(ada).updateComment({
      comment: {
        name: c.name,
        etag: c.etag,
        content: "second draft",
        type: CommentType.SOLUTION,
        internal: true,
      },
      updateMask: { paths: ["content", "type"] },
    });
    expect(res.comment).toMatchObject({
      content: "second draft",
      type: CommentType.SOLUTION,
      internal: false,
    });
    expect(res.comment?.etag).toBe('W/"2"');
    const stale = await expectError(
      h.client.updateComment({
        comment: { name: c.name, etag: c.etag, content: "x" },
        updateMask: { paths: ["content"] },
      }),
      Code.Aborted,
    );
    expect(stale.rawMessage).toContain("etag");
    await expectError(
      h
        .as(marker("eve"))
        .updateComment({ comment: { name: c.name, content: "hijack" }, updateMask: { paths: ["content"] } }),
      Code.PermissionDenied,
    );
    const all = await h.as(ada).updateComment({
      comment: { name: c.name, content: "third", internal: true },
      updateMask: { paths: ["*"] },
    });
    expect(all.comment).toMatchObject({ content: "third", type: CommentType.GENERAL, internal: true });
    const events = await h.sql(
      "select count(*)::int as n from outbox_events where aggregate_id = ? and event_kind = 'task.comment'",
      [task.uid],
    );
    expect(events[0]?.n).toBe(3);
  });

  it("rejects bad updates", async () => {
    const task = await newTask(h.client);
    const c = await comment(task.name, "text");
    await expectError(h.client.updateComment({}), Code.InvalidArgument, ["comment"]);
    await expectError(
      h.client.updateComment({ comment: { name: c.name, content: "x" } }),
      Code.InvalidArgument,
      ["update_mask"],
    );
    await expectError(
      h.client.updateComment({ comment: { name: c.name, content: "x" }, updateMask: { paths: ["author"] } }),
      Code.InvalidArgument,
      ["update_mask"],
    );
    await expectError(
      h.client.updateComment({ comment: { name: c.name, content: "" }, updateMask: { paths: ["content"] } }),
      Code.InvalidArgument,
      ["comment.content"],
    );
    await expectError(
      h.client.updateComment({
        comment: { name: "bad", etag: "v1", content: "x" },
        updateMask: { paths: ["content"] },
      }),
      Code.InvalidArgument,
      ["comment.name", "comment.etag"],
    );
    await expectError(
      h.client.updateComment({
        comment: { name: `${task.name}/comments/${RANDOM_UUID()}`, content: "x" },
        updateMask: { paths: ["content"] },
      }),
      Code.NotFound,
    );
  });

  it("soft-deletes: content hidden, replies stay, a second delete is NOT_FOUND", async () => {
    const task = await newTask(h.client);
    const root = await comment(task.name, "to be removed");
    const reply = await comment(task.name, "stays", { parentComment: root.name });
    await expectError(h.client.deleteComment({ name: root.name, etag: 'W/"9"' }), Code.Aborted);
    await expectError(h.client.deleteComment({ name: root.name, etag: "x" }), Code.InvalidArgument, ["etag"]);
    const res = await h.client.deleteComment({ name: root.name, etag: root.etag });
    expect(res.comment?.content).toBe("");
    expect(res.comment?.deleteTime).toBeDefined();
    await expectError(h.client.getComment({ name: root.name }), Code.NotFound);
    await expectError(h.client.deleteComment({ name: root.name }), Code.NotFound);
    const kept = await h.client.getComment({ name: reply.name });
    expect(kept.comment?.thread).toBe(root.name);
    const thread = await h.client.listComments({ parent: task.name, thread: root.name });
    expect(thread.comments.map((c) => c.name)).toEqual([reply.name]);
    await expectError(h.client.deleteComment({ name: "tasks/x/comments/y" }), Code.InvalidArgument, ["name"]);
  });
});
