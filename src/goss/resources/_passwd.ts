/**
 * /etc/passwd and /etc/group, parsed natively (as goss's static build does: files only, no
 * NSS), plus id -> name lookups with a `getent` fallback for directory users (file owners).
 * @module
 */
import type { GossContext } from "../types.ts";
import { readText, runTool } from "./_util.ts";

/** One /etc/passwd entry. */
export interface PasswdEntry {
  /** Login name. */
  name: string;
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Home directory. */
  home: string;
  /** Login shell. */
  shell: string;
}

/** One /etc/group entry. */
export interface GroupEntry {
  /** Group name. */
  name: string;
  /** Group id. */
  gid: number;
  /** Supplementary members (user names). */
  members: string[];
}

/** Path of the user database. */
export const PASSWD_PATH = "/etc/passwd";
/** Path of the group database. */
export const GROUP_PATH = "/etc/group";

function lines(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l !== "" && !l.startsWith("#") && !l.startsWith("+") && !l.startsWith("-"))
    .map((l) => l.split(":"));
}

function int(s: string | undefined): number | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
}

/** Parses passwd text (name:pw:uid:gid:gecos:home:shell); malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = int(f[2]), gid = int(f[3]);
    if (f.length < 7 || uid === undefined || gid === undefined || f[0] === "") continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]!, shell: f.slice(6).join(":") });
  }
  return out;
}

/** Parses group text (name:pw:gid:member,member); malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = int(f[2]);
    if (f.length < 4 || gid === undefined || f[0] === "") continue;
    const members = (f[3] ?? "").split(",").map((m) => m.trim()).filter((m) => m !== "");
    out.push({ name: f[0]!, gid, members });
  }
  return out;
}

/** Group names of a user, as goss reports them: primary group plus memberships, sorted. */
export function groupsOf(user: PasswdEntry, groups: readonly GroupEntry[]): string[] {
  const names = new Set<string>();
  for (const g of groups) {
    if (g.gid === user.gid || g.members.includes(user.name)) names.add(g.name);
  }
  return [...names].sort();
}

/** The entries of /etc/passwd. */
export async function loadPasswd(ctx: GossContext): Promise<PasswdEntry[]> {
  return parsePasswd(await readText(ctx, PASSWD_PATH));
}

/** The entries of /etc/group. */
export async function loadGroups(ctx: GossContext): Promise<GroupEntry[]> {
  return parseGroup(await readText(ctx, GROUP_PATH));
}

/** Name of a uid or gid: the database file first, then `getent` (LDAP, sssd...). */
export async function nameOfId(
  ctx: GossContext,
  kind: "user" | "group",
  id: number,
): Promise<string> {
  try {
    const entries = kind === "user" ? await loadPasswd(ctx) : await loadGroups(ctx);
    const hit = entries.find((e) =>
      (kind === "user" ? (e as PasswdEntry).uid : (e as GroupEntry).gid) === id
    );
    if (hit) return hit.name;
  } catch {
    // no readable database file: ask getent
  }
  const db = kind === "user" ? "passwd" : "group";
  const r = await runTool(ctx, ["getent", db, String(id)], {
    purpose: `to find the name of ${kind} id ${id}`,
  });
  const name = r.code === 0 ? r.stdout.split(":")[0]?.trim() : undefined;
  if (!name) {
    throw new Error(
      `${kind} id ${id} has no name (not in ${
        kind === "user" ? PASSWD_PATH : GROUP_PATH
      } nor getent ${db})`,
    );
  }
  return name;
}
