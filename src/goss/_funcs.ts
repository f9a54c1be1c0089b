/**
 * Template functions of gossfiles: goss's own (mkSlice getEnv readFile regexMatch toLower toUpper
 * findStringSubmatch) over a Sprig subset (strings, lists, dicts, math, defaults, JSON, regex,
 * base64, type tests). Sprig functions that need a clock or randomness are left out on purpose.
 * Private to src/goss/.
 * @module
 */

import { goJson, goTypeName, isPlainObject, quoteGo, sprintV } from "./_gofmt.ts";
import { compileRe2 } from "./_regexp.ts";
import type { FuncMap, TemplateFunc } from "./_template.ts";
import { LazyMap } from "./_template.ts";

/** What the functions may touch. */
export interface FuncHost {
  /** Reads a file's text for `readFile`; absent = refused (untrusted rules). */
  readFile?: (path: string) => Promise<string>;
  /** An environment variable for `getEnv`, `env` and `expandenv`. */
  env: (name: string) => string | undefined;
  /** Rules from the network: regexes prone to catastrophic backtracking are refused. */
  untrusted?: boolean;
}

/** Largest string or list a template function may build (a runaway `repeat` is an error, not an OOM). */
export const MAX_BUILT = 16 * 1024 * 1024;

function capped(n: number, what: string): number {
  if (n > MAX_BUILT) throw new Error(`${what} would exceed ${MAX_BUILT} elements`);
  return n;
}

function str(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  return sprintV(v);
}

function toInt(v: unknown): number {
  if (typeof v === "number") return Math.trunc(v);
  if (typeof v === "string") {
    const n = Number(v.trim());
    return Number.isFinite(n) ? Math.trunc(n) : 0;
  }
  if (typeof v === "boolean") return v ? 1 : 0;
  return 0;
}

function toFloat(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : 0;
  }
  if (typeof v === "boolean") return v ? 1 : 0;
  return 0;
}

/** Sprig's `empty`: nil, "", 0, false, empty list or map. */
export function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v === "string") return v.length === 0;
  if (typeof v === "number") return v === 0;
  if (typeof v === "boolean") return !v;
  if (Array.isArray(v)) return v.length === 0;
  if (isPlainObject(v)) return Object.keys(v).length === 0;
  return false;
}

function list(v: unknown, fn: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (v === null || v === undefined) return [];
  throw new Error(`Cannot find ${fn} on type ${goTypeName(v)}`);
}

function dict(v: unknown): Record<string, unknown> {
  if (isPlainObject(v)) return v;
  throw new Error(`expected a dict, got ${goTypeName(v)}`);
}

function deepMerge(
  dst: Record<string, unknown>,
  src: Record<string, unknown>,
  overwrite: boolean,
): Record<string, unknown> {
  for (const [k, v] of Object.entries(src)) {
    const cur = dst[k];
    if (isPlainObject(cur) && isPlainObject(v)) deepMerge(cur, v, overwrite);
    else if (!(k in dst) || overwrite || isEmpty(cur)) dst[k] = structuredClone(v);
  }
  return dst;
}

function words(s: string): string[] {
  return s
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0);
}

function goRegexReplacement(repl: string): string {
  // Go expands $1, ${1}, $name, ${name}; JavaScript uses $1 and $<name>.
  return repl.replace(/\$\$/g, "\uE000").replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_m, a: string, b: string) => {
      const name = a ?? b;
      return /^\d+$/.test(name) ? `$${name}` : `$<${name}>`;
    },
  ).replace(/\uE000/g, "$$$$");
}

function global(re: RegExp): RegExp {
  return new RegExp(re.source, re.flags.includes("g") ? re.flags : re.flags + "g");
}

