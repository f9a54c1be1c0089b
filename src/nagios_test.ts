import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { ScoutError } from "./errors.ts";
import {
  choriaPerfdata,
  MAX_PERFDATA_ERRORS,
  NAGIOS_STATUSES,
  parsePerfdata,
  parsePluginOutput,
  parseRange,
  type PerfDatum,
  rangeAlerts,
  STATUS_CODE,
  statusFromCode,
  type ThresholdRange,
} from "./nagios.ts";

// ---------------------------------------------------------------- helpers

/** A datum with defaults for the fields a test does not care about. */
function datum(label: string, value: number | null, more: Partial<PerfDatum> = {}): PerfDatum {
  return { label, value, unit: "", warn: null, crit: null, min: null, max: null, ...more };
}

/** A range as parseRange returns it. */
function range(text: string, start: number, end: number, inside = false): ThresholdRange {
  return { start, end, inside, text };
}

/** Parses perfdata that must have no errors. */
function cleanItems(text: string): PerfDatum[] {
  const { items, errors } = parsePerfdata(text);
  deepEqual(errors, [], `unexpected errors for ${JSON.stringify(text)}`);
  return items;
}

/** Asserts that parseRange rejects the text with CONFIG_INVALID. */
function rejectsRange(text: string): void {
  throws(() => parseRange(text), (err: unknown) => {
    ok(err instanceof ScoutError, `expected ScoutError for ${JSON.stringify(text)}`);
    equal(err.code, "CONFIG_INVALID");
    ok(err.hint !== undefined && err.hint.length > 0);
    return true;
  }, `expected ${JSON.stringify(text)} to be rejected`);
}

/** Which values of `values` alert for the range text. */
function alerting(text: string, values: number[]): number[] {
  const r = parseRange(text);
  return values.filter((v) => rangeAlerts(r, v));
}

// ---------------------------------------------------------------- exit codes

Deno.test("nagios statuses map to exit codes 0..3 and back", () => {
  deepEqual([...NAGIOS_STATUSES], ["OK", "WARNING", "CRITICAL", "UNKNOWN"]);
  deepEqual(STATUS_CODE, { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 });
  for (const status of NAGIOS_STATUSES) equal(statusFromCode(STATUS_CODE[status]), status);
});

Deno.test("statusFromCode returns null for reserved, signal and non-integer codes", () => {
  for (const code of [4, 5, 125, 126, 127, 255, -1, 1.5, NaN, Infinity]) {
    equal(statusFromCode(code), null, `code ${code}`);
  }
});

// ---------------------------------------------------------------- ranges: the table

Deno.test("parseRange treats 10 as 0..10 and alerts below 0 or above 10", () => {
  deepEqual(parseRange("10"), range("10", 0, 10));
  deepEqual(alerting("10", [-1, -0.001, 0, 5, 10, 10.001, 11]), [-1, -0.001, 10.001, 11]);
});

Deno.test("parseRange treats 10: as 10..+Infinity and alerts below 10", () => {
  deepEqual(parseRange("10:"), range("10:", 10, Infinity));
  deepEqual(alerting("10:", [-5, 9.99, 10, 1e12]), [-5, 9.99]);
});

Deno.test("parseRange treats ~:10 as -Infinity..10 and alerts above 10", () => {
  deepEqual(parseRange("~:10"), range("~:10", -Infinity, 10));
  deepEqual(alerting("~:10", [-1e12, -1, 10, 10.5]), [10.5]);
});

Deno.test("parseRange treats 10:20 as alert outside, endpoints included", () => {
  deepEqual(parseRange("10:20"), range("10:20", 10, 20));
  deepEqual(alerting("10:20", [9, 9.999, 10, 15, 20, 20.001, 21]), [9, 9.999, 20.001, 21]);
});

Deno.test("parseRange treats @10:20 as alert inside, endpoints included", () => {
  deepEqual(parseRange("@10:20"), range("@10:20", 10, 20, true));
  deepEqual(alerting("@10:20", [9.9, 10, 15, 20, 20.1]), [10, 15, 20]);
});

// ---------------------------------------------------------------- ranges: guideline examples

