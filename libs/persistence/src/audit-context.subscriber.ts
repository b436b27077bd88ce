/**
 * Copies the current call's caller context (`@taskmaster/telemetry/caller-context`, set by rpc-kit's
 * audit-context interceptor) into transaction-local PostgreSQL settings at the start of every top-level MikroORM
 * transaction, with one `select set_config(...)`. The audit triggers (migration `..._audit_trail`) read
 * `taskmaster.actor`, `taskmaster.request_id`, `taskmaster.trace_id`, `taskmaster.client_ip` and
 * `taskmaster.user_agent`; the settings vanish with the transaction, so pooled connections never leak them.
 */
import type { EventSubscriber, TransactionEventArgs } from "@mikro-orm/core";
import { type CallerContext, currentCallerContext } from "@taskmaster/telemetry/caller-context";
import type { Kysely } from "kysely";
import { sql } from "./sql-toolkit.js";

/** The caller context as transaction-local settings (empty strings for what is unknown). */
function setContext(context: CallerContext) {
  return sql`select set_config('taskmaster.actor', ${context.actor ?? ""}::text, true),
    set_config('taskmaster.request_id', ${context.requestId ?? ""}::text, true),
    set_config('taskmaster.trace_id', ${context.traceId ?? ""}::text, true),
    set_config('taskmaster.client_ip', ${context.clientIp ?? ""}::text, true),
    set_config('taskmaster.user_agent', ${context.userAgent ?? ""}::text, true)`;
}

export class AuditContextSubscriber implements EventSubscriber {
  async afterTransactionStart(args: TransactionEventArgs): Promise<void> {
    const context = currentCallerContext();
    const trx = args.transaction;
    // Savepoints (nested transactions) inherit the top-level transaction's settings.
    if (context === undefined || trx === undefined || trx.savepointName !== undefined) return;
    // The transaction just started (a Kysely transaction): the manager is not bound to it yet.
    await setContext(context).execute(trx as Kysely<unknown>);
  }
}
