import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { fakeHost, fakeNow } from "../../tests/fixtures/goss/fake_host.ts";
import type { GossResults, GossSpec } from "./_model.ts";
import {
  choriaNagiosSummary,
  createPrometheusCounters,
  OUTPUT_FORMATS,
  renderOutput,
} from "./_outputs.ts";
import { validate } from "./_validate.ts";
import type { Attrs } from "./types.ts";

async function run(resources: [string, Attrs][]): Promise<GossResults> {
  const spec: GossSpec = {
    source: "t.yaml",
    resources: resources.map(([key, attrs]) => ({
      type: "matching",
      key,
      attrs,
      file: "t.yaml",
      line: 1,
    })),
    warnings: [],
    untrusted: false,
  };
  return await validate(spec, {
    resources: [],
    host: fakeHost(),
    now: fakeNow(),
    utcOffsetMinutes: 0,
    maxConcurrent: 1,
  });
}

const PASSING: [string, Attrs][] = [["b", { content: 1, matches: 1 }], ["a", {
  content: "x",
  matches: "x",
}]];
const MIXED: [string, Attrs][] = [
  ["pass", { content: 1, matches: 1 }],
  ["fail", {
    content: 128,
    matches: { "have-prefix": "2" },
    title: "Prefix",
    meta: { team: "ops", n: 2 },
  }],
  ["skip", { content: 1, matches: 1, skip: true }],
  ["err", { content: "foo\nbar", matches: { not: ["foo"] } }],
];

Deno.test("rspecish prints dots, then the summary; documentation prints one line per test", async () => {
  const res = await run(PASSING);
  const r = renderOutput("rspecish", res);
  equal(r.text, "..\n\nTotal Duration: 0.000s\nCount: 2, Failed: 0, Skipped: 0\n");
  equal(r.exitCode, 0);
  const d = renderOutput("documentation", res, { formatOptions: ["sort"] });
  equal(
    d.text,
    'Matching: a: matches: matches expectation: "x"\nMatching: b: matches: matches expectation: 1\n\n\nTotal Duration: 0.000s\nCount: 2, Failed: 0, Skipped: 0\n',
  );
});

Deno.test("rspecish lists failures and skips per resource with title and meta, diff and transform chain", async () => {
  const r = renderOutput("rspecish", await run(MIXED));
  equal(r.exitCode, 1);
  equal(
    r.text,
    [
      ".FSF",
      "",
      "Failures/Skipped:",
      "",
      "Title: Prefix",
      "Meta:",
      "    n: 2",
      "    team: ops",
      "Matching: fail: matches:",
      "Expected",
      '    "128"',
      "to have prefix",
      '    "2"',
      "diff",
      "    --- test",
      "    +++ actual",
      "    @@ -1 +1 @@",
      "    -2",
      "    +128",
      "the transform chain was",
      '    [{"to-string":{}}]',
      "the raw value was",
      "    128",
      "",
      "Matching: skip: matches: skipped",
      "",
      "Matching: err: matches:",
      "Error",
      "    ContainElements matcher expects an array/slice/map.  Got:",
      "        <string>: foo",
      "        bar",
      "",
      "Total Duration: 0.000s",
      "Count: 4, Failed: 2, Skipped: 1",
      "",
    ].join("\n"),
  );
  ok(
    !renderOutput("rspecish", await run(MIXED), { formatOptions: ["exclude_raw"] }).text.includes(
      "the raw value was",
    ),
  );
});

Deno.test("tap numbers tests, marks skips and uses the compact text", async () => {
  const r = renderOutput("tap", await run(MIXED), { formatOptions: ["sort"] });
  equal(
    r.text,
    [
      "1..4",
      "not ok 1 - Matching: err: matches: Error ContainElements matcher expects an array/slice/map. Got: <string>: foo bar",
      'not ok 2 - Matching: fail: matches: Expected "128" to have prefix "2" the transform chain was [{"to-string":{}}] the raw value was 128',
      "ok 3 - Matching: pass: matches: matches expectation: 1",
      "ok 4 - # SKIP Matching: skip: matches: skipped",
      "",
    ].join("\n"),
  );
  equal(r.exitCode, 1);
});

Deno.test("nagios: one status line, perfdata and verbose options, exit 2 when critical", async () => {
  const ok0 = renderOutput("nagios", await run(PASSING), { formatOptions: ["perfdata"] });
  equal(
    ok0.text,
    "GOSS OK - Count: 2, Failed: 0, Skipped: 0, Duration: 0.000s|total=2 failed=0 skipped=0 duration=0.000s\n",
  );
  equal(ok0.exitCode, 0);
  const crit = renderOutput("nagios", await run(MIXED), { formatOptions: ["verbose", "sort"] });
  equal(crit.exitCode, 2);
  const lines = crit.text.split("\n");
  equal(lines[0], "GOSS CRITICAL - Count: 4, Failed: 2, Skipped: 1, Duration: 0.000s");
  ok(lines[1]!.startsWith("Fail 1 - Matching: err: matches: Error"));
  ok(lines[2]!.startsWith("Fail 2 - Matching: fail: matches: Expected"));
});

