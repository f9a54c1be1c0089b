/**
 * goss's output formats over GossResults (rspecish, documentation, json, structured, tap,
 * nagios, junit, prometheus, silent) with their format options (`sort`, `pretty`, `perfdata`,
 * `verbose`, `exclude_raw`) and exit codes (goss.md §3.4), plus Choria's nagios builtin line.
 * Pure: text in, text out. Private to src/goss/ and re-exported by mod.ts.
 * @module
 */

import { ScoutError } from "../errors.ts";
import { goJson, goStruct, sprintV } from "./_gofmt.ts";
import { unifiedDiff } from "./_diff.ts";
import { type GossResults, type GossTestResult, RESULT, seconds3 } from "./_model.ts";

/** Every output format, in goss's (alphabetical) order. */
export const OUTPUT_FORMATS = [
  "documentation",
  "json",
  "junit",
  "nagios",
  "prometheus",
  "rspecish",
  "silent",
  "structured",
  "tap",
] as const;

/** An output format name. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Every `-o` format option. */
export const FORMAT_OPTIONS = ["exclude_raw", "perfdata", "pretty", "sort", "verbose"] as const;

/** Counters the prometheus format accumulates across runs (goss serve keeps one per server). */
export interface PrometheusCounters {
  /** family -> label key -> [labels, value]. */
  families: Map<string, Map<string, [Record<string, string>, number]>>;
}

/** Fresh prometheus counters. */
export function createPrometheusCounters(): PrometheusCounters {
  return { families: new Map() };
}

/** Options of renderOutput. */
export interface RenderOptions {
  /** `-o` options. @default [] */
  formatOptions?: readonly string[];
  /** junit's timestamp (UTC). @default the first result's start time */
  timestamp?: Date;
  /** Counters for prometheus (accumulate across calls). @default fresh ones */
  prometheus?: PrometheusCounters;
}

/** Rendered output and goss's exit code for it. */
export interface RenderedOutput {
  /** The text to print. */
  text: string;
  /** goss's exit code for this format and these results. */
  exitCode: number;
}

/** True when the name is an output format. */
export function isOutputFormat(name: string): name is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(name);
}

// ---------------------------------------------------------------- text helpers

function indentLines(text: string): string {
  return text.replace(/\n+$/, "").split("\n").map((l) => "    " + l).join("\n");
}

function prettyPrint(v: unknown, indent: boolean): string {
  const s = goJson(v === undefined ? null : v, { escapeHtml: false }).replace(/\s+$/, "");
  return indent ? indentLines(s) : s;
}

function prettyPrintTestResult(t: GossTestResult, compact: boolean, includeRaw: boolean): string {
  const m = t["matcher-result"];
  const ss: string[] = [];
  if (t.err !== null) {
    ss.push("Error", compact ? t.err.replace(/\s+/g, " ") : indentLines(t.err));
  } else {
    ss.push(
      "Expected",
      prettyPrint(m.actual, !compact),
      m.message,
      prettyPrint(m.expected, !compact),
    );
    if (
      !compact && typeof m.actual === "string" && typeof m.expected === "string" &&
      m.actual !== m.expected
    ) {
      ss.push("diff", indentLines(unifiedDiff(m.expected, m.actual)));
    }
  }
  if (m["missing-elements"] !== null && m["missing-elements"] !== undefined) {
    ss.push("the missing elements were", prettyPrint(m["missing-elements"], !compact));
  }
  if (m["extra-elements"] !== null && m["extra-elements"] !== undefined) {
    ss.push("the extra elements were", prettyPrint(m["extra-elements"], !compact));
  }
  if (m["transform-chain"] && m["transform-chain"].length) {
    ss.push("the transform chain was", prettyPrint(m["transform-chain"], !compact));
    if (includeRaw) ss.push("the raw value was", prettyPrint(m["untransformed-value"], !compact));
  }
  return ss.join(compact ? " " : "\n");
}

