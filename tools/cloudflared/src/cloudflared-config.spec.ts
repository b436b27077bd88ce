import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cloudflaredEnvSchema, renderComposeService, renderConfigYaml } from "./cloudflared-config.js";

const env = {
  CLOUDFLARED_TUNNEL_ID: "6ff42ae2-765d-4adf-8112-31c55c1551ef",
  CLOUDFLARED_HOSTNAME: "api.example.com",
  CF_ACCESS_TEAM_DOMAIN: "https://myteam.cloudflareaccess.com",
  CF_ACCESS_AUD: "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2",
};

interface Config {
  tunnel: string;
  "credentials-file": string;
  metrics: string;
  ingress: Array<{
    hostname?: string;
    service: string;
    originRequest?: Record<string, unknown> & {
      access: { required: boolean; teamName: string; audTag: string[] };
    };
  }>;
}

describe("cloudflared config.yml", () => {
  it("parses back to the tunnel, credentials, hostname -> gateway with origin settings and the Access check", () => {
    const config = parse(renderConfigYaml(cloudflaredEnvSchema.parse(env))) as Config;
    expect(config.tunnel).toBe(env.CLOUDFLARED_TUNNEL_ID);
    expect(config["credentials-file"]).toBe("/etc/cloudflared/credentials.json");
    expect(config.metrics).toBe("0.0.0.0:2000");
    const [rule, fallback] = config.ingress;
    expect(rule?.hostname).toBe("api.example.com");
    expect(rule?.service).toBe("http://gateway:8080");
    expect(rule?.originRequest).toMatchObject({
      connectTimeout: "10s",
      tlsTimeout: "10s",
      tcpKeepAlive: "30s",
      keepAliveTimeout: "60s",
      keepAliveConnections: 100,
      http2Origin: false,
      noTLSVerify: false,
      access: { required: true, teamName: "myteam", audTag: [env.CF_ACCESS_AUD] },
    });
    // cloudflared requires a catch-all last rule.
    expect(fallback).toEqual({ service: "http_status:404" });
  });

  it("an https origin (gateway TLS) turns http2Origin on and carries originServerName / caPool", () => {
    const config = parse(
      renderConfigYaml(
        cloudflaredEnvSchema.parse({
          ...env,
          CLOUDFLARED_ORIGIN: "https://gateway:8443",
          CLOUDFLARED_ORIGIN_SERVER_NAME: "gateway.internal",
          CLOUDFLARED_CA_POOL: "/etc/cloudflared/ca.pem",
        }),
      ),
    ) as Config;
    expect(config.ingress[0]?.originRequest).toMatchObject({
      http2Origin: true,
      originServerName: "gateway.internal",
      caPool: "/etc/cloudflared/ca.pem",
    });
  });

  it("refuses a bad tunnel id or hostname with the variable named", () => {
    const bad = cloudflaredEnvSchema.safeParse({
      ...env,
      CLOUDFLARED_TUNNEL_ID: "nope",
      CLOUDFLARED_HOSTNAME: "x",
    });
    expect(bad.success).toBe(false);
    const vars = bad.error?.issues.map((i) => i.path[0]);
    expect(vars).toEqual(expect.arrayContaining(["CLOUDFLARED_TUNNEL_ID", "CLOUDFLARED_HOSTNAME"]));
  });

  it("the compose service mounts the generated file and checks /ready", () => {
    const compose = parse(renderComposeService(cloudflaredEnvSchema.parse(env))) as {
      services: { cloudflared: { command: string[]; volumes: string[]; healthcheck: { test: string[] } } };
    };
    const svc = compose.services.cloudflared;
    expect(svc.command).toEqual(["tunnel", "--config", "/etc/cloudflared/config.yml", "run"]);
    expect(svc.volumes).toEqual(["./cloudflared:/etc/cloudflared:ro"]);
    expect(svc.healthcheck.test).toContain("ready");
  });

  it("the command writes config.yml; bad variables are one line and exit 2", () => {
    const dir = mkdtempSync(join(tmpdir(), "cloudflared-"));
    // The built command (turbo builds before testing).
    const main = join(import.meta.dirname, "..", "dist", "main.js");
    try {
      const out = execFileSync(process.execPath, [main, "--out", dir], {
        env: { PATH: process.env.PATH, ...env },
        encoding: "utf8",
      });
      expect(out).toContain("config.yml");
      const config = parse(readFileSync(join(dir, "config.yml"), "utf8")) as Config;
      expect(config.ingress[0]?.originRequest?.access.teamName).toBe("myteam");
      const bad = spawnSync(process.execPath, [main], {
        env: { PATH: process.env.PATH },
        encoding: "utf8",
      });
      expect(bad.status).toBe(2);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stderr).toMatch(/^invalid configuration: CLOUDFLARED_TUNNEL_ID/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
