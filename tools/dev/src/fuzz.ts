/**
 * Descriptor-driven fuzzing of the running stack: every RPC of every public service, straight to the
 * service that serves it (native gRPC) and through the gateway (Connect JSON, gRPC-Web, native gRPC), with
 * the cases of fuzz-cases.ts, each call under its own deadline (fuzz-calls.ts). Counts codes per target and
 * lists what must not happen: INTERNAL/UNKNOWN (or a status-less answer) to a structured request, and any
 * call that hung past its deadline.
 */
import type { DescService } from "@bufbuild/protobuf";
import { listRpcs } from "@taskmaster/testing/descriptor-walker";
import {
  connectJsonCall,
  createGrpcCaller,
  envelope,
  type FuzzCall,
  grpcWebCall,
  type Protocol,
} from "./fuzz-calls.js";
import { type FuzzCase, fuzzCases, seededRandom } from "./fuzz-cases.js";

export interface FuzzTarget {
  /** `TaskService direct`, `gateway` ... */
  readonly name: string;
  readonly protocol: Protocol;
  /** `http://host:port`. */
  readonly url: string;
  readonly services: readonly DescService[];
  /** Extra headers per service (full name), e.g. a signed identity for calls straight to a service. */
  readonly headers?: ReadonlyMap<string, Readonly<Record<string, string>>> | undefined;
}

export interface FuzzFinding {
  readonly target: string;
  readonly protocol: Protocol;
  readonly rpc: string;
  readonly label: string;
  readonly code: string;
}

export interface FuzzResult {
  readonly target: string;
  readonly protocol: Protocol;
  readonly requests: number;
  readonly codes: ReadonlyMap<string, number>;
  /** INTERNAL/UNKNOWN/no status to structured input, and every hung call. */
  readonly findings: readonly FuzzFinding[];
}

export interface FuzzOptions {
  readonly targets: readonly FuzzTarget[];
  /** Cases per RPC and target (sampled with the seed); undefined = every case. */
  readonly casesPerRpc?: number | undefined;
  readonly seed?: number | undefined;
  readonly deadlineMs?: number | undefined;
  readonly concurrency?: number | undefined;
}

const BAD = new Set(["INTERNAL", "UNKNOWN", "NO_STATUS", "RESET"]);

function bodyFor(protocol: Protocol, c: FuzzCase, streaming: boolean): Uint8Array | undefined {
  if (protocol === "connect-json") {
    if (c.json === undefined) return undefined;
    return streaming && c.structured ? envelope(c.json) : c.json;
  }
  if (c.rawBinaryBody !== undefined) return c.rawBinaryBody;
  return c.binary === undefined ? undefined : envelope(c.binary);
}

function sample<T>(items: readonly T[], n: number | undefined, random: () => number): T[] {
  if (n === undefined || items.length <= n) return [...items];
  const pool = [...items];
  const out: T[] = [];
  // The empty request always, the rest at random.
  out.push(pool.shift() as T);
  while (out.length < n && pool.length > 0)
    out.push(pool.splice(Math.floor(random() * pool.length), 1)[0] as T);
  return out;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult[]> {
  const deadlineMs = options.deadlineMs ?? 3_000;
  const random = seededRandom(options.seed ?? 1);
  const casesOf = new Map<string, FuzzCase[]>();
  const jobs: { target: FuzzTarget; rpc: string; service: string; streaming: boolean; c: FuzzCase }[] = [];
  for (const target of options.targets) {
    for (const rpc of listRpcs(target.services)) {
      let cases = casesOf.get(rpc.path);
      if (cases === undefined) {
        cases = fuzzCases(rpc.method.input, random);
        casesOf.set(rpc.path, cases);
      }
      const streaming = rpc.method.methodKind !== "unary";
      const usable = cases.filter((c) => bodyFor(target.protocol, c, streaming) !== undefined);
      for (const c of sample(usable, options.casesPerRpc, random))
        jobs.push({ target, rpc: rpc.path, service: rpc.service.typeName, streaming, c });
    }
  }
  const results = new Map(
    options.targets.map((t) => [
      t,
      { codes: new Map<string, number>(), findings: [] as FuzzFinding[], requests: 0 },
    ]),
  );
  const grpc = new Map(
    options.targets.filter((t) => t.protocol === "grpc").map((t) => [t, createGrpcCaller(t.url)] as const),
  );
  let next = 0;
  const worker = async () => {
    for (;;) {
      const job = jobs[next++];
      if (job === undefined) return;
      const { target, rpc, streaming, c } = job;
      const call: FuzzCall = {
        path: rpc,
        streaming,
        body: bodyFor(target.protocol, c, streaming) ?? new Uint8Array(),
        deadlineMs,
        headers: target.headers?.get(job.service),
      };
      const code =
        target.protocol === "grpc"
          ? await (grpc.get(target)?.call(call) ?? Promise.resolve("NO_STATUS"))
          : target.protocol === "grpc-web"
            ? await grpcWebCall(target.url, call)
            : await connectJsonCall(target.url, call);
      const r = results.get(target);
      if (r === undefined) continue;
      r.requests += 1;
      r.codes.set(code, (r.codes.get(code) ?? 0) + 1);
      if (code === "HUNG" || (c.structured && BAD.has(code)))
        r.findings.push({ target: target.name, protocol: target.protocol, rpc, label: c.label, code });
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  } finally {
    for (const caller of grpc.values()) caller.close();
  }
  return options.targets.map((t) => {
    const r = results.get(t) ?? { codes: new Map(), findings: [], requests: 0 };
    return { target: t.name, protocol: t.protocol, ...r };
  });
}

/** The fuzz table: target, protocol, requests, codes, findings. */
export function formatFuzzTable(results: readonly FuzzResult[]): string {
  const head = ["target", "protocol", "requests", "codes", "bad", "hung"];
  const lines = results.map((r) => [
    r.target,
    r.protocol,
    String(r.requests),
    [...r.codes]
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code} ${n}`)
      .join(", "),
    String(r.findings.filter((f) => f.code !== "HUNG").length),
    String(r.findings.filter((f) => f.code === "HUNG").length),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const row = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  const findings = results
    .flatMap((r) => r.findings)
    .slice(0, 30)
    .map((f) => `  ${f.code} ${f.target} ${f.protocol} ${f.rpc} [${f.label}]`);
  return [row(head), row(widths.map((w) => "-".repeat(w))), ...lines.map(row), ...findings].join("\n");
}