/** goss's one-test text: long form (rspecish, documentation) or compact (tap, junit, nagios -o verbose). */
export function humanizeResult(r: GossTestResult, compact: boolean, includeRaw: boolean): string {
  const head = `${r["resource-type"]}: ${r["resource-id"]}: ${r.property}:`;
  switch (r.result) {
    case RESULT.pass:
      return `${head} ${r["matcher-result"].message}: ${
        prettyPrint(r["matcher-result"].expected, false)
      }`;
    case RESULT.fail:
      return `${head}${compact ? " " : "\n"}${prettyPrintTestResult(r, compact, includeRaw)}`;
    case RESULT.skip:
      return `${head} skipped`;
  }
}

function header(t: GossTestResult): string {
  let out = "";
  if (t.title !== "") out += `Title: ${t.title}\n`;
  if (t.meta !== null) {
    out += "Meta:\n";
    for (const k of Object.keys(t.meta).sort()) out += `    ${k}: ${sprintV(t.meta[k])}\n`;
  }
  return out;
}

/** Splits results into per-resource groups (consecutive results of one type and id). */
export function groupResults(results: readonly GossTestResult[]): GossTestResult[][] {
  const groups: GossTestResult[][] = [];
  for (const r of results) {
    const g = groups[groups.length - 1];
    if (
      g && g[0]!["resource-type"] === r["resource-type"] &&
      g[0]!["resource-id"] === r["resource-id"]
    ) g.push(r);
    else groups.push([r]);
  }
  return groups;
}

function sortedGroups(results: readonly GossTestResult[], sort: boolean): GossTestResult[][] {
  const groups = groupResults(results);
  if (!sort) return groups;
  const key = (g: GossTestResult[]) => `${g[0]!["resource-type"]}:${g[0]!["resource-id"]}`;
  return groups.map((g, i) => [g, i] as const).sort((a, b) => {
    const ka = key(a[0]);
    const kb = key(b[0]);
    return ka < kb ? -1 : ka > kb ? 1 : a[1] - b[1];
  }).map(([g]) => g);
}

function failedOrSkippedSummary(groups: GossTestResult[][], includeRaw: boolean): string {
  let s = "";
  if (groups.length) {
    s += "Failures/Skipped:\n\n";
    for (const g of groups) {
      s += header(g[0]!);
      for (const r of g) s += humanizeResult(r, false, includeRaw) + "\n";
      s += "\n";
    }
  }
  return s;
}

function summaryBlock(
  results: GossResults,
  count: number,
  failed: number,
  skipped: number,
): string {
  return `Total Duration: ${
    seconds3(results.summary["total-duration"])
  }s\nCount: ${count}, Failed: ${failed}, Skipped: ${skipped}\n`;
}

