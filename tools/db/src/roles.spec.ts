import { execFile } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { createTestDatabase, type TestDatabase, withUser } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scramVerifier } from "./roles.ts";

const run = promisify(execFile);
// Node 24 runs the TypeScript source directly (type stripping); no build needed for this test.
const CLI = resolve(import.meta.dirname, "db.ts");

async function db(args: string[], env: Record<string, string | undefined>) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, DATABASE_URL: undefined, MIGRATION_DATABASE_URL: undefined, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

let target: TestDatabase;
let admin: pg.Client;
const user = `tm_roles_spec_${randomBytes(4).toString("hex")}`;
const password = `pw-${randomBytes(12).toString("hex")}`;

beforeAll(async () => {
  target = await createTestDatabase();
  admin = new pg.Client({ connectionString: target.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.query(`drop role if exists ${user}`);
  await admin?.end();
  await target?.drop();
});

describe("db roles", () => {
  it("documents the command", async () => {
    const r = await db(["--help"], {});
    expect(r.stdout).toContain("roles grant --role app|readonly|retention|owner|monitor --user <name>");
    expect(r.stdout).toContain("MIGRATION_DATABASE_URL");
  });

  it("creates a login user in taskmaster_app with a password from the environment, idempotently, never printing it", async () => {
    // MIGRATION_DATABASE_URL (the owner) is enough; DATABASE_URL is not needed.
    const env = { MIGRATION_DATABASE_URL: target.url, TM_SPEC_PASSWORD: password };
    const first = await db(
      ["roles", "grant", "--role", "app", "--user", user, "--password-env", "TM_SPEC_PASSWORD"],
      env,
    );
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`created login user ${user}`);
    expect(first.stdout).toContain(`granted taskmaster_app to ${user}`);
    expect(first.stdout).toContain("password set from $TM_SPEC_PASSWORD");
    const again = await db(["roles", "grant", "--role", "app", "--user", user], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`updated login user ${user}`);
    expect(again.stdout).toContain("already a member of taskmaster_app");
    expect(again.stdout).toContain("password unchanged");
    for (const out of [first, again]) expect(`${out.stdout}${out.stderr}`).not.toContain(password);

    const r = await admin.query(
      `select u.rolcanlogin, u.rolsuper, u.rolcreaterole, u.rolcreatedb, u.rolpassword like 'SCRAM-SHA-256$%' as scram,
              array(select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = u.oid)::text[] as groups
         from pg_authid u where u.rolname = $1`,
      [user],
    );
    expect(r.rows).toEqual([
      {
        rolcanlogin: true,
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        scram: true,
        groups: ["taskmaster_app"],
      },
    ]);
    // It logs in (with password authentication where the server asks for it) and has the app's rights only.
    const login = new pg.Client({ connectionString: withUser(target.url, user, password) });
    await login.connect();
    try {
      await login.query("insert into tasks (id, title) values (gen_random_uuid(), 'via roles grant')");
      await expect(login.query("delete from audit_log")).rejects.toMatchObject({ code: "42501" });
    } finally {
      await login.end();
    }
    const both = await db(["roles", "grant", "--role", "app,monitor", "--user", user], env);
    expect(both.stdout).toContain("already a member of taskmaster_app");
    expect(both.stdout).toContain(`granted taskmaster_monitor to ${user}`);
    expect(both.stdout).toContain(`${user} is a member of taskmaster_app, taskmaster_monitor`);
    const list = await db(["roles", "list"], env);
    expect(list.stdout).toMatch(new RegExp(`taskmaster_app\\s+.*\\b${user}\\b`));
  });

  it("refuses superusers, unknown roles, bad names and a missing password variable with one line", async () => {
    const env = { DATABASE_URL: target.url };
    const superuser = (await admin.query<{ u: string }>("select current_user as u")).rows[0]?.u ?? "postgres";
    const su = await db(["roles", "grant", "--role", "app", "--user", superuser], env);
    expect([su.code, su.stderr.trim()]).toEqual([
      1,
      `db: ${superuser} is a superuser: use a dedicated login user for the app role`,
    ]);
    const role = await db(["roles", "grant", "--role", "admin", "--user", "x"], env);
    expect([role.code, role.stderr.trim()]).toEqual([
      2,
      "db: --role must be one of app, readonly, retention, owner, monitor (or a comma list)",
    ]);
    const name = await db(
      ["roles", "grant", "--role", "app", "--user", "Robert'); drop table tasks;--"],
      env,
    );
    expect(name.code).toBe(2);
    expect(name.stderr).toMatch(/^db: --user must be a lower-case identifier/);
    const group = await db(["roles", "grant", "--role", "app", "--user", "taskmaster_owner"], env);
    expect(group.code).toBe(2);
    const pw = await db(
      ["roles", "grant", "--role", "app", "--user", user, "--password-env", "TM_SPEC_UNSET"],
      env,
    );
    expect([pw.code, pw.stderr.trim()]).toEqual([
      2,
      "db: environment variable TM_SPEC_UNSET (--password-env) is empty or not set",
    ]);
  });

  it("stores a SCRAM-SHA-256 verifier that the pg driver's own SCRAM client authenticates against", async () => {
    // Play PostgreSQL's side of SCRAM (RFC 5802) with our verifier against pg's client implementation.
    interface Session {
      response: string;
      serverSignature: string;
    }
    const sasl = (await import("pg/lib/crypto/sasl.js" as string)) as {
      startSession(mechanisms: string[]): Session & { clientNonce: string };
      continueSession(session: Session, password: string, serverFirst: string): Promise<void>;
    };
    const salt = randomBytes(16);
    const [, keys] = scramVerifier("correct horse", salt, 4096).split("$4096:");
    const [saltB64, stored] = (keys ?? "").split("$");
    const [storedKey, serverKey] = (stored ?? "").split(":").map((k) => Buffer.from(k, "base64"));
    expect(saltB64).toBe(salt.toString("base64"));
    const authenticates = async (password: string) => {
      const session = sasl.startSession(["SCRAM-SHA-256"]);
      const serverFirst = `r=${session.clientNonce}srv${randomBytes(9).toString("base64")},s=${saltB64},i=4096`;
      await sasl.continueSession(session, password, serverFirst);
      const withoutProof = session.response.replace(/,p=[^,]*$/, "");
      const proof = Buffer.from(session.response.split(",p=")[1] ?? "", "base64");
      const auth = `n=*,r=${session.clientNonce},${serverFirst},${withoutProof}`;
      const clientSignature = createHmac("sha256", storedKey as Buffer)
        .update(auth)
        .digest();
      const clientKey = Buffer.from(proof.map((b, i) => b ^ (clientSignature[i] ?? 0)));
      const serverSignature = createHmac("sha256", serverKey as Buffer)
        .update(auth)
        .digest("base64");
      return (
        createHash("sha256")
          .update(clientKey)
          .digest()
          .equals(storedKey as Buffer) && serverSignature === session.serverSignature
      );
    };
    expect(await authenticates("correct horse")).toBe(true);
    expect(await authenticates("wrong horse")).toBe(false);
  });
});
