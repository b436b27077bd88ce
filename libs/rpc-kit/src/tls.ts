/**
 * TLS for the gRPC hops: server credentials for services (`GRPC_TLS_CERT_FILE` + `GRPC_TLS_KEY_FILE`, and
 * `GRPC_TLS_CLIENT_CA_FILE` to require client certificates = mTLS) and channel credentials for callers
 * (the gateway's `GATEWAY_UPSTREAM_TLS_*`). PEM contents in, grpc-js credentials out; file reading stays
 * with the config loaders so a missing file is one ConfigError line.
 */
import { type ChannelCredentials, credentials, ServerCredentials } from "@grpc/grpc-js";

export interface ServerTlsPem {
  /** Certificate chain (PEM). */
  readonly cert: string;
  /** Private key (PEM). */
  readonly key: string;
  /** CA(s) whose client certificates are accepted; when set, a client certificate is REQUIRED (mTLS). */
  readonly clientCa?: string | undefined;
}

export interface ClientTlsPem {
  /** CA(s) to verify the server with (PEM). Undefined = the system roots. */
  readonly ca?: string | undefined;
  /** Client certificate + key for mTLS (both or neither). */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** grpc-js server credentials: TLS, and mTLS (client certificate required and verified) with `clientCa`. */
export function serverCredentials(tls: ServerTlsPem | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa === undefined ? null : Buffer.from(tls.clientCa),
    [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }],
    tls.clientCa !== undefined,
  );
}

/** grpc-js channel credentials: TLS verified against `ca` (or system roots), with a client certificate for mTLS. */
export function channelCredentials(tls: ClientTlsPem | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error("client TLS certificate and key must be given together");
  }
  return credentials.createSsl(
    tls.ca === undefined ? null : Buffer.from(tls.ca),
    tls.key === undefined ? null : Buffer.from(tls.key),
    tls.cert === undefined ? null : Buffer.from(tls.cert),
  );
}