function xmlEscape(s: string): string {
  return s.replace(
    /[&<>"'\t\n\r]/g,
    (c) =>
      ({
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&#34;",
        "'": "&#39;",
        "\t": "&#x9;",
        "\n": "&#xA;",
        "\r": "&#xD;",
      })[c]!,
  );
}

function rfc3339Utc(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// ---------------------------------------------------------------- formats

interface Ctx {
  results: GossResults;
  groups: GossTestResult[][];
  flat: GossTestResult[];
  includeRaw: boolean;
  opts: ReadonlySet<string>;
  options: RenderOptions;
}

function rspecish(c: Ctx, documentation: boolean): RenderedOutput {
  let out = "";
  let failed = 0;
  let skipped = 0;
  let count = 0;
  const fs: GossTestResult[][] = [];
  for (const g of c.groups) {
    const group: GossTestResult[] = [];
    if (documentation) out += header(g[0]!);
    for (const r of g) {
      if (documentation) out += humanizeResult(r, false, c.includeRaw) + "\n";
      if (r.result === RESULT.pass) {
        if (!documentation) out += ".";
      } else if (r.result === RESULT.skip) {
        if (!documentation) out += "S";
        group.push(r);
        skipped++;
      } else {
        if (!documentation) out += "F";
        group.push(r);
        failed++;
      }
      count++;
    }
    if (group.length) fs.push(group);
  }
  out += "\n\n";
  out += failedOrSkippedSummary(fs, c.includeRaw);
  out += summaryBlock(c.results, count, failed, skipped);
  return { text: out, exitCode: failed > 0 ? 1 : 0 };
}

function tap(c: Ctx): RenderedOutput {
  let out = `1..${c.flat.length}\n`;
  let failed = 0;
  c.flat.forEach((r, i) => {
    const text = humanizeResult(r, true, c.includeRaw);
    if (r.result === RESULT.pass) out += `ok ${i + 1} - ${text}\n`;
    else if (r.result === RESULT.fail) {
      out += `not ok ${i + 1} - ${text}\n`;
      failed++;
    } else out += `ok ${i + 1} - # SKIP ${text}\n`;
  });
  return { text: out, exitCode: failed > 0 ? 1 : 0 };
}

function nagios(c: Ctx): RenderedOutput {
  const s = c.results.summary;
  const failed = c.flat.filter((r) => r.result === RESULT.fail).length;
  const skipped = c.flat.filter((r) => r.result === RESULT.skip).length;
  const dur = seconds3(s["total-duration"]);
  const status = failed > 0 ? "CRITICAL" : "OK";
  let out =
    `GOSS ${status} - Count: ${c.flat.length}, Failed: ${failed}, Skipped: ${skipped}, Duration: ${dur}s`;
  if (c.opts.has("perfdata")) {
    out += `|total=${c.flat.length} failed=${failed} skipped=${skipped} duration=${dur}s`;
  }
  out += "\n";
  if (failed > 0 && c.opts.has("verbose")) {
    let i = 0;
    for (const r of c.flat) {
      if (r.result === RESULT.fail) {
        out += `Fail ${++i} - ${humanizeResult(r, true, c.includeRaw)}\n`;
      }
    }
  }
  return { text: out, exitCode: failed > 0 ? 2 : 0 };
}

function json(c: Ctx): RenderedOutput {
  const results = c.flat.map((r) => ({
    ...r,
    successful: r.result !== RESULT.fail,
    "summary-line": humanizeResult(r, false, c.includeRaw),
    "summary-line-compact": humanizeResult(r, true, c.includeRaw),
  }));
  const s = c.results.summary;
  const out = {
    results,
    summary: {
      "failed-count": s["failed-count"],
      "skipped-count": s["skipped-count"],
      "summary-line": s["summary-line"],
      "test-count": s["test-count"],
      "total-duration": s["total-duration"],
    },
  };
  const text = goJson(out, c.opts.has("pretty") ? { indent: "    " } : {}) + "\n";
  return { text, exitCode: s["failed-count"] > 0 ? 1 : 0 };
}

/** The structured format's document (Choria's goss_validate reply is built from it). */
export function structuredDocument(results: GossResults, includeRaw = true, sort = false): unknown {
  const flat = sortedGroups(results.results, sort).flat();
  const failed = flat.filter((r) => r.result === RESULT.fail).length;
  const total = results.summary["total-duration"];
  return goStruct({
    results: flat.map((r) =>
      goStruct({
        successful: false,
        skipped: r.skipped,
        "resource-id": r["resource-id"],
        "resource-type": r["resource-type"],
        property: r.property,
        title: r.title,
        meta: r.meta,
        result: r.result,
        err: r.err,
        "matcher-result": goStruct({
          actual: r["matcher-result"].actual,
          message: r["matcher-result"].message,
          expected: r["matcher-result"].expected,
          "missing-elements": r["matcher-result"]["missing-elements"],
          "found-elements": r["matcher-result"]["found-elements"],
          "extra-elements": r["matcher-result"]["extra-elements"],
          "transform-chain": r["matcher-result"]["transform-chain"],
          "untransformed-value": r["matcher-result"]["untransformed-value"],
        }),
        "start-time": r["start-time"],
        "end-time": r["end-time"],
        duration: r.duration,
        "summary-line": humanizeResult(r, false, includeRaw),
        "summary-line-compact": humanizeResult(r, true, includeRaw),
      })
    ),
    summary: goStruct({
      "test-count": flat.length,
      "failed-count": failed,
      "total-duration": total,
    }),
    "summary-line": `Count: ${flat.length}, Failed: ${failed}, Duration: ${seconds3(total)}s`,
  });
}

function structured(c: Ctx): RenderedOutput {
  const doc = structuredDocument(c.results, c.includeRaw, c.opts.has("sort"));
  return { text: goJson(doc, c.opts.has("pretty") ? { indent: "  " } : {}) + "\n", exitCode: 0 };
}

function junit(c: Ctx): RenderedOutput {
  const failed = c.flat.filter((r) => r.result === RESULT.fail).length;
  const skipped = c.flat.filter((r) => r.result === RESULT.skip).length;
  const first = c.flat[0];
  const ts = c.options.timestamp ??
    (first ? new Date(Date.parse(first["start-time"])) : new Date(0));
  let out = '<?xml version="1.0" encoding="UTF-8"?>\n';
  out +=
    `<testsuite name="goss" errors="0" tests="${c.flat.length}" failures="${failed}" skipped="${skipped}" time="${
      seconds3(c.results.summary["total-duration"])
    }" timestamp="${rfc3339Utc(ts)}">\n`;
  for (const r of c.flat) {
    const name = r.title !== ""
      ? r.title
      : `${r["resource-type"]} ${r["resource-id"]} ${r.property}`;
    const text = xmlEscape(humanizeResult(r, true, c.includeRaw));
    out += `<testcase name="${xmlEscape(name)}" time="${seconds3(r.duration)}">\n`;
    if (r.result === RESULT.fail) {
      out += `<system-err>${text}</system-err>\n<failure>${text}</failure>\n</testcase>\n`;
    } else {
      if (r.result === RESULT.skip) out += "<skipped/>";
      out += `<system-out>${text}</system-out>\n</testcase>\n`;
    }
  }
  out += "</testsuite>\n";
  return { text: out, exitCode: failed > 0 ? 1 : 0 };
}

const PROM_HELP: Record<string, string> = {
  goss_tests_outcomes_total: "The number of test-outcomes from this run.",
  goss_tests_outcomes_duration_milliseconds:
    "The duration of tests from this run. Note; tests run concurrently.",
  goss_tests_run_outcomes_total: "The outcomes of this run as a whole.",
  goss_tests_run_duration_milliseconds: "The end-to-end duration of this run.",
};

function outcomeOf(r: GossTestResult): string {
  return r.result === RESULT.pass
    ? "pass"
    : r.result === RESULT.fail
    ? "fail"
    : r.result === RESULT.skip
    ? "skip"
    : "unknown";
}

function promAdd(
  c: PrometheusCounters,
  family: string,
  labels: Record<string, string>,
  v: number,
): void {
  let fam = c.families.get(family);
  if (!fam) c.families.set(family, fam = new Map());
  const names = Object.keys(labels).sort();
  const key = names.map((n) => `${n}=${labels[n]}`).join("\u0000");
  const cur = fam.get(key);
  if (cur) cur[1] += v;
  else fam.set(key, [labels, v]);
}

function promEscape(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function prometheus(c: Ctx): RenderedOutput {
  const counters = c.options.prometheus ?? createPrometheusCounters();
  const verbose = c.opts.has("verbose");
  let overall = "unknown";
  c.flat.forEach((r, i) => {
    const outcome = outcomeOf(r);
    const labels: Record<string, string> = { type: r["resource-type"].toLowerCase(), outcome };
    if (verbose) labels.resource_id = r["resource-id"];
    promAdd(counters, "goss_tests_outcomes_total", labels, 1);
    promAdd(
      counters,
      "goss_tests_outcomes_duration_milliseconds",
      labels,
      Math.trunc(r.duration / 1e6),
    );
    const can = overall === "skip"
      ? true
      : overall === "fail"
      ? false
      : overall === "pass"
      ? outcome !== "skip"
      : outcome === "fail";
    if (i === 0 || can) overall = outcome;
  });
  promAdd(counters, "goss_tests_run_outcomes_total", { outcome: overall }, 1);
  promAdd(
    counters,
    "goss_tests_run_duration_milliseconds",
    { outcome: overall },
    Math.trunc(c.results.summary["total-duration"] / 1e6),
  );
  let out = "";
  for (const family of [...counters.families.keys()].sort()) {
    out += `# HELP ${family} ${PROM_HELP[family] ?? family}\n# TYPE ${family} counter\n`;
    const rows = [...counters.families.get(family)!.values()].map(([labels, v]) => {
      const names = Object.keys(labels).sort();
      return [names.map((n) => `${n}="${promEscape(labels[n]!)}"`).join(","), v] as const;
    }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [l, v] of rows) out += `${family}{${l}} ${v}\n`;
  }
  const failed = c.flat.some((r) => r.result === RESULT.fail);
  return { text: out, exitCode: failed ? 1 : 0 };
}

/** Checks `-o` options; throws ScoutError USAGE for an unknown one (goss exits 1). */
export function checkFormatOptions(options: readonly string[]): void {
  for (const o of options) {
    if (!(FORMAT_OPTIONS as readonly string[]).includes(o)) {
      throw new ScoutError("USAGE", `bad format option: ${o}`, {
        hint: `valid format options: ${FORMAT_OPTIONS.join(", ")}`,
      });
    }
  }
}

/**
 * Renders results in a goss output format with goss's exit code (0 ok, 1 failures, 2 nagios
 * CRITICAL, structured always 0). Throws ScoutError USAGE for an unknown format or option.
 */
export function renderOutput(
  format: string,
  results: GossResults,
  options: RenderOptions = {},
): RenderedOutput {
  if (!isOutputFormat(format)) {
    throw new ScoutError("USAGE", `bad output format: ${format}`, {
      hint: `valid formats: ${OUTPUT_FORMATS.join(", ")}`,
    });
  }
  const formatOptions = options.formatOptions ?? [];
  checkFormatOptions(formatOptions);
  const opts = new Set(formatOptions);
  const groups = sortedGroups(results.results, opts.has("sort"));
  const c: Ctx = {
    results,
    groups,
    flat: groups.flat(),
    includeRaw: !opts.has("exclude_raw"),
    opts,
    options,
  };
  switch (format) {
    case "rspecish":
      return rspecish(c, false);
    case "documentation":
      return rspecish(c, true);
    case "tap":
      return tap(c);
    case "nagios":
      return nagios(c);
    case "json":
      return json(c);
    case "structured":
      return structured(c);
    case "junit":
      return junit(c);
    case "prometheus":
      return prometheus(c);
    case "silent":
      return { text: "", exitCode: results.results.some((r) => r.result === RESULT.fail) ? 1 : 0 };
  }
}

/** Choria's nagios builtin for goss: `OK: Count: N, Failed: F, Duration: 0.123s|checks=N;; failed=F;; runtime=0.123456s`. */
export function choriaNagiosSummary(
  results: GossResults,
): { status: "OK" | "CRITICAL"; output: string } {
  const n = results.results.length;
  const failed = results.results.filter((r) => r.result === RESULT.fail).length;
  const total = results.summary["total-duration"];
  const status = failed > 0 ? "CRITICAL" : "OK";
  const line = `Count: ${n}, Failed: ${failed}, Duration: ${seconds3(total)}s`;
  return {
    status,
    output: `${status}: ${line}|checks=${n};; failed=${failed};; runtime=${
      (total / 1e9).toFixed(6)
    }s`,
  };
}
