/**
 * Go-compatible rendering of values, so goss's texts come out byte for byte: `%v`, `%q`, `%T`,
 * a `fmt.Sprintf` subset, `encoding/json` (sorted map keys, HTML escaping, struct field order)
 * and gomega's `format.Object`. Pure functions; private to src/goss/.
 * @module
 */

const STRUCTS = new WeakSet<object>();

/** Marks an object as a Go struct: goJson keeps its key order instead of sorting keys. */
export function goStruct<T extends object>(obj: T): T {
  STRUCTS.add(obj);
  return obj;
}

/** True for a plain object (a YAML/JSON map), false for arrays, null and class instances. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Go's `%T` for a value decoded from YAML/JSON. */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "bigint") return "int64";
  if (Array.isArray(v)) {
    return v.every((x) => typeof x === "string") && v.length > 0 ? "[]string" : "[]interface {}";
  }
  if (isPlainObject(v)) return "map[string]interface {}";
  return "object";
}

/** strconv.FormatFloat(f, 'g', -1, 64) (also fmt's `%v`): shortest digits, exponent form below 1e-4 or from 1e6. */
export function formatFloatG(f: number): string {
  if (Number.isNaN(f)) return "NaN";
  if (f === Infinity) return "+Inf";
  if (f === -Infinity) return "-Inf";
  if (f === 0) return Object.is(f, -0) ? "-0" : "0";
  const e = exponentOf(f);
  if (e < -4 || e >= 6) return expForm(f);
  return plainForm(f);
}

function exponentOf(f: number): number {
  // toExponential gives the exact decimal exponent of the shortest representation.
  const s = f.toExponential();
  return Number(s.slice(s.indexOf("e") + 1));
}

function expForm(f: number): string {
  const s = f.toExponential(); // "1.5e+21" / "1e-7"
  const [mant, ex] = s.split("e") as [string, string];
  const sign = ex.startsWith("-") ? "-" : "+";
  const digits = ex.replace(/^[+-]/, "");
  return `${mant}e${sign}${digits.padStart(2, "0")}`;
}

function plainForm(f: number): string {
  const s = String(f);
  if (!s.includes("e")) return s;
  // JS switches to exponent at 1e21 / 1e-7; expand the in-between cases.
  return f.toFixed(20).replace(/\.?0+$/, "");
}

/** Go's `%v` (fmt.Sprint) of a value decoded from YAML/JSON: maps as `map[k:v]`, lists as `[a b]`. */
export function sprintV(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    return Number.isInteger(v) && Math.abs(v) < 1e21 ? String(v) : formatFloatG(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(sprintV).join(" ")}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${sprintV(v[k])}`).join(" ")}]`;
  }
  if (v instanceof Map) {
    const keys = [...v.keys()].map(String).sort();
    return `map[${keys.map((k) => `${k}:${sprintV(v.get(k))}`).join(" ")}]`;
  }
  return String(v);
}

