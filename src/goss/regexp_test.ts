import { equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { compileRe2, RegexRefusedError, RegexSyntaxError, translateRe2 } from "./_regexp.ts";

function matches(pattern: string, text: string): boolean {
  const re = compileRe2(pattern);
  re.lastIndex = 0;
  return re.test(text);
}

Deno.test("RE2 inline flags become modifier groups that respect alternation", () => {
  equal(translateRe2("(?i)foo"), "(?i:foo)");
  ok(matches("(?i)FOO", "foo"));
  ok(matches("a(?i)b|c", "C"), "(?i) applies to the rest of the group, across |");
  ok(!matches("a(?i)b|c", "Ab"));
  ok(matches("(?s:a.b)", "a\nb"));
  ok(!matches("a.b", "a\nb"), ". does not match newline without s");
  ok(matches("(?m)^b$", "a\nb\nc"));
});

Deno.test("RE2 escapes and classes keep their Go meaning in JavaScript", () => {
  ok(!matches("\\s", "\u00a0"), "\\s is ASCII whitespace only, as in RE2");
  ok(matches("^\\w+$", "abc_123"));
  ok(!matches("\\w", "é"));
  ok(matches("[[:alpha:]]+[[:digit:]]", "abc1"));
  ok(matches("[[:^space:]]", "x"));
  ok(matches("\\pL\\p{Greek}", "aα"));
  ok(matches("\\Qa.b*\\E", "a.b*"));
  ok(!matches("\\Qa.b\\E", "axb"));
  ok(matches("\\x41\\x{42}\\101", "ABA"));
  ok(matches("a\\z", "a") && !matches("a\\z", "a\n"));
  ok(matches("\\Aa", "ab") && !matches("\\Aa", "ba"));
  ok(matches("(?P<n>x)\\d", "x1"));
  ok(matches("x{,3}", "x{,3}"), "a brace that is not a repeat is literal");
  ok(matches("[]a]", "]"));
  ok(matches("(?U)a+", "a"));
  equal(translateRe2("(?U)a+?"), "a+");
});

Deno.test("syntax RE2 refuses is rejected with Go's message", () => {
  const cases: [string, string][] = [
    ["(abc", "error parsing regexp: missing closing ): `(abc`"],
    ["abc)", "error parsing regexp: unexpected ): `abc)`"],
    ["a**", "error parsing regexp: invalid nested repetition operator: `**`"],
    ["*a", "error parsing regexp: missing argument to repetition operator: `*`"],
    ["(a)\\1", "error parsing regexp: invalid escape sequence: `\\1`"],
    ["(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"],
    ["(?<!a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
    ["a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"],
    ["[z-a]", "error parsing regexp: invalid character class range: `z-a`"],
    ["[a", "error parsing regexp: missing closing ]: `[a`"],
    ["\\C", "error parsing regexp: invalid escape sequence: `\\C`"],
    ["\\k", "error parsing regexp: invalid escape sequence: `\\k`"],
    ["\\p{Nope}", "error parsing regexp: invalid character class range: `\\p{Nope}`"],
  ];
  for (const [p, msg] of cases) {
    throws(
      () => compileRe2(p),
      (e: unknown) => e instanceof RegexSyntaxError && e.message === msg,
      p,
    );
  }
});

Deno.test("property: \\Q...\\E quotes any text literally", () => {
  fc.assert(fc.property(fc.string().filter((s) => !s.includes("\\E")), (s) => {
    ok(matches(`^\\Q${s}\\E$`, s));
  }));
});

Deno.test("property: patterns made of literals and simple operators agree with JavaScript", () => {
  const atom = fc.constantFrom("a", "b", ".", "[ab]", "[^a]", "\\d", "(a|b)", "x");
  const quant = fc.constantFrom("", "*", "+", "?", "{1,2}");
  const pattern = fc.array(fc.tuple(atom, quant), { minLength: 1, maxLength: 5 }).map((xs) =>
    xs.map(([a, q]) => a + q).join("")
  );
  fc.assert(fc.property(pattern, fc.stringMatching(/^[abx1\n]{0,6}$/), (p, text) => {
    equal(matches(p, text), new RegExp(p).test(text), p);
  }));
});

Deno.test("untrusted rules refuse repeated groups that repeat or alternate (exponential backtracking in JS)", () => {
  for (const p of ["(a+)+$", "(a*)*b", "(a|aa)+$", "((ab)*c)+", "(.*a){3,}"]) {
    throws(() => compileRe2(p, { untrusted: true }), RegexRefusedError, p);
    ok(compileRe2(p), "trusted rules keep full RE2 syntax");
  }
  for (const p of ["^a+b*$", "(ab)+", "(a|b)", "(a+)?", "(a+){2}", "[a-z]+\\d*"]) {
    ok(compileRe2(p, { untrusted: true }), p);
  }
});
