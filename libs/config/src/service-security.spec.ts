import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, resolveProfile } from "./config.js";
import { serviceSecuritySchema } from "./service-security.js";

const load = (env: Record<string, string>) =>
  loadConfig(serviceSecuritySchema(resolveProfile(env)), env, { service: "task-service" });

function oneLine(env: Record<string, string>): string {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message.split("\n")).toHaveLength(1);
    return message;
  }
  throw new Error("expected a ConfigError");
}

const strictBase = { TASKMASTER_PROFILE: "production", DATABASE_URL: "postgres://u@db:5432/t" };

describe("gRPC service TLS + identity settings", () => {
  it("are off by default in development and test", () => {
    expect(load({ TASKMASTER_PROFILE: "test" }).service).toEqual({
      tls: undefined,
      identity: { publicKeyFile: undefined, required: false },
    });
  });

  it("TLS needs cert and key together; mTLS adds the client CA", () => {
    expect(oneLine({ GRPC_TLS_CERT_FILE: "/c.pem" })).toMatch(
      /^invalid configuration: GRPC_TLS_CERT_FILE\/GRPC_TLS_KEY_FILE must be set together/,
    );
    expect(oneLine({ GRPC_TLS_CLIENT_CA_FILE: "/ca.pem" })).toMatch(
      /GRPC_TLS_CLIENT_CA_FILE needs GRPC_TLS_CERT_FILE/,
    );
    expect(
      load({ GRPC_TLS_CERT_FILE: "/c.pem", GRPC_TLS_KEY_FILE: "/k.pem", GRPC_TLS_CLIENT_CA_FILE: "/ca.pem" })
        .service.tls,
    ).toEqual({ certFile: "/c.pem", keyFile: "/k.pem", clientCaFile: "/ca.pem" });
  });

  it("the identity key is required in staging/production, where verification is always required", () => {
    expect(oneLine(strictBase)).toMatch(
      /TASKMASTER_IDENTITY_PUBLIC_KEY_FILE is required in the production profile/,
    );
    expect(
      oneLine({
        ...strictBase,
        TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/id.pem",
        TASKMASTER_IDENTITY_REQUIRED: "false",
      }),
    ).toMatch(/TASKMASTER_IDENTITY_REQUIRED must not be false in the production profile/);
    expect(load({ ...strictBase, TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/id.pem" }).service.identity).toEqual({
      publicKeyFile: "/id.pem",
      required: true,
    });
  });

  it("optional in development unless asked for; required without a key is refused", () => {
    expect(load({ TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/id.pem" }).service.identity.required).toBe(false);
    expect(oneLine({ TASKMASTER_IDENTITY_REQUIRED: "true" })).toMatch(
      /TASKMASTER_IDENTITY_PUBLIC_KEY_FILE is required when TASKMASTER_IDENTITY_REQUIRED is true/,
    );
  });

  it("service-to-service: trusted peer keys, the own signing key and client TLS for outgoing channels", () => {
    const svc = load({
      TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/gw.pub",
      TASKMASTER_IDENTITY_TRUSTED_KEYS: " template-service=/keys/tpl.pub , other-svc=/k/o=ther.pub",
      TASKMASTER_IDENTITY_SIGNING_KEY_FILE: "/keys/own.key",
      GRPC_CLIENT_TLS_CA_FILE: "/ca.pem",
      GRPC_CLIENT_TLS_CERT_FILE: "/c.pem",
      GRPC_CLIENT_TLS_KEY_FILE: "/k.pem",
      GRPC_CLIENT_TLS_SERVER_NAME: "task-service.internal",
    }).service;
    expect(svc.identity.trustedKeyFiles).toEqual({
      "template-service": "/keys/tpl.pub",
      "other-svc": "/k/o=ther.pub",
    });
    expect(svc.identity.signingKeyFile).toBe("/keys/own.key");
    expect(svc.clientTls).toEqual({
      caFile: "/ca.pem",
      certFile: "/c.pem",
      keyFile: "/k.pem",
      serverName: "task-service.internal",
    });
    expect(load({}).service.clientTls).toBeUndefined();
    expect(
      oneLine({
        TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/gw.pub",
        TASKMASTER_IDENTITY_TRUSTED_KEYS: "/tpl.pub",
      }),
    ).toMatch(/TASKMASTER_IDENTITY_TRUSTED_KEYS must be a comma-separated list of service=path/);
    expect(
      oneLine({
        TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/gw.pub",
        TASKMASTER_IDENTITY_TRUSTED_KEYS: "gateway=/g",
      }),
    ).toMatch(/must not name the gateway/);
    expect(oneLine({ TASKMASTER_IDENTITY_TRUSTED_KEYS: "template-service=/t.pub" })).toMatch(
      /TASKMASTER_IDENTITY_TRUSTED_KEYS needs TASKMASTER_IDENTITY_PUBLIC_KEY_FILE/,
    );
    expect(oneLine({ GRPC_CLIENT_TLS_CERT_FILE: "/c.pem", GRPC_CLIENT_TLS_KEY_FILE: "/k.pem" })).toMatch(
      /GRPC_CLIENT_TLS_CA_FILE is required with GRPC_CLIENT_TLS_CERT_FILE/,
    );
    expect(oneLine({ GRPC_CLIENT_TLS_CA_FILE: "/ca.pem", GRPC_CLIENT_TLS_CERT_FILE: "/c.pem" })).toMatch(
      /GRPC_CLIENT_TLS_CERT_FILE\/GRPC_CLIENT_TLS_KEY_FILE must be set together/,
    );
  });
});
