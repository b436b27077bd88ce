/**
 * Copies the current call's audit context (set by rpc-kit's audit-context interceptor in an
 * AsyncLocalStorage) into transaction-local PostgreSQL settings at the start of every top-level MikroORM
 * transaction, with one `select set_config(...)`. The audit triggers (migration `..._audit_trail`) read
 * `taskmaster.actor`, `taskmaster.request_id`, `taskmaster.trace_id`, `taskmaster.client_ip` and
 * `taskmaster.user_agent`; the settings vanish with the transaction, so pooled connections never leak them.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { EventSubscriber, TransactionEventArgs } from "@mikro-orm/core";

/** Same shape as rpc-kit's `AuditContext`; shared through the same global symbol. */
export interface AuditContextValues {
  readonly actor?: string | undefined;
  readonly requestId?: string | undefined;
  readonly traceId?: string | undefined;
  readonly clientIp?: string | undefined;
  readonly userAgent?: string | undefined;
  /** The call's deadline (epoch ms): transaction retries stop when they would outlive it (db-retry.ts). */
  readonly deadline?: number | undefined;
}

const STORAGE_KEY = Symbol.for("taskmaster.audit-context");

/** The process-wide audit context storage (the one rpc-kit's interceptor writes). */
export function auditContextStorage(): AsyncLocalStorage<AuditContextValues> {
  const g = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<AuditContextValues> };
  g[STORAGE_KEY] ??= new AsyncLocalStorage<AuditContextValues>();
  return g[STORAGE_KEY];
}

/** Run `fn` with an audit context (jobs, tools and tests outside an RPC). */
export function withAuditContext<T>(context: AuditContextValues, fn: () => T): T {
  return auditContextStorage().run(context, fn);
}

const SET_CONTEXT_SQL =
  "select set_config('taskmaster.actor', ?, true), set_config('taskmaster.request_id', ?, true), " +
  "set_config('taskmaster.trace_id', ?, true), set_config('taskmaster.client_ip', ?, true), " +
  "set_config('taskmaster.user_agent', ?, true)";

export class AuditContextSubscriber implements EventSubscriber {
  async afterTransactionStart(args: TransactionEventArgs): Promise<void> {
    const context = auditContextStorage().getStore();
    const trx = args.transaction;
    // Savepoints (nested transactions) inherit the top-level transaction's settings.
    if (context === undefined || trx === undefined || trx.savepointName !== undefined) return;
    await args.em
      .getConnection()
      .execute(
        SET_CONTEXT_SQL,
        [
          context.actor ?? "",
          context.requestId ?? "",
          context.traceId ?? "",
          context.clientIp ?? "",
          context.userAgent ?? "",
        ],
        "run",
        trx,
      );
  }
}