/** strconv.Quote: a double-quoted Go string literal. */
export function quoteGo(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case "\\":
        out += "\\\\";
        continue;
      case "\x07":
        out += "\\a";
        continue;
      case "\b":
        out += "\\b";
        continue;
      case "\f":
        out += "\\f";
        continue;
      case "\n":
        out += "\\n";
        continue;
      case "\r":
        out += "\\r";
        continue;
      case "\t":
        out += "\\t";
        continue;
      case "\v":
        out += "\\v";
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += "\\ufffd";
    else if ((cp >= 0x80 && cp < 0xa0) || cp === 0xad) {
      out += `\\u${cp.toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return out + '"';
}

/** Options of goJson. */
export interface GoJsonOptions {
  /** Indent per level (`json.MarshalIndent`); "" = compact. */
  indent?: string;
  /** Escape `<`, `>` and `&` as `\u003c`... like `json.Marshal` (default true). */
  escapeHtml?: boolean;
}

/**
 * Go's encoding/json: map keys sorted (objects marked with goStruct keep their order), HTML
 * characters escaped unless disabled, objects with toJSON() marshalled through it.
 */
export function goJson(value: unknown, options: GoJsonOptions = {}): string {
  const indent = options.indent ?? "";
  const escapeHtml = options.escapeHtml ?? true;
  const str = (s: string): string => {
    let j = JSON.stringify(s);
    j = j.replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
    if (escapeHtml) {
      j = j.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
    }
    return j;
  };
  const enc = (v: unknown, depth: number): string => {
    if (
      v !== null && typeof v === "object" &&
      typeof (v as { toJSON?: unknown }).toJSON === "function"
    ) {
      v = (v as { toJSON(): unknown }).toJSON();
    }
    if (v === null || v === undefined) return "null";
    if (typeof v === "string") return str(v);
    if (typeof v === "number") {
      return Number.isFinite(v) ? (Object.is(v, -0) ? "-0" : JSON.stringify(v)) : "null";
    }
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "boolean") return v ? "true" : "false";
    const nl = indent ? "\n" + indent.repeat(depth + 1) : "";
    const close = indent ? "\n" + indent.repeat(depth) : "";
    const sep = indent ? ": " : ":";
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return "[" + v.map((x) => nl + enc(x, depth + 1)).join(",") + close + "]";
    }
    if (v instanceof Map) {
      const keys = [...v.keys()].map(String).sort();
      if (keys.length === 0) return "{}";
      return "{" + keys.map((k) => nl + str(k) + sep + enc(v.get(k), depth + 1)).join(",") + close +
        "}";
    }
    if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      let keys = Object.keys(o).filter((k) => o[k] !== undefined || STRUCTS.has(o));
      if (!STRUCTS.has(o)) keys = keys.sort(compareBytes);
      if (keys.length === 0) return "{}";
      return "{" + keys.map((k) => nl + str(k) + sep + enc(o[k], depth + 1)).join(",") + close +
        "}";
    }
    return str(String(v));
  };
  return enc(value, 0);
}

/** Compares strings by UTF-8 bytes (Go's string order); for BMP text the code unit order agrees. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Length of a string in UTF-8 bytes (Go's `len`). */
export function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

const INDENT = "    ";

function formatType(v: unknown): string {
  if (Array.isArray(v)) return `${goTypeName(v)} | len:${v.length}, cap:${v.length}`;
  if (isPlainObject(v)) return `map[string]interface {} | len:${Object.keys(v).length}`;
  return goTypeName(v);
}

function formatValue(v: unknown, indentation: number): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "string") {
    if (indentation === 1) {
      return v.split("\n").map((c, i) => (i === 0 ? c : INDENT + c)).join("\n");
    }
    return quoteGo(v);
  }
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x, indentation + 1)).join(", ")}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v).sort();
    return `{${
      keys.map((k) => `${quoteGo(k)}: ${formatValue(v[k], indentation + 1)}`).join(", ")
    }}`;
  }
  return sprintV(v);
}

/** gomega's format.Object: `<indent><type>: value`, the text goss puts in matcher errors. */
export function formatObject(v: unknown, indentation: number): string {
  const indent = INDENT.repeat(indentation);
  if (v === null || v === undefined) return `${indent}<nil>: nil`;
  return `${indent}<${formatType(v)}>: ${formatValue(v, indentation)}`;
}

/** Go's `%q` applied to any value (strings quoted, others as `%!q(type=value)`). */
export function quoteAny(v: unknown): string {
  if (typeof v === "string") return quoteGo(v);
  return `%!q(${goTypeName(v)}=${sprintV(v)})`;
}

// ---------------------------------------------------------------- Sprintf

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  width: number | null;
  prec: number | null;
}

function pad(s: string, spec: Spec): string {
  if (spec.width === null || s.length >= spec.width) return s;
  if (spec.minus) return s.padEnd(spec.width, " ");
  if (spec.zero) {
    const sign = /^[+-]/.test(s) ? s[0]! : "";
    return sign + s.slice(sign.length).padStart(spec.width - sign.length, "0");
  }
  return s.padStart(spec.width, " ");
}

function badVerb(verb: string, v: unknown): string {
  return v === null || v === undefined
    ? `%!${verb}(<nil>)`
    : `%!${verb}(${goTypeName(v)}=${sprintV(v)})`;
}

function fmtInt(v: number, verb: string, spec: Spec): string {
  const neg = v < 0;
  const a = Math.abs(Math.trunc(v));
  let s: string;
  switch (verb) {
    case "d":
      s = a.toString(10);
      break;
    case "x":
      s = a.toString(16);
      if (spec.sharp) s = "0x" + s;
      break;
    case "X":
      s = a.toString(16).toUpperCase();
      if (spec.sharp) s = "0X" + s;
      break;
    case "o":
      s = a.toString(8);
      if (spec.sharp) s = "0" + s;
      break;
    case "b":
      s = a.toString(2);
      break;
    default:
      s = String(a);
  }
  if (spec.prec !== null) s = s.padStart(spec.prec, "0");
  const sign = neg ? "-" : spec.plus ? "+" : spec.space ? " " : "";
  return pad(sign + s, spec);
}

function fmtFloat(v: number, verb: string, spec: Spec): string {
  let s: string;
  const prec = spec.prec;
  switch (verb) {
    case "f":
    case "F":
      s = v.toFixed(prec ?? 6);
      break;
    case "e":
    case "E": {
      const t = v.toExponential(prec ?? 6);
      const [m, e] = t.split("e") as [string, string];
      const sign = e.startsWith("-") ? "-" : "+";
      s = `${m}e${sign}${e.replace(/^[+-]/, "").padStart(2, "0")}`;
      if (verb === "E") s = s.toUpperCase();
      break;
    }
    default:
      s = prec === null ? formatFloatG(v) : Number(v.toPrecision(Math.max(prec, 1))).toString();
  }
  if (spec.plus && v >= 0) s = "+" + s;
  else if (spec.space && v >= 0) s = " " + s;
  return pad(s, spec);
}

/** Go's fmt.Sprintf for the verbs templates use: v s q d x X o b c f F e E g t T and %%. */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = "";
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== "%") {
      out += c;
      i++;
      continue;
    }
    i++;
    const spec: Spec = {
      minus: false,
      plus: false,
      sharp: false,
      zero: false,
      space: false,
      width: null,
      prec: null,
    };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === "-") spec.minus = true;
      else if (f === "+") spec.plus = true;
      else if (f === "#") spec.sharp = true;
      else if (f === "0") spec.zero = true;
      else if (f === " ") spec.space = true;
      else break;
    }
    const readNum = (): number | null => {
      if (format[i] === "*") {
        i++;
        const a = args[argi++];
        return typeof a === "number" ? Math.trunc(a) : null;
      }
      let n = "";
      while (i < format.length && /[0-9]/.test(format[i]!)) n += format[i++];
      return n ? Number(n) : null;
    };
    spec.width = readNum();
    if (format[i] === ".") {
      i++;
      spec.prec = readNum() ?? 0;
    }
    const verb = format[i++];
    if (verb === undefined) {
      out += "%!(NOVERB)";
      break;
    }
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const v = args[argi++];
    out += formatOne(v, verb, spec);
  }
  if (argi < args.length) {
    out += "%!(EXTRA " + args.slice(argi).map((a) => `${goTypeName(a)}=${sprintV(a)}`).join(", ") +
      ")";
  }
  return out;
}

function formatOne(v: unknown, verb: string, spec: Spec): string {
  switch (verb) {
    case "v":
      if (spec.sharp && typeof v === "string") return pad(quoteGo(v), spec);
      return pad(sprintV(v), spec);
    case "T":
      return pad(goTypeName(v), spec);
    case "s":
      if (typeof v === "string") {
        return pad(spec.prec !== null ? [...v].slice(0, spec.prec).join("") : v, spec);
      }
      if (typeof v === "number" || typeof v === "boolean") return badVerb(verb, v);
      return pad(sprintV(v), spec);
    case "q":
      if (typeof v === "string") return pad(quoteGo(v), spec);
      if (typeof v === "number" && Number.isInteger(v)) {
        return pad(`'${String.fromCodePoint(v)}'`, spec);
      }
      return badVerb(verb, v);
    case "t":
      return typeof v === "boolean" ? pad(String(v), spec) : badVerb(verb, v);
    case "c":
      return typeof v === "number"
        ? pad(String.fromCodePoint(Math.trunc(v)), spec)
        : badVerb(verb, v);
    case "d":
    case "o":
    case "b":
      if (typeof v === "number" && Number.isInteger(v)) return fmtInt(v, verb, spec);
      return badVerb(verb, v);
    case "x":
    case "X":
      if (typeof v === "number" && Number.isInteger(v)) return fmtInt(v, verb, spec);
      if (typeof v === "string") {
        let h = [...new TextEncoder().encode(v)].map((b) => b.toString(16).padStart(2, "0")).join(
          "",
        );
        if (verb === "X") h = h.toUpperCase();
        return pad(h, spec);
      }
      return badVerb(verb, v);
    case "f":
    case "F":
    case "e":
    case "E":
    case "g":
    case "G":
      if (typeof v === "number") return fmtFloat(v, verb, spec);
      return badVerb(verb, v);
    default:
      return `%!${verb}(${goTypeName(v)}=${sprintV(v)})`;
  }
}
