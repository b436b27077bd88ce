import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { decodeJwt, exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService, memoryLogger } from "./echo-service.test-util.js";
import { createGrpcClient } from "./grpc-client.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";
import {
  ACTOR_HEADER,
  createIdentityInterceptor,
  createIdentitySigner,
  IDENTITY_HEADER,
  type IdentitySigner,
  importIdentitySigningKey,
  importIdentityVerifyKey,
  ROLES_HEADER,
  TEAMS_HEADER,
  verifiedIdentity,
  verifyIdentityToken,
} from "./identity.js";

/** The echo handler answers with what the handler sees: `<actor header>|<verified subject>|<roles>`. */
const impl: Partial<ServiceImpl<typeof EchoService>> = {
  echo(_req, ctx) {
    const id = verifiedIdentity(ctx);
    return {
      text: `${ctx.requestHeader.get(ACTOR_HEADER) ?? "-"}|${id?.subject ?? "-"}|${id?.roles.join(",") ?? "-"}`,
    };
  },
};

const echo = (address: string, headers: Record<string, string>) =>
  createGrpcClient(EchoService, { address })
    .echo({ text: "" }, { headers })
    .then(
      (r) => r.text,
      (e) => ConnectError.from(e),
    );

describe("internal identity token (gateway-signed, service-verified) over real grpc-js", () => {
  let optional: GrpcServer;
  let required: GrpcServer;
  let signer: IdentitySigner;
  let forger: IdentitySigner;
  let optionalAddress: string;
  let requiredAddress: string;
  const invalid: string[] = [];

  beforeAll(async () => {
    const gateway = await generateKeyPair("EdDSA", { extractable: true });
    const attacker = await generateKeyPair("EdDSA", { extractable: true });
    // Round-trip through PEM, as deployments configure keys.
    signer = createIdentitySigner(await importIdentitySigningKey(await exportPKCS8(gateway.privateKey)));
    forger = createIdentitySigner(attacker.privateKey);
    const key = await importIdentityVerifyKey(await exportSPKI(gateway.publicKey));
    const make = (req: boolean) =>
      createGrpcServer({
        logger: memoryLogger().logger,
        services: [partialServiceRegistration(EchoService, impl)],
        interceptors: [
          createIdentityInterceptor({ key, required: req, onInvalid: (reason) => invalid.push(reason) }),
        ],
      });
    optional = make(false);
    required = make(true);
    optionalAddress = (await optional.listen("127.0.0.1", 0)).address;
    requiredAddress = (await required.listen("127.0.0.1", 0)).address;
  });
  afterAll(async () => {
    await optional?.shutdown(1_000);
    await required?.shutdown(1_000);
  });

  it("a valid token sets the actor header and the verified identity for handlers", async () => {
    const token = await signer.sign(
      { subject: "ada@example.com", type: "user", roles: ["writer"], teams: [] },
      EchoService.typeName,
    );
    expect(await echo(optionalAddress, { [IDENTITY_HEADER]: token })).toBe(
      "ada@example.com|ada@example.com|writer",
    );
  });

  it("a client-supplied actor header without a token is dropped", async () => {
    expect(await echo(optionalAddress, { [ACTOR_HEADER]: "mallory@example.com" })).toBe("-|-|-");
  });

  it("a client-supplied actor header next to a valid token is replaced by the token's subject", async () => {
    const token = await signer.sign(
      { subject: "ada@example.com", type: "user", roles: [], teams: [] },
      EchoService.typeName,
    );
    expect(await echo(optionalAddress, { [IDENTITY_HEADER]: token, [ACTOR_HEADER]: "root" })).toBe(
      "ada@example.com|ada@example.com|",
    );
  });

  it("tokens signed by another key, for another service, or expired are not trusted", async () => {
    const forged = await forger.sign(
      { subject: "root", type: "user", roles: ["admin"], teams: [] },
      EchoService.typeName,
    );
    const otherAud = await signer.sign(
      { subject: "ada@example.com", type: "user", roles: ["admin"], teams: [] },
      "taskmaster.audit.v1.AuditService",
    );
    const gatewayKeyPem = await generateKeyPair("EdDSA");
    const expired = await new SignJWT({ roles: ["admin"] })
      .setProtectedHeader({ alg: "EdDSA" })
      .setSubject("root")
      .setIssuer("taskmaster-gateway")
      .setAudience(EchoService.typeName)
      .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 300)
      .sign(gatewayKeyPem.privateKey);
    const before = invalid.length;
    for (const token of [forged, otherAud, expired, "garbage"]) {
      expect(await echo(optionalAddress, { [IDENTITY_HEADER]: token, [ACTOR_HEADER]: "root" })).toBe("-|-|-");
    }
    expect(invalid.length - before).toBe(4);
  });

  it("required mode: no or bad token is UNAUTHENTICATED, a good one passes", async () => {
    const none = await echo(requiredAddress, { [ACTOR_HEADER]: "root" });
    expect((none as ConnectError).code).toBe(Code.Unauthenticated);
    const token = await signer.sign(
      { subject: "svc:ci", type: "service", roles: ["reader"], teams: [] },
      EchoService.typeName,
    );
    expect(await echo(requiredAddress, { [IDENTITY_HEADER]: token })).toBe("svc:ci|svc:ci|reader");
  });
});

