/**
 * goss's matcher language (goss.md §2): the default matchers (string/number/bool/list), the
 * advanced ones (`equal`, `have-prefix`, `match-regexp`, `contain-element(s)`, `consist-of`,
 * `not`/`and`/`or`, `gt`..., `have-len`, `have-key`, `semver-constraint`, `have-patterns`,
 * `gjson`), their transforms (to-string, to-numeric, to-array, gjson) and goss's failure texts.
 * Matchers are stateful like gomega's: build one per test. Private to src/goss/.
 * @module
 */

import {
  byteLength,
  formatObject,
  goJson,
  goTypeName,
  isPlainObject,
  quoteAny,
  quoteGo,
  sprintV,
} from "./_gofmt.ts";
import { gjsonGet, gjsonValid } from "./_gjson.ts";
import { compileRe2, RegexRefusedError, RegexSyntaxError } from "./_regexp.ts";
import { parseSemver, parseSemverRange, type SemVer } from "./_semver.ts";

/** What a matcher reports about a failed (or passed) test, as goss's MatcherResult. */
export interface MatcherResult {
  /** The value tested (after transforms). */
  actual: unknown;
  /** "to equal", "matches expectation"... */
  message: string;
  /** The expectation (matchers rendered as their JSON form). */
  expected: unknown;
  /** Expected elements no actual element satisfied. */
  missingElements?: unknown;
  /** Patterns/elements that were found. */
  foundElements?: unknown;
  /** Actual elements no expectation claimed (consist-of). */
  extraElements?: unknown;
  /** Transforms applied before matching, e.g. [{"to-numeric":{}}]. */
  transformChain?: unknown[];
  /** The value before the transforms. */
  untransformedValue?: unknown;
}

/** A matcher failed to run (wrong type, bad regex...): the test FAILs with this as its error. */
export class MatchError extends Error {
  /** Creates the error with goss's text. */
  constructor(message: string) {
    super(message);
    this.name = "MatchError";
  }
}

/** One compiled matcher. */
export abstract class Matcher {
  /** Tests the actual value; throws MatchError when it cannot. */
  abstract match(actual: unknown): boolean;
  /** Why the value did not match. */
  abstract failureResult(actual: unknown): MatcherResult;
  /** Why the value matched although it should not have (under `not`). */
  abstract negatedFailureResult(actual: unknown): MatcherResult;
  /** The expectation as goss marshals it into texts and JSON. */
  abstract toJSON(): unknown;
}

/** Deep equality of decoded YAML/JSON values (reflect.DeepEqual without int/float distinction). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return a === a || typeof a !== "number"; // NaN != NaN
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Converts matchers and other JSON-able values into plain data (what goss would marshal). */
export function toPlain(v: unknown): unknown {
  if (v === undefined) return null;
  return JSON.parse(goJson(v, { escapeHtml: false }));
}

// ---------------------------------------------------------------- transforms

/** A value transform applied before a matcher (goss's Transformer). */
export interface Transformer {
  /** The transformed value; throws MatchError (with `partial` set when Go returns a value too). */
  transform(v: unknown): unknown;
  /** The value Go returns alongside an error. */
  readonly errorValue: unknown;
  /** Go's `%#v` of the transformer, prefixed to its errors. */
  readonly goString: string;
  /** JSON form, e.g. {"to-numeric":{}}. */
  toJSON(): unknown;
}

