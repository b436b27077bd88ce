/**
 * THE create path of tasks: each task is ONE `INSERT ... RETURNING` chain (the task row, its first
 * status-history row, the `task.created` outbox event and, with a request id, the idempotency key), all or
 * nothing. Outside a caller's transaction (CreateTask, the hot path) it runs as a named prepared statement on
 * the pool: one round trip instead of begin + 3-4 inserts + commit. Inside one (BatchCreateTasks, seeding)
 * the same text runs on the transaction's connection through Kysely (`em.getKysely()`).
 */
import type { EntityManager } from "@mikro-orm/core";
import { type CallerContext, currentCallerContext } from "@taskmaster/telemetry/caller-context";
import { isUniqueViolation } from "./db-errors.js";
import { createOnce, storeIdempotentResource } from "./idempotency.js";
import { newId } from "./ids.js";
import { prepared, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import {
  emptyValueOf,
  JSONB_KEYS,
  TASK_COLUMN_LIST,
  TASK_COLUMNS,
  TASK_SELECT_LIST,
  TEXT_ARRAY_KEYS,
  taskRowFromDb,
} from "./task-columns.js";
import type { ChangeContext, CreateTaskInput, TaskRow } from "./task-model.js";
import { rethrowTaken } from "./task-write-checks.js";

const CREATE_SCOPE = "task.create";
const BATCH_SCOPE = "task.batch_create";
const BATCH_ITEM_SCOPE = "task.batch_create.item";

/** Columns a create may set from its input (`id`, timestamps and bookkeeping are set by the repository). */
const NOT_FROM_INPUT = new Set<keyof TaskRow>([
  "childCount",
  "blockerStatuses",
  "claimId",
  "id",
  "createdAt",
  "updatedAt",
  "deletedAt",
  "version",
  "claimedBy",
  "claimedAt",
  "leaseExpiresAt",
  "actualHours",
]);
const INSERTABLE_COLUMNS = TASK_COLUMNS.filter(([key]) => !NOT_FROM_INPUT.has(key));

/**
 * Insertable columns with a database default other than null (entities/task.entity.ts): a create writes
 * them only when the input sets them, so an absent one takes the default. Every other insertable column is
 * written by every create (null, or for jsonb and text[] columns their empty value, when absent), which keeps
 * the number of statement texts small and fixed: 2^5 column subsets x key x audit context.
 */
export const DEFAULTED_COLUMNS: ReadonlySet<keyof TaskRow> = new Set<keyof TaskRow>([
  "type",
  "priority",
  "status",
  "complexity",
  "testCoverageTarget",
]);

/** What the create statement binds. */
interface CreateValues {
  id: string;
  now: Date;
  historyId: string;
  /** The written columns (names from TASK_COLUMNS, in its order). */
  columns: readonly string[];
  /** Column -> value as JSON (the row `jsonb_populate_record` reads; absent columns are null). */
  row: Record<string, unknown>;
  ctx: ChangeContext;
  /** The idempotency key row (id, scope), or null. */
  key: { id: string; scope: string } | null;
  /** The caller's audit context, or undefined. */
  audit: CallerContext | undefined;
}

/**
 * The create as ONE statement: the task row, its first status-history row, the `task.created` outbox event
 * and (optionally) the request_id idempotency key, all or nothing. The column values travel as one JSON
 * parameter, typed by `jsonb_populate_record` against the `tasks` row type (a few bind parameters in all, so
 * the statement is cheap to build). Its text depends only on which {@link DEFAULTED_COLUMNS} are written and
 * whether there is a key and an audit context, and so does its name (see {@link createStatementName}).
 */
function createStatement(v: CreateValues): RawBuilder<Row> {
  const now = sql`${v.now.toISOString()}::timestamptz`;
  const actor = sql`${v.ctx.actor ?? null}::varchar`;
  const requestId = sql`${v.ctx.requestId ?? null}::varchar`;
  const a = v.audit;
  // The audit context the AuditContextSubscriber sets at transaction start, set here for this statement's
  // implicit transaction (the audit triggers are AFTER ROW: they run at the end of the statement). The
  // scalar subquery on `audit` makes sure it is evaluated before the task row is written.
  const auditCte =
    a === undefined
      ? sql``
      : sql`audit as (
      select set_config('taskmaster.actor', ${a.actor ?? ""}::text, true), set_config('taskmaster.request_id', ${a.requestId ?? ""}::text, true),
        set_config('taskmaster.trace_id', ${a.traceId ?? ""}::text, true), set_config('taskmaster.client_ip', ${a.clientIp ?? ""}::text, true),
        set_config('taskmaster.user_agent', ${a.userAgent ?? ""}::text, true)
    ), `;
  const id = a === undefined ? sql`${v.id}::uuid` : sql`(select ${v.id}::uuid from audit)`;
  const keyCte =
    v.key === null
      ? sql``
      : sql`, k as (
      insert into idempotency_keys (id, scope, request_id, resource_id, created_at)
      select ${v.key.id}::uuid, ${v.key.scope}::varchar, ${requestId}, t.id::text, ${now} from t
    )`;
  return sql<Row>`with ${auditCte}t as (
      insert into tasks (id, created_at, updated_at, ${sql.raw(v.columns.join(", "))})
      select ${id}, ${now}, ${now}, ${sql.raw(v.columns.map((c) => `r.${c}`).join(", "))}
      from jsonb_populate_record(null::tasks, ${JSON.stringify(v.row)}::jsonb) r
      returning ${sql.raw(TASK_COLUMN_LIST)}
    ), h as (
      insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason, changed_at)
      select ${v.historyId}::uuid, t.id, null, t.status, ${actor}, 'created', ${now} from t
    ), o as (
      insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload, actor, request_id, trace_id, created_at)
      select 'task', t.id, 'task.created', jsonb_build_object('id', t.id, 'title', t.title, 'status', t.status,
        'priority', t.priority, 'type', t.type, 'assignedTo', t.assigned_to, 'parentId', t.parent_id,
        'epicId', t.epic_id, 'sprintId', t.sprint_id), ${actor}, ${requestId}, ${v.ctx.traceId ?? null}::varchar, ${now}
      from t
    )${keyCte}
    select * from t`;
}

/**
 * The prepared statement name of a create's text: which {@link DEFAULTED_COLUMNS} it writes (a bit each, in
 * TASK_COLUMNS order) and whether it writes a key (`k`) and sets an audit context (`a`). Equal names, equal
 * texts, so pg's per-connection prepared statements are the only cache.
 */
function createStatementName(defaultedMask: number, withKey: boolean, withAudit: boolean): string {
  return `tm_create_task_${withKey ? "k" : ""}${withAudit ? "a" : ""}${defaultedMask.toString(16)}`;
}

/**
 * Creates a task, its first status-history row and a `task.created` outbox event atomically. With
 * `ctx.requestId`, a retry returns the task created by the first call instead of a duplicate.
 */
export async function createTask(
  em: EntityManager,
  input: CreateTaskInput,
  ctx: ChangeContext = {},
): Promise<TaskRow> {
  if (ctx.requestId) {
    const existing = await findTaskByRequestId(em, ctx.requestId);
    if (existing) return existing;
  }
  try {
    return await insertTask(em, input, ctx, ctx.requestId ? CREATE_SCOPE : null);
  } catch (err) {
    // A concurrent retry with the same request id won the race (the statement wrote nothing): return its
    // task. Inside a caller's transaction the failed statement aborted it, so there is nothing to read.
    if (ctx.requestId && isUniqueViolation(err) && em.getTransactionContext() === undefined) {
      const existing = await findTaskByRequestId(em, ctx.requestId);
      if (existing) return existing;
    }
    rethrowTaken(err);
  }
}

/**
 * Creates every task in order in ONE transaction (all or none). Items may reference earlier items' ids as
 * parent/epic. With `ctx.requestId`, a retry returns the first result.
 */
export async function batchCreateTasks(
  em: EntityManager,
  inputs: CreateTaskInput[],
  ctx: ChangeContext = {},
): Promise<TaskRow[]> {
  const requestId = ctx.requestId;
  try {
    return await createOnce<TaskRow[]>(em, {
      scope: BATCH_SCOPE,
      requestId,
      replay: (tx) => (requestId ? findBatchByRequestId(tx, requestId) : Promise.resolve(null)),
      create: async (tx) => {
        const rows: TaskRow[] = [];
        for (const [index, input] of inputs.entries()) {
          const row = await insertTask(tx, input, ctx, null);
          if (requestId) await storeIdempotentResource(tx, BATCH_ITEM_SCOPE, `${requestId}:${index}`, row.id);
          rows.push(row);
        }
        return { result: rows, resourceId: rows[0]?.id ?? null };
      },
    });
  } catch (err) {
    rethrowTaken(err);
  }
}

async function findBatchByRequestId(em: EntityManager, requestId: string): Promise<TaskRow[] | null> {
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from idempotency_keys k join tasks t on t.id = k.resource_id::uuid
     where k.scope = ${BATCH_ITEM_SCOPE} and split_part(k.request_id, ':', 1) = ${requestId}::text
     order by split_part(k.request_id, ':', 2)::int`,
  );
  return rows.length === 0 ? null : rows.map(taskRowFromDb);
}

async function findTaskByRequestId(em: EntityManager, requestId: string): Promise<TaskRow | null> {
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from idempotency_keys k join tasks t on t.id = k.resource_id::uuid
     where k.scope = ${CREATE_SCOPE} and k.request_id = ${requestId}`,
  );
  return rows[0] ? taskRowFromDb(rows[0]) : null;
}

