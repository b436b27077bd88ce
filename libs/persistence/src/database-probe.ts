/**
 * A bounded database health probe: `select 1` on a pooled connection of its own. If the connection is not
 * acquired, or the answer does not come, within `timeoutMs`, the probe fails AND its connection is destroyed
 * (released to pg-pool with an error) instead of going back to the pool: a connection that stopped answering
 * (a frozen server, a path that dropped its state) must not be handed to the next caller, and an abandoned
 * probe must not keep holding a pool slot. The server-side `statement_timeout` of the pool bounds the query
 * as well.
 */
import type { EntityManager } from "@mikro-orm/core";
import type { PoolClient } from "pg";
import { nativePool } from "./native-pool.js";

export class ProbeTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`database did not answer within ${timeoutMs} ms`);
    this.name = "ProbeTimeoutError";
  }
}

/** Round trip of `select 1` in ms; throws {@link ProbeTimeoutError} past `timeoutMs` (connection destroyed). */
export async function probeDatabase(em: EntityManager, timeoutMs: number): Promise<number> {
  const pool = await nativePool(em);
  const start = process.hrtime.bigint();
  let timedOut = false;
  let client: PoolClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      // Destroy the connection in use: pg-pool ends a client released with an error.
      client?.release(new ProbeTimeoutError(timeoutMs));
      client = undefined;
      reject(new ProbeTimeoutError(timeoutMs));
    }, timeoutMs);
  });
  const work = (async () => {
    const acquired = await pool.connect();
    if (timedOut) {
      acquired.release(new ProbeTimeoutError(timeoutMs));
      throw new ProbeTimeoutError(timeoutMs);
    }
    client = acquired;
    try {
      await acquired.query("select 1");
    } catch (error) {
      if (client === acquired) acquired.release(error instanceof Error ? error : new Error(String(error)));
      client = undefined;
      throw error;
    }
    if (client === acquired) acquired.release();
    client = undefined;
    return Number(process.hrtime.bigint() - start) / 1e6;
  })();
  work.catch(() => {});
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