/** strconv.ParseFloat on trimmed text. */
export function parseGoFloat(s: string): number {
  const t = s.trim();
  const err = () => new MatchError(`strconv.ParseFloat: parsing ${quoteGo(t)}: invalid syntax`);
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  if (/^[+-]?(\d(_?\d)*\.?(\d(_?\d)*)?|\.\d(_?\d)*)([eE][+-]?\d+)?$/.test(t)) {
    if (t.includes("_")) throw err();
    const n = Number(t);
    if (!Number.isFinite(n)) {
      throw new MatchError(`strconv.ParseFloat: parsing ${quoteGo(t)}: value out of range`);
    }
    return n;
  }
  if (/^[+-]?0[xX]/.test(t)) {
    const m = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(t);
    if (m && (m[2] || m[3])) {
      const mant = parseInt((m[2] || "0") + (m[3] || ""), 16) / 16 ** (m[3]?.length ?? 0);
      return (m[1] === "-" ? -1 : 1) * mant * 2 ** Number(m[4]);
    }
  }
  throw err();
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** to-string: lists joined by newlines, everything else as `%v`. */
export const toStringTransform: Transformer = {
  transform: (v) => (Array.isArray(v) ? v.map(sprintV).join("\n") : sprintV(v)),
  errorValue: "",
  goString: "matchers.ToString{}",
  toJSON: () => ({ "to-string": {} }),
};

/** to-numeric: numbers kept, strings (and string lists joined) parsed as floats. */
export const toNumericTransform: Transformer = {
  transform: (v) => {
    if (typeof v === "number") return v;
    if (typeof v === "string") return parseGoFloat(v);
    if (isStringArray(v)) return parseGoFloat(v.join("\n"));
    throw new MatchError(`Expected numeric, Got:${formatObject(v, 1)}`);
  },
  errorValue: 0,
  goString: "matchers.ToNumeric{}",
  toJSON: () => ({ "to-numeric": {} }),
};

/** to-array: a string split into lines; other values kept. */
export const toArrayTransform: Transformer = {
  transform: (v) => (typeof v === "string" ? v.split("\n") : v),
  errorValue: null,
  goString: "matchers.ToArray{}",
  toJSON: () => ({ "to-array": {} }),
};

/** gjson: extracts a path from a JSON string. */
export function gjsonTransform(path: string): Transformer {
  return {
    transform: (v) => {
      if (typeof v !== "string") throw new MatchError(`Expected string, Got:${formatObject(v, 1)}`);
      if (!gjsonValid(v)) throw new MatchError("Invalid json");
      const r = gjsonGet(v, path);
      if (!r.exists) throw new MatchError(`Path not found: ${path}`);
      return r.value;
    },
    errorValue: null,
    goString: `matchers.Gjson{Path:${quoteGo(path)}}`,
    toJSON: () => ({ gjson: { Path: path } }),
  };
}

// ---------------------------------------------------------------- matchers

function result(actual: unknown, message: string, expected: unknown): MatcherResult {
  return { actual, message, expected };
}

/** Applies a transform, then the inner matcher; failures report the chain (goss WithSafeTransform). */
export class WithTransform extends Matcher {
  private transformed: unknown = undefined;
  private wasTransformed = false;
  private transformError = false;

  /** Wraps `inner` so it sees `transform(actual)`. */
  constructor(readonly transformer: Transformer, readonly inner: Matcher) {
    super();
  }

  match(actual: unknown): boolean {
    this.transformError = false;
    try {
      this.transformed = this.transformer.transform(actual);
    } catch (e) {
      this.transformError = true;
      this.transformed = this.transformer.errorValue;
      this.wasTransformed = !deepEqual(actual, this.transformed);
      const msg = e instanceof Error ? e.message : String(e);
      throw new MatchError(`${this.transformer.goString}: ${msg}`);
    }
    this.wasTransformed = !deepEqual(actual, this.transformed);
    return this.inner.match(this.transformed);
  }

  private chain(): { chain: Transformer[]; matcher: Matcher; value: unknown } {
    const chain: Transformer[] = [];
    if (this.wasTransformed || this.transformError) chain.push(this.transformer);
    let m: Matcher = this.inner;
    let value: unknown = this.transformed;
    while (m instanceof WithTransform) {
      value = m.transformed;
      if (m.wasTransformed || m.transformError) chain.push(m.transformer);
      m = m.inner;
    }
    return { chain, matcher: m, value };
  }

  failureResult(actual: unknown): MatcherResult {
    const { chain, matcher, value } = this.chain();
    const r = matcher.failureResult(value);
    return { ...r, transformChain: chain, untransformedValue: actual };
  }

  negatedFailureResult(actual: unknown): MatcherResult {
    const { chain, matcher, value } = this.chain();
    const r = matcher.negatedFailureResult(value);
    return { ...r, transformChain: chain, untransformedValue: actual };
  }

  toJSON(): unknown {
    return this.chain().matcher.toJSON();
  }
}

/** equal: deep equality, no coercion. */
export class EqualMatcher extends Matcher {
  /** Expects exactly `expected`. */
  constructor(readonly expected: unknown) {
    super();
  }
  match(actual: unknown): boolean {
    if (
      (actual === null || actual === undefined) &&
      (this.expected === null || this.expected === undefined)
    ) {
      throw new MatchError(
        "Refusing to compare <nil> to <nil>.\nBe explicit and use BeNil() instead.  This is to avoid mistakes where both sides of an assertion are erroneously uninitialized.",
      );
    }
    return deepEqual(actual, this.expected);
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, "to equal", this.expected);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to equal", this.expected);
  }
  toJSON(): unknown {
    return this.expected;
  }
}

