/**
 * goss `package`: whether a package is installed and its version(s). dpkg, apk and pacman
 * databases are parsed natively (/var/lib/dpkg/status, /lib/apk/db/installed,
 * /var/lib/pacman/local); rpm's database is not a text file, so rpm is asked via `rpm -q`.
 * The manager is detected as goss does: distro files first, then whichever tool is on PATH.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { exists, firstLine, lazy, readText, runTool, systemOf } from "./_util.ts";

/** A package manager Scout can ask. */
export type PackageManager = "dpkg" | "rpm" | "apk" | "pacman";

/** dpkg's database. */
export const DPKG_STATUS = "/var/lib/dpkg/status";
/** apk's database. */
export const APK_INSTALLED = "/lib/apk/db/installed";
/** pacman's database directory. */
export const PACMAN_LOCAL = "/var/lib/pacman/local";

/** Fields of each stanza of an RFC-822-like file (dpkg status); continuation lines dropped. */
function stanzas(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (cur.size > 0) out.push(cur);
      cur = new Map();
      continue;
    }
    if (line.startsWith(" ") || line.startsWith("\t")) continue;
    const i = line.indexOf(":");
    if (i > 0) cur.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  if (cur.size > 0) out.push(cur);
  return out;
}

/**
 * Installed versions of `name` in a dpkg status file: stanzas whose Status is
 * "install ok installed" or "hold ok installed"; `name` may carry an architecture ("libc6:amd64").
 */
export function dpkgVersions(statusText: string, name: string): string[] {
  const out: string[] = [];
  for (const s of stanzas(statusText)) {
    const pkg = s.get("Package");
    const matches = pkg === name || `${pkg}:${s.get("Architecture")}` === name;
    const status = (s.get("Status") ?? "").split(/\s+/);
    const installed = (status[0] === "install" || status[0] === "hold") && status[1] === "ok" &&
      status[2] === "installed";
    if (matches && installed && s.has("Version")) out.push(s.get("Version")!);
  }
  return out;
}

/** Installed versions of `name` in apk's installed database (P:name, V:version stanzas). */
export function apkVersions(installedText: string, name: string): string[] {
  const out: string[] = [];
  for (const block of installedText.split(/\n\s*\n/)) {
    let p: string | undefined, v: string | undefined;
    for (const line of block.split("\n")) {
      if (line.startsWith("P:")) p = line.slice(2).trim();
      else if (line.startsWith("V:")) v = line.slice(2).trim();
    }
    if (p === name && v !== undefined) out.push(v);
  }
  return out;
}

/** A field of a pacman desc file (%NAME%, %VERSION%). */
export function pacmanField(desc: string, field: string): string | undefined {
  const lines = desc.split("\n");
  const i = lines.findIndex((l) => l.trim() === `%${field}%`);
  return i < 0 ? undefined : lines[i + 1]?.trim();
}

/** Versions from `rpm -q --qf '[epoch:]version-release\n'` output. */
export function parseRpmQuery(stdout: string): string[] {
  return stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** Which manager to ask: distro files as goss checks them, then tools on the search path. */
export async function detectManager(ctx: GossContext): Promise<PackageManager> {
  try {
    if (/Ubuntu/.test(await readText(ctx, "/etc/lsb-release"))) return "dpkg";
  } catch {
    // not Ubuntu
  }
  if (await exists(ctx, "/etc/redhat-release") || await exists(ctx, "/etc/system-release")) {
    return "rpm";
  }
  if (await exists(ctx, "/etc/alpine-release")) return "apk";
  if (await exists(ctx, "/etc/arch-release")) return "pacman";
  if (await exists(ctx, "/etc/debian_version")) return "dpkg";
  for (const m of ["dpkg", "rpm", "apk", "pacman"] as const) {
    if ((await ctx.host.which(m)) !== null) return m;
  }
  throw new Error(
    "cannot tell the package manager: no /etc/debian_version, /etc/redhat-release, /etc/alpine-release " +
      "or /etc/arch-release, and none of dpkg, rpm, apk, pacman on the search path",
  );
}

async function pacmanVersions(ctx: GossContext, name: string): Promise<string[]> {
  let dirs: string[];
  try {
    dirs = await ctx.host.readDir(PACMAN_LOCAL);
  } catch (e) {
    throw new Error(`cannot read pacman's database ${PACMAN_LOCAL}: ${(e as Error).message}`);
  }
  const out: string[] = [];
  for (const d of dirs.filter((d) => d.startsWith(`${name}-`))) {
    try {
      const desc = await readText(ctx, `${PACMAN_LOCAL}/${d}/desc`);
      const v = pacmanField(desc, "VERSION");
      if (pacmanField(desc, "NAME") === name && v !== undefined) out.push(v);
    } catch {
      // not a package directory
    }
  }
  return out;
}

async function rpmVersions(ctx: GossContext, name: string): Promise<string[]> {
  if (name.startsWith("-")) throw new Error(`invalid package name ${JSON.stringify(name)}`);
  const r = await runTool(ctx, [
    "rpm",
    "-q",
    "--nosignature",
    "--nohdrchk",
    "--nodigest",
    "--qf",
    "%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n",
    name,
  ], { purpose: "to query rpm packages" });
  if (r.code === 0) return parseRpmQuery(r.stdout);
  if (/is not installed/.test(r.stdout)) return [];
  throw new Error(`rpm -q ${name} failed (exit ${r.code}): ${firstLine(r.stderr || r.stdout)}`);
}

async function readDb(ctx: GossContext, path: string, manager: string): Promise<string> {
  try {
    return await readText(ctx, path);
  } catch (e) {
    throw new Error(`cannot read ${manager}'s database ${path}: ${(e as Error).message}`);
  }
}

/** Installed versions of a package ([] when not installed). */
export async function installedVersions(
  ctx: GossContext,
  manager: PackageManager,
  name: string,
): Promise<string[]> {
  switch (manager) {
    case "dpkg":
      return dpkgVersions(await readDb(ctx, DPKG_STATUS, "dpkg"), name);
    case "apk":
      return apkVersions(await readDb(ctx, APK_INSTALLED, "apk"), name);
    case "pacman":
      return await pacmanVersions(ctx, name);
    case "rpm":
      return await rpmVersions(ctx, name);
  }
}

function packageSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const versions = lazy(async () => installedVersions(ctx, await detectManager(ctx), target));
  return systemOf("Package", {
    installed: async () => (await versions()).length > 0,
    versions: async () => {
      const v = await versions();
      if (v.length === 0) throw new Error(`package ${target} is not installed`);
      return v;
    },
  }, { version: "versions" });
}

/** The `package` resource type. */
export const packageType: GossResourceType = {
  type: "package",
  resultType: "Package",
  idAttr: "name",
  tested: ["installed", "versions"],
  options: ["retry_count", "retry_delay"],
  required: ["installed"],
  gate: "installed",
  system: packageSystem,
};
