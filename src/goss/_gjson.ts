/**
 * A subset of github.com/tidwall/gjson paths, as goss's `gjson` matcher uses them: dotted keys,
 * `\` escapes, `*`/`?` key wildcards, array indexes, `#` (length), `#.key` (map over an array),
 * queries `#(key==value)` / `#(key>1)#`, and the modifiers `@this @reverse @keys @values @flatten`.
 * Private to src/goss/.
 * @module
 */

import { isPlainObject } from "./_gofmt.ts";

/** The result of a lookup: whether the path exists and the value found. */
export interface GjsonResult {
  /** True when the path leads to a value. */
  exists: boolean;
  /** The value (numbers as numbers, objects as plain objects). */
  value: unknown;
}

const MISSING: GjsonResult = { exists: false, value: undefined };

/** True when the text is valid JSON (gjson.Valid). */
export function gjsonValid(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Splits a path into components at unescaped dots, keeping `#(...)` queries whole. */
export function splitPath(path: string): string[] {
  const parts: string[] = [];
  let cur = "";
  let depth = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && i + 1 < path.length) {
      cur += c + path[i + 1];
      i++;
      continue;
    }
    if (c === "(") depth++;
    if (c === ")") depth = Math.max(0, depth - 1);
    if ((c === "." || c === "|") && depth === 0) {
      parts.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  return parts;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

function wildcardRegex(pattern: string): RegExp | null {
  let hasWild = false;
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) {
      re += pattern[i + 1]!.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
      i++;
    } else if (c === "*") {
      re += "[\\s\\S]*";
      hasWild = true;
    } else if (c === "?") {
      re += "[\\s\\S]";
      hasWild = true;
    } else re += c.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
  }
  return hasWild ? new RegExp(`^${re}$`, "u") : null;
}

function compareQuery(a: unknown, op: string, b: unknown): boolean {
  const bothNumbers = typeof a === "number" && typeof b === "number";
  const bothStrings = typeof a === "string" && typeof b === "string";
  if (bothNumbers || bothStrings) {
    // Numbers and strings order the same way with JavaScript's operators.
    const x = a as number | string, y = b as number | string;
    switch (op) {
      case "==":
        return x === y;
      case "!=":
        return x !== y;
      case "<":
        return x < y;
      case "<=":
        return x <= y;
      case ">":
        return x > y;
      case ">=":
        return x >= y;
    }
  }
  if (bothStrings) {
    if (op === "%") {
      return wildcardRegex(b as string)?.test(a as string) ?? a === unescape(b as string);
    }
    if (op === "!%") return !compareQuery(a, "%", b);
  }
  if (op === "==") return a === b;
  if (op === "!=") return a !== b;
  return false;
}

function parseQueryValue(text: string): unknown {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

function runQuery(arr: unknown[], query: string, all: boolean): GjsonResult {
  const m = /^(.*?)(==|!=|<=|>=|<|>|!%|%)(.*)$/s.exec(query);
  const matches = arr.filter((el) => {
    if (!m) {
      const r = getPath(el, query.trim());
      return r.exists && r.value !== false && r.value !== null;
    }
    const left = m[1]!.trim();
    const r = left === "" ? { exists: true, value: el } : getPath(el, left);
    return r.exists && compareQuery(r.value, m[2]!, parseQueryValue(m[3]!));
  });
  if (all) return { exists: true, value: matches };
  return matches.length ? { exists: true, value: matches[0] } : MISSING;
}

function modifier(value: unknown, name: string): GjsonResult {
  switch (name) {
    case "this":
    case "pretty":
    case "ugly":
    case "valid":
      return { exists: true, value };
    case "reverse":
      if (Array.isArray(value)) return { exists: true, value: [...value].reverse() };
      if (isPlainObject(value)) {
        return { exists: true, value: Object.fromEntries(Object.entries(value).reverse()) };
      }
      return { exists: true, value };
    case "keys":
      return { exists: true, value: isPlainObject(value) ? Object.keys(value) : [] };
    case "values":
      return {
        exists: true,
        value: isPlainObject(value) ? Object.values(value) : Array.isArray(value) ? value : [],
      };
    case "flatten":
      return {
        exists: true,
        value: Array.isArray(value) ? value.flatMap((v) => (Array.isArray(v) ? v : [v])) : value,
      };
    default:
      return MISSING;
  }
}

/** `#` over an array: the rest of the path applied to each element, the ones that have it. */
function stepEach(items: unknown[], rest: string[]): GjsonResult {
  const out: unknown[] = [];
  for (const el of items) {
    const r = step(el, rest);
    if (r.exists) out.push(r.value);
  }
  return { exists: true, value: out };
}

function step(value: unknown, parts: string[]): GjsonResult {
  if (parts.length === 0) return { exists: true, value };
  const [raw, ...rest] = parts as [string, ...string[]];
  if (raw.startsWith("@")) {
    const r = modifier(value, raw.slice(1).split(":")[0]!);
    return r.exists ? step(r.value, rest) : MISSING;
  }
  if (Array.isArray(value)) {
    if (raw === "#") {
      if (rest.length === 0) return { exists: true, value: value.length };
      return stepEach(value, rest);
    }
    const q = /^#\((.*)\)(#?)$/s.exec(raw);
    if (q) {
      const r = runQuery(value, q[1]!, q[2] === "#");
      if (!r.exists) return MISSING;
      if (q[2] === "#" && rest.length) return stepEach(r.value as unknown[], rest);
      return step(r.value, rest);
    }
    if (/^[0-9]+$/.test(raw)) {
      const idx = Number(raw);
      return idx < value.length ? step(value[idx], rest) : MISSING;
    }
    return MISSING;
  }
  if (isPlainObject(value)) {
    const wild = wildcardRegex(raw);
    if (wild) {
      const key = Object.keys(value).find((k) => wild.test(k));
      return key === undefined ? MISSING : step(value[key], rest);
    }
    const key = unescape(raw);
    return Object.hasOwn(value, key) ? step(value[key], rest) : MISSING;
  }
  return MISSING;
}

function getPath(value: unknown, path: string): GjsonResult {
  if (path === "") return MISSING;
  return step(value, splitPath(path));
}

/** gjson.Get(json, path): the value at the path in a JSON text. */
export function gjsonGet(json: string, path: string): GjsonResult {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return MISSING;
  }
  return getPath(doc, path);
}