type StringOp = "have-prefix" | "have-suffix" | "contain-substring" | "match-regexp";

const STRING_OP_TEXT: Record<StringOp, [string, string]> = {
  "have-prefix": ["HavePrefix", "to have prefix"],
  "have-suffix": ["HaveSuffix", "to have suffix"],
  "contain-substring": ["ContainSubstring", "to contain substring"],
  "match-regexp": ["MatchRegexp", "to match regular expression"],
};

/** have-prefix, have-suffix, contain-substring and match-regexp on a string. */
export class StringMatcher extends Matcher {
  /** Tests `op` with `arg`; `untrusted` refuses regexes prone to catastrophic backtracking. */
  constructor(readonly op: StringOp, readonly arg: string, readonly untrusted = false) {
    super();
  }
  match(actual: unknown): boolean {
    if (typeof actual !== "string") {
      throw new MatchError(
        `${STRING_OP_TEXT[this.op][0]} matcher requires a string or stringer.  Got:\n${
          formatObject(actual, 1)
        }`,
      );
    }
    switch (this.op) {
      case "have-prefix":
        return actual.startsWith(this.arg);
      case "have-suffix":
        return actual.endsWith(this.arg);
      case "contain-substring":
        return actual.includes(this.arg);
      case "match-regexp":
        try {
          const re = compileRe2(this.arg, { untrusted: this.untrusted });
          re.lastIndex = 0;
          return re.test(actual);
        } catch (e) {
          if (e instanceof RegexRefusedError) throw new MatchError(e.message);
          if (e instanceof RegexSyntaxError) {
            throw new MatchError(`RegExp match failed to compile with error:\n\t${e.message}`);
          }
          throw e;
        }
    }
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, STRING_OP_TEXT[this.op][1], this.arg);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, STRING_OP_TEXT[this.op][1].replace(/^to /, "not to "), this.arg);
  }
  toJSON(): unknown {
    return { [this.op]: this.arg };
  }
}

/** gt/ge/lt/le/eq on numbers (gomega BeNumerically). */
export class NumericMatcher extends Matcher {
  /** Compares with `comparator` ("eq", "gt", ...) against `compareTo`. */
  constructor(readonly comparator: "eq" | "gt" | "ge" | "lt" | "le", readonly compareTo: unknown) {
    super();
  }
  match(actual: unknown): boolean {
    if (typeof actual !== "number") {
      throw new MatchError(`Expected a number.  Got:\n${formatObject(actual, 1)}`);
    }
    const e = this.compareTo;
    if (typeof e !== "number") {
      throw new MatchError(`Expected a number.  Got:\n${formatObject(e, 1)}`);
    }
    switch (this.comparator) {
      case "eq":
        return actual === e;
      case "gt":
        return actual > e;
      case "ge":
        return actual >= e;
      case "lt":
        return actual < e;
      case "le":
        return actual <= e;
    }
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, `to be numerically ${this.comparator}`, this.compareTo);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, `not to be numerically ${this.comparator}`, this.compareTo);
  }
  toJSON(): unknown {
    return { [this.comparator]: this.compareTo };
  }
}

/** have-len: length of a string (bytes), list or map. */
export class HaveLenMatcher extends Matcher {
  /** Expects `count` elements. */
  constructor(readonly count: number) {
    super();
  }
  match(actual: unknown): boolean {
    if (typeof actual === "string") return byteLength(actual) === this.count;
    if (Array.isArray(actual)) return actual.length === this.count;
    if (isPlainObject(actual)) return Object.keys(actual).length === this.count;
    throw new MatchError(
      `HaveLen matcher expects a string/array/map/channel/slice.  Got:\n${formatObject(actual, 1)}`,
    );
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, "to have length", this.count);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to have length", this.count);
  }
  toJSON(): unknown {
    return { "have-len": this.count };
  }
}

