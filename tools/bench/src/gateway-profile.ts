/** Reads a V8 `.cpuprofile` (node --cpu-prof) and ranks self time by function and by package. */
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Cost {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

/** `node_modules/@scope/pkg` or `node_modules/pkg`, the workspace (`libs/x`, `apps/x`), or `node:` / `(v8)`. */
function owner(url: string): string {
  if (url === "") return "(v8/native)";
  if (url.startsWith("node:")) return "node:internal";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  const ws = /\/(apps|libs|tools)\/([^/]+)\//.exec(url);
  return ws ? `${ws[1]}/${ws[2]}` : url;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length);
  const ws = /\/((?:apps|libs|tools)\/.*)$/.exec(url);
  return ws ? (ws[1] as string) : url;
}

export function topCosts(file: string, limit = 15): { functions: Cost[]; owners: Cost[]; totalMs: number } {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const fn = new Map<string, number>();
  const own = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    total += us;
    const name = `${frame.functionName || "(anonymous)"} ${frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ""}`;
    fn.set(name.trim(), (fn.get(name.trim()) ?? 0) + us);
    const o = frame.functionName === "(idle)" ? "(idle)" : owner(frame.url);
    own.set(o, (own.get(o) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }));
  return { functions: rank(fn), owners: rank(own), totalMs: total / 1000 };
}
