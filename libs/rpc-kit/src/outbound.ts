/**
 * Security of a service's own outgoing gRPC calls (service to service, health probes): the channel
 * credentials (TLS / mTLS, like the gateway's upstream settings) and, for services that call on behalf of
 * their caller, the delegation signer (identity.ts). Built once per process from config by the runtime
 * and handed to `createServer(deps)` as `deps.outbound`; absent = plaintext channels, no delegation.
 */
import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";
import type { IdentitySigner } from "./identity.js";
import { type ClientTlsPem, channelCredentials } from "./tls.js";

/** Client TLS settings: CA, optional client certificate + key (mTLS), optional name checked in the server's certificate. */
export interface ClientTlsSettings extends ClientTlsPem {
  readonly serverName?: string | undefined;
}

/** What `createGrpcJsTransport` needs for a secured channel. */
export interface OutboundChannel {
  readonly credentials: ChannelCredentials;
  readonly channelOptions: Partial<ChannelOptions>;
}

export interface OutboundSecurity {
  /** Channel settings for every outgoing connection (absent: plaintext). */
  readonly channel?: OutboundChannel | undefined;
  /** Signs the verified caller for the called service (delegated identity); absent: no delegation. */
  readonly signer?: IdentitySigner | undefined;
}

/** Channel credentials and options from client TLS settings (undefined = plaintext). */
export function outboundChannel(tls: ClientTlsSettings | undefined): OutboundChannel {
  return {
    credentials: channelCredentials(tls),
    channelOptions: tls?.serverName === undefined ? {} : { "grpc.ssl_target_name_override": tls.serverName },
  };
}