/** have-key: some key of a map matches. */
export class HaveKeyMatcher extends Matcher {
  /** Keys are tested with `key`. */
  constructor(readonly key: Matcher) {
    super();
  }
  match(actual: unknown): boolean {
    if (!isPlainObject(actual)) {
      throw new MatchError(`HaveKey matcher expects a map.  Got:${formatObject(actual, 1)}`);
    }
    for (const k of Object.keys(actual).sort()) {
      try {
        if (this.key.match(k)) return true;
      } catch (e) {
        throw new MatchError(`HaveKey's key matcher failed with:\n    ${(e as Error).message}`);
      }
    }
    return false;
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, "to have key matching", this.key);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to have key matching", this.key);
  }
  toJSON(): unknown {
    return { "have-key": this.key };
  }
}

function valuesOf(actual: unknown, name: string): unknown[] {
  if (Array.isArray(actual)) return actual;
  if (isPlainObject(actual)) return Object.keys(actual).sort().map((k) => actual[k]);
  throw new MatchError(
    `${name} matcher expects an array/slice/map.  Got:\n${formatObject(actual, 1)}`,
  );
}

/** contain-element: at least one element matches. */
export class ContainElementMatcher extends Matcher {
  /** Elements are tested with `element`. */
  constructor(readonly element: Matcher) {
    super();
  }
  match(actual: unknown): boolean {
    let last: unknown = null;
    for (const v of valuesOf(actual, "ContainElement")) {
      try {
        if (this.element.match(v)) return true;
      } catch (e) {
        last = e;
      }
    }
    if (last) throw last;
    return false;
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, "to contain element matching", this.element);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to contain element matching", this.element);
  }
  toJSON(): unknown {
    return { "contain-element": this.element };
  }
}

/** Maximum bipartite matching of values (left) to matchers (right); errors count as no match. */
function largestMatching(
  values: unknown[],
  matchers: Matcher[],
): { freeLeft: number[]; freeRight: number[] } {
  const adj: number[][] = values.map((v) =>
    matchers.flatMap((m, j) => {
      try {
        return m.match(v) ? [j] : [];
      } catch {
        return [];
      }
    })
  );
  const matchR = new Array<number>(matchers.length).fill(-1);
  const tryKuhn = (u: number, seen: boolean[]): boolean => {
    for (const j of adj[u]!) {
      if (seen[j]) continue;
      seen[j] = true;
      if (matchR[j] === -1 || tryKuhn(matchR[j]!, seen)) {
        matchR[j] = u;
        return true;
      }
    }
    return false;
  };
  values.forEach((_, u) => tryKuhn(u, new Array<boolean>(matchers.length).fill(false)));
  const left = new Set(matchR.filter((u) => u >= 0));
  return {
    freeLeft: values.map((_, i) => i).filter((i) => !left.has(i)),
    freeRight: matchers.map((_, j) => j).filter((j) => matchR[j] === -1),
  };
}

/** contain-elements: every matcher claims a distinct element. */
export class ContainElementsMatcher extends Matcher {
  private missing: unknown[] | undefined;
  /** Every one of `elements` must match a different element. */
  constructor(readonly elements: Matcher[]) {
    super();
  }
  match(actual: unknown): boolean {
    this.missing = undefined;
    const values = valuesOf(actual, "ContainElements");
    const { freeRight } = largestMatching(values, this.elements);
    if (freeRight.length === 0) return true;
    this.missing = freeRight.map((j) => this.elements[j]);
    return false;
  }
  failureResult(actual: unknown): MatcherResult {
    const r = result(actual, "to contain elements matching", this.elements);
    if (this.missing) {
      r.missingElements = this.missing;
      const miss = new Set(this.missing);
      r.foundElements = this.elements.filter((e) => !miss.has(e));
    }
    return r;
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to contain elements matching", this.elements);
  }
  toJSON(): unknown {
    return { "contain-elements": this.elements };
  }
}

/** consist-of: the same multiset of elements in any order. */
export class ConsistOfMatcher extends Matcher {
  private missing: unknown[] | undefined;
  private extra: unknown[] | undefined;
  /** The elements must be matched one to one by `elements`. */
  constructor(readonly elements: Matcher[]) {
    super();
  }
  match(actual: unknown): boolean {
    this.missing = undefined;
    this.extra = undefined;
    const values = valuesOf(actual, "ConsistOf");
    const { freeLeft, freeRight } = largestMatching(values, this.elements);
    if (freeLeft.length === 0 && freeRight.length === 0) return true;
    if (freeRight.length) this.missing = freeRight.map((j) => this.elements[j]);
    if (freeLeft.length) this.extra = freeLeft.map((i) => values[i]);
    return false;
  }
  failureResult(actual: unknown): MatcherResult {
    const r = result(actual, "to consist of", this.elements);
    if (this.missing) r.missingElements = this.missing;
    if (this.extra) r.extraElements = this.extra;
    return r;
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to consist of", this.elements);
  }
  toJSON(): unknown {
    return { "consist-of": this.elements };
  }
}

