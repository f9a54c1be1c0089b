/**
 * Semantic versions and ranges with the semantics of github.com/blang/semver (what goss's
 * `semver-constraint` uses): strict `x.y.z[-pre][+build]`, ranges joined by spaces (and) and
 * `||` (or), operators `= == != ! > >= < <=`, wildcards `1.x` / `1.2.x`. Private to src/goss/.
 * @module
 */

/** A parsed semantic version. */
export interface SemVer {
  /** Major, minor, patch. */
  major: number;
  /** Minor. */
  minor: number;
  /** Patch. */
  patch: number;
  /** Pre-release identifiers (numbers or strings). */
  pre: (number | string)[];
}

const NUM = /^(0|[1-9][0-9]*)$/;
const IDENT = /^[0-9A-Za-z-]+$/;

/** Parses a strict semantic version; null when it is not one. */
export function parseSemver(s: string): SemVer | null {
  if (s.length === 0) return null;
  let rest = s;
  const plus = rest.indexOf("+");
  if (plus >= 0) {
    const build = rest.slice(plus + 1).split(".");
    if (build.some((b) => !IDENT.test(b))) return null;
    rest = rest.slice(0, plus);
  }
  let pre: (number | string)[] = [];
  const dash = rest.indexOf("-");
  if (dash >= 0) {
    const ids = rest.slice(dash + 1).split(".");
    for (const id of ids) {
      if (!IDENT.test(id)) return null;
      if (/^[0-9]+$/.test(id)) {
        if (!NUM.test(id)) return null;
        pre.push(Number(id));
      } else pre.push(id);
    }
    rest = rest.slice(0, dash);
  } else pre = [];
  const parts = rest.split(".");
  if (parts.length !== 3 || parts.some((p) => !NUM.test(p))) return null;
  return { major: Number(parts[0]), minor: Number(parts[1]), patch: Number(parts[2]), pre };
}

/** Compares two versions: negative, zero or positive (build metadata ignored). */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const k of ["major", "minor", "patch"] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  if (a.pre.length === 0 && b.pre.length === 0) return 0;
  if (a.pre.length === 0) return 1;
  if (b.pre.length === 0) return -1;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i]!;
    const y = b.pre[i]!;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x < y ? -1 : 1;
    if (typeof x === "number") return -1;
    if (typeof y === "number") return 1;
    return x < y ? -1 : 1;
  }
  return a.pre.length === b.pre.length ? 0 : a.pre.length < b.pre.length ? -1 : 1;
}

/** A range: true when the version satisfies it. */
export type SemverRange = (v: SemVer) => boolean;

function splitAndTrim(s: string): string[] {
  // blang/semver: split on spaces, except after an operator character ("> 1.0.0" is one part).
  const result: string[] = [];
  let last = 0;
  let lastChar = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === " " && !(lastChar !== "" && ">=<".includes(lastChar))) {
      if (last < i - 1) result.push(s.slice(last, i));
      last = i + 1;
    } else if (s[i] !== " ") lastChar = s[i]!;
  }
  if (last < s.length - 1) result.push(s.slice(last));
  return result.map((v) => v.replace(/ /g, ""));
}

function splitComparatorVersion(s: string): [string, string] {
  const i = s.search(/[0-9]/);
  if (i < 0) throw new Error(`Could not get version from string: "${s}"`);
  return [s.slice(0, i).trim(), s.slice(i)];
}

function expandWildcard(parts: string[]): string[] {
  const out: string[] = [];
  for (let ap of parts) {
    if (ap.includes("x")) {
      const [op, v] = splitComparatorVersion(ap);
      const segs = v.split(".");
      const kind = segs[segs.length - 1] === "x"
        ? (segs.length === 2 ? "minor" : segs.length === 3 ? "patch" : "none")
        : "none";
      let flat = v.replace(".x.x", ".x").replace(".x", ".0");
      if (flat.split(".").length === 2) flat += ".0";
      let resultOp = "";
      let inc = false;
      switch (op) {
        case ">":
          resultOp = ">=";
          inc = true;
          break;
        case ">=":
          resultOp = ">=";
          break;
        case "<":
          resultOp = "<";
          break;
        case "<=":
          resultOp = "<";
          inc = true;
          break;
        case "":
        case "=":
        case "==":
          out.push(">=" + flat);
          resultOp = "<";
          inc = true;
          break;
        case "!=":
        case "!":
          out.push("<" + flat);
          resultOp = ">=";
          inc = true;
          break;
      }
      let result = flat;
      if (inc) {
        const p = flat.split(".").map(Number);
        if (kind === "patch") result = `${p[0]}.${(p[1] ?? 0) + 1}.0`;
        else if (kind === "minor") result = `${(p[0] ?? 0) + 1}.0.0`;
      }
      ap = resultOp + result;
    }
    out.push(ap);
  }
  return out;
}

/** Parses a range like `">1.0.0 <2.0.0 !=1.5.0 || >=3.0.0"`; throws on a malformed range. */
export function parseSemverRange(s: string): SemverRange {
  const parts = splitAndTrim(s);
  const ors: string[][] = [[]];
  for (const p of parts) {
    if (p === "||") {
      if (ors[ors.length - 1]!.length === 0) throw new Error(`Empty range in ${JSON.stringify(s)}`);
      ors.push([]);
    } else ors[ors.length - 1]!.push(p);
  }
  if (ors[ors.length - 1]!.length === 0) throw new Error(`Empty range in ${JSON.stringify(s)}`);
  const fns = ors.map((and) => {
    const comps = expandWildcard(and).map((ap) => {
      const [op, vs] = splitComparatorVersion(ap);
      const v = parseSemver(vs);
      if (!v) throw new Error(`Could not parse Range ${JSON.stringify(ap)}: invalid version`);
      switch (op) {
        case "":
        case "=":
        case "==":
          return (x: SemVer) => compareSemver(x, v) === 0;
        case "!":
        case "!=":
          return (x: SemVer) => compareSemver(x, v) !== 0;
        case ">":
          return (x: SemVer) => compareSemver(x, v) > 0;
        case ">=":
          return (x: SemVer) => compareSemver(x, v) >= 0;
        case "<":
          return (x: SemVer) => compareSemver(x, v) < 0;
        case "<=":
          return (x: SemVer) => compareSemver(x, v) <= 0;
        default:
          throw new Error(
            `Could not parse comparator ${JSON.stringify(op)} in ${JSON.stringify(ap)}`,
          );
      }
    });
    return (x: SemVer) => comps.every((c) => c(x));
  });
  return (x) => fns.some((f) => f(x));
}
