import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createIdentitySigner,
  importIdentitySigningKey,
  importIdentityVerifyKey,
  verifyIdentityToken,
} from "@taskmaster/rpc-kit/identity";
import { afterAll, expect, it } from "vitest";
import { developmentIdentityEnv } from "./dev-identity.js";

const dir = mkdtempSync(join(tmpdir(), "tm-dev-identity-spec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("creates usable Ed25519 key pairs once, private keys readable only by the owner, and reuses them", async () => {
  const env = developmentIdentityEnv(join(dir, "keys"));
  const read = (name: string) => readFileSync(env[name] ?? "", "utf8");
  expect(statSync(env.GATEWAY_IDENTITY_KEY_FILE ?? "").mode & 0o777).toBe(0o600);
  expect(statSync(env.TASKMASTER_IDENTITY_SIGNING_KEY_FILE ?? "").mode & 0o777).toBe(0o600);
  expect(env.TASKMASTER_IDENTITY_TRUSTED_KEYS).toMatch(/^template-service=.+template-service\.pub\.pem$/);
  const signer = createIdentitySigner(await importIdentitySigningKey(read("GATEWAY_IDENTITY_KEY_FILE")));
  const token = await signer.sign(
    { subject: "developer", type: "anonymous", roles: ["admin"], teams: [] },
    "taskmaster.task.v1.TaskService",
  );
  const verified = await verifyIdentityToken(
    token,
    { gateway: await importIdentityVerifyKey(read("TASKMASTER_IDENTITY_PUBLIC_KEY_FILE")) },
    "taskmaster.task.v1.TaskService",
  );
  expect([verified.subject, verified.roles]).toEqual(["developer", ["admin"]]);
  const before = read("GATEWAY_IDENTITY_KEY_FILE");
  developmentIdentityEnv(join(dir, "keys"));
  expect(read("GATEWAY_IDENTITY_KEY_FILE")).toBe(before);
});