/** Runs the create statement for `input` (with the idempotency key of `keyScope` when not null). */
async function insertTask(
  em: EntityManager,
  input: CreateTaskInput,
  ctx: ChangeContext,
  keyScope: string | null,
): Promise<TaskRow> {
  const columns: string[] = [];
  const row: Record<string, unknown> = {};
  let defaultedMask = 0;
  let defaultedBit = 1;
  for (const [key, column] of INSERTABLE_COLUMNS) {
    const value = input[key as keyof CreateTaskInput];
    if (DEFAULTED_COLUMNS.has(key)) {
      if (value !== undefined) {
        columns.push(column);
        row[column] = value;
        defaultedMask |= defaultedBit;
      }
      defaultedBit <<= 1;
      continue;
    }
    columns.push(column);
    // jsonb and text[] columns: an absent or null value is created empty (as the entity path does).
    if (value != null) row[column] = value;
    else if (JSONB_KEYS.has(key) || TEXT_ARRAY_KEYS.has(key)) row[column] = emptyValueOf(key);
  }
  const audit = currentCallerContext();
  const statement = createStatement({
    id: input.id ?? newId(),
    now: new Date(),
    historyId: newId(),
    columns,
    row,
    ctx,
    key: keyScope === null ? null : { id: newId(), scope: keyScope },
    audit,
  });
  const rows =
    em.getTransactionContext() === undefined
      ? await prepared(
          em,
          createStatementName(defaultedMask, keyScope !== null, audit !== undefined),
          statement,
        )
      : await query(em, statement);
  return taskRowFromDb(rows[0] as Row);
}
