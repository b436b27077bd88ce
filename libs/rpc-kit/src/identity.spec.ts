import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService, memoryLogger } from "./echo-service.test-util.js";
import { createGrpcClient } from "./grpc-client.js";
import { createGrpcServer, type GrpcServer, serviceRegistration } from "./grpc-server.js";
import {
  ACTOR_HEADER,
  createIdentityInterceptor,
  createIdentitySigner,
  IDENTITY_HEADER,
  type IdentitySigner,
  importIdentitySigningKey,
  importIdentityVerifyKey,
  verifiedIdentity,
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
        services: [serviceRegistration(EchoService, impl)],
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

  const echo = (address: string, headers: Record<string, string>) =>
    createGrpcClient(EchoService, { address })
      .echo({ text: "" }, { headers })
      .then(
        (r) => r.text,
        (e) => ConnectError.from(e),
      );

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
