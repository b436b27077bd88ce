/**
 * The filter contract every RPC with a `filter` request field keeps, driven by the service descriptor (so a
 * new List RPC is covered without touching the spec): an unknown field and a malformed expression are both
 * INVALID_ARGUMENT with a field violation naming `filter`.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { expect } from "vitest";

/** Filters every List RPC must refuse: an unknown field, and expressions no dialect accepts. */
export const BAD_FILTERS = {
  unknownField: "no_such_field = 1",
  malformed: ["(", 'x = "unterminated'],
} as const;

/** Methods of `service` whose request has a string field named `filter`. */
export function methodsWithFilter(service: DescService): DescMethod[] {
  return service.methods.filter((m) =>
    m.input.fields.some((f) => f.name === "filter" && f.fieldKind === "scalar"),
  );
}

/**
 * Calls `method` through `client` (a Connect client of its service) with `init` plus `filter` and returns
 * the error it fails with, or null when it does not fail. Server-streaming calls fail on the first read.
 */
export async function callWithFilter(
  client: object,
  method: DescMethod,
  init: Record<string, unknown>,
  filter: string,
): Promise<ConnectError | null> {
  const call = (client as Record<string, (req: unknown, opts: { timeoutMs: number }) => unknown>)[
    method.localName
  ];
  if (call === undefined) throw new Error(`${method.name} is not a method of the client`);
  try {
    // The bound only turns a call that wrongly accepts the filter (a watch) into a failure.
    const res = call({ ...init, ...filterInit(method, filter) }, { timeoutMs: 10_000 });
    if (method.methodKind === "server_streaming") {
      for await (const _ of res as AsyncIterable<unknown>) break;
    } else {
      await res;
    }
    return null;
  } catch (err) {
    return ConnectError.from(err);
  }
}

/** `{ filter }`, or the oneof case that holds it (e.g. a report's `scope`). */
function filterInit(method: DescMethod, filter: string): Record<string, unknown> {
  const field = method.input.fields.find((f) => f.name === "filter");
  const oneof = field?.oneof;
  return oneof === undefined ? { filter } : { [oneof.localName]: { case: "filter", value: filter } };
}

/** The code and the fields of the BadRequest violations of `err` (for one readable assertion). */
export function filterRejection(err: ConnectError | null): { code: Code | null; fields: string[] } {
  if (err === null) return { code: null, fields: [] };
  const fields = err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
  return { code: err.code, fields };
}

/** What {@link filterRejection} must return for a bad filter. */
export const REJECTED_ON_FILTER = { code: Code.InvalidArgument, fields: ["filter"] };

/** Asserts that `method` refuses every one of {@link BAD_FILTERS} as {@link REJECTED_ON_FILTER}. */
export async function expectFilterRejected(
  client: object,
  method: DescMethod,
  init: Record<string, unknown> = {},
): Promise<void> {
  for (const filter of [BAD_FILTERS.unknownField, ...BAD_FILTERS.malformed]) {
    const err = await callWithFilter(client, method, init, filter);
    expect({ filter, ...filterRejection(err) }).toEqual({ filter, ...REJECTED_ON_FILTER });
  }
}