Deno.test("json: goss's alphabetical keys, HTML-escaped strings, 4-space pretty option", async () => {
  const r = renderOutput("json", await run(MIXED));
  equal(r.exitCode, 1);
  ok(r.text.endsWith("}\n") && !r.text.includes("\n  "));
  ok(r.text.includes("\\u003cstring\\u003e"), "Go's json.Marshal escapes < and >");
  const doc = JSON.parse(r.text);
  deepEqual(Object.keys(doc), ["results", "summary"]);
  deepEqual(Object.keys(doc.results[0]), [
    "duration",
    "end-time",
    "err",
    "matcher-result",
    "meta",
    "property",
    "resource-id",
    "resource-type",
    "result",
    "skipped",
    "start-time",
    "successful",
    "summary-line",
    "summary-line-compact",
    "title",
  ]);
  deepEqual(Object.keys(doc.results[0]["matcher-result"]), [
    "actual",
    "expected",
    "extra-elements",
    "found-elements",
    "message",
    "missing-elements",
    "transform-chain",
    "untransformed-value",
  ]);
  deepEqual(doc.summary, {
    "failed-count": 2,
    "skipped-count": 1,
    "summary-line": "Count: 4, Failed: 2, Skipped: 1, Duration: 0.000s",
    "test-count": 4,
    "total-duration": 7000,
  });
  equal(doc.results[2].successful, true, "skips are successful");
  ok(
    renderOutput("json", await run(PASSING), { formatOptions: ["pretty"] }).text.startsWith(
      '{\n    "results": [\n        {',
    ),
  );
});

Deno.test("structured: struct field order, successful never set, summary without skips, always exit 0", async () => {
  const r = renderOutput("structured", await run(MIXED));
  equal(r.exitCode, 0);
  const doc = JSON.parse(r.text);
  deepEqual(Object.keys(doc), ["results", "summary", "summary-line"]);
  deepEqual(Object.keys(doc.results[0]).slice(0, 4), [
    "successful",
    "skipped",
    "resource-id",
    "resource-type",
  ]);
  equal(doc.results.every((x: { successful: boolean }) => x.successful === false), true);
  deepEqual(doc.summary, { "test-count": 4, "failed-count": 2, "total-duration": 7000 });
  equal(doc["summary-line"], "Count: 4, Failed: 2, Duration: 0.000s");
  ok(
    renderOutput("structured", await run(PASSING), { formatOptions: ["pretty"] }).text.startsWith(
      '{\n  "results": [\n    {',
    ),
  );
});

Deno.test("junit: a testsuite with one escaped testcase per test", async () => {
  const r = renderOutput("junit", await run(MIXED), {
    timestamp: new Date("2026-01-01T10:00:00Z"),
    formatOptions: ["sort"],
  });
  equal(r.exitCode, 1);
  const lines = r.text.split("\n");
  equal(lines[0], '<?xml version="1.0" encoding="UTF-8"?>');
  equal(
    lines[1],
    '<testsuite name="goss" errors="0" tests="4" failures="2" skipped="1" time="0.000" timestamp="2026-01-01T10:00:00Z">',
  );
  equal(lines[2], '<testcase name="Matching err matches" time="0.000">');
  ok(
    lines[3]!.startsWith(
      "<system-err>Matching: err: matches: Error ContainElements matcher expects an array/slice/map. Got: &lt;string&gt;",
    ),
  );
  equal(lines[5], "</testcase>");
  equal(lines[6], '<testcase name="Prefix" time="0.000">', "the title names the test case");
  ok(r.text.includes("<skipped/><system-out>Matching: skip: matches: skipped</system-out>"));
  ok(r.text.endsWith("</testsuite>\n"));
});

Deno.test("prometheus: counters by type and outcome that accumulate across runs", async () => {
  const counters = createPrometheusCounters();
  renderOutput("prometheus", await run(PASSING), { prometheus: counters });
  const r = renderOutput("prometheus", await run(MIXED), { prometheus: counters });
  equal(r.exitCode, 1);
  ok(r.text.includes("# TYPE goss_tests_outcomes_total counter\n"));
  ok(r.text.includes('goss_tests_outcomes_total{outcome="pass",type="matching"} 3\n'));
  ok(r.text.includes('goss_tests_outcomes_total{outcome="fail",type="matching"} 2\n'));
  ok(r.text.includes('goss_tests_run_outcomes_total{outcome="pass"} 1\n'));
  ok(r.text.includes('goss_tests_run_outcomes_total{outcome="fail"} 1\n'));
  const v = renderOutput("prometheus", await run(PASSING), { formatOptions: ["verbose"] });
  ok(
    v.text.includes(
      'goss_tests_outcomes_total{outcome="pass",resource_id="a",type="matching"} 1\n',
    ),
  );
});

Deno.test("silent prints nothing and keeps the exit code", async () => {
  deepEqual(renderOutput("silent", await run(MIXED)), { text: "", exitCode: 1 });
  deepEqual(renderOutput("silent", await run(PASSING)), { text: "", exitCode: 0 });
});

Deno.test("-o sort orders resources by type and id; without it results keep completion order", async () => {
  const res = await run(PASSING);
  ok(renderOutput("tap", res).text.includes("ok 1 - Matching: b:"));
  ok(renderOutput("tap", res, { formatOptions: ["sort"] }).text.includes("ok 1 - Matching: a:"));
});

Deno.test("unknown formats and format options are usage errors", async () => {
  const res = await run(PASSING);
  throws(
    () => renderOutput("xml", res),
    (e: unknown) =>
      e instanceof ScoutError && e.code === "USAGE" && e.message === "bad output format: xml",
  );
  throws(() => renderOutput("tap", res, { formatOptions: ["fancy"] }), /bad format option: fancy/);
  equal(OUTPUT_FORMATS.length, 9);
});

Deno.test("choriaNagiosSummary prints Choria's goss builtin line", async () => {
  deepEqual(choriaNagiosSummary(await run(PASSING)), {
    status: "OK",
    output: "OK: Count: 2, Failed: 0, Duration: 0.000s|checks=2;; failed=0;; runtime=0.000003s",
  });
  const crit = choriaNagiosSummary(await run(MIXED));
  equal(crit.status, "CRITICAL");
  equal(
    crit.output,
    "CRITICAL: Count: 4, Failed: 2, Duration: 0.000s|checks=4;; failed=2;; runtime=0.000007s",
  );
});