/** Evaluates warn/crit like a plugin: crit wins over warn. */
function evaluate(warn: string | null, crit: string | null, value: number): string {
  if (crit !== null && rangeAlerts(parseRange(crit), value)) return "CRITICAL";
  if (warn !== null && rangeAlerts(parseRange(warn), value)) return "WARNING";
  return "OK";
}

Deno.test("guideline -w10 -c20 warns above 10, is critical above 20 and below 0", () => {
  deepEqual([5, 10, 15, 20, 25, -1].map((v) => evaluate("10", "20", v)), [
    "OK",
    "OK",
    "WARNING",
    "WARNING",
    "CRITICAL",
    "CRITICAL",
  ]);
});

Deno.test("guideline -w~:10 -c~:20 is the same but negative values are OK", () => {
  deepEqual([-100, 10, 15, 25].map((v) => evaluate("~:10", "~:20", v)), [
    "OK",
    "OK",
    "WARNING",
    "CRITICAL",
  ]);
});

Deno.test("guideline -w10: -c20 warns below 10 and is critical above 20", () => {
  deepEqual([5, 10, 20, 25, -1].map((v) => evaluate("10:", "20", v)), [
    "WARNING",
    "OK",
    "OK",
    "CRITICAL",
    "CRITICAL",
  ]);
});

Deno.test("guideline -c1: is critical below 1", () => {
  deepEqual([0, 0.5, 1, 1000].map((v) => evaluate(null, "1:", v)), [
    "CRITICAL",
    "CRITICAL",
    "OK",
    "OK",
  ]);
});

Deno.test("guideline -c5:6 is critical unless 5 <= x <= 6", () => {
  deepEqual([4.9, 5, 5.5, 6, 6.1].map((v) => evaluate(null, "5:6", v)), [
    "CRITICAL",
    "OK",
    "OK",
    "OK",
    "CRITICAL",
  ]);
});

Deno.test("guideline -c@10:20 is critical when 10 <= x <= 20", () => {
  deepEqual([9, 10, 20, 21].map((v) => evaluate(null, "@10:20", v)), [
    "OK",
    "CRITICAL",
    "CRITICAL",
    "OK",
  ]);
});

// ---------------------------------------------------------------- ranges: more forms and errors

Deno.test("parseRange accepts negative, decimal, equal-bound and open forms", () => {
  deepEqual(parseRange("-10:-5"), range("-10:-5", -10, -5));
  deepEqual(parseRange("0.5:1.5"), range("0.5:1.5", 0.5, 1.5));
  deepEqual(parseRange("5:5"), range("5:5", 5, 5));
  deepEqual(parseRange("~:"), range("~:", -Infinity, Infinity));
  deepEqual(parseRange(":10"), range(":10", 0, 10));
  deepEqual(parseRange("0"), range("0", 0, 0));
  deepEqual(parseRange("@~:0"), range("@~:0", -Infinity, 0, true));
  deepEqual(parseRange(" 10 "), range("10", 0, 10));
});

Deno.test("parseRange @~: alerts on every value and ~: on none", () => {
  const all = [-1e300, -1, 0, 1, 1e300];
  deepEqual(alerting("@~:", all), all);
  deepEqual(alerting("~:", all), []);
});

Deno.test("rangeAlerts never alerts on NaN", () => {
  equal(rangeAlerts(parseRange("10"), NaN), false);
  equal(rangeAlerts(parseRange("@10"), NaN), false);
});

Deno.test("parseRange rejects empty, malformed and reversed ranges with CONFIG_INVALID", () => {
  for (
    const text of [
      "",
      "   ",
      "@",
      ":",
      "20:10",
      "-5",
      "~",
      "10:~",
      "1:2:3",
      "abc",
      "1e3",
      "1,5",
      "--1",
      "10%",
      "@@10",
      ".",
    ]
  ) {
    rejectsRange(text);
  }
});

Deno.test("parseRange error says why and carries the range as context", () => {
  try {
    parseRange("20:10");
    ok(false, "should throw");
  } catch (err) {
    ok(err instanceof ScoutError);
    ok(err.message.includes("20:10"));
    ok(err.message.includes("greater"));
    deepEqual(err.context, { range: "20:10" });
  }
});

