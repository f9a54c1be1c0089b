import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  buildMatcher,
  deepEqual as valuesEqual,
  HavePatternsMatcher,
  type Matcher,
  MatchError,
  parseGoFloat,
  parseLinePattern,
  scanLines,
  toPlain,
} from "./_matchers.ts";

/** Runs a matcher built from a gossfile expectation; errors come back as { error }. */
function run(expected: unknown, actual: unknown): { ok: boolean; m: Matcher } | { error: string } {
  let m: Matcher;
  try {
    m = buildMatcher(expected);
  } catch (e) {
    return { error: (e as Error).message };
  }
  try {
    return { ok: m.match(actual), m };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function passes(expected: unknown, actual: unknown): boolean {
  const r = run(expected, actual);
  if ("error" in r) throw new Error(r.error);
  return r.ok;
}

function failure(expected: unknown, actual: unknown) {
  const r = run(expected, actual);
  if ("error" in r) throw new Error(r.error);
  equal(r.ok, false);
  return toPlain(r.m.failureResult(actual) as unknown) as Record<string, unknown>;
}

function errorOf(expected: unknown, actual: unknown): string {
  const r = run(expected, actual);
  ok("error" in r, "expected an error");
  return r.error;
}

// ---------------------------------------------------------------- default matchers

Deno.test('a string expectation compares the actual as text, so 644 matches "644" and true matches "true"', () => {
  ok(passes("644", 644));
  ok(passes("true", true));
  ok(passes("a\nb", ["a", "b"]), "lists are joined with newlines");
  ok(!passes("0644", 644));
});

Deno.test("a number expectation parses the actual, trimming spaces", () => {
  ok(passes(42, "42"));
  ok(passes(42, " 42\n"));
  ok(passes(128.3, "128.3"));
  ok(!passes(43, 42));
  equal(
    errorOf(42, "abc"),
    'matchers.ToNumeric{}: strconv.ParseFloat: parsing "abc": invalid syntax',
  );
});

Deno.test('a bool expectation is strict: "1" is not true', () => {
  ok(passes(true, true));
  ok(!passes(true, "1"));
  ok(!passes(false, "false"));
});

Deno.test("a list expectation needs a distinct actual element for every expected element", () => {
  ok(passes(["a", "b"], ["b", "c", "a"]));
  const f = failure(["group1", "group2", "group2", "group4"], ["group1", "group2", "group3"]);
  deepEqual(f["missingElements"], ["group2", "group4"]);
  equal(f["message"], "to contain elements matching");
  equal(
    errorOf(["foo"], "foo bar\nmoo cow\n"),
    "ContainElements matcher expects an array/slice/map.  Got:\n    <string>: foo bar\n    moo cow\n    ",
  );
});

Deno.test("a missing required expectation is goss's syntax error", () => {
  equal(errorOf(null, 1), "Syntax Error: Missing required attribute");
});

// ---------------------------------------------------------------- advanced matchers

Deno.test("string matchers coerce to text and report goss's messages", () => {
  ok(passes({ "have-prefix": "1" }, 128));
  ok(passes({ "have-suffix": "8" }, "128"));
  ok(passes({ "contain-substring": "oo" }, "foo"));
  ok(passes({ "match-regexp": "\\d{3}" }, 128));
  equal(failure({ "have-prefix": "g" }, "foo")["message"], "to have prefix");
  const f = failure({ "have-prefix": "2" }, 128);
  equal(f["actual"], "128");
  deepEqual(f["transformChain"], [{ "to-string": {} }]);
  equal(f["untransformedValue"], 128);
});

Deno.test("match-regexp uses RE2 syntax and an invalid pattern is a clear test error", () => {
  ok(passes({ "match-regexp": "(?i)^FOO" }, "foo bar"));
  ok(passes({ "match-regexp": "(?P<word>o+)" }, "foo"));
  equal(
    errorOf({ "match-regexp": "(abc" }, "abc"),
    "RegExp match failed to compile with error:\n\terror parsing regexp: missing closing ): `(abc`",
  );
  ok(errorOf({ "match-regexp": "(?=a)" }, "a").includes("invalid or unsupported Perl syntax"));
});

Deno.test("numeric comparisons coerce strings and reject non-numbers", () => {
  ok(passes({ gt: 120 }, "128"));
  ok(passes({ le: 128 }, 128));
  ok(passes({ lt: 20 }, "15"));
  ok(!passes({ ge: 46 }, "45"));
  equal(failure({ gt: 200 }, "128")["message"], "to be numerically gt");
  ok(errorOf({ gt: "x" }, 1).startsWith("Expected a number."));
  ok(errorOf({ lt: 1 }, true).startsWith("matchers.ToNumeric{}: Expected numeric, Got:"));
});

Deno.test("have-len counts bytes of strings, list elements and map keys", () => {
  ok(passes({ "have-len": 3 }, "123"));
  ok(passes({ "have-len": 2 }, "é"), "UTF-8 bytes, as Go's len");
  ok(passes({ "have-len": 2 }, [1, 2]));
  ok(passes({ "have-len": 1 }, { a: 1 }));
  equal(failure({ "have-len": 2 }, "123")["message"], "to have length");
  ok(errorOf({ "have-len": 1 }, 5).startsWith("HaveLen matcher expects"));
  equal(
    errorOf({ "have-len": "x" }, "a"),
    "Syntax Error: Invalid 'have-len' argument. Expected numeric value, but received: string: \"x\"",
  );
});

Deno.test("have-key tests the keys of a map with a matcher", () => {
  ok(passes({ "have-key": "baz" }, { foo: "bar", baz: "bing" }));
  ok(passes({ "have-key": { "have-prefix": "ba" } }, { baz: 1 }));
  ok(!passes({ "have-key": "nope" }, { baz: 1 }));
  ok(errorOf({ "have-key": "a" }, ["a"]).startsWith("HaveKey matcher expects a map."));
});

Deno.test("contain-element splits text into lines and matches elements with matchers", () => {
  ok(passes({ "contain-element": { "have-prefix": "moo" } }, "foo bar\nmoo cow\n"));
  ok(passes({ "contain-element": 2 }, [2]));
  ok(passes({ "contain-element": "172.17.0.2/16" }, ["172.17.0.2/16"]));
  equal(
    failure({ "contain-element": { "have-prefix": "x" } }, ["foo"])["message"],
    "to contain element matching",
  );
  ok(
    errorOf({ "contain-element": true }, ["a"]).startsWith(
      "Syntax Error: Invalid 'contain-element' argument. Expected matcher, string or numeric value",
    ),
  );
});

Deno.test("consist-of needs the same multiset in any order and reports missing and extra elements", () => {
  ok(passes({ "consist-of": ["foo", { "have-prefix": "m" }, "bar"] }, ["foo", "bar", "moo"]));
  ok(!passes({ "consist-of": ["foo", "bar"] }, ["foo", "bar", "moo"]));
  const f = failure({ "consist-of": ["fox", { "have-prefix": "t" }, "box"] }, [
    "foo",
    "bar",
    "moo",
  ]);
  deepEqual(f["missingElements"], ["fox", { "have-prefix": "t" }, "box"]);
  deepEqual(f["extraElements"], ["foo", "bar", "moo"]);
});

Deno.test("not/and/or compose and report like goss, keeping inner errors as errors", () => {
  ok(passes({ not: 43 }, 42));
  ok(passes({ and: [{ gt: 1 }, { lt: 3 }] }, 2));
  ok(passes({ or: [{ gt: 5 }, 2] }, 2));
  const neg = failure({ not: { and: [42, 42] } }, 42);
  equal(neg["message"], "not to satisfy all of these matchers");
  deepEqual(neg["expected"], [{ eq: 42 }, { eq: 42 }]);
  const and = failure({ and: [{ gt: 1 }, { lt: 2 }] }, 5);
  equal(and["message"], "to be numerically lt", "and reports its first failing child");
  equal(
    failure({ or: [{ "have-len": 2 }] }, "123")["message"],
    "to satisfy at least one of these matchers",
  );
  ok(errorOf({ not: ["foo"] }, "foo\n").startsWith("ContainElements matcher expects"));
});

Deno.test("one matcher per nesting level; unknown matchers are syntax errors", () => {
  equal(
    errorOf({ gt: 1, lt: 3 }, 2),
    'Syntax Error: Invalid matcher configuration. At a given nesting level, only one matcher is allowed. Found multiple matchers: ["gt" "lt"]',
  );
  equal(errorOf({ "be-empty": true }, ""), "Syntax Error: Unknown matcher: be-empty");
});

Deno.test("equal compares deeply with order, no coercion", () => {
  ok(passes({ equal: ["foo", "bar"] }, ["foo", "bar"]));
  ok(!passes({ equal: ["bar", "foo"] }, ["foo", "bar"]));
  ok(passes({ equal: { a: [1] } }, { a: [1] }));
  ok(!passes({ equal: "42" }, 42));
});

Deno.test("semver-constraint follows blang/semver and needs strict versions", () => {
  ok(passes({ "semver-constraint": ">=1.2.0" }, "1.2.3"));
  ok(passes({ "semver-constraint": ">1.0.0 <2.0.0 !=1.5.0" }, ["1.0.1", "1.9.9"]));
  ok(!passes({ "semver-constraint": ">1.0.0 <2.0.0 !=1.5.0" }, ["1.0.1", "1.5.0"]));
  ok(!passes({ "semver-constraint": ">=2.4.67" }, "2.4.67-r0"), "-r0 is a prerelease");
  ok(
    errorOf({ "semver-constraint": ">=1.0.0" }, "1.2").startsWith(
      "Expected a single or list of semver valid version(s).",
    ),
  );
  ok(
    errorOf({ "semver-constraint": "junk" }, "1.2.3").startsWith(
      "Expected a valid semver constraint.",
    ),
  );
});

Deno.test("gjson extracts paths from JSON text and every path must match", () => {
  const doc = '{"foo": "bar", "moo": {"nested": "cow"}, "count": "15", "arr": [{"nested": "cow"}]}';
  ok(
    passes(
      { gjson: { "moo.nested": "cow", count: { le: 25 }, "@this": { "have-key": "foo" } } },
      doc,
    ),
  );
  ok(passes({ gjson: { arr: { "contain-elements": [{ "have-key": "nested" }] } } }, doc));
  ok(!passes({ gjson: { foo: "baz" } }, doc));
  equal(
    errorOf({ gjson: { nope: "x" } }, doc),
    'matchers.Gjson{Path:"nope"}: Path not found: nope',
  );
  equal(errorOf({ gjson: { a: 1 } }, "{"), 'matchers.Gjson{Path:"a"}: Invalid json');
});

Deno.test("have-patterns applies the line-pattern language to text", () => {
  ok(passes({ "have-patterns": ["foo", "!ftw", "/^m.*w$/"] }, "foo bar\nmoo cow\n"));
  ok(!passes({ "have-patterns": ["fox"] }, "foo"));
});

// ---------------------------------------------------------------- line patterns

function patterns(expected: unknown[], text: string): { ok: boolean; missing: unknown } {
  const m = new HavePatternsMatcher(expected);
  const okv = m.match(text);
  return {
    ok: okv,
    missing: (toPlain(m.failureResult(text)) as Record<string, unknown>)["missingElements"],
  };
}

Deno.test("line patterns: substrings, negations, regexes, escapes and the empty pattern", () => {
  ok(patterns(["foo", "!ftw", "/^m.*w$/", "!/^ERROR:/"], "foo bar\nmoo cow\n").ok);
  ok(patterns(["\\!foo"], "say !foo").ok, "a leading backslash keeps a literal !");
  ok(patterns(["/FOO/i"], "foo").ok, "main's trailing regex flags");
  ok(patterns([""], "").ok, "the empty pattern holds even on empty text");
  ok(patterns([], "anything").ok);
  const r = patterns(["fox", "/^t.*w$/", "!foo", "!/^foo/"], "foo bar\nmoo cow\n");
  equal(r.ok, false);
  deepEqual(r.missing, ["fox", "/^t.*w$/", "!foo", "!/^foo/"]);
});

Deno.test("line patterns reject non-string items and bad regexes with errors", () => {
  throws(() => new HavePatternsMatcher([1]).match("x"), MatchError);
  throws(() => new HavePatternsMatcher(["/(a/"]).match("x"), /missing closing \)/);
});

Deno.test("scanLines splits like bufio.Scanner: no final empty line, \\r dropped", () => {
  deepEqual(scanLines("a\r\nb\n"), ["a", "b"]);
  deepEqual(scanLines("a\n\nb"), ["a", "", "b"]);
  deepEqual(scanLines(""), []);
});

// ---------------------------------------------------------------- properties

const safeText = fc.string({ maxLength: 20 }).filter((s) => !s.includes("\n") && !s.includes("\r"));
const line = safeText.filter((s) => !/^[!\\/]/.test(s));

Deno.test("property: a string expectation always matches itself", () => {
  fc.assert(fc.property(fc.string(), (s) => passes(s, s)));
});

Deno.test("property: a number expectation matches its decimal text", () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => passes(n, String(n))),
  );
});

