/**
 * Shared pieces of the services' audit-trail specs: the headers of an audited call (actor, request id, trace,
 * client address behind a proxy, user agent), the audit rows an actor left, and the checks on those rows.
 */
import { randomUUID } from "node:crypto";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import { expect } from "vitest";

/** The trace every audited call of the specs carries. */
export const AUDIT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

export interface AuditCallContext {
  actor: string;
  requestId: string;
}

/** Call options of an audited call by `ctx`; `extra` adds headers (roles). */
export function auditHeaders(ctx: AuditCallContext, extra: Record<string, string> = {}) {
  return {
    headers: {
      "x-taskmaster-actor": ctx.actor,
      ...extra,
      "x-request-id": ctx.requestId,
      traceparent: `00-${AUDIT_TRACE_ID}-00f067aa0ba902b7-01`,
      "x-forwarded-for": "198.51.100.23, 10.0.0.1",
      "user-agent": "audit-spec/1.0",
    },
  };
}

export interface AuditRow {
  entity_type: string;
  entity_id: string;
  action: string;
  actor: string;
  request_id: string | null;
  trace_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
}

/** The audit rows `actor` left, oldest first. */
export async function auditRowsOf(sql: pg.Client, actor: string): Promise<AuditRow[]> {
  const r = await sql.query<AuditRow>(
    `select entity_type, entity_id, action, actor, request_id, trace_id, host(client_ip) as client_ip, user_agent
       from audit_log where actor = $1 order by seq`,
    [actor],
  );
  return r.rows;
}

/** The RPCs of `service` that change something (idempotency level other than NO_SIDE_EFFECTS). */
export function mutatingMethods(service: DescService): DescMethod[] {
  return service.methods.filter((m) => m.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS);
}

/** Every row carries the context of the call `ctx` made with {@link auditHeaders}. */
export function expectCallContext(rows: readonly AuditRow[], ctx: AuditCallContext): void {
  for (const row of rows) {
    expect(row).toMatchObject({
      request_id: ctx.requestId,
      trace_id: AUDIT_TRACE_ID,
      client_ip: "198.51.100.23",
      user_agent: expect.stringContaining("audit-spec/1.0"),
    });
  }
}

/** `rows` hold each (entity type, action) pair of `expected` at least as often as `expected` does. */
export function expectAuditPairs(rows: readonly AuditRow[], expected: readonly (readonly string[])[]): void {
  const got = rows.map((r) => [r.entity_type, r.action]);
  const count = (list: readonly (readonly string[])[], pair: readonly string[]) =>
    list.filter((x) => x[0] === pair[0] && x[1] === pair[1]).length;
  for (const pair of expected) {
    expect(count(got, pair), `${pair.join("/")} in ${JSON.stringify(got)}`).toBeGreaterThanOrEqual(
      count(expected, pair),
    );
  }
}

/** One scenario per mutating RPC, by key: how to make the call, and the (entity type, action) rows it leaves. */
export type AuditScenarios = Record<
  string,
  { run: (ctx: AuditCallContext) => Promise<unknown>; expected: readonly (readonly string[])[] }
>;

/** A scenario for every key in `mutating`, and none for a key that is not there (an RPC that does not mutate). */
export function expectScenarioPerRpc(mutating: readonly string[], scenarios: AuditScenarios): void {
  expect(mutating.filter((key) => !(key in scenarios))).toEqual([]);
  expect(Object.keys(scenarios).filter((key) => !mutating.includes(key))).toEqual([]);
}

/**
 * Runs the scenario `key` (`localName` or `Service.localName`) as an auditor of its own, with a fresh request
 * id; returns the rows that auditor left, the call's context and what the scenario expects.
 */
export async function runAuditScenario(sql: pg.Client, scenarios: AuditScenarios, key: string) {
  const scenario = scenarios[key];
  if (scenario === undefined) throw new Error(`no audit scenario for ${key}`);
  const ctx = { actor: `auditor.${key.split(".").at(-1)}@example.com`, requestId: `req-${randomUUID()}` };
  await scenario.run(ctx);
  return { rows: await auditRowsOf(sql, ctx.actor), ctx, expected: scenario.expected };
}
