/** Shared spec setup: a real grpc-js server on port 0 over a fresh migrated, seeded PostgreSQL database. */
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { BadRequestSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { useStarted } from "@taskmaster/testing/use-started";
import { expect } from "vitest";
import { ACTOR_HEADER, ADMIN_ROLE, ROLES_HEADER, TEAMS_HEADER } from "./authorization.js";
import { createServer } from "./server.js";

export interface Harness {
  db: TestDatabase;
  orm: MikroORM;
  server: GrpcServer;
  baseUrl: string;
  /** Client calling as `alice` (no platform roles). */
  client: Client<typeof TemplateService>;
  /** Client calling as `alice` with the platform `admin` role (template types need it). */
  admin: Client<typeof TemplateService>;
  /** Client calling as `who`, with these roles and teams (`x-taskmaster-roles` / `x-taskmaster-teams`). */
  as(who: string, opts?: { roles?: string[]; teams?: string[] }): Client<typeof TemplateService>;
  close(): Promise<void>;
}

/** A TemplateService client on `baseUrl` whose every call carries `headers`. */
export function clientWithHeaders(
  baseUrl: string,
  headers: Record<string, string>,
): Client<typeof TemplateService> {
  return createClient(
    TemplateService,
    createGrpcTransport({
      baseUrl,
      interceptors: [
        (next) => async (req) => {
          for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
          return next(req);
        },
      ],
    }),
  );
}

export async function startHarness(): Promise<Harness> {
  const db = await createTestDatabase();
  const orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } })) as MikroORM;
  await seedDatabase(orm, { demo: false });
  const server = createServer({
    orm,
    logger: createLogger({
      service: "template-test",
      level: (process.env.TPL_LOG_LEVEL ?? "silent") as "silent",
    }),
  });
  const { port } = await server.listen("127.0.0.1", 0);
  const baseUrl = `http://127.0.0.1:${port}`;
  const as = (who: string, opts: { roles?: string[]; teams?: string[] } = {}) =>
    clientWithHeaders(baseUrl, {
      [ACTOR_HEADER]: who,
      ...(opts.roles?.length ? { [ROLES_HEADER]: opts.roles.join(",") } : {}),
      ...(opts.teams?.length ? { [TEAMS_HEADER]: opts.teams.join(",") } : {}),
    });
  return {
    db,
    orm,
    server,
    baseUrl,
    client: as("alice"),
    admin: as("alice", { roles: [ADMIN_ROLE] }),
    as,
    async close() {
      await server.shutdown(1_000);
      await orm.close(true);
      await db.drop();
    },
  };
}

/** Starts a harness before the spec file's tests and closes it after them; the handle reads through to it. */
export function useHarness(): Harness {
  return useStarted(startHarness);
}

/** Awaits a failing call and returns its ConnectError (asserting the code and that nothing leaks). */
export async function failure(p: Promise<unknown>, code: number): Promise<ConnectError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught, "expected the call to fail").toBeDefined();
  const err = ConnectError.from(caught);
  expect(err.code, err.message).toBe(code);
  expect(err.rawMessage).not.toMatch(
    /\bselect\b|\binsert\b|\bupdate templates\b|\bat .*\.js:\d+|node_modules/i,
  );
  return err;
}

/** Field names of the BadRequest violations of an INVALID_ARGUMENT error. */
export function violatedFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
}

export const uniq = (p: string) => `${p}_${Math.random().toString(36).slice(2, 10)}`;