Deno.test("property: every sub-multiset is contained and every permutation consists of the same elements", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 8 }),
      fc.array(fc.boolean()),
      (xs, keep) => {
        const sub = xs.filter((_, i) => keep[i] ?? false);
        ok(passes({ "contain-elements": sub }, xs));
        const shuffled = [...xs].reverse();
        ok(passes({ "consist-of": shuffled }, xs));
        if (xs.length > 0) ok(!passes({ "consist-of": xs.slice(1) }, xs));
      },
    ),
  );
});

Deno.test("property: not inverts every matcher that does not error", () => {
  const expectation = fc.oneof(
    fc.string({ maxLength: 3 }),
    fc.integer({ min: -5, max: 5 }),
    fc.record({ gt: fc.integer({ min: -5, max: 5 }) }),
    fc.record({ "have-prefix": fc.string({ maxLength: 2 }) }),
  );
  const actual = fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: -5, max: 5 }));
  fc.assert(fc.property(expectation, actual, (e, a) => {
    const plain = run(e, a);
    const neg = run({ not: e }, a);
    if ("error" in plain) ok("error" in neg);
    else ok(!("error" in neg) && neg.ok === !plain.ok);
  }));
});

Deno.test("property: numeric comparisons agree with JavaScript's on numbers and their text", () => {
  fc.assert(fc.property(fc.integer(), fc.integer(), (a, b) => {
    equal(passes({ gt: b }, String(a)), a > b);
    equal(passes({ ge: b }, a), a >= b);
    equal(passes({ lt: b }, a), a < b);
    equal(passes({ le: b }, String(a)), a <= b);
  }));
});

