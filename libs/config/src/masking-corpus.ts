/**
 * Sensitive shapes that must never reach a sink unmasked: used by the masking specs of every sink (the policy
 * here; the logger and exported spans in libs/telemetry: logger-masking.spec.ts, span-masking.spec.ts,
 * otel-masking.spec.ts).
 */

/** [description, text containing the secret, the secret]. */
export const FREE_TEXT: readonly [string, string, string][] = [
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
export const KEYED: readonly [string, Record<string, unknown>, string][] = [
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
