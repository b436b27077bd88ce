/**
 * The masking corpus: sensitive shapes that must never reach a sink unmasked — the policy itself, the
 * logger (fields, nested fields, messages, errors), usage-log inputs (`maskSecrets`, as the template service
 * applies it) and `describeConfig`.
 */
import { Writable } from "node:stream";
import { createLogger } from "@taskmaster/telemetry/logger";
import { describe, expect, it } from "vitest";
import { describeConfig } from "./config.js";
import { maskSecrets, maskUrl } from "./mask.js";
import {
  createMaskingPolicy,
  isSecretKey,
  MASK,
  maskingOptionsFromEnv,
  maskObject,
  maskValue,
} from "./masking.js";

/** [description, text containing the secret, the secret]. */
const FREE_TEXT: readonly [string, string, string][] = [
  ["postgres URL password", "postgres://app:Pa55w0rd!x@db.internal:5432/tm", "Pa55w0rd!x"],
  ["redis URL without user", "redis://:cachepw123@cache:6379/0", "cachepw123"],
  ["amqp URL in a sentence", "cannot connect to amqp://svc:rabbitSecret9@mq/vhost: refused", "rabbitSecret9"],
  ["query password", "https://h/cb?user=a&password=qpw987&x=1", "qpw987"],
  ["query token", "https://h/cb?access_token=tok98765abc", "tok98765abc"],
  ["libpq keyword/value", "host=db user=app password=kwPassw0rd dbname=tm", "kwPassw0rd"],
  ["env style", "DB_PASSWORD=envPw12345", "envPw12345"],
  ["yaml style", "client_secret: yamlSecret777", "yamlSecret777"],
  ["json text", '{"user":"a","password":"jsonPw!23"}', "jsonPw!23"],
  ["json api key", '{"apiKey": "ak-live-00112233"}', "ak-live-00112233"],
  ["bearer header", "Authorization: Bearer abc.def-ghi_jkl123", "abc.def-ghi_jkl123"],
  ["basic header", "authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="],
  ["x-api-key header", "x-api-key: hdrKey998877", "hdrKey998877"],
  [
    "bare JWT",
    "token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.sIgNaTuRe-123_abc rejected",
    "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9",
  ],
  [
    "PEM private key",
    "key:\n-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPrivKeyMaterial0123456789\n-----END PRIVATE KEY-----\nend",
    "PrivKeyMaterial0123456789",
  ],
  [
    "RSA PEM private key",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEArsaMaterialXYZ\n-----END RSA PRIVATE KEY-----",
    "rsaMaterialXYZ",
  ],
  [
    "OpenSSH key, truncated",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAopensshTail",
    "opensshTail",
  ],
  ["AWS access key id", "using AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"],
  ["AWS secret key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"],
  ["GitHub token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
  ["Slack token", "xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"],
  ["Stripe key", "sk_live_51HabcdefGHIJKLmnop", "sk_live_51HabcdefGHIJKLmnop"],
];

/** Objects whose secrets are identified by key. */
const KEYED: readonly [string, Record<string, unknown>, string][] = [
  ["password", { user: "a", password: "kpw-1" }, "kpw-1"],
  ["DB_PASSWORD", { DB_PASSWORD: "kpw-2" }, "kpw-2"],
  ["apiKey nested", { svc: { apiKey: "kak-3" } }, "kak-3"],
  ["api-key", { "api-key": "kak-4" }, "kak-4"],
  ["Authorization header", { headers: { Authorization: "Custom kauth-5" } }, "kauth-5"],
  ["cookie", { headers: { cookie: "sid=kcookie-6" } }, "kcookie-6"],
  ["client_secret", { oauth: { client_secret: "ksecret-7" } }, "ksecret-7"],
  ["refresh token in array", { sessions: [{ refreshToken: "krt-8" }] }, "krt-8"],
  ["private key", { privateKey: "kpk-9" }, "kpk-9"],
  ["aws secret", { AWS_SECRET_ACCESS_KEY: "kaws-10" }, "kaws-10"],
  ["credential", { credentials: { user: "x", pass: "kcred-11" } }, "kcred-11"],
];

function lines(log: (logger: ReturnType<typeof createLogger>) => void): string {
  let out = "";
  const destination = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const logger = createLogger({ service: "mask-test", destination });
  log(logger);
  return out;
}

describe("masking policy", () => {
  it.each(FREE_TEXT)("masks %s in free text", (_, text, secret) => {
    const masked = maskValue(text);
    expect(masked).not.toContain(secret);
    expect(masked).toContain(MASK);
  });

  it.each(KEYED)("masks %s by key", (_, value, secret) => {
    expect(JSON.stringify(maskObject(value))).not.toContain(secret);
  });

  it("leaves ordinary text and values alone", () => {
    for (const text of [
      "nothing here",
      "author: Jane",
      "status = done",
      "see https://example.com/a?b=c",
      "tasks/0193a1b2-0000-7000-8000-000000000001",
    ]) {
      expect(maskValue(text)).toBe(text);
    }
    expect(maskObject({ title: "t", points: 3, tags: ["a"], when: null })).toEqual({
      title: "t",
      points: 3,
      tags: ["a"],
      when: null,
    });
    expect(isSecretKey("title")).toBe(false);
    expect(isSecretKey("X-Api-Key")).toBe(true);
  });

  it("handles cycles and keeps the input unchanged", () => {
    const a: Record<string, unknown> = { password: "p", nested: { url: "postgres://u:pw@h/db" } };
    a.self = a;
    const masked = maskObject(a) as Record<string, unknown>;
    expect(masked.self).toBe("[Circular]");
    expect(masked.nested).toEqual({ url: "postgres://u:***@h/db" });
    expect(a.password).toBe("p");
  });

  it("is configurable: extra keys and patterns, also from the environment", () => {
    const policy = createMaskingPolicy(
      maskingOptionsFromEnv({
        TASKMASTER_MASK_KEYS: "ssn, pin",
        TASKMASTER_MASK_PATTERNS: "\\bEMP-[0-9]{6}\\b",
      }),
    );
    expect(policy.maskObject({ SSN: "123-45-6789", pinCode: "1234", ok: "EMP-123456 and x" })).toEqual({
      SSN: MASK,
      pinCode: MASK,
      ok: `${MASK} and x`,
    });
    expect(() => createMaskingPolicy({ extraPatterns: [{ name: "bad", pattern: /x/ }] })).toThrow(/global/);
  });
});

describe("no sensitive shape reaches a sink unmasked", () => {
  it("logger: fields, nested fields, messages and error messages", () => {
    const out = lines((log) => {
      for (const [, text] of FREE_TEXT) {
        log.info({ detail: text, nested: { deeper: { value: text } } }, text);
        log.error({ err: new Error(text) }, "failed");
      }
      for (const [, value] of KEYED) log.info({ value }, "keyed");
    });
    for (const [name, , secret] of [...FREE_TEXT, ...KEYED]) {
      expect(out, name).not.toContain(secret);
    }
  });

  it("usage-log inputs (maskSecrets, as the template service applies it)", () => {
    const inputs: Record<string, unknown> = {};
    FREE_TEXT.forEach(([, text], i) => {
      inputs[`input_${i}`] = text;
    });
    KEYED.forEach(([, value], i) => {
      inputs[`obj_${i}`] = value;
    });
    const masked = JSON.stringify(maskSecrets(inputs));
    for (const [name, , secret] of [...FREE_TEXT, ...KEYED]) expect(masked, name).not.toContain(secret);
  });

  it("describeConfig and maskUrl", () => {
    const config = {
      database: { url: "postgres://app:cfgPw123@db/tm" },
      auth: { jwtSecret: "cfgJwt456", issuers: [{ audience: "x", clientSecret: "cfgCs789" }] },
      notes: FREE_TEXT.map(([, text]) => text),
    };
    const text = JSON.stringify(describeConfig(config));
    for (const secret of ["cfgPw123", "cfgJwt456", "cfgCs789", ...FREE_TEXT.map(([, , s]) => s)]) {
      expect(text).not.toContain(secret);
    }
    expect(maskUrl("postgres://app:x@h/db")).toBe("postgres://app:***@h/db");
  });
});