/** not: negation; errors stay errors. */
export class NotMatcher extends Matcher {
  /** Negates `inner`. */
  constructor(readonly inner: Matcher) {
    super();
  }
  match(actual: unknown): boolean {
    return !this.inner.match(actual);
  }
  failureResult(actual: unknown): MatcherResult {
    return this.inner.negatedFailureResult(actual);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return this.inner.failureResult(actual);
  }
  toJSON(): unknown {
    return { not: this.inner };
  }
}

/** and: all must match; reports the first that did not. */
export class AndMatcher extends Matcher {
  private firstFailed: Matcher | null = null;
  /** All of `matchers`. */
  constructor(readonly matchers: Matcher[]) {
    super();
  }
  match(actual: unknown): boolean {
    this.firstFailed = null;
    for (const m of this.matchers) {
      let ok: boolean;
      try {
        ok = m.match(actual);
      } catch (e) {
        this.firstFailed = m;
        throw e;
      }
      if (!ok) {
        this.firstFailed = m;
        return false;
      }
    }
    return true;
  }
  failureResult(actual: unknown): MatcherResult {
    if (this.firstFailed) return this.firstFailed.failureResult(actual);
    return result(actual, "to satisfy all of these matchers", this.matchers);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to satisfy all of these matchers", this.matchers);
  }
  toJSON(): unknown {
    if (this.matchers.length === 1) return this.matchers[0]!.toJSON();
    return { and: this.matchers };
  }
}

/** or: any must match. */
export class OrMatcher extends Matcher {
  private firstOk: Matcher | null = null;
  /** Any of `matchers`. */
  constructor(readonly matchers: Matcher[]) {
    super();
  }
  match(actual: unknown): boolean {
    this.firstOk = null;
    for (const m of this.matchers) {
      if (m.match(actual)) {
        this.firstOk = m;
        return true;
      }
    }
    return false;
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, "to satisfy at least one of these matchers", this.matchers);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    if (this.firstOk) return this.firstOk.negatedFailureResult(actual);
    return result(actual, "not to satisfy at least one of these matchers", this.matchers);
  }
  toJSON(): unknown {
    return { or: this.matchers };
  }
}

/** semver-constraint: every version satisfies the range. */
export class SemverMatcher extends Matcher {
  /** Versions must satisfy `constraint`. */
  constructor(readonly constraint: string) {
    super();
  }
  match(actual: unknown): boolean {
    let range;
    try {
      range = parseSemverRange(this.constraint);
    } catch {
      throw new MatchError(
        `Expected a valid semver constraint.  Got:\n${formatObject(this.constraint, 1)}`,
      );
    }
    const versions: SemVer[] = [];
    const bad = () =>
      new MatchError(
        `Expected a single or list of semver valid version(s).  Got:\n${formatObject(actual, 1)}`,
      );
    if (typeof actual === "string") {
      const v = parseSemver(actual);
      if (!v) throw bad();
      versions.push(v);
    } else if (Array.isArray(actual)) {
      for (const x of actual) {
        const v = typeof x === "string" ? parseSemver(x) : null;
        if (!v) throw bad();
        versions.push(v);
      }
      if (versions.length === 0) throw bad();
    } else throw bad();
    return versions.every((v) => range(v));
  }
  failureResult(actual: unknown): MatcherResult {
    return result(actual, "to satisfy semver constraint", this.constraint);
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    return result(actual, "not to satisfy semver constraint", this.constraint);
  }
  toJSON(): unknown {
    return { "semver-constraint": this.constraint };
  }
}

// ---------------------------------------------------------------- line patterns

/** Lines longer than this make the text stream test fail (bufio.Scanner's limit in goss). */
export const MAX_LINE_BYTES = 1024 * 1024;

/** One line pattern of a text stream expectation. */
export interface LinePattern {
  /** The pattern as written. */
  readonly pattern: string;
  /** True for `!foo` / `!/re/`: no line may match. */
  readonly inverse: boolean;
  /** Whether one line matches. */
  test(line: string): boolean;
}

