/**
 * Shared harness of the task-service handler specs (task, relationship, planning, milestone, release,
 * workflow, comment, time-log): a real grpc-js server on port 0, a Connect gRPC client, a fresh migrated
 * PostgreSQL database, and helpers to assert errors. No mocks.
 */
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { BadRequestSchema, ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import type { Task, TaskSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { useStarted } from "@taskmaster/testing/use-started";
import { expect } from "vitest";
import { createServer, type TaskServerDeps } from "./server.js";

export interface Harness {
  db: TestDatabase;
  orm: MikroORM;
  server: GrpcServer;
  client: Client<typeof TaskService>;
  /** A client whose calls carry `x-taskmaster-actor: <subject>`. */
  as(subject: string): Client<typeof TaskService>;
  sql(query: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Largest ORM pool size (default 8). */
  poolMax?: number;
  /** PostgreSQL application_name of the ORM connections. */
  applicationName?: string;
  /** Service name of the (silent) logger. */
  service?: string;
}

export async function startHarness(
  extra: Partial<TaskServerDeps> = {},
  { poolMax = 8, applicationName, service = "task-service-test" }: HarnessOptions = {},
): Promise<Harness> {
  const db = await createTestDatabase();
  const orm = await initOrm({
    url: db.appUrl,
    pool: { min: 0, max: poolMax },
    ...(applicationName !== undefined && { applicationName }),
  });
  const server = createServer({
    orm,
    logger: createLogger({ service, level: "silent" }),
    ...extra,
  });
  const { port } = await server.listen("127.0.0.1", 0);
  const baseUrl = `http://127.0.0.1:${port}`;
  const client = createClient(TaskService, createGrpcTransport({ baseUrl }));
  return {
    db,
    orm,
    server,
    client,
    as: (subject) =>
      createClient(
        TaskService,
        createGrpcTransport({
          baseUrl,
          interceptors: [
            (next) => async (req) => {
              req.header.set("x-taskmaster-actor", subject);
              return next(req);
            },
          ],
        }),
      ),
    sql: (query, params = []) => orm.em.fork().getConnection().execute(query, params, "all"),
    async close() {
      await server.shutdown(1_000);
      await orm.close(true);
      await db.drop();
    },
  };
}

/**
 * Starts a harness before the spec file's tests and closes it after them. Returns a handle that reads through to
 * the running harness; `onStart` receives the harness when it is up (for specs that keep parts of it).
 */
export function useHarness(
  onStart: (harness: Harness) => void = () => {},
  extra: Partial<TaskServerDeps> = {},
  options: HarnessOptions = {},
): Harness {
  return useStarted(() => startHarness(extra, options), onStart);
}

/** CreateTask with the fields of `init` and a title of "Some task" unless `init` names one. */
export async function createTask(
  client: Client<typeof TaskService>,
  init: Extract<MessageInitShape<typeof TaskSchema>, { $typeName?: undefined }> = {},
): Promise<Task> {
  const res = await client.createTask({ task: { title: "Some task", ...init } });
  if (!res.task) throw new Error("no task");
  return res.task;
}

export const marker = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

export async function newTask(
  client: Client<typeof TaskService>,
  task: Omit<Extract<MessageInitShape<typeof TaskSchema>, { $typeName?: undefined }>, "title"> = {},
): Promise<Task> {
  const res = await client.createTask({ task: { title: `Task ${marker("t")}`, ...task } });
  if (!res.task) throw new Error("CreateTask returned no task");
  return res.task;
}

/** Checks that an error is client-safe; a failed `expect` when it is not. */
export type LeakCheck = (error: ConnectError) => void;

/**
 * None of `words` in the lower-cased raw message, or with `descriptions` in the raw message plus the
 * field-violation descriptions.
 */
export function withoutWords(words: readonly string[], { descriptions = false } = {}): LeakCheck {
  return (error) => {
    const text = descriptions
      ? `${error.rawMessage} ${error
          .findDetails(BadRequestSchema)
          .flatMap((b) => b.fieldViolations.map((v) => v.description))
          .join(" ")}`.toLowerCase()
      : error.rawMessage.toLowerCase();
    for (const word of words) expect(text).not.toContain(word);
  };
}

/** The raw message does not match `pattern`. */
export function notMatching(pattern: RegExp): LeakCheck {
  return (error) => expect(error.rawMessage).not.toMatch(pattern);
}

/** Client-safe error text: no SQL, no constraint names, no stack traces. */
export const expectCleanMessage: LeakCheck = withoutWords(
  ["select ", "insert ", "update ", "constraint", "    at ", "violates", 'relation "', "syntax error"],
  { descriptions: true },
);

export function violatedFields(error: ConnectError): string[] {
  return error.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
}

export function errorReason(error: ConnectError): string | undefined {
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}

/**
 * An `expectError(call, code, fields?)` that awaits a call that must fail, checks the code, the message
 * with `clean`, and (when given) exactly the violated fields.
 */
export function errorExpecter(
  clean: LeakCheck,
): (call: Promise<unknown>, code: Code, fields?: string[]) => Promise<ConnectError> {
  return async (call, code, fields) => {
    let caught: unknown;
    try {
      await call;
    } catch (error) {
      caught = error;
    }
    expect(caught, "the call should have failed").toBeInstanceOf(ConnectError);
    const error = caught as ConnectError;
    expect(Code[error.code], error.rawMessage).toBe(Code[code]);
    clean(error);
    if (fields !== undefined) expect(violatedFields(error).sort()).toEqual([...fields].sort());
    return error;
  };
}

/** Awaits a call that must fail; checks the code, a clean message and (when given) the violated fields. */
export const expectError = errorExpecter(expectCleanMessage);

export const NIL_TASK = "tasks/00000000-0000-4000-8000-000000000000";
export const RANDOM_UUID = () => randomUUID();
