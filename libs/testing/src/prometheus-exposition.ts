/**
 * Strict check of the Prometheus text exposition format (0.0.4): HELP/TYPE lines, sample syntax, label
 * escaping, float values, TYPE before samples, histogram buckets cumulative with +Inf equal to _count.
 * Returns the samples by metric name.
 */
export function parseExposition(
  text: string,
): Map<string, { labels: Record<string, string>; value: number }[]> {
  const samples = new Map<string, { labels: Record<string, string>; value: number }[]>();
  const types = new Map<string, string>();
  const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const labelRe = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/;
  // Prometheus parses values with Go's ParseFloat, which takes NaN in any case: prom-client writes "Nan"
  // for nodejs_eventloop_lag_mean_seconds when two scrapes come back to back (no event-loop sample between).
  const value = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|[Nn][Aa][Nn])$/;
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((line, i) => {
    const at = `line ${i + 1}: ${line}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = new RegExp(`^# (HELP|TYPE) (${name})(?: (.*))?$`).exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`bad comment ${at}`);
        return;
      }
      if (m[1] === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(m[3] ?? ""))
          throw new Error(`bad type ${at}`);
        if (types.has(m[2] as string)) throw new Error(`duplicate TYPE ${at}`);
        types.set(m[2] as string, m[3] as string);
      }
      return;
    }
    const m = new RegExp(`^(${name})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`).exec(line);
    if (!m) throw new Error(`bad sample ${at}`);
    const metric = m[1] as string;
    const labels: Record<string, string> = {};
    let rest = m[2] ?? "";
    while (rest.length > 0) {
      const l = labelRe.exec(rest);
      if (!l) throw new Error(`bad labels ${at}`);
      if ((l[1] as string) in labels) throw new Error(`duplicate label ${at}`);
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
      rest = rest.slice(l[0].length);
    }
    if (!value.test(m[3] as string)) throw new Error(`bad value ${at}`);
    const family = [...types.keys()].find(
      (t) =>
        metric === t || (/_(bucket|sum|count|total|created)$/.test(metric) && metric.startsWith(`${t}_`)),
    );
    if (family === undefined) throw new Error(`sample without TYPE ${at}`);
    const v =
      m[3] === "+Inf" ? Number.POSITIVE_INFINITY : /^nan$/i.test(m[3] as string) ? Number.NaN : Number(m[3]);
    const list = samples.get(metric) ?? [];
    list.push({ labels, value: v });
    samples.set(metric, list);
  });
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const buckets = samples.get(`${family}_bucket`) ?? [];
    const counts = samples.get(`${family}_count`) ?? [];
    const series = new Map<string, { le: number; value: number }[]>();
    for (const b of buckets) {
      const { le, ...rest } = b.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const key = JSON.stringify(rest);
      const arr = series.get(key) ?? [];
      arr.push({ le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), value: b.value });
      series.set(key, arr);
    }
    for (const [key, arr] of series) {
      for (let i = 1; i < arr.length; i++) {
        const prev = arr[i - 1];
        const cur = arr[i];
        if (prev && cur && (cur.le <= prev.le || cur.value < prev.value))
          throw new Error(`${family} buckets not cumulative for ${key}`);
      }
      const inf = arr.at(-1);
      if (inf?.le !== Number.POSITIVE_INFINITY) throw new Error(`${family} lacks +Inf bucket for ${key}`);
      const count = counts.find((c) => JSON.stringify(c.labels) === key);
      if (count?.value !== inf.value) throw new Error(`${family}_count != +Inf bucket for ${key}`);
    }
  }
  return samples;
}
