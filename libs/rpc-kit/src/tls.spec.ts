import { Code, ConnectError } from "@connectrpc/connect";
import { createTestCertificates, type TestCertificates } from "@taskmaster/testing/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService, memoryLogger } from "./echo-service.test-util.js";
import { createGrpcClient, createGrpcJsTransport, type GrpcJsTransport } from "./grpc-client.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";
import { channelCredentials, serverCredentials } from "./tls.js";

const impl = { echo: (req: { text: string }) => ({ text: `echo:${req.text}` }) };

describe("gRPC over TLS and mTLS (throwaway CA generated at test time)", () => {
  let certs: TestCertificates;
  let tlsServer: GrpcServer;
  let mtlsServer: GrpcServer;
  let tlsPort: number;
  let mtlsPort: number;
  const transports: GrpcJsTransport[] = [];

  beforeAll(async () => {
    certs = await createTestCertificates();
    const make = (clientCa: string | undefined) =>
      createGrpcServer({
        logger: memoryLogger().logger,
        services: [partialServiceRegistration(EchoService, impl)],
        credentials: serverCredentials({ cert: certs.server.cert, key: certs.server.key, clientCa }),
      });
    tlsServer = make(undefined);
    mtlsServer = make(certs.ca.cert);
    tlsPort = (await tlsServer.listen("127.0.0.1", 0)).port;
    mtlsPort = (await mtlsServer.listen("127.0.0.1", 0)).port;
  });
  afterAll(async () => {
    for (const t of transports) t.close();
    await tlsServer?.shutdown(1_000);
    await mtlsServer?.shutdown(1_000);
  });

  /** One unary call with a short deadline; resolves to the answer text or the ConnectError. */
  async function call(port: number, tls: Parameters<typeof channelCredentials>[0], host = "127.0.0.1") {
    const transport = createGrpcJsTransport({
      address: `${host}:${port}`,
      credentials: channelCredentials(tls),
      defaultTimeoutMs: 5_000,
    });
    transports.push(transport);
    return createGrpcClient(EchoService, transport)
      .echo({ text: "hi" })
      .then(
        (r) => r.text,
        (e: unknown) => ConnectError.from(e),
      );
  }

  it("a TLS call verified against the CA works (by IP and by name)", async () => {
    expect(await call(tlsPort, { ca: certs.ca.cert })).toBe("echo:hi");
    expect(await call(tlsPort, { ca: certs.ca.cert }, "localhost")).toBe("echo:hi");
  });

  it("a plaintext client is refused by a TLS server", async () => {
    const result = await call(tlsPort, undefined);
    expect(result).toBeInstanceOf(ConnectError);
    expect((result as ConnectError).code).toBe(Code.Unavailable);
  });

  it("a client trusting another CA refuses the server", async () => {
    const result = await call(tlsPort, { ca: certs.otherCa.cert });
    expect(result).toBeInstanceOf(ConnectError);
    expect((result as ConnectError).code).toBe(Code.Unavailable);
  });

  it("mTLS: a client certificate from the CA works", async () => {
    expect(await call(mtlsPort, { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key })).toBe(
      "echo:hi",
    );
  });

  it("mTLS: a client without a certificate is refused, and so is plaintext", async () => {
    const noCert = await call(mtlsPort, { ca: certs.ca.cert });
    expect(noCert).toBeInstanceOf(ConnectError);
    expect((noCert as ConnectError).code).toBe(Code.Unavailable);
    const plain = await call(mtlsPort, undefined);
    expect(plain).toBeInstanceOf(ConnectError);
    expect((plain as ConnectError).code).toBe(Code.Unavailable);
  });

  it("mTLS: a client certificate the server's CA did not sign is refused", async () => {
    const stranger = await createTestCertificates();
    const result = await call(mtlsPort, {
      ca: certs.ca.cert,
      cert: stranger.client.cert,
      key: stranger.client.key,
    });
    expect(result).toBeInstanceOf(ConnectError);
    expect((result as ConnectError).code).toBe(Code.Unavailable);
  });

  it("half a client key pair is a clear error", () => {
    expect(() => channelCredentials({ ca: certs.ca.cert, cert: certs.client.cert })).toThrow(
      /certificate and key must be given together/,
    );
  });
});
