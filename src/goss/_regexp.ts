/**
 * Go RE2 regular expressions, translated to JavaScript (`u` mode) with RE2's meaning kept:
 * inline flags `(?i)`/`(?ims-U:...)` become modifier groups, `\s` `\d` `\w` stay ASCII, `\A` `\z`,
 * `\Q..\E`, POSIX classes, `\pN`/`\p{Greek}`, `(?P<name>)` and `\x{...}` are rewritten.
 * Syntax RE2 rejects (backreferences, lookaround, `\C`, repeats over 1000) is rejected with Go's
 * message (`error parsing regexp: ...`). Private to src/goss/.
 * @module
 */

/** A pattern that Go's regexp package would refuse. */
export class RegexSyntaxError extends Error {
  /** Creates the error with Go's wording: `error parsing regexp: <code>: \`<expr>\``. */
  constructor(code: string, expr: string) {
    super(`error parsing regexp: ${code}: \`${expr}\``);
    this.name = "RegexSyntaxError";
  }
}

type Range = [number, number];

const PERL: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

const POSIX: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const CATEGORIES = new Set([
  "C",
  "Cc",
  "Cf",
  "Co",
  "Cs",
  "L",
  "Ll",
  "Lm",
  "Lo",
  "Lt",
  "Lu",
  "M",
  "Mc",
  "Me",
  "Mn",
  "N",
  "Nd",
  "Nl",
  "No",
  "P",
  "Pc",
  "Pd",
  "Pe",
  "Pf",
  "Pi",
  "Po",
  "Ps",
  "S",
  "Sc",
  "Sk",
  "Sm",
  "So",
  "Z",
  "Zl",
  "Zp",
  "Zs",
]);

const JS_SYNTAX = new Set([..."^$\\.*+?()[]{}|/"]);

function cp(n: number): string {
  return `\\u{${n.toString(16)}}`;
}

function rangesToClassBody(ranges: Range[]): string {
  return ranges.map(([a, b]) => (a === b ? cp(a) : `${cp(a)}-${cp(b)}`)).join("");
}