// ---------------------------------------------------------------- plugin output: multi-line

const GUIDE_BOTH = [
  "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968",
  "/ 15272 MB (77%);",
  "/boot 68 MB (69%);",
  "/home 69357 MB (27%);",
  "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98",
  "/home=69357MB;253404;253409;0;253414 ",
  "/var/log=818MB;970;975;0;980",
].join("\n");

const GUIDE_LONG =
  "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);";

Deno.test("nagios parser reads perfdata on line 1 and on later lines (guideline example)", () => {
  const out = parsePluginOutput(GUIDE_BOTH);
  equal(out.summary, "DISK OK - free space: / 3326 MB (56%);");
  equal(out.longText, GUIDE_LONG);
  deepEqual(out.perfdataErrors, []);
  deepEqual(out.perfdata, [
    datum("/", 2643, {
      unit: "MB",
      warn: range("5948", 0, 5948),
      crit: range("5958", 0, 5958),
      min: 0,
      max: 5968,
    }),
    datum("/boot", 68, {
      unit: "MB",
      warn: range("88", 0, 88),
      crit: range("93", 0, 93),
      min: 0,
      max: 98,
    }),
    datum("/home", 69357, {
      unit: "MB",
      warn: range("253404", 0, 253404),
      crit: range("253409", 0, 253409),
      min: 0,
      max: 253414,
    }),
    datum("/var/log", 818, {
      unit: "MB",
      warn: range("970", 0, 970),
      crit: range("975", 0, 975),
      min: 0,
      max: 980,
    }),
  ]);
});

