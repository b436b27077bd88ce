#!/usr/bin/env node
/**
 * The floor the benchmarks compare against: a bare grpc-js server whose handlers run the same SQL as the
 * task service with raw `pg` named (prepared) statements, and encode the same response messages. No
 * framework, no ORM, no validation beyond parsing the id: what the service costs is measured against this.
 *
 * Env: DATABASE_URL, PORT (0 = any; the bound port is printed as `listening <port>`), POOL_MAX.
 */
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { newId } from "@taskmaster/persistence/ids";
import { buildSearchQuery } from "@taskmaster/persistence/search.repository";
import { TASK_COLUMN_LIST, TASK_SELECT_LIST, taskRowFromDb } from "@taskmaster/persistence/task.repository";
import { buildClaimQuery } from "@taskmaster/persistence/work-queue.repository";
import {
  ClaimNextTaskResponseSchema,
  CreateTaskResponseSchema,
  GetTaskResponseSchema,
  ListTasksResponseSchema,
  SearchTasksResponseSchema,
  TaskService,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { taskToMessage } from "@taskmaster/task-service/task.mapper";
import { Kysely, PostgresDialect, type RawBuilder } from "kysely";
import type pg from "pg";
import { floorPool, type Handler, serveFloor } from "./grpc-floor.js";

const pool = floorPool();
/** Compiles the repositories' statements (Kysely `sql` templates) to pg's `$n` text and values. */
const compiler = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });

function compiled(statement: RawBuilder<unknown>): { text: string; values: unknown[] } {
  const { sql, parameters } = statement.compile(compiler);
  return { text: sql, values: [...parameters] };
}

async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

const handlers: Record<string, Handler> = {
  async GetTask(request) {
    const id = (request as { name: string }).name.slice("tasks/".length);
    const result = await pool.query({
      name: "floor_get_task",
      text: `select ${TASK_SELECT_LIST} from tasks t where t.id = $1 and t.deleted_at is null`,
      values: [id],
    });
    const row = result.rows[0];
    if (!row) throw Object.assign(new Error("not found"), { code: status.NOT_FOUND });
    return create(GetTaskResponseSchema, { task: taskToMessage(taskRowFromDb(row)) });
  },

  async CreateTask(request) {
    const task = (request as { task?: { title: string } }).task;
    const id = newId();
    const inserted = await inTransaction(async (client) => {
      const row = await client.query({
        name: "floor_insert_task",
        text: `insert into tasks (id, title) values ($1, $2) returning ${TASK_COLUMN_LIST}`,
        values: [id, task?.title ?? ""],
      });
      await client.query({
        name: "floor_insert_history",
        text: "insert into task_status_history (id, task_id, from_status, to_status, reason) values ($1, $2, null, 'pending', 'created')",
        values: [newId(), id],
      });
      await client.query({
        name: "floor_insert_outbox",
        text: "insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload) values ('task', $1, 'task.created', $2)",
        values: [id, JSON.stringify({ id })],
      });
      return row.rows[0];
    });
    return create(CreateTaskResponseSchema, { task: taskToMessage(taskRowFromDb(inserted)) });
  },

  async SearchTasks(request) {
    const { query, pageSize } = request as { query: string; pageSize: number };
    const search = compiled(
      buildSearchQuery({
        query,
        filter: null,
        fuzzy: false,
        minSimilarity: 0.3,
        limit: pageSize || 20,
        offset: 0,
        includeDeleted: false,
      }),
    );
    const rows = await inTransaction(async (client) => {
      await client.query("select set_config('pg_trgm.word_similarity_threshold', $1, true)", ["0.3"]);
      return (await client.query({ name: "floor_search", ...search })).rows;
    });
    return create(SearchTasksResponseSchema, {
      results: rows.map((r) => ({ task: taskToMessage(taskRowFromDb(r)), score: Number(r.hit_score) })),
    });
  },

  async ClaimNextTask() {
    const claim = compiled(
      buildClaimQuery(
        {
          assignedTo: null,
          sprintId: null,
          tags: [],
          labels: [],
          types: [],
          filter: null,
          statuses: ["ready", "pending"],
          done: ["completed", "cancelled", "archived"],
        },
        "bench-floor",
        300,
        false,
      ),
    );
    const row = await inTransaction(async (client) => {
      const claimed = (await client.query({ name: "floor_claim", ...claim })).rows[0];
      if (claimed) {
        await client.query({
          name: "floor_claim_event",
          text: "insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload) values ('task', $1, 'task.claim', $2)",
          values: [claimed.id, JSON.stringify({ action: "claimed", claimant: "bench-floor" })],
        });
      }
      return claimed;
    });
    if (!row) throw Object.assign(new Error("no task available"), { code: status.NOT_FOUND });
    return create(ClaimNextTaskResponseSchema, { task: taskToMessage(taskRowFromDb(row)) });
  },

  async ListTasks(request) {
    const { pageSize } = request as { pageSize: number };
    const result = await pool.query({
      name: "floor_list_tasks",
      text: `select ${TASK_SELECT_LIST} from tasks t
             where t.deleted_at is null and t.status = $1 and t.priority = $2
             order by t.created_at desc, t.id desc limit $3`,
      values: ["in_progress", "high", (pageSize || 50) + 1],
    });
    const rows = result.rows.slice(0, pageSize || 50);
    return create(ListTasksResponseSchema, { tasks: rows.map((r) => taskToMessage(taskRowFromDb(r))) });
  },
};

serveFloor("floor", TaskService, handlers, pool);