function complement(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [a, b] of sorted) {
    if (a > next) out.push([next, a - 1]);
    next = Math.max(next, b + 1);
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

function literal(ch: string): string {
  return JS_SYNTAX.has(ch) ? "\\" + ch : ch;
}

function isPunct(ch: string): boolean {
  return /^[!-\/:-@\[-`{-~]$/.test(ch);
}

interface Escape {
  /** A single code point. */
  code?: number;
  /** A set of code point ranges (\\d, \\S, \\p{Any}...). */
  ranges?: Range[];
  /** A JavaScript property escape (\\p{L}, \\P{Script=Greek}). */
  prop?: string;
  /** Index after the escape. */
  end: number;
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

interface Frame {
  /** Flags in force in this group. */
  flags: Flags;
  /** Number of `(?flags:` wrappers opened by inline flag changes inside this group. */
  wrappers: string[];
  /** Output offset where the group's body starts. */
  start: number;
  /** The group contains a repetition or an alternation (backtracking risk when repeated). */
  risky: boolean;
}

/** A translated pattern. */
interface Translation {
  /** JavaScript source for `new RegExp(source, "u")`. */
  source: string;
  /** A repeated group itself repeats or alternates: exponential backtracking is possible in JS. */
  backtracking: boolean;
}

/** Translates an RE2 pattern to JavaScript source for `new RegExp(source, "u")`. */
export function translateRe2(pattern: string): string {
  return translate(pattern).source;
}

function translate(pattern: string): Translation {
  let backtracking = false;
  let out = "";
  let i = 0;
  const names = new Set<string>();
  const frames: Frame[] = [{
    flags: { i: false, m: false, s: false, U: false },
    wrappers: [],
    start: 0,
    risky: false,
  }];
  let lastAtom: { start: number; quantified: boolean; risky?: boolean } | null = null;
  const top = () => frames[frames.length - 1]!;
  const fail = (code: string, expr: string): never => {
    throw new RegexSyntaxError(code, expr);
  };

  /** Reads the escape after a backslash at `pos`: one code point, a set of ranges, or a \p property. */
  const readEscape = (pos: number): Escape => {
    const ch = pattern[pos];
    if (ch === undefined) return fail("trailing backslash at end of expression", "");
    const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (ch in simple) return { code: simple[ch]!, end: pos + 1 };
    if (ch === "x") {
      if (pattern[pos + 1] === "{") {
        const close = pattern.indexOf("}", pos + 2);
        const hex = close < 0 ? "" : pattern.slice(pos + 2, close);
        if (!/^[0-9a-fA-F]{1,8}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) {
          fail(
            "invalid escape sequence",
            pattern.slice(pos - 1, close < 0 ? pattern.length : close + 1),
          );
        }
        return { code: parseInt(hex, 16), end: close + 1 };
      }
      const hex = pattern.slice(pos + 1, pos + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        fail("invalid escape sequence", pattern.slice(pos - 1, pos + 3));
      }
      return { code: parseInt(hex, 16), end: pos + 3 };
    }
    if (/[0-7]/.test(ch)) {
      // \0.. is octal; \1-\7 alone would be a backreference, which RE2 does not support.
      if (ch !== "0" && !/[0-7]/.test(pattern[pos + 1] ?? "")) {
        fail("invalid escape sequence", pattern.slice(pos - 1, pos + 1));
      }
      let j = pos + 1;
      while (j < pos + 3 && /[0-7]/.test(pattern[j] ?? "")) j++;
      return { code: parseInt(pattern.slice(pos, j), 8), end: j };
    }
    if (ch === "d" || ch === "s" || ch === "w") return { ranges: PERL[ch]!, end: pos + 1 };
    if (ch === "D" || ch === "S" || ch === "W") {
      return { ranges: complement(PERL[ch.toLowerCase()]!), end: pos + 1 };
    }
    if (ch === "p" || ch === "P") {
      let name: string;
      let end: number;
      if (pattern[pos + 1] === "{") {
        const close = pattern.indexOf("}", pos + 2);
        if (close < 0) fail("invalid character class range", pattern.slice(pos - 1));
        name = pattern.slice(pos + 2, close);
        end = close + 1;
      } else {
        name = pattern[pos + 1] ?? "";
        end = pos + 2;
      }
      let negate = ch === "P";
      if (name.startsWith("^")) {
        negate = !negate;
        name = name.slice(1);
      }
      const shown = pattern.slice(pos - 1, end);
      if (name === "Any") return { ranges: negate ? [] : [[0, 0x10ffff]], end };
      if (!/^[A-Za-z_]+$/.test(name)) fail("invalid character class range", shown);
      const prop = CATEGORIES.has(name) ? name : `Script=${name}`;
      try {
        new RegExp(`\\p{${prop}}`, "u");
      } catch {
        fail("invalid character class range", shown);
      }
      return { prop: `\\${negate ? "P" : "p"}{${prop}}`, end };
    }
    if (isPunct(ch)) return { code: ch.codePointAt(0)!, end: pos + 1 };
    return fail("invalid escape sequence", `\\${String.fromCodePoint(pattern.codePointAt(pos)!)}`);
  };

  const emitAtom = (text: string) => {
    lastAtom = { start: out.length, quantified: false };
    out += text;
  };

  /** One element of a character class: a code point or a ready class body. */
  const readClassElement = (): { code: number } | { body: string } => {
    const c = pattern[i]!;
    if (c === "[" && pattern[i + 1] === ":") {
      const close = pattern.indexOf(":]", i + 2);
      if (close > 0) {
        let name = pattern.slice(i + 2, close);
        const neg = name.startsWith("^");
        if (neg) name = name.slice(1);
        const ranges = POSIX[name];
        if (!ranges) fail("invalid character class range", pattern.slice(i, close + 2));
        i = close + 2;
        return { body: rangesToClassBody(neg ? complement(ranges!) : ranges!) };
      }
    }
    if (c === "\\") {
      if (pattern[i + 1] === "Q" || pattern[i + 1] === "C") {
        fail("invalid escape sequence", `\\${pattern[i + 1]}`);
      }
      const esc = readEscape(i + 1);
      i = esc.end;
      if (esc.code !== undefined) return { code: esc.code };
      if (esc.ranges) return { body: rangesToClassBody(esc.ranges) };
      return { body: esc.prop! };
    }
    const code = pattern.codePointAt(i)!;
    i += code > 0xffff ? 2 : 1;
    return { code };
  };

  const parseClass = (): void => {
    const begin = i;
    i++; // [
    let negated = false;
    if (pattern[i] === "^") {
      negated = true;
      i++;
    }
    let first = true;
    const parts: string[] = [];
    while (true) {
      if (i >= pattern.length) fail("missing closing ]", pattern.slice(begin));
      if (pattern[i] === "]" && !first) {
        i++;
        break;
      }
      first = false;
      const startPos = i;
      const lo = readClassElement();
      if (
        "code" in lo && pattern[i] === "-" && pattern[i + 1] !== undefined && pattern[i + 1] !== "]"
      ) {
        i++;
        const hi = readClassElement();
        if (!("code" in hi) || hi.code < lo.code) {
          fail("invalid character class range", pattern.slice(startPos, i));
        }
        parts.push(`${cp(lo.code)}-${cp((hi as { code: number }).code)}`);
      } else {
        parts.push("code" in lo ? cp(lo.code) : lo.body);
      }
    }
    const body = parts.join("");
    if (negated) emitAtom(body === "" ? "[\\s\\S]" : `[^${body}]`);
    else emitAtom(body === "" ? "[^\\s\\S]" : `[${body}]`);
  };

  const applyQuantifier = (q: string, qStart: number) => {
    const atom = lastAtom as { start: number; quantified: boolean; risky?: boolean } | null;
    if (atom === null) fail("missing argument to repetition operator", pattern.slice(qStart, i));
    if (atom!.quantified) {
      fail("invalid nested repetition operator", pattern.slice(qStart - 1 < 0 ? 0 : qStart - 1, i));
    }
    let lazy = false;
    if (pattern[i] === "?") {
      lazy = true;
      i++;
    }
    if (top().flags.U) lazy = !lazy;
    out += q + (lazy ? "?" : "");
    atom!.quantified = true;
    if (atom!.risky && q !== "?" && !/^\{(\d+)(,\1)?\}$/.test(q) && q !== "{0,1}") {
      backtracking = true;
    }
    top().risky = true;
  };

  while (i < pattern.length) {
    const c = pattern[i]!;
    const f = top();
    switch (c) {
      case "\\": {
        if (pattern[i + 1] === "Q") {
          let end = pattern.indexOf("\\E", i + 2);
          if (end < 0) end = pattern.length;
          const lit = pattern.slice(i + 2, end);
          i = end + 2;
          for (const ch of lit) emitAtom(literal(ch));
          continue;
        }
        const n = pattern[i + 1];
        if (n === "A") {
          emitAtom("(?<![\\s\\S])");
          i += 2;
          lastAtom = null;
          continue;
        }
        if (n === "z") {
          emitAtom("(?![\\s\\S])");
          i += 2;
          lastAtom = null;
          continue;
        }
        if (n === "b" || n === "B") {
          out += "\\" + n;
          i += 2;
          lastAtom = null;
          continue;
        }
        if (n === "C") fail("invalid escape sequence", "\\C");
        const esc = readEscape(i + 1);
        i = esc.end;
        if (esc.code !== undefined) emitAtom(cp(esc.code));
        else if (esc.ranges) {
          emitAtom(esc.ranges.length ? `[${rangesToClassBody(esc.ranges)}]` : "[^\\s\\S]");
        } else emitAtom(esc.prop!);
        continue;
      }
      case "[":
        parseClass();
        continue;
      case "(": {
        const start = i;
        if (pattern[i + 1] === "?") {
          const rest = pattern.slice(i + 2);
          let m: RegExpExecArray | null;
          if ((m = /^P?<([A-Za-z0-9_]*)>/.exec(rest))) {
            const name = m[1]!;
            if (name === "" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
              fail("invalid named capture", pattern.slice(i, i + 2 + m[0].length));
            }
            if (names.has(name)) fail("duplicate capture group name", name);
            names.add(name);
            out += `(?<${name}>`;
            i += 2 + m[0].length;
            frames.push({ flags: { ...f.flags }, wrappers: [], start: out.length, risky: false });
            lastAtom = null;
            continue;
          }
          if (
            (m = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(rest)) &&
            (m[1] || m[2] !== undefined || m[3] === ":")
          ) {
            const on = m[1] ?? "";
            const off = m[2] ?? "";
            if (m[2] !== undefined && off === "") {
              fail(
                "missing argument to repetition operator",
                pattern.slice(i, i + 2 + m[0].length),
              );
            }
            const flags = { ...f.flags };
            for (const x of on) flags[x as keyof Flags] = true;
            for (const x of off) flags[x as keyof Flags] = false;
            const mod = modifier(f.flags, flags);
            i += 2 + m[0].length;
            if (m[3] === ":") {
              out += mod ? `(?${mod}:` : "(?:";
              frames.push({ flags, wrappers: [], start: out.length, risky: false });
            } else {
              // (?flags) applies to the rest of the current group.
              if (mod) {
                out += `(?${mod}:`;
                f.wrappers.push(mod);
              }
              f.flags = flags;
            }
            lastAtom = null;
            continue;
          }
          fail("invalid or unsupported Perl syntax", pattern.slice(start, start + 3));
        }
        out += "(";
        i++;
        frames.push({ flags: { ...f.flags }, wrappers: [], start: out.length, risky: false });
        lastAtom = null;
        continue;
      }
      case ")": {
        if (frames.length === 1) fail("unexpected )", pattern);
        const fr = frames.pop()!;
        out += ")".repeat(fr.wrappers.length) + ")";
        i++;
        if (fr.risky) top().risky = true;
        // The whole group is the atom a quantifier applies to.
        lastAtom = { start: fr.start, quantified: false, risky: fr.risky };
        continue;
      }
      case "|": {
        // Close inline-flag wrappers around the alternative and reopen them after the bar.
        out += ")".repeat(f.wrappers.length) + "|" + f.wrappers.map((w) => `(?${w}:`).join("");
        f.risky = true;
        i++;
        lastAtom = null;
        continue;
      }
      case "*":
      case "+":
      case "?": {
        const qs = i;
        i++;
        applyQuantifier(c, qs);
        continue;
      }
      case "{": {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) {
          emitAtom("\\{");
          i++;
          continue;
        }
        const min = Number(m[1]);
        const max = m[3] ? Number(m[3]) : m[2] ? -1 : min;
        if (min > 1000 || max > 1000 || (max >= 0 && max < min)) fail("invalid repeat count", m[0]);
        const qs = i;
        i += m[0].length;
        applyQuantifier(m[0], qs);
        continue;
      }
      case "}":
        emitAtom("\\}");
        i++;
        continue;
      case ".":
        emitAtom(".");
        i++;
        continue;
      case "^":
      case "$":
        out += c;
        i++;
        lastAtom = null;
        continue;
      default: {
        const chr = String.fromCodePoint(pattern.codePointAt(i)!);
        emitAtom(literal(chr));
        i += chr.length;
      }
    }
  }
  if (frames.length > 1) fail("missing closing )", pattern);
  out += ")".repeat(frames[0]!.wrappers.length);
  return { source: out, backtracking };
}

function modifier(from: Flags, to: Flags): string {
  let on = "";
  let off = "";
  for (const k of ["i", "m", "s"] as const) {
    if (to[k] && !from[k]) on += k;
    if (!to[k] && from[k]) off += k;
  }
  if (!on && !off) return "";
  return off ? `${on}-${off}` : on;
}

/** A valid pattern refused for untrusted rules because JavaScript could backtrack exponentially. */
export class RegexRefusedError extends Error {
  /** Creates the error for a pattern. */
  constructor(pattern: string) {
    super(
      `regular expression refused for untrusted rules: a repeated group that itself repeats or alternates can take exponential time: \`${pattern}\``,
    );
    this.name = "RegexRefusedError";
  }
}

/** Options of compileRe2. */
export interface CompileOptions {
  /** Refuse patterns prone to catastrophic backtracking (rules from the network). @default false */
  untrusted?: boolean;
}

const CACHE = new Map<string, { re: RegExp; backtracking: boolean }>();

/**
 * Compiles a Go RE2 pattern into an equivalent JavaScript RegExp (cached); throws
 * RegexSyntaxError, or RegexRefusedError for risky patterns when `untrusted`.
 */
export function compileRe2(pattern: string, options: CompileOptions = {}): RegExp {
  let hit = CACHE.get(pattern);
  if (!hit) {
    const t = translate(pattern);
    let re: RegExp;
    try {
      re = new RegExp(t.source, "u");
    } catch (e) {
      throw new RegexSyntaxError(`invalid regular expression (${(e as Error).message})`, pattern);
    }
    if (CACHE.size > 500) CACHE.clear();
    hit = { re, backtracking: t.backtracking };
    CACHE.set(pattern, hit);
  }
  if (options.untrusted && hit.backtracking) throw new RegexRefusedError(pattern);
  return hit.re;
}
