/**
 * Helpers shared by the resource checkers: lazy memoised values, attribute readers, running a
 * system tool with a clear error when it is missing, and the denied-paths guard.
 * @module
 */
import type { Attrs, GossContext, GossRun, GossSystem } from "../types.ts";

/** Default time a system tool (ps, ss, sysctl, ...) may take. */
export const TOOL_TIMEOUT_MS = 10_000;

/** The package that provides each tool the resources run (same name on Debian and Alpine). */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  ps: "procps",
  sysctl: "procps",
  ss: "iproute2",
  ip: "iproute2",
  findmnt: "util-linux",
  systemctl: "systemd",
  "rc-service": "openrc",
  rpm: "rpm",
  getent: "libc-bin",
  id: "coreutils",
  sh: "dash",
};

/** Memoises an async computation (its rejection too), so each system call happens once. */
export function lazy<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/**
 * A GossSystem over one getter per property. `aliases` maps other names of a property (goss's
 * result name, e.g. "linkedto" for "linked-to") to the attribute name.
 */
export function systemOf(
  resultType: string,
  getters: Readonly<Record<string, () => Promise<unknown>>>,
  aliases: Readonly<Record<string, string>> = {},
): GossSystem {
  return {
    get(property: string): Promise<unknown> {
      const name = aliases[property] ?? property;
      const g = Object.hasOwn(getters, name) ? getters[name] : undefined;
      if (g === undefined) {
        return Promise.reject(new Error(`${resultType} has no property "${property}"`));
      }
      try {
        return g();
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}

/** An integer option in milliseconds (goss writes timeouts as plain numbers). */
export function msOption(attrs: Attrs, name: string, fallback: number): number {
  const v = attrs[name];
  if (v === undefined || v === null) return fallback;
  const n = typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
    throw new Error(`${name} must be a number of milliseconds, got ${JSON.stringify(v)}`);
  }
  // goss treats 0 as "use the default".
  return n === 0 ? fallback : n;
}

/** A string option ("" when absent). */
export function stringOption(attrs: Attrs, name: string): string {
  const v = attrs[name];
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`${name} must be a string, got ${JSON.stringify(v)}`);
}

/** A boolean option (false when absent). */
export function boolOption(attrs: Attrs, name: string): boolean {
  const v = attrs[name];
  if (v === undefined || v === null) return false;
  if (typeof v === "boolean") return v;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(v)}`);
}

/** A list-of-strings option ([] when absent). */
export function stringListOption(attrs: Attrs, name: string): string[] {
  const v = attrs[name];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw new Error(`${name} must be a list of strings, got ${JSON.stringify(v)}`);
}

/** Error for a tool that is not installed, naming the package that provides it. */
export function missingTool(tool: string, purpose: string): Error {
  const pkg = TOOL_PACKAGES[tool];
  const install = pkg === undefined ? "" : `; install the "${pkg}" package, which provides it`;
  return new Error(`${tool} is not installed (not found on the search path): ${purpose}${install}`);
}

/**
 * Runs a system tool: a rejection naming the tool and its package when it is not installed,
 * and a rejection when it times out. Its exit code is left to the caller.
 */
export async function runTool(
  ctx: GossContext,
  argv: [string, ...string[]],
  options: { purpose: string; timeoutMs?: number },
): Promise<GossRun> {
  const [tool, ...args] = argv;
  const path = await ctx.host.which(tool);
  if (path === null) throw missingTool(tool, options.purpose);
  const timeoutMs = options.timeoutMs ?? TOOL_TIMEOUT_MS;
  const r = await ctx.host.run([path, ...args], { timeoutMs });
  if (r.timedOut) throw new Error(`${tool} timed out after ${timeoutMs} ms (${options.purpose})`);
  return r;
}

/** First line of a tool's complaint, for error messages. */
export function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

/** Whether `path` is `dir` or lies below it (both absolute, normalised). */
export function within(path: string, dir: string): boolean {
  const d = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  return path === d || path.startsWith(d === "/" ? "/" : d + "/");
}

/** Absolute, `.`/`..`-normalised form of a path (no symlinks resolved). */
export function normalizePath(path: string, cwd: string): string {
  const abs = path.startsWith("/") ? path : `${cwd}/${path}`;
  const out: string[] = [];
  for (const seg of abs.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** Real path of a path that may not exist: the nearest existing ancestor resolved, the rest kept. */
async function realPathLoose(ctx: GossContext, path: string): Promise<string> {
  const rest: string[] = [];
  let cur = path;
  while (true) {
    try {
      const real = await ctx.host.realPath(cur);
      return rest.length === 0 ? real : normalizePath(rest.reverse().join("/"), real);
    } catch {
      if (cur === "/") return path;
      const i = cur.lastIndexOf("/");
      rest.push(cur.slice(i + 1));
      cur = i <= 0 ? "/" : cur.slice(0, i);
    }
  }
}

/**
 * Refuses a path inside a denied directory (rules from the network may not look there),
 * checked on the path as written and on its real path (symlinks resolved), against the
 * denied directories as written and resolved.
 */
export async function assertAllowed(ctx: GossContext, path: string, what: string): Promise<void> {
  if (ctx.deniedPaths.length === 0) return;
  const abs = normalizePath(path, ctx.host.cwd());
  const candidates = new Set([abs, await realPathLoose(ctx, abs)]);
  for (const denied of ctx.deniedPaths) {
    const d = normalizePath(denied, ctx.host.cwd());
    const dirs = new Set([d, await realPathLoose(ctx, d)]);
    for (const c of candidates) {
      for (const dir of dirs) {
        if (within(c, dir)) {
          throw new Error(
            `${what} ${path} is inside ${denied}, which rules from this source may not read`,
          );
        }
      }
    }
  }
}

/** Text of a file as UTF-8 (invalid bytes replaced). */
export async function readText(ctx: GossContext, path: string): Promise<string> {
  return new TextDecoder().decode(await ctx.host.readFile(path));
}

/** Whether a path exists (following symlinks). */
export async function exists(ctx: GossContext, path: string): Promise<boolean> {
  try {
    return (await ctx.host.stat(path, true)) !== null;
  } catch {
    return false;
  }
}

/** Canonical uppercase text of an IPv6 address as goss reports it ("::1" -> "::1", "fe80::a" -> "FE80::A"). */
export function goIPv6(ip: string): string {
  return ip.toUpperCase();
}

/** Whether the text is an IPv4 address literal. */
export function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Whether the text is an IPv6 address literal (no brackets, no zone). */
export function isIPv6(s: string): boolean {
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const dbl = s.split("::").length - 1;
  if (dbl > 1) return false;
  let groups = s.split(":").filter((g) => g !== "");
  const last = groups[groups.length - 1];
  let extra = 0;
  if (last !== undefined && last.includes(".")) {
    if (!isIPv4(last)) return false;
    groups = groups.slice(0, -1);
    extra = 2;
  }
  if (!groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  const n = groups.length + extra;
  return dbl === 1 ? n < 8 : n === 8;
}
