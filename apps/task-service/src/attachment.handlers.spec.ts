/**
 * Attachments end to end: client-streaming upload into a temp-dir content store, download, get, list,
 * delete; size limit, MIME rule, checksum, cancelled uploads leaving nothing behind. Real grpc-js + PostgreSQL.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type {
  TaskService,
  UploadAttachmentRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorExpecter, type Harness, startHarness, withoutWords } from "./workflow.test-util.js";

type UploadMsg = MessageInitShape<typeof UploadAttachmentRequestSchema>;

const MAX = 64 * 1024;
let harness: Harness;
let orm: MikroORM;
let client: Client<typeof TaskService>;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "attachments-"));
  harness = await startHarness(
    { attachmentDir: dir, attachmentMaxBytes: MAX },
    { service: "attachment-test" },
  );
  ({ orm, client } = harness);
});

afterAll(async () => {
  await harness?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const expectError = errorExpecter(
  withoutWords(["select", "insert", "constraint", "    at ", "violates", 'relation "'], {
    descriptions: true,
  }),
);

async function newTask(title = "attach here"): Promise<string> {
  const res = await client.createTask({ task: { title } });
  return res.task?.name as string;
}

async function* stream(messages: UploadMsg[]): AsyncIterable<UploadMsg> {
  for (const m of messages) yield m;
}

function meta(
  parent: string,
  filename: string,
  mimeType: string,
  extra: { sizeBytes?: bigint; sha256?: string; requestId?: string } = {},
): UploadMsg {
  return {
    payload: { case: "metadata", value: { parent, attachment: { filename, mimeType }, ...extra } },
  } as UploadMsg;
}
const chunk = (bytes: Uint8Array | string): UploadMsg => ({
  payload: { case: "chunk", value: typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes },
});

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from("fake png body"),
]);
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

async function rowCount(): Promise<number> {
  const rows = await orm.em.fork().getConnection().execute("select count(*)::int as n from task_attachments");
  return Number(rows[0]?.n);
}
async function storedFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const f of await readdir(join(dir, entry.name))) out.push(`${entry.name}/${f}`);
  }
  return out;
}
async function until(cond: () => Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

async function download(
  name: string,
  chunkSize = 0,
): Promise<{ meta: unknown; bytes: Buffer; chunks: number }> {
  const parts: Buffer[] = [];
  let first: unknown;
  for await (const m of client.downloadAttachment({ name, chunkSize })) {
    if (m.payload.case === "attachment") first = m.payload.value;
    else if (m.payload.case === "chunk") parts.push(Buffer.from(m.payload.value));
  }
  return { meta: first, bytes: Buffer.concat(parts), chunks: parts.length };
}

describe("UploadAttachment / DownloadAttachment / Get / List / Delete", () => {
  it("uploads in chunks, stores content-addressed, round-trips SQL metacharacters and unicode", async () => {
    const task = await newTask();
    const text = "line 1; DROP TABLE tasks; -- 'quoted' \"x\" ünïcødé 🚀\n".repeat(50);
    const bytes = Buffer.from(text);
    const res = await client.uploadAttachment(
      stream([
        meta(task, "notes'; drop table x;--ü🚀.txt", "text/plain", {
          sizeBytes: BigInt(bytes.length),
          sha256: sha(bytes),
        }),
        chunk(bytes.subarray(0, 1000)),
        chunk(bytes.subarray(1000)),
      ]),
      { headers: { "x-taskmaster-actor": "ada@example.com" } },
    );
    const a = res.attachment;
    expect(a?.name).toMatch(new RegExp(`^${task}/attachments/[0-9a-f-]{36}$`));
    expect(a?.filename).toBe("notes'; drop table x;--ü🚀.txt");
    expect(a?.sizeBytes).toBe(BigInt(bytes.length));
    expect(a?.sha256).toBe(sha(bytes));
    expect(a?.fileType).toBe("txt");
    expect(a?.uploader).toBe("ada@example.com");
    expect((await stat(join(dir, sha(bytes).slice(0, 2), sha(bytes)))).size).toBe(bytes.length);

    const got = await client.getAttachment({ name: a?.name as string });
    expect(got.attachment).toEqual(a);
    const dl = await download(a?.name as string, 256);
    expect(dl.bytes.equals(bytes)).toBe(true);
    expect(dl.chunks).toBe(Math.ceil(bytes.length / 256));
    expect(dl.meta).toEqual(a);
  });

  it("dedupes identical content and keeps the file after the last reference is deleted (backups may restore it)", async () => {
    const task = await newTask();
    const body = `same content ${randomUUID()}`;
    const up = () => client.uploadAttachment(stream([meta(task, "a.txt", "text/plain"), chunk(body)]));
    const one = (await up()).attachment;
    const two = (await up()).attachment;
    expect(one?.sha256).toBe(two?.sha256);
    expect(one?.name).not.toBe(two?.name);
    const file = join(dir, sha(body).slice(0, 2), sha(body));
    await client.deleteAttachment({ name: one?.name as string });
    expect((await stat(file)).isFile()).toBe(true);
    await expectError(client.getAttachment({ name: one?.name as string }), Code.NotFound);
    await client.deleteAttachment({ name: two?.name as string });
    // A backup taken before the delete can bring the row back: the file stays until backup pruning finds
    // no retained backup that can (tools/db attachment-prune), and the deletion is recorded for it.
    expect((await stat(file)).isFile()).toBe(true);
    const recorded = await orm.em
      .fork()
      .getConnection()
      .execute("select deleted_at from attachment_deletions where storage_key = ?", [sha(body)], "all");
    expect(recorded).toHaveLength(1);
    await expectError(client.deleteAttachment({ name: two?.name as string }), Code.NotFound);
    // The same content uploaded again reuses the kept file.
    const three = (await up()).attachment;
    expect(three?.sha256).toBe(sha(body));
    expect((await download(three?.name as string, 1024)).bytes.toString()).toBe(body);
  });

  it("lists a task's attachments with paging", async () => {
    const task = await newTask();
    for (let i = 0; i < 5; i++) {
      await client.uploadAttachment(stream([meta(task, `f${i}.txt`, "text/plain"), chunk(`file ${i}`)]));
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const res = await client.listAttachments({ parent: task, pageSize: 2, pageToken });
      expect(res.attachments.length).toBeLessThanOrEqual(2);
      seen.push(...res.attachments.map((a) => a.filename));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"]);
    const desc = await client.listAttachments({ parent: task, orderBy: "create_time desc" });
    expect(desc.attachments.map((a) => a.filename)).toEqual([
      "f4.txt",
      "f3.txt",
      "f2.txt",
      "f1.txt",
      "f0.txt",
    ]);
    await expectError(client.listAttachments({ parent: task, pageSize: -1 }), Code.InvalidArgument, [
      "page_size",
    ]);
    await expectError(client.listAttachments({ parent: task, pageToken: "garbage" }), Code.InvalidArgument, [
      "page_token",
    ]);
    await expectError(client.listAttachments({ parent: `tasks/${randomUUID()}` }), Code.NotFound);
    await expectError(client.listAttachments({ parent: "tasks/nope" }), Code.InvalidArgument, ["parent"]);
  });

  it("accepts a PNG declared as image/png and refuses MIME types that contradict content or extension", async () => {
    const task = await newTask();
    const ok = await client.uploadAttachment(stream([meta(task, "pic.png", "image/png"), chunk(PNG)]));
    expect(ok.attachment?.mimeType).toBe("image/png");
    const before = await rowCount();
    const field = ["metadata.attachment.mime_type"];
    await expectError(
      client.uploadAttachment(stream([meta(task, "pic.bin", "text/plain"), chunk(PNG)])),
      Code.InvalidArgument,
      field,
    );
    await expectError(
      client.uploadAttachment(stream([meta(task, "doc.bin", "application/pdf"), chunk("not a pdf")])),
      Code.InvalidArgument,
      field,
    );
    await expectError(
      client.uploadAttachment(stream([meta(task, "pic.png", "text/plain"), chunk("hi")])),
      Code.InvalidArgument,
      field,
    );
    await expectError(
      client.uploadAttachment(stream([meta(task, "x", "not a mime"), chunk("hi")])),
      Code.InvalidArgument,
      field,
    );
    expect(await rowCount()).toBe(before);
  });

  it("validates metadata: missing fields, bad names, path separators, oversize description", async () => {
    const task = await newTask();
    await expectError(client.uploadAttachment(stream([chunk("no metadata first")])), Code.InvalidArgument, [
      "metadata",
    ]);
    await expectError(
      client.uploadAttachment(
        stream([{ payload: { case: "metadata", value: { parent: "tasks/123" } } }, chunk("x")]),
      ),
      Code.InvalidArgument,
      ["metadata.parent", "metadata.attachment"],
    );
    await expectError(
      client.uploadAttachment(stream([meta(task, "../etc/passwd", ""), chunk("x")])),
      Code.InvalidArgument,
      ["metadata.attachment.filename", "metadata.attachment.mime_type"],
    );
    await expectError(
      client.uploadAttachment(
        stream([
          {
            payload: {
              case: "metadata",
              value: {
                parent: task,
                attachment: { filename: "a.txt", mimeType: "text/plain", description: "d".repeat(2001) },
                sha256: "XYZ",
                requestId: "nope",
              },
            },
          },
          chunk("x"),
        ]),
      ),
      Code.InvalidArgument,
      ["metadata.attachment.description", "metadata.sha256", "metadata.request_id"],
    );
    await expectError(
      client.uploadAttachment(stream([meta(`tasks/${randomUUID()}`, "a.txt", "text/plain"), chunk("x")])),
      Code.NotFound,
    );
    await expectError(
      client.uploadAttachment(
        stream([meta(task, "a.txt", "text/plain", { sha256: "0".repeat(64) }), chunk("x")]),
      ),
      Code.InvalidArgument,
      ["metadata.sha256"],
    );
    await expectError(
      client.uploadAttachment(stream([meta(task, "a.txt", "text/plain", { sizeBytes: 99n }), chunk("x")])),
      Code.InvalidArgument,
      ["metadata.size_bytes"],
    );
    await expectError(
      client.uploadAttachment(stream([meta(task, "a.txt", "text/plain")])),
      Code.InvalidArgument,
      ["chunk"],
    );
    await expectError(client.getAttachment({ name: `${task}/attachments/nope` }), Code.InvalidArgument, [
      "name",
    ]);
    await expectError(client.getAttachment({ name: `${task}/attachments/${randomUUID()}` }), Code.NotFound);
    await expectError(download(`${task}/attachments/${randomUUID()}`, -1), Code.InvalidArgument, [
      "chunk_size",
    ]);
    await expectError(download(`${task}/attachments/${randomUUID()}`), Code.NotFound);
  });

  it("fails with RESOURCE_EXHAUSTED past the size limit (declared or streamed) and leaves nothing behind", async () => {
    const task = await newTask();
    const rows = await rowCount();
    const files = await storedFiles();
    await expectError(
      client.uploadAttachment(
        stream([meta(task, "big.txt", "text/plain", { sizeBytes: BigInt(MAX + 1) }), chunk("x")]),
      ),
      Code.ResourceExhausted,
    );
    const part = new Uint8Array(40 * 1024).fill(97);
    await expectError(
      client.uploadAttachment(
        stream([meta(task, "big.txt", "text/plain"), chunk(part), chunk(part), chunk(part)]),
      ),
      Code.ResourceExhausted,
    );
    expect(await rowCount()).toBe(rows);
    expect(await storedFiles()).toEqual(files);
    await until(async () => (await readdir(join(dir, ".tmp"))).length === 0, "temp files to be removed");
  });

  it("a cancelled upload leaves no row and no file", async () => {
    const task = await newTask();
    const rows = await rowCount();
    const files = await storedFiles();
    const abort = new AbortController();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    async function* slow(): AsyncIterable<UploadMsg> {
      yield meta(task, "half.txt", "text/plain");
      yield chunk("the first half of something");
      await gate;
    }
    const call = client.uploadAttachment(slow(), { signal: abort.signal });
    const tmp = join(dir, ".tmp");
    await until(async () => {
      const names = await readdir(tmp).catch(() => [] as string[]);
      for (const n of names) if ((await stat(join(tmp, n)).catch(() => undefined))?.size) return true;
      return false;
    }, "the server to receive the first chunk");
    abort.abort();
    release();
    await expect(call).rejects.toBeInstanceOf(ConnectError);
    await until(async () => (await readdir(tmp)).length === 0, "the temp file to be removed");
    expect(await rowCount()).toBe(rows);
    expect(await storedFiles()).toEqual(files);
  });

  it("concurrent uploads with the same request_id create one attachment and all return it", async () => {
    // Three rounds: one round does not always interleave the calls.
    for (let round = 0; round < 3; round++) {
      const task = await newTask();
      const requestId = randomUUID();
      const up = () =>
        client.uploadAttachment(
          stream([meta(task, "c.txt", "text/plain", { requestId }), chunk(`race ${round}`)]),
        );
      const all = await Promise.all([1, 2, 3, 4].map(() => up()));
      expect(new Set(all.map((r) => r.attachment?.name)).size).toBe(1);
      expect((await client.listAttachments({ parent: task })).attachments).toHaveLength(1);
    }
    await until(async () => (await readdir(join(dir, ".tmp"))).length === 0, "the temp files to be removed");
  });

  it("a retried upload with the same request_id returns the first attachment", async () => {
    const task = await newTask();
    const requestId = randomUUID();
    const up = () =>
      client.uploadAttachment(stream([meta(task, "r.txt", "text/plain", { requestId }), chunk("retry me")]));
    const one = await up();
    const two = await up();
    expect(two.attachment?.name).toBe(one.attachment?.name);
    expect((await client.listAttachments({ parent: task })).attachments).toHaveLength(1);
  });
});
