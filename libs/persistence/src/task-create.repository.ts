/**
 * THE create path of tasks: each task is ONE `INSERT ... RETURNING` chain (the task row, its first
 * status-history row, the `task.created` outbox event and, with a request id, the idempotency key), all or
 * nothing. Outside a caller's transaction (CreateTask, the hot path) it runs as a named prepared statement on
 * the pool: one round trip instead of begin + 3-4 inserts + commit. Inside one (BatchCreateTasks, seeding)
 * the same text runs on the transaction's connection through Kysely (`em.getKysely()`).
 */
import type { EntityManager } from "@mikro-orm/core";
import type { EntityManager as SqlEntityManager } from "@mikro-orm/postgresql";
import { CompiledQuery } from "kysely";
import { auditContextStorage } from "./audit-context.subscriber.js";
import { isUniqueViolation } from "./db-errors.js";
import { createOnce, storeIdempotentResource } from "./idempotency.js";
import { newId } from "./ids.js";
import { preparedQuery } from "./native-pool.js";
import { execute } from "./sql-toolkit.js";
import {
  EMPTY_WHEN_ABSENT,
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
const COLUMN_OF = new Map<keyof TaskRow, string>(TASK_COLUMNS.map(([key, column]) => [key, column]));

/** One statement per shape of create input: few shapes in practice; beyond the cap, unnamed statements. */
const CREATE_STATEMENTS = new Map<string, { name: string; text: string }>();
const MAX_CREATE_STATEMENTS = 200;

/**
 * The create as ONE statement: the task row, its first status-history row, the `task.created` outbox event
 * and (optionally) the request_id idempotency key, all or nothing. Parameters: $1 id, $2 now, $3 history id,
 * $4 actor, $5 request id, $6 trace id, then the `columns`' values, then (with a key) key id and scope, then
 * (with an audit context) actor, request id, trace id, client ip and user agent for the audit triggers.
 */
function createStatement(
  columns: readonly string[],
  withKey: boolean,
  withAudit: boolean,
): { name: string; text: string } {
  const shape = `${withKey ? "k" : "-"}${withAudit ? "a" : "-"}|${columns.join(",")}`;
  const cached = CREATE_STATEMENTS.get(shape);
  if (cached !== undefined) return cached;
  const n = columns.length;
  // $1..$6 are fixed (see above); the rest are numbered in the order their values are pushed.
  let next = 7;
  const bind = (): string => `$${next++}`;
  const params = columns.map(bind);
  const key = withKey ? { id: bind(), scope: bind() } : undefined;
  const audit = withAudit ? [bind(), bind(), bind(), bind(), bind()] : [];
  // The audit context the AuditContextSubscriber sets at transaction start, set here for this statement's
  // implicit transaction (the audit triggers are AFTER ROW: they run at the end of the statement). The
  // scalar subquery on `audit` makes sure it is evaluated before the task row is written.
  const text = `with ${
    withAudit
      ? `audit as (
      select set_config('taskmaster.actor', ${audit[0]}::text, true), set_config('taskmaster.request_id', ${audit[1]}::text, true),
        set_config('taskmaster.trace_id', ${audit[2]}::text, true), set_config('taskmaster.client_ip', ${audit[3]}::text, true),
        set_config('taskmaster.user_agent', ${audit[4]}::text, true)
    ), `
      : ""
  }t as (
      insert into tasks (id, created_at, updated_at${n ? `, ${columns.join(", ")}` : ""})
      values (${withAudit ? "(select $1::uuid from audit)" : "$1::uuid"}, $2::timestamptz, $2::timestamptz${n ? `, ${params.join(", ")}` : ""})
      returning ${TASK_COLUMN_LIST}
    ), h as (
      insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason, changed_at)
      select $3::uuid, t.id, null, t.status, $4::varchar, 'created', $2::timestamptz from t
    ), o as (
      insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload, actor, request_id, trace_id, created_at)
      select 'task', t.id, 'task.created', jsonb_build_object('id', t.id, 'title', t.title, 'status', t.status,
        'priority', t.priority, 'type', t.type, 'assignedTo', t.assigned_to, 'parentId', t.parent_id,
        'epicId', t.epic_id, 'sprintId', t.sprint_id), $4::varchar, $5::varchar, $6::varchar, $2::timestamptz
      from t
    )${
      key
        ? `, k as (
      insert into idempotency_keys (id, scope, request_id, resource_id, created_at)
      select ${key.id}::uuid, ${key.scope}::varchar, $5::varchar, t.id::text, $2::timestamptz from t
    )`
        : ""
    }
    select * from t`;
  const statement = {
    name: CREATE_STATEMENTS.size < MAX_CREATE_STATEMENTS ? `tm_create_task_${CREATE_STATEMENTS.size}` : "",
    text,
  };
  if (statement.name !== "") CREATE_STATEMENTS.set(shape, statement);
  return statement;
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
  const rows = await execute(
    em,
    `select ${TASK_SELECT_LIST} from idempotency_keys k join tasks t on t.id = k.resource_id::uuid
     where k.scope = ? and split_part(k.request_id, ':', 1) = ?
     order by split_part(k.request_id, ':', 2)::int`,
    [BATCH_ITEM_SCOPE, requestId],
  );
  return rows.length === 0 ? null : rows.map(taskRowFromDb);
}

async function findTaskByRequestId(em: EntityManager, requestId: string): Promise<TaskRow | null> {
  const rows = await execute(
    em,
    `select ${TASK_SELECT_LIST} from idempotency_keys k join tasks t on t.id = k.resource_id::uuid
     where k.scope = ? and k.request_id = ?`,
    [CREATE_SCOPE, requestId],
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
  const now = new Date();
  const id = input.id ?? newId();
  const columns: string[] = [];
  const values: unknown[] = [id, now, newId(), ctx.actor ?? null, ctx.requestId ?? null, ctx.traceId ?? null];
  for (const [key, column] of INSERTABLE_COLUMNS) {
    const value = input[key as keyof CreateTaskInput];
    if (value === undefined) continue;
    // jsonb and text[] columns: an absent or null value is created empty (as the entity path does).
    if (JSONB_KEYS.has(key) || TEXT_ARRAY_KEYS.has(key)) {
      if (value === null) continue;
      columns.push(column);
      values.push(JSONB_KEYS.has(key) ? JSON.stringify(value) : value);
    } else {
      columns.push(column);
      values.push(value);
    }
  }
  for (const key of EMPTY_WHEN_ABSENT) {
    if (input[key as keyof CreateTaskInput] == null) {
      columns.push(COLUMN_OF.get(key) as string);
      values.push(emptyValueOf(key));
    }
  }
  if (keyScope !== null) values.push(newId(), keyScope);
  const audit = auditContextStorage().getStore();
  if (audit !== undefined) {
    values.push(
      audit.actor ?? "",
      audit.requestId ?? "",
      audit.traceId ?? "",
      audit.clientIp ?? "",
      audit.userAgent ?? "",
    );
  }
  const statement = createStatement(columns, keyScope !== null, audit !== undefined);
  const rows =
    em.getTransactionContext() === undefined
      ? await preparedQuery(em, statement.name, statement.text, values)
      : ((await (em as SqlEntityManager).getKysely().executeQuery(CompiledQuery.raw(statement.text, values)))
          .rows as Record<string, unknown>[]);
  return taskRowFromDb(rows[0] as Record<string, unknown>);
}
