/**
 * The output contract check of the spec harnesses: a server interceptor that encodes every message a server
 * sends (unary responses, every stream message, the details of every error) to binary and to JSON with the
 * contract's registry, decodes both back, and fails the call (INTERNAL, naming the RPC and the problem) when
 * an encoding fails or changes the message — e.g. a FieldMask with a path that is not a proto field path has no
 * JSON form, so a gRPC test catches what a Connect JSON client would hit. It also records which OUTPUT_ONLY
 * fields were set, for the coverage check (output-coverage.global-setup.ts).
 */
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  isMessage,
  type Message,
  type MessageInitShape,
  type Registry,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { contractRegistry } from "./contract-registry.js";
import { collectSetOutputOnly, type FieldKey } from "./output-only-fields.js";

export interface OutputContractRecorder {
  /** OUTPUT_ONLY fields seen set in any message sent. */
  readonly outputOnlySet: Set<FieldKey>;
  /** Every problem found, `Service/Method: problem`. */
  readonly failures: string[];
  /** Services whose calls were seen. */
  readonly services: Set<string>;
}

export function createOutputContractRecorder(): OutputContractRecorder {
  return { outputOnlySet: new Set(), failures: [], services: new Set() };
}

/** Why `message` does not survive binary and JSON encoding unchanged, or null when it does. */
export function encodingProblem(schema: DescMessage, message: Message, registry: Registry): string | null {
  try {
    const binary = fromBinary(schema, toBinary(schema, message));
    if (!equals(schema, binary, message, { registry, unpackAny: true })) {
      return `${schema.typeName}: the binary round trip changed the message`;
    }
    const json = fromJson(schema, toJson(schema, message, { registry }), { registry });
    if (!equals(schema, json, message, { registry, unpackAny: true })) {
      return `${schema.typeName}: the JSON round trip changed the message`;
    }
    return null;
  } catch (error) {
    return `${schema.typeName}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The messages in an error's details, decoded (outgoing details are init shapes, received ones bytes). */
function detailMessages(
  error: ConnectError,
  registry: Registry,
): { schema: DescMessage; message: Message }[] | string {
  const out: { schema: DescMessage; message: Message }[] = [];
  for (const d of error.details) {
    if ("desc" in d) {
      out.push({ schema: d.desc, message: create(d.desc, d.value as MessageInitShape<DescMessage>) });
      continue;
    }
    const schema = registry.getMessage(d.type);
    if (schema === undefined) return `error detail ${d.type} is not a type of the contract`;
    out.push({ schema, message: fromBinary(schema, d.value) });
  }
  return out;
}

export function createOutputContractInterceptor(recorder: OutputContractRecorder): Interceptor {
  const registry = contractRegistry();
  const fail = (rpc: string, problem: string): ConnectError => {
    recorder.failures.push(`${rpc}: ${problem}`);
    return new ConnectError(
      `output contract check: ${rpc} sent a message that does not encode: ${problem}`,
      Code.Internal,
    );
  };
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    recorder.services.add(req.service.typeName);
    const schema = req.method.output;
    const check = (m: unknown): Message => {
      const message = isMessage(m, schema) ? m : create(schema, m as MessageInitShape<DescMessage>);
      const problem = encodingProblem(schema, message, registry);
      if (problem !== null) throw fail(rpc, problem);
      collectSetOutputOnly(reflect(schema, message), recorder.outputOnlySet);
      return message;
    };
    const checkError = (error: unknown): void => {
      if (!(error instanceof ConnectError)) return;
      const details = detailMessages(error, registry);
      if (typeof details === "string") throw fail(rpc, details);
      for (const { schema: s, message } of details) {
        const problem = encodingProblem(s, message, registry);
        if (problem !== null) throw fail(rpc, problem);
        collectSetOutputOnly(reflect(s, message), recorder.outputOnlySet);
      }
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      checkError(error);
      throw error;
    }
    if (res.stream) {
      const inner = res.message;
      // The adapter reads `message` after the interceptors: swap in the checking stream.
      (res as { message: AsyncIterable<Message> }).message = (async function* () {
        try {
          for await (const m of inner) yield check(m);
        } catch (error) {
          checkError(error);
          throw error;
        }
      })();
    } else {
      check(res.message);
    }
    return res;
  };
}