describe("delegated identity (a service signs its verified caller for another service, RFC 8693 act)", () => {
  let gatewayKey: CryptoKeyPair;
  let templateKey: CryptoKeyPair;
  let taskKey: CryptoKeyPair;
  let gateway: IdentitySigner;
  let template: IdentitySigner;
  let server: GrpcServer;
  let address: string;
  const delegated: string[] = [];
  const aud = EchoService.typeName;
  const alice = { subject: "alice@example.com", type: "user", roles: ["writer"], teams: ["web"] } as const;

  type CryptoKeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

  /** The echo answers `<actor>|<roles>|<teams header>|<actors>`: what handlers and authorization see. */
  const delegationImpl: Partial<ServiceImpl<typeof EchoService>> = {
    echo(_req, ctx) {
      const id = verifiedIdentity(ctx);
      return {
        text: [
          ctx.requestHeader.get(ACTOR_HEADER) ?? "-",
          ctx.requestHeader.get(ROLES_HEADER) ?? "-",
          ctx.requestHeader.get(TEAMS_HEADER) ?? "-",
          id?.actors?.join(">") ?? "-",
        ].join("|"),
      };
    },
  };

  beforeAll(async () => {
    gatewayKey = await generateKeyPair("EdDSA", { extractable: true });
    templateKey = await generateKeyPair("EdDSA", { extractable: true });
    taskKey = await generateKeyPair("EdDSA", { extractable: true });
    gateway = createIdentitySigner(gatewayKey.privateKey);
    template = createIdentitySigner(
      await importIdentitySigningKey(await exportPKCS8(templateKey.privateKey)),
      { service: "template-service" },
    );
    server = createGrpcServer({
      logger: memoryLogger().logger,
      services: [partialServiceRegistration(EchoService, delegationImpl)],
      identity: {
        key: gatewayKey.publicKey,
        services: new Map([
          ["template-service", await importIdentityVerifyKey(await exportSPKI(templateKey.publicKey))],
        ]),
        required: true,
        onDelegated: (id) => delegated.push(`${id.subject} via ${id.actors?.join(">")}`),
      },
    });
    address = (await server.listen("127.0.0.1", 0)).address;
  });
  afterAll(async () => {
    await server?.shutdown(1_000);
  });

  const call = (token: string | undefined, extra: Record<string, string> = {}) =>
    echo(address, { ...(token !== undefined && { [IDENTITY_HEADER]: token }), ...extra });

  it("the caller verified from a gateway token is delegated with act = the signing service", async () => {
    const verified = await verifyIdentityToken(
      await gateway.sign(alice, "taskmaster.template.v1.TemplateService"),
      gatewayKey.publicKey,
      "taskmaster.template.v1.TemplateService",
    );
    expect(verified.actors).toBeUndefined();
    const token = await template.sign(verified, aud);
    expect(decodeJwt(token)).toMatchObject({
      iss: "taskmaster-template-service",
      sub: "alice@example.com",
      aud,
      act: { sub: "template-service" },
      roles: ["writer"],
      teams: ["web"],
    });
    const before = delegated.length;
    expect(await call(token, { [ACTOR_HEADER]: "root", [TEAMS_HEADER]: "platform" })).toBe(
      "alice@example.com|writer|web|template-service",
    );
    expect(delegated.slice(before)).toEqual(["alice@example.com via template-service"]);
  });

  it("a gateway token still works next to the trusted service keys, and client teams headers are dropped", async () => {
    expect(await call(await gateway.sign({ ...alice, teams: [] }, aud), { [TEAMS_HEADER]: "platform" })).toBe(
      "alice@example.com|writer|-|-",
    );
  });

  it("a nested delegation keeps the whole act chain, most recent first", async () => {
    const task = createIdentitySigner(taskKey.privateKey, { service: "task-service" });
    const viaTemplate = { ...alice, actors: ["template-service"] };
    const token = await task.sign(viaTemplate, aud);
    expect(decodeJwt(token).act).toEqual({ sub: "task-service", act: { sub: "template-service" } });
    const both = await verifyIdentityToken(
      token,
      {
        gateway: gatewayKey.publicKey,
        services: new Map([["task-service", taskKey.publicKey]]),
      },
      aud,
    );
    expect(both.actors).toEqual(["task-service", "template-service"]);
    // This server does not trust task-service's key.
    expect(((await call(token)) as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("the service key for another audience, a random key, an untrusted issuer or a mismatched act is refused", async () => {
    const attacker = await generateKeyPair("EdDSA");
    const raw = (
      claims: Record<string, unknown>,
      iss: string,
      key: CryptoKeyPair["privateKey"],
      audience = aud,
    ) =>
      new SignJWT({ typ: "user", roles: ["admin"], ...claims })
        .setProtectedHeader({ alg: "EdDSA" })
        .setSubject("root")
        .setIssuer(iss)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime("60s")
        .sign(key);
    const refused = [
      // Right key, wrong audience.
      await template.sign(alice, "taskmaster.audit.v1.AuditService"),
      // A random key claiming to be template-service.
      await createIdentitySigner(attacker.privateKey, { service: "template-service" }).sign(alice, aud),
      // The template-service key posing as the gateway, or as another service.
      await raw({}, "taskmaster-gateway", templateKey.privateKey),
      await raw({ act: { sub: "task-service" } }, "taskmaster-task-service", templateKey.privateKey),
      // Right issuer and key, but no act / an act naming another service.
      await raw({}, "taskmaster-template-service", templateKey.privateKey),
      await raw({ act: { sub: "task-service" } }, "taskmaster-template-service", templateKey.privateKey),
      // A gateway token must not claim a delegation.
      await raw({ act: { sub: "template-service" } }, "taskmaster-gateway", gatewayKey.privateKey),
      // An issuer nobody trusts.
      await raw({ act: { sub: "evil" } }, "taskmaster-evil", attacker.privateKey),
    ];
    for (const token of refused) {
      expect(((await call(token)) as ConnectError).code).toBe(Code.Unauthenticated);
    }
    // Control: the same construction with the right issuer/act/audience passes, so the refusals above are real.
    expect(
      await call(
        await raw(
          { act: { sub: "template-service" } },
          "taskmaster-template-service",
          templateKey.privateKey,
        ),
      ),
    ).toBe("root|admin|-|template-service");
  });

  it("grpc.health.v1 stays callable without any identity while the service requires one", async () => {
    const health = await createGrpcClient(Health, { address }).check({ service: "" });
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(((await call(undefined)) as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("a delegation chain longer than the limit is not signed", async () => {
    await expect(template.sign({ ...alice, actors: ["a", "b", "c", "d"] }, aud)).rejects.toThrow(/too long/);
  });
});
