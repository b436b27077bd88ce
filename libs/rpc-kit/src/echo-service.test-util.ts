/**
 * Test-only service descriptor built programmatically (no codegen): all four method kinds, a dependency on
 * google/protobuf/timestamp.proto (to exercise transitive reflection), and a method left unimplemented.
 */
import { Writable } from "node:stream";
import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FileDescriptorProtoSchema,
  file_google_protobuf_timestamp,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as T,
  type Timestamp,
} from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { createLogger, type Logger } from "@taskmaster/telemetry/logger";

export type EchoRequest = Message<"rpckit.test.v1.EchoRequest"> & {
  text: string;
  count: number;
  delayMs: number;
  fail: string;
};
export type EchoResponse = Message<"rpckit.test.v1.EchoResponse"> & {
  text: string;
  index: number;
  at?: Timestamp | undefined;
};

const field = (name: string, number: number, type: T, typeName?: string) => ({
  name,
  number,
  type,
  label: Label.OPTIONAL,
  jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
  ...(typeName === undefined ? {} : { typeName }),
});

const fileProto = create(FileDescriptorProtoSchema, {
  name: "rpckit/test/v1/echo.proto",
  package: "rpckit.test.v1",
  syntax: "proto3",
  dependency: ["google/protobuf/timestamp.proto"],
  messageType: [
    {
      name: "EchoRequest",
      field: [
        field("text", 1, T.STRING),
        field("count", 2, T.INT32),
        field("delay_ms", 3, T.INT32),
        field("fail", 4, T.STRING),
      ],
    },
    {
      name: "EchoResponse",
      field: [
        field("text", 1, T.STRING),
        field("index", 2, T.INT32),
        field("at", 3, T.MESSAGE, ".google.protobuf.Timestamp"),
      ],
    },
  ],
  service: [
    {
      name: "EchoService",
      method: [
        {
          name: "Echo",
          inputType: ".rpckit.test.v1.EchoRequest",
          outputType: ".rpckit.test.v1.EchoResponse",
        },
        {
          name: "ServerStream",
          inputType: ".rpckit.test.v1.EchoRequest",
          outputType: ".rpckit.test.v1.EchoResponse",
          serverStreaming: true,
        },
        {
          name: "ClientStream",
          inputType: ".rpckit.test.v1.EchoRequest",
          outputType: ".rpckit.test.v1.EchoResponse",
          clientStreaming: true,
        },
        {
          name: "Bidi",
          inputType: ".rpckit.test.v1.EchoRequest",
          outputType: ".rpckit.test.v1.EchoResponse",
          clientStreaming: true,
          serverStreaming: true,
        },
        {
          name: "NotDone",
          inputType: ".rpckit.test.v1.EchoRequest",
          outputType: ".rpckit.test.v1.EchoResponse",
        },
      ],
    },
  ],
});

const registry = createFileRegistry(fileProto, (name) =>
  name === "google/protobuf/timestamp.proto" ? file_google_protobuf_timestamp : undefined,
);

type Req = GenMessage<EchoRequest>;
type Res = GenMessage<EchoResponse>;

export const EchoService = registry.getService("rpckit.test.v1.EchoService") as unknown as GenService<{
  echo: { methodKind: "unary"; input: Req; output: Res };
  serverStream: { methodKind: "server_streaming"; input: Req; output: Res };
  clientStream: { methodKind: "client_streaming"; input: Req; output: Res };
  bidi: { methodKind: "bidi_streaming"; input: Req; output: Res };
  notDone: { methodKind: "unary"; input: Req; output: Res };
}>;

export const EchoRequestSchema = registry.getMessage("rpckit.test.v1.EchoRequest") as unknown as Req;

/** A logger whose JSON lines are kept in memory. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) {
        if (line.trim() === "") continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return {
    logger: createLogger({ service: "test", level: "debug", destination }),
    lines,
    text: () => raw.join("\n"),
  };
}

/** Wait for a condition with a deadline (no sleeps for synchronisation). */
export async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The ConnectError a call failed with (fails the test when the call succeeds). */
export async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}
