import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "./gateway-config.js";

const files: Record<string, string> = {
  "/tls/cert.pem": "CERT",
  "/tls/key.pem": "KEY",
  "/tls/ca.pem": "CA",
  "/tls/client.pem": "CLIENT",
  "/tls/client-key.pem": "CLIENT-KEY",
};
const readFile = (path: string) => {
  const pem = files[path];
  if (pem === undefined) throw Object.assign(new Error("missing"), { code: "ENOENT" });
  return pem;
};
const load = (env: Record<string, string>) =>
  loadGatewayConfig({ TASKMASTER_PROFILE: "test", GATEWAY_AUTH: "none", ...env }, readFile);

describe("gateway TLS settings", () => {
  it("are off by default", () => {
    const config = load({});
    expect(config.tls).toBeUndefined();
    expect(config.upstreamTls).toBeUndefined();
  });

  it("read the listener's certificate/key and the upstream CA + client pair", () => {
    const config = load({
      GATEWAY_TLS_CERT_FILE: "/tls/cert.pem",
      GATEWAY_TLS_KEY_FILE: "/tls/key.pem",
      GATEWAY_UPSTREAM_TLS_CA_FILE: "/tls/ca.pem",
      GATEWAY_UPSTREAM_TLS_CERT_FILE: "/tls/client.pem",
      GATEWAY_UPSTREAM_TLS_KEY_FILE: "/tls/client-key.pem",
      GATEWAY_UPSTREAM_TLS_SERVER_NAME: "task-service.internal",
    });
    expect(config.tls).toEqual({ cert: "CERT", key: "KEY" });
    expect(config.upstreamTls).toEqual({
      ca: "CA",
      cert: "CLIENT",
      key: "CLIENT-KEY",
      serverName: "task-service.internal",
    });
  });

  it("name every half-configured or unreadable setting in one line", () => {
    expect(() =>
      load({
        GATEWAY_TLS_CERT_FILE: "/tls/cert.pem",
        GATEWAY_UPSTREAM_TLS_CERT_FILE: "/tls/client.pem",
        GATEWAY_UPSTREAM_TLS_KEY_FILE: "/tls/missing.pem",
      }),
    ).toThrow(
      /^invalid configuration: GATEWAY_TLS_CERT_FILE\/GATEWAY_TLS_KEY_FILE must be set together; GATEWAY_UPSTREAM_TLS_CA_FILE is required with .*; GATEWAY_UPSTREAM_TLS_KEY_FILE cannot be read \(ENOENT\)$/,
    );
  });
});
