/**
 * The request examples of docs/api.md, extracted as the doc shows them: every ```bash block with a
 * `curl -sS http://127.0.0.1:8080/<service>/<method> -H 'content-type: application/json' -d '<json>'`,
 * in page order, and the WatchTasks streaming example's request JSON (`frame '<json>'`).
 */
import { readFileSync } from "node:fs";

export interface DocExample {
  readonly service: string;
  readonly method: string;
  readonly body: string;
}

const UNARY =
  /curl -sS http:\/\/127\.0\.0\.1:8080\/([\w.]+)\/(\w+) \\\n\s+-H 'content-type: application\/json' \\\n\s+-d '([^']*)'/;
const STREAM = /frame '([^']*)' \|\s*\n\s*curl[^\n]*\n[^\n]*\n\s+http:\/\/127\.0\.0\.1:8080\/([\w.]+)\/(\w+)/;

export function readApiDoc(url: URL): string {
  return readFileSync(url, "utf8");
}

export function unaryExamples(doc: string): DocExample[] {
  const out: DocExample[] = [];
  for (const block of doc.matchAll(/```bash\n([\s\S]*?)```/g)) {
    const m = UNARY.exec(block[1] as string);
    if (m) out.push({ service: m[1] as string, method: m[2] as string, body: m[3] as string });
  }
  return out;
}

export function streamExample(doc: string): DocExample | undefined {
  const m = STREAM.exec(doc);
  return m ? { service: m[2] as string, method: m[3] as string, body: m[1] as string } : undefined;
}
