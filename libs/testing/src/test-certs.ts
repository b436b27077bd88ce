/**
 * Throwaway X.509 material for TLS tests, generated at test time (never checked in): a CA, a server
 * certificate for `localhost` / 127.0.0.1 / ::1 and a client certificate, all ECDSA P-256 signed by that CA,
 * plus a second unrelated CA to prove "wrong CA" is refused. `writeTo(dir)` drops PEM files for config tests.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as never);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface PemPair {
  /** Certificate, PEM. */
  readonly cert: string;
  /** PKCS#8 private key, PEM. */
  readonly key: string;
}

export interface TestCertificates {
  readonly ca: PemPair;
  readonly server: PemPair;
  readonly client: PemPair;
  /** A CA that signed nothing here (a client trusting only it must refuse the server). */
  readonly otherCa: PemPair;
  /** Writes `ca.pem`, `server.pem`, `server-key.pem`, `client.pem`, `client-key.pem`, `other-ca.pem`; returns paths. */
  writeTo(dir: string): Record<"ca" | "server" | "serverKey" | "client" | "clientKey" | "otherCa", string>;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

const validity = () => {
  const now = Date.now();
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + 24 * 60 * 60 * 1000) };
};

async function createCa(name: string): Promise<{ pem: PemPair; keys: CryptoKeyPair; subject: string }> {
  const keys = await generateKeys();
  const subject = `CN=${name}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: subject,
    keys,
    signingAlgorithm: ALG,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) }, keys, subject };
}

async function createLeaf(
  ca: { keys: CryptoKeyPair; subject: string },
  commonName: string,
  usage: "server" | "client",
): Promise<PemPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${commonName}`,
    issuer: ca.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(
        [usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      ...(usage === "server"
        ? [
            new x509.SubjectAlternativeNameExtension([
              { type: "dns", value: "localhost" },
              { type: "ip", value: "127.0.0.1" },
              { type: "ip", value: "::1" },
            ]),
          ]
        : []),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

/** A fresh CA + server (localhost, 127.0.0.1, ::1) + client certificate, and an unrelated CA. */
export async function createTestCertificates(): Promise<TestCertificates> {
  const ca = await createCa("Taskmaster Test CA");
  const other = await createCa("Unrelated Test CA");
  const server = await createLeaf(ca, "localhost", "server");
  const client = await createLeaf(ca, "gateway", "client");
  return {
    ca: ca.pem,
    server,
    client,
    otherCa: other.pem,
    writeTo(dir) {
      mkdirSync(dir, { recursive: true });
      const files = {
        ca: [join(dir, "ca.pem"), ca.pem.cert],
        server: [join(dir, "server.pem"), server.cert],
        serverKey: [join(dir, "server-key.pem"), server.key],
        client: [join(dir, "client.pem"), client.cert],
        clientKey: [join(dir, "client-key.pem"), client.key],
        otherCa: [join(dir, "other-ca.pem"), other.pem.cert],
      } as const;
      const out = {} as Record<keyof typeof files, string>;
      for (const [name, [path, pem]] of Object.entries(files)) {
        writeFileSync(path, pem, { mode: 0o600 });
        out[name as keyof typeof files] = path;
      }
      return out;
    },
  };
}
