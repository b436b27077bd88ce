/** gRPC service transport security settings (docs/tls.md). */
import { z } from "zod";
import type { Profile } from "./config.js";
import { boolVar } from "./env-vars.js";

/**
 * Zod schema of a gRPC service's security settings, for `loadConfig(serviceSecuritySchema(profile), ...)`:
 * `GRPC_TLS_CERT_FILE` + `GRPC_TLS_KEY_FILE` (TLS), `GRPC_TLS_CLIENT_CA_FILE` (client certificates required,
 * mTLS), `TASKMASTER_IDENTITY_PUBLIC_KEY_FILE` (the gateway's Ed25519 SPKI PEM; required in staging and
 * production) and `TASKMASTER_IDENTITY_REQUIRED` (calls without a valid identity token are UNAUTHENTICATED;
 * default true in staging/production, false elsewhere; cannot be turned off in staging/production).
 * Service to service: `TASKMASTER_IDENTITY_TRUSTED_KEYS` (`service=path,...`: peer services' Ed25519 SPKI PEMs
 * whose delegated tokens are accepted), `TASKMASTER_IDENTITY_SIGNING_KEY_FILE` (this service's own PKCS#8
 * key for delegating its caller's identity) and `GRPC_CLIENT_TLS_CA_FILE` / `_CERT_FILE` + `_KEY_FILE` /
 * `_SERVER_NAME` (TLS / mTLS of this service's outgoing channels).
 */
export function serviceSecuritySchema(profile: Profile) {
  const strict = profile === "staging" || profile === "production";
  const path = z.string().trim().min(1, "must not be empty");
  return z
    .object({
      GRPC_TLS_CERT_FILE: path.optional(),
      GRPC_TLS_KEY_FILE: path.optional(),
      GRPC_TLS_CLIENT_CA_FILE: path.optional(),
      TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: strict
        ? z.string({ error: `is required in the ${profile} profile` }).pipe(path)
        : path.optional(),
      TASKMASTER_IDENTITY_REQUIRED: boolVar().optional(),
      TASKMASTER_IDENTITY_SIGNING_KEY_FILE: path.optional(),
      TASKMASTER_IDENTITY_TRUSTED_KEYS: z.string().trim().optional(),
      GRPC_CLIENT_TLS_CA_FILE: path.optional(),
      GRPC_CLIENT_TLS_CERT_FILE: path.optional(),
      GRPC_CLIENT_TLS_KEY_FILE: path.optional(),
      GRPC_CLIENT_TLS_SERVER_NAME: path.optional(),
    })
    .superRefine((v, ctx) => {
      if ((v.GRPC_TLS_CERT_FILE === undefined) !== (v.GRPC_TLS_KEY_FILE === undefined)) {
        ctx.addIssue({
          code: "custom",
          path: ["GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE"],
          message: "must be set together",
        });
      }
      if (v.GRPC_TLS_CLIENT_CA_FILE !== undefined && v.GRPC_TLS_CERT_FILE === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["GRPC_TLS_CLIENT_CA_FILE"],
          message: "needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE (mTLS is TLS plus client certificates)",
        });
      }
      if (strict && v.TASKMASTER_IDENTITY_REQUIRED === false) {
        ctx.addIssue({
          code: "custom",
          path: ["TASKMASTER_IDENTITY_REQUIRED"],
          message: `must not be false in the ${profile} profile`,
        });
      }
      if (v.TASKMASTER_IDENTITY_REQUIRED === true && v.TASKMASTER_IDENTITY_PUBLIC_KEY_FILE === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["TASKMASTER_IDENTITY_PUBLIC_KEY_FILE"],
          message: "is required when TASKMASTER_IDENTITY_REQUIRED is true",
        });
      }
      const trusted = trustedKeyFiles(v.TASKMASTER_IDENTITY_TRUSTED_KEYS);
      if (typeof trusted === "string") {
        ctx.addIssue({ code: "custom", path: ["TASKMASTER_IDENTITY_TRUSTED_KEYS"], message: trusted });
      } else if (trusted !== undefined && v.TASKMASTER_IDENTITY_PUBLIC_KEY_FILE === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["TASKMASTER_IDENTITY_TRUSTED_KEYS"],
          message: "needs TASKMASTER_IDENTITY_PUBLIC_KEY_FILE (the gateway's key)",
        });
      }
      if ((v.GRPC_CLIENT_TLS_CERT_FILE === undefined) !== (v.GRPC_CLIENT_TLS_KEY_FILE === undefined)) {
        ctx.addIssue({
          code: "custom",
          path: ["GRPC_CLIENT_TLS_CERT_FILE/GRPC_CLIENT_TLS_KEY_FILE"],
          message: "must be set together",
        });
      }
      if (
        v.GRPC_CLIENT_TLS_CA_FILE === undefined &&
        (v.GRPC_CLIENT_TLS_CERT_FILE !== undefined || v.GRPC_CLIENT_TLS_SERVER_NAME !== undefined)
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["GRPC_CLIENT_TLS_CA_FILE"],
          message: "is required with GRPC_CLIENT_TLS_CERT_FILE or GRPC_CLIENT_TLS_SERVER_NAME",
        });
      }
    })
    .transform((v) => ({
      tls:
        v.GRPC_TLS_CERT_FILE === undefined || v.GRPC_TLS_KEY_FILE === undefined
          ? undefined
          : {
              certFile: v.GRPC_TLS_CERT_FILE,
              keyFile: v.GRPC_TLS_KEY_FILE,
              clientCaFile: v.GRPC_TLS_CLIENT_CA_FILE,
            },
      identity: {
        publicKeyFile: v.TASKMASTER_IDENTITY_PUBLIC_KEY_FILE,
        required: v.TASKMASTER_IDENTITY_REQUIRED ?? strict,
        signingKeyFile: v.TASKMASTER_IDENTITY_SIGNING_KEY_FILE,
        trustedKeyFiles: trustedKeyFiles(v.TASKMASTER_IDENTITY_TRUSTED_KEYS) as
          | Readonly<Record<string, string>>
          | undefined,
      },
      clientTls:
        v.GRPC_CLIENT_TLS_CA_FILE === undefined
          ? undefined
          : {
              caFile: v.GRPC_CLIENT_TLS_CA_FILE,
              certFile: v.GRPC_CLIENT_TLS_CERT_FILE,
              keyFile: v.GRPC_CLIENT_TLS_KEY_FILE,
              serverName: v.GRPC_CLIENT_TLS_SERVER_NAME,
            },
    }));
}

/**
 * `TASKMASTER_IDENTITY_TRUSTED_KEYS` (`template-service=/keys/template.pub,other=/keys/other.pub`) as service
 * name -> public key file; undefined when unset or empty, a message when malformed.
 */
function trustedKeyFiles(value: string | undefined): Record<string, string> | string | undefined {
  if (value === undefined || value === "") return undefined;
  const out: Record<string, string> = {};
  for (const entry of value.split(",")) {
    const [name = "", file = ""] = entry.split(/=(.*)/s).map((x) => x.trim());
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(name) || file === "") {
      return "must be a comma-separated list of service=path (lower-case service names)";
    }
    if (name === "gateway")
      return "must not name the gateway (its key is TASKMASTER_IDENTITY_PUBLIC_KEY_FILE)";
    if (name in out) return `names ${name} twice`;
    out[name] = file;
  }
  return out;
}

/** Output of `serviceSecuritySchema`. */
export type ServiceSecurityConfig = z.output<ReturnType<typeof serviceSecuritySchema>>;
