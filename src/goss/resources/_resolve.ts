/**
 * Host name lookups as Go's pure resolver does them: IP literals as they are, then
 * /etc/hosts, then DNS A and AAAA through the system's resolv.conf (Deno.resolveDns does not
 * read /etc/hosts itself). Used by dns (no server) and addr (udp).
 * @module
 */
import type { GossContext } from "../types.ts";
import { isIPv4, isIPv6, readText } from "./_util.ts";

/** Path of the static host table. */
export const HOSTS_PATH = "/etc/hosts";

/** Parses /etc/hosts into lowercase name -> addresses, in file order. */
export function parseHosts(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const [ip, ...names] = line.split(/\s+/);
    const addr = ip!.replace(/%.*$/, "");
    if (!isIPv4(addr) && !isIPv6(addr)) continue;
    for (const n of names) {
      const key = n.toLowerCase().replace(/\.$/, "");
      const list = map.get(key) ?? [];
      if (!list.includes(ip!)) list.push(ip!);
      map.set(key, list);
    }
  }
  return map;
}

/** Addresses of a name in /etc/hosts ([] when absent or the file is unreadable). */
export async function hostsLookup(ctx: GossContext, name: string): Promise<string[]> {
  try {
    return parseHosts(await readText(ctx, HOSTS_PATH)).get(name.toLowerCase().replace(/\.$/, "")) ??
      [];
  } catch {
    return [];
  }
}

/**
 * All addresses of a host name: an IP literal itself, else /etc/hosts, else DNS A + AAAA
 * from the system resolver. [] when nothing answers; rejects when both DNS lookups fail for
 * another reason than "no such name" (a timeout, an unreachable server).
 */
export async function lookupHost(
  ctx: GossContext,
  name: string,
  timeoutMs: number,
): Promise<string[]> {
  if (isIPv4(name) || isIPv6(name)) return [name];
  const fromHosts = await hostsLookup(ctx, name);
  if (fromHosts.length > 0) return fromHosts;
  const results = await Promise.allSettled([
    ctx.host.resolveDns(name, "A", { timeoutMs }),
    ctx.host.resolveDns(name, "AAAA", { timeoutMs }),
  ]);
  const addrs: string[] = [];
  for (const r of results) if (r.status === "fulfilled") addrs.push(...r.value.map(String));
  if (addrs.length === 0) {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }
  return addrs;
}