Deno.test("property: each line of a text satisfies its own pattern, and its negation fails", () => {
  fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), fc.nat(), (lines, i) => {
    const text = lines.join("\n") + "\n";
    const l = lines[i % lines.length]!;
    ok(patterns([l], text).ok);
    if (l !== "") equal(patterns([`!${l}`], text).ok, false);
  }));
});

Deno.test("property: a pattern absent from every line holds negated and fails plain", () => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 6 }), line.filter((s) => s.length > 0), (lines, p) => {
      fc.pre(lines.every((l) => !l.includes(p)));
      const text = lines.join("\n");
      ok(patterns([`!${p}`], text).ok);
      equal(patterns([p], text).ok, false);
    }),
  );
});

Deno.test("property: a regex line pattern of an escaped line matches that line", () => {
  fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 4 }), (lines) => {
    const l = lines[0]!;
    const re = `/^\\Q${l.replaceAll("\\E", "")}\\E/`;
    fc.pre(!l.includes("\\E"));
    ok(parseLinePattern(re).test(l));
  }));
});

Deno.test("property: scanLines inverts joining lines with newlines", () => {
  fc.assert(fc.property(fc.array(safeText, { minLength: 1, maxLength: 6 }), (lines) => {
    deepEqual(scanLines(lines.join("\n") + "\n"), lines);
  }));
});

Deno.test("parseGoFloat accepts Go's float syntax and rejects the rest", () => {
  equal(parseGoFloat(" 1e3 "), 1000);
  equal(parseGoFloat("0x1p-2"), 0.25);
  equal(parseGoFloat("-Inf"), -Infinity);
  throws(() => parseGoFloat("1_000"), /invalid syntax/);
  throws(() => parseGoFloat("12abc"), /parsing "12abc": invalid syntax/);
});

Deno.test("deepEqual treats maps without key order and lists with order", () => {
  ok(valuesEqual({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }));
  ok(!valuesEqual([1, 2], [2, 1]));
  ok(!valuesEqual(null, undefined));
});
