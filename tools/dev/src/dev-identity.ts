/**
 * Development identity keys, so the local stack signs and verifies caller identities as production does:
 * the gateway signs the developer's identity (subject `developer`, role admin) with an Ed25519 key, the
 * services verify it with the public key, and template-service signs its delegated calls to task-service
 * with its own key (task-service trusts its public key). Created once under `dir` (kept between starts,
 * private keys mode 0600) and handed to the members as the usual variables. Development only: staging and
 * production keys come from their own files.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function ensurePair(dir: string, name: string): { privateKey: string; publicKey: string } {
  const privateKey = join(dir, `${name}.key.pem`);
  const publicKey = join(dir, `${name}.pub.pem`);
  if (!existsSync(privateKey) || !existsSync(publicKey)) {
    const pair = generateKeyPairSync("ed25519", {
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    writeFileSync(privateKey, pair.privateKey, { mode: 0o600 });
    writeFileSync(publicKey, pair.publicKey);
  }
  return { privateKey, publicKey };
}

/** The variables that turn identity signing on for the development stack (keys created when missing). */
export function developmentIdentityEnv(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const gateway = ensurePair(dir, "gateway");
  const template = ensurePair(dir, "template-service");
  return {
    GATEWAY_IDENTITY_KEY_FILE: gateway.privateKey,
    TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: gateway.publicKey,
    // Only template-service delegates (the others ignore a signing key); task-service trusts it.
    TASKMASTER_IDENTITY_SIGNING_KEY_FILE: template.privateKey,
    TASKMASTER_IDENTITY_TRUSTED_KEYS: `template-service=${template.publicKey}`,
  };
}