/** Parses one line pattern: `foo`, `!foo`, `\!foo`, `/re/`, `!/re/`, `/re/i` (flags i, m, s). */
export function parseLinePattern(s: string, untrusted = false): LinePattern {
  const inverse = s.startsWith("!");
  const rx = /^!?\/(.*)\/([ims]*)$/s.exec(s);
  if ((s.startsWith("/") || s.startsWith("!/")) && rx && s.length >= 2) {
    let clean = inverse ? s.slice(1) : s;
    if (clean.startsWith("\\") || clean.startsWith("/")) clean = clean.slice(1);
    const flags = rx[2]!;
    clean = clean.slice(0, clean.length - flags.length);
    if (clean.endsWith("/")) clean = clean.slice(0, -1);
    const source = flags ? `(?${flags})${clean}` : clean;
    const re = compileRe2(source, { untrusted });
    return {
      pattern: s,
      inverse,
      test: (line) => {
        re.lastIndex = 0;
        return re.test(line);
      },
    };
  }
  const clean = s.replace(/^[\\/!]+/, "");
  return { pattern: s, inverse, test: (line) => line.includes(clean) };
}

/** bufio.Scanner's lines: split on \n, a trailing \r dropped, no final empty line. */
export function scanLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** have-patterns (and a list expected on a text stream): every line pattern must hold. */
export class HavePatternsMatcher extends Matcher {
  private missing: string[] | undefined;
  private found: string[] | undefined;
  /** `elements` is the list as written (strings). */
  constructor(readonly elements: unknown, readonly untrusted = false) {
    super();
  }
  match(actual: unknown): boolean {
    this.missing = undefined;
    this.found = undefined;
    if (!Array.isArray(this.elements)) {
      throw new MatchError(
        `HavePatterns matcher expects an array of matchers.  Got:\n${
          formatObject(this.elements, 1)
        }`,
      );
    }
    const elements: string[] = [];
    for (const v of this.elements) {
      if (typeof v !== "string") {
        throw new MatchError(
          `HavePatterns matcher expects patterns to be a string. got: \n${formatObject(v, 1)}`,
        );
      }
      elements.push(v);
    }
    let notFound: LinePattern[];
    try {
      notFound = elements.map((e) => parseLinePattern(e, this.untrusted));
    } catch (e) {
      throw new MatchError((e as Error).message);
    }
    if (notFound.length === 0) return true;
    let text: string;
    if (typeof actual === "string") text = actual;
    else if (isStringArray(actual)) text = actual.join("\n");
    else throw new MatchError(`Incorrect type ${goTypeName(actual)}`);
    const found: LinePattern[] = [];
    for (const line of scanLines(text)) {
      if (byteLength(line) > MAX_LINE_BYTES) throw new MatchError("bufio.Scanner: token too long");
      notFound = notFound.filter((p) => {
        if (!p.test(line)) return true;
        if (!p.inverse) found.push(p);
        return false;
      });
      if (notFound.length === 0) break;
    }
    for (const p of notFound) if (p.inverse || p.pattern === "") found.push(p);
    this.found = found.map((p) => p.pattern);
    if (found.length !== elements.length) {
      const f = new Set(this.found);
      this.missing = elements.filter((e) => !f.has(e));
      return false;
    }
    return true;
  }
  failureResult(actual: unknown): MatcherResult {
    const a = typeof actual === "string" || isStringArray(actual)
      ? actual
      : `object: ${goTypeName(actual)}`;
    const r = result(a, "to have patterns", this.elements);
    if (this.missing && this.missing.length) r.missingElements = this.missing;
    if (this.found && this.found.length) r.foundElements = this.found;
    return r;
  }
  negatedFailureResult(actual: unknown): MatcherResult {
    const a = typeof actual === "string" ? actual : `object: ${goTypeName(actual)}`;
    return result(a, "not to have patterns", this.elements);
  }
  toJSON(): unknown {
    return { "have-patterns": this.elements };
  }
}

// ---------------------------------------------------------------- building

/** An expectation that is not valid matcher syntax: the test FAILs with this error. */
export class MatcherSyntaxError extends MatchError {}

function invalidArg(name: string, expected: string, value: unknown): MatcherSyntaxError {
  return new MatcherSyntaxError(
    `Syntax Error: Invalid '${name}' argument. Expected ${expected} value, but received: ${
      goTypeName(value)
    }: ${quoteAny(value)}`,
  );
}

