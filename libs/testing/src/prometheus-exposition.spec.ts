import { describe, expect, it } from "vitest";
import { parseExposition } from "./prometheus-exposition.js";

describe("parseExposition", () => {
  it("returns samples by metric name with unescaped labels", () => {
    const samples = parseExposition(
      '# HELP a_total Things.\n# TYPE a_total counter\na_total{path="x\\"y\\\\z\\n"} 3\n',
    );
    expect(samples.get("a_total")).toEqual([{ labels: { path: 'x"y\\z\n' }, value: 3 }]);
  });

  it("accepts NaN in any letter case and +Inf", () => {
    const samples = parseExposition("# TYPE g gauge\ng NaN\ng Nan\ng nan\ng +Inf\n");
    const values = (samples.get("g") ?? []).map((s) => s.value);
    expect(values.slice(0, 3).every(Number.isNaN)).toBe(true);
    expect(values[3]).toBe(Number.POSITIVE_INFINITY);
  });

  it("checks histograms are cumulative with +Inf equal to _count", () => {
    const ok = '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n';
    expect(parseExposition(ok).get("h_count")?.[0]?.value).toBe(2);
    expect(() =>
      parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'),
    ).toThrow(/not cumulative/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\n')).toThrow(
      /_count != \+Inf/,
    );
  });

  it("rejects malformed input", () => {
    expect(() => parseExposition("# TYPE a counter\na 1")).toThrow(/newline/);
    expect(() => parseExposition('# TYPE a counter\na{b="c} 1\n')).toThrow(/bad labels/);
    expect(() => parseExposition("a 1\n")).toThrow(/without TYPE/);
    expect(() => parseExposition("# TYPE a gauge\na one\n")).toThrow(/bad value/);
    expect(() => parseExposition("# TYPE a gauge\n# TYPE a gauge\n")).toThrow(/duplicate TYPE/);
    expect(() => parseExposition("# TYPE a widget\n")).toThrow(/bad type/);
  });
});