Deno.test("nagios parser reads perfdata on line 1 only and keeps all later lines as long text", () => {
  const out = parsePluginOutput("DISK OK | /=2643MB;5948\nline two\nline three\n");
  equal(out.summary, "DISK OK");
  equal(out.longText, "line two\nline three");
  deepEqual(out.perfdata.map((d) => d.label), ["/"]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser reads perfdata on later lines only", () => {
  const out = parsePluginOutput("DISK OK\nfirst long\nsecond long | a=1\nb=2\n  c=3s  \n");
  equal(out.summary, "DISK OK");
  equal(out.longText, "first long\nsecond long");
  deepEqual(out.perfdata, [datum("a", 1), datum("b", 2), datum("c", 3, { unit: "s" })]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser treats a later line that starts with | as pure perfdata", () => {
  const out = parsePluginOutput("OK\nlong\n| a=1");
  equal(out.longText, "long");
  deepEqual(out.perfdata, [datum("a", 1)]);
});

Deno.test("nagios parser without perfdata keeps summary and long text", () => {
  const out = parsePluginOutput("PROCS OK: 3 processes\nproc 1\n  indented proc 2\n\n");
  equal(out.summary, "PROCS OK: 3 processes");
  equal(out.longText, "proc 1\n  indented proc 2");
  deepEqual(out.perfdata, []);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser handles empty and whitespace-only output", () => {
  deepEqual(parsePluginOutput(""), { summary: "", longText: "", perfdata: [], perfdataErrors: [] });
  deepEqual(parsePluginOutput(" \n\n "), {
    summary: "",
    longText: "",
    perfdata: [],
    perfdataErrors: [],
  });
});

Deno.test("nagios parser trims the summary and an empty perfdata part is no error", () => {
  const out = parsePluginOutput("  OK - fine   |   \n");
  equal(out.summary, "OK - fine");
  deepEqual(out.perfdata, []);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser joins the line-1 and later perfdata parts with a space", () => {
  // Nagios itself joins without whitespace, which would glue a=1 and b=2 into one item.
  const out = parsePluginOutput("OK | a=1\nlong | b=2");
  deepEqual(out.perfdata, [datum("a", 1), datum("b", 2)]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser handles Windows line endings", () => {
  const out = parsePluginOutput("OK - win | a=1ms\r\nlong one\r\nlong two | b=2\r\nc=3\r\n");
  equal(out.summary, "OK - win");
  equal(out.longText, "long one\nlong two");
  deepEqual(out.perfdata, [datum("a", 1, { unit: "ms" }), datum("b", 2), datum("c", 3)]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser keeps a truncation marker in long text without errors", () => {
  const out = parsePluginOutput("OK | a=1\nlong\n[output truncated at 65536 bytes]");
  equal(out.longText, "long\n[output truncated at 65536 bytes]");
  deepEqual(out.perfdata, [datum("a", 1)]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("nagios parser turns a truncation marker in the perfdata area into one error", () => {
  const out = parsePluginOutput("OK\nlong | a=1 b=2\n[output truncated at 65536 bytes]");
  deepEqual(out.perfdata, [datum("a", 1), datum("b", 2)]);
  equal(out.perfdataErrors.length, 1);
  ok(out.perfdataErrors[0]?.includes("[output truncated at 65536 bytes]"));
});

Deno.test("nagios parser keeps earlier items when output is truncated mid-quote before a marker", () => {
  const out = parsePluginOutput("OK\nlong | a=1 'b c\n[output truncated at 65536 bytes]");
  deepEqual(out.perfdata, [datum("a", 1)]);
  equal(out.perfdataErrors.length, 1);
  ok(out.perfdataErrors[0]?.includes("unterminated"));
});

// ---------------------------------------------------------------- perfdata items

Deno.test("nagios parser keeps thresholds of quoted labels", () => {
  deepEqual(cleanItems("'disk usage'=80%;90;95;0;100"), [
    datum("disk usage", 80, {
      unit: "%",
      warn: range("90", 0, 90),
      crit: range("95", 0, 95),
      min: 0,
      max: 100,
    }),
  ]);
});

Deno.test("nagios parser undoes doubled quotes inside quoted labels", () => {
  deepEqual(cleanItems("'it''s'=1 'a '' b '' c'=2 ''''=3"), [
    datum("it's", 1),
    datum("a ' b ' c", 2),
    datum("'", 3),
  ]);
});

Deno.test("nagios parser accepts = and | inside quoted labels", () => {
  deepEqual(cleanItems("'a=b'=1 'x|y'=2"), [datum("a=b", 1), datum("x|y", 2)]);
  const out = parsePluginOutput("OK | 'in|out'=5B");
  deepEqual(out.perfdata, [datum("in|out", 5, { unit: "B" })]);
});

Deno.test("nagios parser rejects empty labels and quotes in unquoted labels", () => {
  const { items, errors } = parsePerfdata("''=1 =2 it's=3 ok=4");
  deepEqual(items, [datum("ok", 4)]);
  equal(errors.length, 3);
  ok(errors[0]?.includes("empty label"));
  ok(errors[1]?.includes("empty label"));
  ok(errors[2]?.includes("quote"));
});

Deno.test("nagios parser reads U as an undetermined value with its thresholds", () => {
  deepEqual(cleanItems("a=U b=U;1;2;0;10"), [
    datum("a", null),
    datum("b", null, { warn: range("1", 0, 1), crit: range("2", 0, 2), min: 0, max: 10 }),
  ]);
  const { items, errors } = parsePerfdata("a=Ux b=u");
  deepEqual(items, []);
  equal(errors.length, 2);
});

Deno.test("nagios parser reads every guideline UOM and other SI units", () => {
  const units = ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c", "W", "dBm", "°C"];
  const text = units.map((u, i) => `m${i}=${i}${u}`).join(" ");
  deepEqual(cleanItems(text), units.map((u, i) => datum(`m${i}`, i, { unit: u })));
});

Deno.test("nagios parser reads negative and decimal values and normalises -0", () => {
  const items = cleanItems("t=-5.5;~:0 a=.5 b=1. c=-0 d=007");
  deepEqual(items, [
    datum("t", -5.5, { warn: range("~:0", -Infinity, 0) }),
    datum("a", 0.5),
    datum("b", 1),
    datum("c", 0),
    datum("d", 7),
  ]);
  ok(Object.is(items[3]?.value, 0));
});

Deno.test("nagios parser accepts empty warn and crit fields", () => {
  deepEqual(cleanItems("a=1;;5 b=2;3; c=3;;;0;"), [
    datum("a", 1, { crit: range("5", 0, 5) }),
    datum("b", 2, { warn: range("3", 0, 3) }),
    datum("c", 3, { min: 0 }),
  ]);
});

Deno.test("nagios parser drops trailing semicolons", () => {
  deepEqual(cleanItems("a=1;;;;"), [datum("a", 1)]);
  deepEqual(cleanItems("a=1;"), [datum("a", 1)]);
  deepEqual(cleanItems("a=1;;;;;;"), [datum("a", 1)]);
  deepEqual(cleanItems("x=1;;;0"), [datum("x", 1, { min: 0 })]);
});

Deno.test("nagios parser rejects more than five non-empty fields", () => {
  const { items, errors } = parsePerfdata("a=1;1;2;3;4;5 b=2");
  deepEqual(items, [datum("b", 2)]);
  equal(errors.length, 1);
  ok(errors[0]?.includes("too many"));
});

Deno.test("nagios parser treats commas in values as invalid", () => {
  const { items, errors } = parsePerfdata("users=20, time=6,049175s ok=1");
  deepEqual(items, [datum("ok", 1)]);
  equal(errors.length, 2);
  ok(errors.every((e) => e.includes("comma")));
});

Deno.test("nagios parser keeps the value but ignores a threshold with a comma", () => {
  const { items, errors } = parsePerfdata("load1=0.5;1,5;2;0,0");
  deepEqual(items, [datum("load1", 0.5, { crit: range("2", 0, 2) })]);
  equal(errors.length, 2);
  ok(errors[0]?.includes("warn ignored"));
  ok(errors[0]?.includes("comma"));
  ok(errors[1]?.includes("min ignored"));
});

Deno.test("nagios parser keeps the value but ignores an invalid range and max", () => {
  const { items, errors } = parsePerfdata("a=1;20:10;@;0;x");
  deepEqual(items, [datum("a", 1, { min: 0 })]);
  equal(errors.length, 3);
});

Deno.test("nagios parser rejects scientific notation and malformed numbers", () => {
  const { items, errors } = parsePerfdata(
    "a=1e5 b=2E-3s c= d=abc e=- f=1.2.3 g=--1 h=10s5 i=;1 j=1=2 k=5'",
  );
  deepEqual(items, []);
  equal(errors.length, 11);
  ok(errors[0]?.includes("scientific"));
  ok(errors[1]?.includes("scientific"));
  ok(errors[2]?.includes("empty value"));
});

Deno.test("nagios parser rejects values too large to represent", () => {
  const { items, errors } = parsePerfdata(`big=${"9".repeat(400)} ok=1`);
  deepEqual(items, [datum("ok", 1)]);
  equal(errors.length, 1);
});

Deno.test("nagios parser separates items by any whitespace", () => {
  deepEqual(cleanItems("  a=1\t\tb=2 \n c=3  "), [datum("a", 1), datum("b", 2), datum("c", 3)]);
});

Deno.test("nagios parser reports a run of words without = as one error", () => {
  const { items, errors } = parsePerfdata("a=1 some stray words b=2");
  deepEqual(items, [datum("a", 1), datum("b", 2)]);
  deepEqual(errors.length, 1);
  ok(errors[0]?.includes("some stray words"));
});

Deno.test("nagios parser caps the number of perfdata errors", () => {
  const text = Array.from({ length: MAX_PERFDATA_ERRORS + 10 }, (_, i) => `m${i}=x`).join(" ");
  const { items, errors } = parsePerfdata(`${text} ok=1`);
  deepEqual(items, [datum("ok", 1)]);
  equal(errors.length, MAX_PERFDATA_ERRORS + 1);
  equal(errors.at(-1), "and 10 more perfdata errors");
});

Deno.test("nagios parser shortens very long tokens in error messages", () => {
  const { errors } = parsePerfdata(`${"x".repeat(10_000)}=bad`);
  equal(errors.length, 1);
  ok((errors[0]?.length ?? 0) < 200);
});

// ---------------------------------------------------------------- pitfalls seen in peers

Deno.test("regression (Choria): multi-line perfdata is not lost when output has several |", () => {
  const out = parsePluginOutput("OK | a=1\nlong\nmore | b=2\nc=3");
  deepEqual(out.perfdata.map((d) => d.label), ["a", "b", "c"]);
});

Deno.test("regression (Choria): double spaces between items make no empty items", () => {
  deepEqual(parsePluginOutput("OK |  a=1   b=2  ").perfdata, [datum("a", 1), datum("b", 2)]);
  deepEqual(parsePluginOutput("OK |  a=1   b=2  ").perfdataErrors, []);
});

Deno.test("regression (Choria): quoted labels keep their spaces and thresholds", () => {
  const [item] = parsePluginOutput("OK | 'free space'=10GB;20:;10:").perfdata;
  equal(item?.label, "free space");
  deepEqual(item?.warn, range("20:", 20, Infinity));
  deepEqual(item?.crit, range("10:", 10, Infinity));
});

Deno.test("regression (Choria): a second | on line 1 costs one error, not all perfdata", () => {
  const out = parsePluginOutput("OK | a=1 | b=2");
  deepEqual(out.perfdata, [datum("a", 1), datum("b", 2)]);
  equal(out.perfdataErrors.length, 1);
});

Deno.test("regression (Choria): a value like 1.2.3 that its regex accepts is rejected", () => {
  const { items, errors } = parsePerfdata("v=1.2.3");
  deepEqual(items, []);
  equal(errors.length, 1);
});

Deno.test("regression (Choria): goss builtin output parses with empty thresholds", () => {
  const out = parsePluginOutput("OK: Count: 12, Failed: 0|checks=12;; failed=0;; runtime=0.0123s");
  equal(out.summary, "OK: Count: 12, Failed: 0");
  deepEqual(out.perfdata, [
    datum("checks", 12),
    datum("failed", 0),
    datum("runtime", 0.0123, { unit: "s" }),
  ]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("regression (Telegraf): ~ is -Infinity, not the smallest positive float", () => {
  const r = parseRange("~:10");
  equal(r.start, -Infinity);
  equal(rangeAlerts(r, -1e300), false);
});

Deno.test("regression (Telegraf): the @ prefix is taken off before parsing numbers", () => {
  deepEqual(parseRange("@5"), range("@5", 0, 5, true));
  deepEqual(parseRange("@~:-1.5"), range("@~:-1.5", -Infinity, -1.5, true));
});

Deno.test("regression (Telegraf): a U value does not fail the whole parse", () => {
  const out = parsePluginOutput("UNKNOWN | a=U;~:5;@1:2 b=3");
  deepEqual(out.perfdata, [
    datum("a", null, { warn: range("~:5", -Infinity, 5), crit: range("@1:2", 1, 2, true) }),
    datum("b", 3),
  ]);
  deepEqual(out.perfdataErrors, []);
});

Deno.test("regression (Sensu #2021): trailing semicolons and a trailing newline parse cleanly", () => {
  const out = parsePluginOutput(
    "CRITICAL - load average: 0.01, 0.04, 0.05|load1=0.010;0.010;0.010;0; " +
      "load5=0.040;0.010;0.010;0; load15=0.050;0.010;0.010;0;\n",
  );
  equal(out.summary, "CRITICAL - load average: 0.01, 0.04, 0.05");
  deepEqual(out.perfdataErrors, []);
  deepEqual(out.perfdata.map((d) => [d.label, d.value, d.min, d.max]), [
    ["load1", 0.01, 0, null],
    ["load5", 0.04, 0, null],
    ["load15", 0.05, 0, null],
  ]);
  deepEqual(out.perfdata[0]?.warn, range("0.010", 0, 0.01));
});

Deno.test("regression (shinken #252): output cut mid-quote keeps the earlier items", () => {
  const { items, errors } = parsePerfdata("a=1 b=2;3;4 'c d");
  deepEqual(items, [
    datum("a", 1),
    datum("b", 2, { warn: range("3", 0, 3), crit: range("4", 0, 4) }),
  ]);
  equal(errors.length, 1);
  ok(errors[0]?.includes("unterminated"));
});

Deno.test("regression (shinken #252): a stray quote does not swallow the items after it", () => {
  const { items, errors } = parsePerfdata("'oops a=1 b=2");
  deepEqual(items, [datum("a", 1), datum("b", 2)]);
  equal(errors.length, 1);
});

Deno.test("regression (shinken #252): a quote closed too early costs only nearby words", () => {
  const { items, errors } = parsePerfdata("'a b c=1 'd e'=2");
  deepEqual(items, [datum("c", 1), datum("d e", 2)]);
  equal(errors.length, 1);
  ok(errors[0]?.includes("'a b"));
});

// ---------------------------------------------------------------- Choria wire form

Deno.test("choriaPerfdata keeps Choria units, blanks others and drops U values", () => {
  const items = cleanItems(
    "a=1s b=2ms c=3us d=4% e=5B f=6KB g=7MB h=8TB i=9c j=10W k=11 l=U m=12GB",
  );
  deepEqual(choriaPerfdata(items), [
    { unit: "s", label: "a", value: 1 },
    { unit: "ms", label: "b", value: 2 },
    { unit: "us", label: "c", value: 3 },
    { unit: "%", label: "d", value: 4 },
    { unit: "B", label: "e", value: 5 },
    { unit: "KB", label: "f", value: 6 },
    { unit: "MB", label: "g", value: 7 },
    { unit: "TB", label: "h", value: 8 },
    { unit: "c", label: "i", value: 9 },
    { unit: "", label: "j", value: 10 },
    { unit: "", label: "k", value: 11 },
    { unit: "", label: "m", value: 12 },
  ]);
});

Deno.test("choriaPerfdata emits keys in Choria's order unit, label, value", () => {
  const [first] = choriaPerfdata([datum("x y", 1.5, { unit: "kb" })]);
  equal(JSON.stringify(first), '{"unit":"","label":"x y","value":1.5}');
  deepEqual(choriaPerfdata([]), []);
});

// ---------------------------------------------------------------- properties

/** A printable decimal in [-1e6, 1e6] with up to 3 fraction digits (never scientific). */
const decimal = fc.tuple(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.constantFrom(1, 10, 100, 1000),
).map(([n, d]) => n / d);

/** Prints a range in the plugin syntax. */
function printRange(start: number, end: number, inside: boolean): string {
  const at = inside ? "@" : "";
  const endText = end === Infinity ? "" : String(end);
  if (start === -Infinity) return `${at}~:${endText}`;
  if (start === 0 && end !== Infinity) return `${at}${endText}`;
  return `${at}${String(start)}:${endText}`;
}

const rangeArb: fc.Arbitrary<ThresholdRange> = fc.record({
  inside: fc.boolean(),
  a: fc.oneof(decimal, fc.constant(-Infinity), fc.constant(0)),
  b: fc.oneof(decimal, fc.constant(Infinity)),
}).map(({ inside, a, b }) => {
  const [start, end] = a <= b ? [a, b] : [b, a];
  return { start, end, inside, text: printRange(start, end, inside) };
});

const labelArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }),
  fc.string({ unit: fc.constantFrom("'", " ", "=", "|", ";", "a", "1"), minLength: 1 }),
);

const unitArb = fc.constantFrom("", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c", "W", "°C");

const datumArb: fc.Arbitrary<PerfDatum> = fc.record({
  label: labelArb,
  value: fc.option(decimal, { nil: null }),
  unit: unitArb,
  warn: fc.option(rangeArb, { nil: null }),
  crit: fc.option(rangeArb, { nil: null }),
  min: fc.option(decimal, { nil: null }),
  max: fc.option(decimal, { nil: null }),
}).map((d) => (d.value === null ? { ...d, unit: "" } : d));

/** Prints a datum, quoting the label and dropping trailing empty fields. */
function printDatum(d: PerfDatum): string {
  const label = `'${d.label.replaceAll("'", "''")}'`;
  const fields = [
    d.value === null ? "U" : `${String(d.value)}${d.unit}`,
    d.warn?.text ?? "",
    d.crit?.text ?? "",
    d.min === null ? "" : String(d.min),
    d.max === null ? "" : String(d.max),
  ];
  while (fields.length > 1 && fields.at(-1) === "") fields.pop();
  return `${label}=${fields.join(";")}`;
}

Deno.test("property: parseRange round-trips printed ranges", () => {
  fc.assert(fc.property(rangeArb, (r) => {
    deepEqual(parseRange(r.text), r);
  }));
});

Deno.test("property: parseRange returns an ordered range or throws ScoutError", () => {
  const chars = fc.constantFrom("@", "~", ":", "-", ".", "1", "0", "9", " ", "e", ",", "U");
  fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: chars })), (text) => {
    try {
      const r = parseRange(text);
      ok(r.start <= r.end);
      ok(!Number.isNaN(r.start) && !Number.isNaN(r.end));
    } catch (err) {
      ok(err instanceof ScoutError);
      equal(err.code, "CONFIG_INVALID");
    }
  }));
});

Deno.test("property: @ form alerts exactly where the plain form does not", () => {
  fc.assert(fc.property(rangeArb, decimal, (r, v) => {
    equal(rangeAlerts({ ...r, inside: true }, v), !rangeAlerts({ ...r, inside: false }, v));
  }));
});

Deno.test("property: well-formed perfdata items round-trip through the printer", () => {
  const sep = fc.constantFrom(" ", "  ", "\t", " \t ");
  fc.assert(fc.property(fc.array(datumArb, { maxLength: 8 }), sep, (items, s) => {
    const printed = items.map(printDatum).join(s);
    deepEqual(parsePerfdata(printed), { items, errors: [] });
  }));
});

Deno.test("property: perfdata split across line 1 and later lines round-trips", () => {
  fc.assert(fc.property(
    fc.array(datumArb, { maxLength: 6 }),
    fc.array(datumArb, { maxLength: 6 }),
    (head, tail) => {
      const line1 = head.length > 0 ? `OK - all good | ${head.map(printDatum).join(" ")}` : "OK";
      const later = tail.length > 0 ? `\nlong 1\nlong 2 | ${tail.map(printDatum).join("\n")}` : "";
      const out = parsePluginOutput(line1 + later);
      deepEqual(out.perfdataErrors, []);
      deepEqual(out.perfdata, [...head, ...tail]);
      equal(out.longText, tail.length > 0 ? "long 1\nlong 2" : "");
    },
  ));
});

Deno.test("property: output truncated anywhere keeps every item that was complete", () => {
  fc.assert(fc.property(
    fc.array(datumArb, { minLength: 1, maxLength: 6 }),
    fc.nat(),
    (items, cutSeed) => {
      const printed = items.map(printDatum);
      const text = printed.join(" ");
      const cut = cutSeed % (text.length + 1);
      // Items whose text and following separator lie before the cut are complete.
      let complete = 0;
      let pos = 0;
      for (const p of printed) {
        pos += p.length + 1;
        if (pos <= cut) complete++;
      }
      const parsed = parsePerfdata(text.slice(0, cut)).items;
      ok(parsed.length >= complete);
      deepEqual(parsed.slice(0, complete), items.slice(0, complete));
    },
  ));
});

Deno.test("property: the parsers never throw on any input", () => {
  const nasty = fc.constantFrom(
    "'",
    "''",
    "=",
    ";",
    "|",
    " ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "@",
    "~",
    ":",
    "-",
    ".",
    ",",
    "U",
    "e",
    "1",
    "0",
    "a",
    "%",
    "MB",
    "[output truncated at 65536 bytes]",
  );
  const input = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.string({ unit: nasty, maxLength: 60 }),
  );
  fc.assert(
    fc.property(input, (text) => {
      const perf = parsePerfdata(text);
      ok(perf.errors.length <= MAX_PERFDATA_ERRORS + 1);
      for (const d of perf.items) {
        ok(d.label.length > 0);
        ok(d.value === null || Number.isFinite(d.value));
      }
      const out = parsePluginOutput(text);
      ok(!out.summary.includes("|"));
      ok(!out.summary.includes("\n"));
      ok(!out.longText.includes("\r"));
      for (const c of choriaPerfdata(out.perfdata)) ok(Number.isFinite(c.value));
    }),
    { numRuns: 2000 },
  );
});