function sliceOf(value: unknown, name: string, options: BuildOptions): Matcher[] {
  if (!Array.isArray(value)) throw invalidArg(name, "array", value);
  return value.map((v) => buildMatcher(v, options));
}

/** Options of buildMatcher. */
export interface BuildOptions {
  /** Rules from the network: regexes prone to catastrophic backtracking are refused. @default false */
  untrusted?: boolean;
}

/** Builds the matcher for an expected value as written in the gossfile (goss matcherToGomegaMatcher). */
export function buildMatcher(expected: unknown, options: BuildOptions = {}): Matcher {
  const untrusted = options.untrusted ?? false;
  if (typeof expected === "string") {
    return new WithTransform(toStringTransform, new EqualMatcher(expected));
  }
  if (typeof expected === "number") {
    return new WithTransform(toNumericTransform, new NumericMatcher("eq", expected));
  }
  if (typeof expected === "boolean") return new EqualMatcher(expected);
  if (Array.isArray(expected)) return new ContainElementsMatcher(sliceOf(expected, "", options));
  if (expected === null || expected === undefined) {
    throw new MatcherSyntaxError("Syntax Error: Missing required attribute");
  }
  if (!isPlainObject(expected)) throw invalidArg("matcher", "map", expected);
  const keys = Object.keys(expected);
  if (keys.length === 0) throw invalidArg("matcher", "map", expected);
  if (keys.length > 1) {
    throw new MatcherSyntaxError(
      `Syntax Error: Invalid matcher configuration. At a given nesting level, only one matcher is allowed. Found multiple matchers: [${
        keys.sort().map(quoteGo).join(" ")
      }]`,
    );
  }
  const type = keys[0]!;
  const value = expected[type];
  switch (type) {
    case "equal":
      return new EqualMatcher(value);
    case "have-prefix":
    case "have-suffix":
    case "match-regexp":
    case "contain-substring":
      if (typeof value !== "string") throw invalidArg(type, "string", value);
      return new WithTransform(toStringTransform, new StringMatcher(type, value, untrusted));
    case "have-len":
      if (typeof value !== "number") throw invalidArg("have-len", "numeric", value);
      return new HaveLenMatcher(Math.trunc(value));
    case "have-patterns":
      if (!Array.isArray(value)) throw invalidArg("have-patterns", "array", value);
      return new WithTransform(toStringTransform, new HavePatternsMatcher(value, untrusted));
    case "have-key":
      return new HaveKeyMatcher(buildMatcher(value, options));
    case "contain-element":
      if (!(isPlainObject(value) || typeof value === "string" || typeof value === "number")) {
        throw invalidArg("contain-element", "matcher, string or numeric", value);
      }
      return new WithTransform(
        toArrayTransform,
        new ContainElementMatcher(buildMatcher(value, options)),
      );
    case "contain-elements":
      return new WithTransform(
        toArrayTransform,
        new ContainElementsMatcher(sliceOf(value, "contains-elements", options)),
      );
    case "not":
      return new NotMatcher(buildMatcher(value, options));
    case "consist-of":
      return new ConsistOfMatcher(sliceOf(value, "consist-of", options));
    case "and":
      return new AndMatcher(sliceOf(value, "and", options));
    case "or":
      return new OrMatcher(sliceOf(value, "or", options));
    case "gt":
    case "ge":
    case "lt":
    case "le":
      return new WithTransform(toNumericTransform, new NumericMatcher(type, value));
    case "semver-constraint":
      if (typeof value !== "string") throw invalidArg("semver-constraint", "string", value);
      return new SemverMatcher(value);
    case "gjson": {
      if (!isPlainObject(value)) throw invalidArg("gjson", "map", value);
      const subs = Object.keys(value).sort().map((path) =>
        new WithTransform(gjsonTransform(path), buildMatcher(value[path], options))
      );
      return new AndMatcher(subs);
    }
    default:
      throw new MatcherSyntaxError(`Syntax Error: Unknown matcher: ${type}`);
  }
}

/** Checks an expectation's syntax without running it; returns the error text or null. */
export function checkMatcherSyntax(expected: unknown, stream: boolean): string | null {
  try {
    if (stream && Array.isArray(expected)) {
      for (const p of expected) if (typeof p === "string") parseLinePattern(p);
    } else buildMatcher(expected);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
