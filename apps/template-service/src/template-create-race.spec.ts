/**
 * Two CreateTemplate calls with the same request_id racing past the replay pre-check: the winner holds the
 * request id's advisory lock (createOnce) while it stores the idempotency key, the loser waits for that lock
 * and then answers with the winner's template. Deterministic: a second connection holds a lock on
 * idempotency_keys until the winner waits for it and the loser waits for the advisory lock.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniq, useHarness } from "./harness.test-util.js";
import { promptDraft } from "./render.test-util.js";

const h = useHarness();
let sql: pg.Client;

beforeAll(async () => {
  sql = new pg.Client({ connectionString: h.db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
});

/**
 * Polls pg_locks until `count` requests wait on idempotency_keys or on an advisory lock; fails if a call
 * ends first.
 */
async function waitForBlocked(count: number, calls: Promise<unknown>[]): Promise<void> {
  let ended = false;
  for (const c of calls)
    c.then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
  for (;;) {
    if (ended) throw new Error("a CreateTemplate call ended before waiting for the lock");
    const { rows } = await sql.query(
      `select count(*)::int as n from pg_locks where not granted
       and (relation = 'idempotency_keys'::regclass or (locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())))`,
    );
    if (rows[0].n >= count) return;
  }
}

describe("CreateTemplate request_id race", () => {
  it("both callers get the one template the winner created", async () => {
    const requestId = randomUUID();
    await sql.query("begin");
    let released = false;
    try {
      await sql.query("lock table idempotency_keys in share row exclusive mode");
      const first = h.client.createTemplate({ template: promptDraft({ slug: uniq("race_a") }), requestId });
      const second = h.client.createTemplate({ template: promptDraft({ slug: uniq("race_b") }), requestId });
      await waitForBlocked(2, [first, second]);
      await sql.query("commit");
      released = true;
      const [a, b] = await Promise.all([first, second]);
      expect(a.template?.name).toBeTruthy();
      expect(b.template?.name).toBe(a.template?.name);
      const { rows } = await sql.query(
        "select count(*)::int as n from idempotency_keys where scope = 'template.create' and request_id = $1",
        [requestId],
      );
      expect(rows[0].n).toBe(1);
    } finally {
      if (!released) await sql.query("rollback");
    }
  });
});