function b64enc(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function b64dec(s: string): string {
  try {
    const bin = atob(s);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch (e) {
    return (e as Error).message;
  }
}

function title(s: string): string {
  return s.replace(/(^|[^A-Za-z0-9_'])([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase());
}

/** The functions available to gossfile templates (goss's own take precedence over Sprig's). */
export function templateFuncs(host: FuncHost): FuncMap {
  const rx = (pattern: unknown) => compileRe2(str(pattern), { untrusted: host.untrusted ?? false });
  const sprig: Record<string, TemplateFunc> = {
    // strings
    upper: (s) => str(s).toUpperCase(),
    lower: (s) => str(s).toLowerCase(),
    title: (s) => title(str(s)),
    untitle: (s) => str(s).replace(/\b([A-Z])/g, (c) => c.toLowerCase()),
    repeat: (n, s) => {
      const count = Math.max(0, toInt(n));
      capped(count * str(s).length, "repeat");
      return str(s).repeat(count);
    },
    substr: (start, end, s) => {
      const t = str(s);
      const a = toInt(start);
      const b = toInt(end);
      if (a < 0) return t.slice(0, b);
      if (b < 0 || b > t.length) return t.slice(a);
      return t.slice(a, b);
    },
    nospace: (s) => str(s).replace(/\s+/g, ""),
    trunc: (n, s) => {
      const t = str(s);
      const c = toInt(n);
      if (c < 0 && -c < t.length) return t.slice(t.length + c);
      return c >= 0 && t.length > c ? t.slice(0, c) : t;
    },
    abbrev: (width, s) => {
      const t = str(s);
      const w = toInt(width);
      if (w < 4 || t.length <= w) return t;
      return t.slice(0, w - 3) + "...";
    },
    trim: (s) => str(s).trim(),
    trimAll: (cut, s) => {
      const c = [...str(cut)];
      let t = str(s);
      while (t && c.includes(t[0]!)) t = t.slice(1);
      while (t && c.includes(t[t.length - 1]!)) t = t.slice(0, -1);
      return t;
    },
    trimPrefix: (p, s) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s)),
    trimSuffix: (
      p,
      s,
    ) => (str(s).endsWith(str(p)) && str(p) ? str(s).slice(0, -str(p).length) : str(s)),
    contains: (sub, s) => str(s).includes(str(sub)),
    hasPrefix: (p, s) => str(s).startsWith(str(p)),
    hasSuffix: (p, s) => str(s).endsWith(str(p)),
    quote: (...xs) =>
      xs.filter((x) => x !== null && x !== undefined).map((x) => quoteGo(str(x))).join(" "),
    squote: (...xs) =>
      xs.filter((x) => x !== null && x !== undefined).map((x) => `'${str(x)}'`).join(" "),
    cat: (...xs) => xs.filter((x) => x !== null && x !== undefined).map(str).join(" "),
    indent: (n, s) => str(s).split("\n").map((l) => " ".repeat(toInt(n)) + l).join("\n"),
    nindent: (n, s) => "\n" + str(s).split("\n").map((l) => " ".repeat(toInt(n)) + l).join("\n"),
    replace: (o, n, s) => str(s).split(str(o)).join(str(n)),
    plural: (one, many, n) => (toInt(n) === 1 ? str(one) : str(many)),
    snakecase: (s) => words(str(s)).map((w) => w.toLowerCase()).join("_"),
    kebabcase: (s) => words(str(s)).map((w) => w.toLowerCase()).join("-"),
    camelcase: (s) => words(str(s)).map((w) => w[0]!.toUpperCase() + w.slice(1)).join(""),
    swapcase: (s) =>
      [...str(s)].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(""),
    wrap: (n, s) => {
      const width = toInt(n);
      const out: string[] = [];
      let line = "";
      for (const w of str(s).split(/\s+/).filter(Boolean)) {
        if (line && line.length + 1 + w.length > width) {
          out.push(line);
          line = w;
        } else line = line ? `${line} ${w}` : w;
      }
      if (line) out.push(line);
      return out.join("\n");
    },
    initials: (s) => str(s).split(/\s+/).filter(Boolean).map((w) => w[0]).join(""),
    split: (sep, s) => Object.fromEntries(str(s).split(str(sep)).map((p, i) => [`_${i}`, p])),
    splitList: (sep, s) => str(s).split(str(sep)),
    splitn: (sep, n, s) => {
      const parts = str(s).split(str(sep));
      const c = toInt(n);
      const out = c > 0 && parts.length > c
        ? [...parts.slice(0, c - 1), parts.slice(c - 1).join(str(sep))]
        : parts;
      return Object.fromEntries(out.map((p, i) => [`_${i}`, p]));
    },
    join: (sep, v) => (Array.isArray(v) ? v.map(str).join(str(sep)) : str(v)),
    sortAlpha: (v) => list(v, "sortAlpha").map(str).sort(),
    toString: (v: unknown) => str(v),
    toStrings: (v) => list(v, "toStrings").map(str),
    toJson: (v) => goJson(v),
    toRawJson: (v) => goJson(v, { escapeHtml: false }),
    toPrettyJson: (v) => goJson(v, { indent: "  " }),
    fromJson: (s) => {
      try {
        return JSON.parse(str(s));
      } catch {
        return {};
      }
    },
    b64enc: (s) => b64enc(str(s)),
    b64dec: (s) => b64dec(str(s)),
    // regex (RE2)
    regexFind: (re, s) => rx(re).exec(str(s))?.[0] ?? "",
    regexFindAll: (re, s, n) => {
      const all = [...str(s).matchAll(global(rx(re)))].map((m) => m[0]);
      const c = toInt(n);
      return c < 0 ? all : all.slice(0, c);
    },
    regexReplaceAll: (re, s, repl) => str(s).replace(global(rx(re)), goRegexReplacement(str(repl))),
    regexReplaceAllLiteral: (re, s, repl) => str(s).replace(global(rx(re)), () => str(repl)),
    regexSplit: (re, s, n) => {
      const parts = str(s).split(rx(re));
      const c = toInt(n);
      return c < 0 ? parts : parts.slice(0, c);
    },
    regexQuoteMeta: (s) => str(s).replace(/[\\.+*?()|[\]{}^$]/g, "\\$&"),
    // defaults and logic
    default: (d, ...given) => (given.length === 0 || isEmpty(given[0]) ? d : given[0]),
    empty: (v) => isEmpty(v),
    coalesce: (...xs) => xs.find((x) => !isEmpty(x)) ?? null,
    all: (...xs) => xs.every((x) => !isEmpty(x)),
    any: (...xs) => xs.some((x) => !isEmpty(x)),
    ternary: (a, b, c) => (c === true ? a : b),
    fail: (msg) => {
      throw new Error(str(msg));
    },
    required: (msg, v) => {
      if (v === null || v === undefined || v === "") throw new Error(str(msg));
      return v;
    },
    // lists
    list: (...xs) => xs,
    tuple: (...xs) => xs,
    first: (v) => list(v, "first")[0] ?? null,
    last: (v) => {
      const l = list(v, "last");
      return l.length ? l[l.length - 1] : null;
    },
    rest: (v) => list(v, "rest").slice(1),
    initial: (v) => list(v, "initial").slice(0, -1),
    append: (v, x) => [...list(v, "append"), x],
    push: (v, x) => [...list(v, "push"), x],
    prepend: (v, x) => [x, ...list(v, "prepend")],
    concat: (...ls) => ls.flatMap((l) => list(l, "concat")),
    reverse: (v) => [...list(v, "reverse")].reverse(),
    uniq: (v) =>
      list(v, "uniq").filter((x, i, a) => a.findIndex((y) => goJson(y) === goJson(x)) === i),
    without: (v, ...xs) =>
      list(v, "without").filter((x) => !xs.some((y) => goJson(y) === goJson(x))),
    has: (needle, v) => list(v, "has").some((x) => goJson(x) === goJson(needle)),
    compact: (v) => list(v, "compact").filter((x) => !isEmpty(x)),
    until: (n) => Array.from({ length: capped(Math.max(0, toInt(n)), "until") }, (_, i) => i),
    untilStep: (start, stop, step) => {
      const out: number[] = [];
      const s = toInt(step);
      if (s === 0) return out;
      capped(Math.abs((toInt(stop) - toInt(start)) / s), "untilStep");
      for (let i = toInt(start); s > 0 ? i < toInt(stop) : i > toInt(stop); i += s) out.push(i);
      return out;
    },
    seq: (...xs) => {
      const n = xs.map(toInt);
      const [a, step, b] = n.length === 1
        ? [1, 1, n[0]!]
        : n.length === 2
        ? [n[0]!, n[0]! <= n[1]! ? 1 : -1, n[1]!]
        : [n[0]!, n[1]!, n[2]!];
      const out: number[] = [];
      if (step === 0) return "";
      capped(Math.abs((b - a) / step), "seq");
      for (let i = a; step > 0 ? i <= b : i >= b; i += step) out.push(i);
      return out.join(" ");
    },
    // dicts
    dict: (...kv) => {
      const d: Record<string, unknown> = {};
      for (let i = 0; i < kv.length; i += 2) d[str(kv[i])] = i + 1 < kv.length ? kv[i + 1] : "";
      return d;
    },
    get: (d, k) => (isPlainObject(d) && Object.hasOwn(d, str(k)) ? d[str(k)] : ""),
    set: (d, k, v) => {
      dict(d)[str(k)] = v;
      return d;
    },
    unset: (d, k) => {
      delete dict(d)[str(k)];
      return d;
    },
    hasKey: (d, k) => isPlainObject(d) && Object.hasOwn(d, str(k)),
    keys: (...ds) => ds.flatMap((d) => Object.keys(dict(d))).sort(),
    values: (d) => Object.keys(dict(d)).sort().map((k) => dict(d)[k]),
    pick: (d, ...ks) =>
      Object.fromEntries(
        ks.map(str).filter((k) => Object.hasOwn(dict(d), k)).map((k) => [k, dict(d)[k]]),
      ),
    omit: (d, ...ks) =>
      Object.fromEntries(Object.entries(dict(d)).filter(([k]) => !ks.map(str).includes(k))),
    pluck: (k, ...ds) =>
      ds.filter((d) => isPlainObject(d) && Object.hasOwn(d, str(k))).map((d) => dict(d)[str(k)]),
    merge: (dst, ...srcs) =>
      srcs.reduce((acc: Record<string, unknown>, s) => deepMerge(acc, dict(s), false), dict(dst)),
    mergeOverwrite: (dst, ...srcs) =>
      srcs.reduce((acc: Record<string, unknown>, s) => deepMerge(acc, dict(s), true), dict(dst)),
    deepCopy: (v) => structuredClone(v),
    dig: (...args) => {
      const d = args[args.length - 1];
      const def = args[args.length - 2];
      let cur: unknown = d;
      for (const k of args.slice(0, -2)) {
        if (!isPlainObject(cur) || !Object.hasOwn(cur, str(k))) return def;
        cur = cur[str(k)];
      }
      return cur;
    },
    // math
    add: (...xs) => xs.reduce((a: number, b) => a + toInt(b), 0),
    add1: (x) => toInt(x) + 1,
    sub: (a, b) => toInt(a) - toInt(b),
    mul: (...xs) => xs.reduce((a: number, b) => a * toInt(b), 1),
    div: (a, b) => {
      if (toInt(b) === 0) throw new Error("runtime error: integer divide by zero");
      return Math.trunc(toInt(a) / toInt(b));
    },
    mod: (a, b) => {
      if (toInt(b) === 0) throw new Error("runtime error: integer divide by zero");
      return toInt(a) % toInt(b);
    },
    max: (...xs) => Math.max(...xs.map(toInt)),
    min: (...xs) => Math.min(...xs.map(toInt)),
    addf: (...xs) => xs.reduce((a: number, b) => a + toFloat(b), 0),
    subf: (a, ...bs) => bs.reduce((x: number, b) => x - toFloat(b), toFloat(a)),
    mulf: (...xs) => xs.reduce((a: number, b) => a * toFloat(b), 1),
    divf: (a, ...bs) => bs.reduce((x: number, b) => x / toFloat(b), toFloat(a)),
    maxf: (...xs) => Math.max(...xs.map(toFloat)),
    minf: (...xs) => Math.min(...xs.map(toFloat)),
    floor: (x) => Math.floor(toFloat(x)),
    ceil: (x) => Math.ceil(toFloat(x)),
    round: (x, p) => {
      const f = 10 ** toInt(p);
      return Math.round(toFloat(x) * f) / f;
    },
    int: (x) => toInt(x),
    int64: (x) => toInt(x),
    float64: (x) => toFloat(x),
    atoi: (x) => toInt(x),
    // types
    typeOf: (v) => goTypeName(v),
    kindOf: (v) => kindOf(v),
    kindIs: (k, v) => kindOf(v) === str(k),
    typeIs: (t, v) => goTypeName(v) === str(t),
    deepEqual: (a, b) => goJson(a) === goJson(b),
    // environment
    env: (name) => host.env(str(name)) ?? "",
    expandenv: (s) =>
      str(s).replace(
        /\$\{(\w+)\}|\$(\w+)/g,
        (_m, a?: string, b?: string) => host.env(a ?? b ?? "") ?? "",
      ),
  };
  const goss: Record<string, TemplateFunc> = {
    mkSlice: (...xs) => xs,
    getEnv: (key, ...def) => {
      const v = host.env(str(key)) ?? "";
      return v === "" && def.length > 0 ? str(def[0]) : v;
    },
    readFile: async (path) => {
      if (!host.readFile) throw new Error("readFile is refused for untrusted rules");
      return (await host.readFile(str(path))).trim();
    },
    regexMatch: (re, s) => {
      const r = rx(re);
      r.lastIndex = 0;
      return r.test(str(s));
    },
    toLower: (s) => str(s).toLowerCase(),
    toUpper: (s) => str(s).toUpperCase(),
    findStringSubmatch: (re, s) => {
      const m = rx(re).exec(str(s));
      const out: Record<string, unknown> = {};
      if (!m) return out;
      if (m.groups && Object.keys(m.groups).length) {
        for (const [k, v] of Object.entries(m.groups)) out[k] = v ?? "";
      } else m.forEach((v, i) => (out[String(i)] = v ?? ""));
      return out;
    },
  };
  return { ...sprig, ...goss };
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return "invalid";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (Array.isArray(v)) return "slice";
  if (isPlainObject(v) || v instanceof LazyMap) return "map";
  return "struct";
}
