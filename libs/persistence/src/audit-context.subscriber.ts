/**
 * Copies the current call's caller context (`@taskmaster/telemetry/caller-context`, set by rpc-kit's
 * audit-context interceptor) into transaction-local PostgreSQL settings at the start of every top-level MikroORM
 * transaction, with one `select set_config(...)`. The audit triggers (migration `..._audit_trail`) read
 * `taskmaster.actor`, `taskmaster.request_id`, `taskmaster.trace_id`, `taskmaster.client_ip` and
 * `taskmaster.user_agent`; the settings vanish with the transaction, so pooled connections never leak them.
 */
import type { EventSubscriber, TransactionEventArgs } from "@mikro-orm/core";
import { currentCallerContext } from "@taskmaster/telemetry/caller-context";

const SET_CONTEXT_SQL =
  "select set_config('taskmaster.actor', ?, true), set_config('taskmaster.request_id', ?, true), " +
  "set_config('taskmaster.trace_id', ?, true), set_config('taskmaster.client_ip', ?, true), " +
  "set_config('taskmaster.user_agent', ?, true)";

export class AuditContextSubscriber implements EventSubscriber {
  async afterTransactionStart(args: TransactionEventArgs): Promise<void> {
    const context = currentCallerContext();
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
