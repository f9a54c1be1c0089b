import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { ScoutError } from "../errors.ts";
import { joinArgs, splitArgs } from "./mod.ts";

const CASES: [string, string[]][] = [
  ["", []],
  ["   ", []],
  ["-H example.com -p 443", ["-H", "example.com", "-p", "443"]],
  ["  a \t b\nc  ", ["a", "b", "c"]],
  ["-u '/health check'", ["-u", "/health check"]],
  [`'it''s'`, ["its"]],
  [`'a "b" \\c'`, [`a "b" \\c`]],
  [`"say \\"hi\\""`, [`say "hi"`]],
  [`"back\\\\slash"`, ["back\\slash"]],
  [`"keep \\n and \\$"`, ["keep \\n and \\$"]],
  [`"it's"`, ["it's"]],
  [`--expect='HTTP/1.1 200'`, ["--expect=HTTP/1.1 200"]],
  [`a\\ b`, ["a b"]],
  [`\\'quoted\\'`, ["'quoted'"]],
  [`a "" b ''`, ["a", "", "b", ""]],
  [`pre"mid dle"post`, ["premid dlepost"]],
  ["$HOME; rm -rf / | cat", ["$HOME;", "rm", "-rf", "/", "|", "cat"]],
];

Deno.test("splitArgs splits like a shell without expanding anything", () => {
  for (const [text, args] of CASES) deepEqual(splitArgs(text), args, `splitArgs(${text})`);
});

Deno.test("splitArgs refuses unterminated quotes and a trailing backslash", () => {
  for (
    const [text, message] of [
      [`check 'open`, `unterminated single quote in "check 'open"`],
      [`check "open`, `unterminated double quote in "check \\"open"`],
      [`check "esc\\"`, `unterminated double quote in "check \\"esc\\\\\\""`],
      [`check \\`, `trailing backslash in "check \\\\"`],
    ]
  ) {
    throws(() => splitArgs(text as string), (err: unknown) => {
      ok(err instanceof ScoutError);
      equal(err.code, "CONFIG_INVALID");
      equal(err.message, message);
      equal(err.hint, "close the quote, or write the arguments as a YAML list of strings");
      return true;
    });
  }
});

Deno.test("joinArgs quotes arguments so that splitArgs returns them unchanged", () => {
  equal(joinArgs(["check_http", "-u", "/a b", "it's", ""]), `check_http -u '/a b' 'it'\\''s' ''`);
  fc.assert(
    fc.property(fc.array(fc.string()), (args) => {
      deepEqual(splitArgs(joinArgs(args)), args);
    }),
  );
});
