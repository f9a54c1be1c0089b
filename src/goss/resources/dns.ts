/**
 * goss `dns`: whether a name resolves and to what. A key is `host` or `TYPE:host` (TYPE in
 * A AAAA CAA CNAME MX NS PTR SRV TXT). Plain keys without `server` resolve like Go's pure
 * resolver (IP literal, /etc/hosts, then DNS A + AAAA from resolv.conf); with `server`
 * (`host`, `host:port`, `[v6]:port`; port 53) the question goes to that server. Answers are
 * rendered as goss renders them and sorted as strings.
 * @module
 */
import type {
  Attrs,
  GossContext,
  GossDnsRecord,
  GossDnsType,
  GossResourceType,
  GossSystem,
} from "../types.ts";
import { lookupHost } from "./_resolve.ts";
import { isIPv4, isIPv6, lazy, msOption, stringOption, systemOf } from "./_util.ts";

/** goss's default per-lookup timeout. */
const DEFAULT_TIMEOUT_MS = 500;
/** Attempts when a lookup fails for another reason than "no such name" (goss: 3). */
const ATTEMPTS = 3;

const TYPES: readonly GossDnsType[] = [
  "A",
  "AAAA",
  "CAA",
  "CNAME",
  "MX",
  "NS",
  "PTR",
  "SRV",
  "TXT",
];

/** Splits a dns key into record type (undefined: plain lookup) and host. */
export function parseDnsKey(key: string): { type: string | undefined; host: string } {
  const i = key.indexOf(":");
  if (i > 0 && /^[A-Z]+$/.test(key.slice(0, i))) {
    return { type: key.slice(0, i), host: key.slice(i + 1) };
  }
  return { type: undefined, host: key };
}

/** Splits a `server` attribute as Go's net.SplitHostPort would, 53 when no port is given. */
export function parseServer(server: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(server);
  if (bracket) return { host: bracket[1]!, port: Number(bracket[2]) };
  const plain = /^([^:]+):(\d+)$/.exec(server);
  if (plain) return { host: plain[1]!, port: Number(plain[2]) };
  return { host: server.replace(/^\[(.*)\]$/, "$1"), port: 53 };
}

/** The in-addr.arpa / ip6.arpa name of an address (for PTR questions). */
export function reverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split(".").reverse().join(".")}.in-addr.arpa.`;
  if (isIPv6(ip)) {
    const [head, tail] = ip.includes("::") ? ip.split("::") as [string, string] : [ip, ""];
    const h = head === "" ? [] : head.split(":");
    const t = tail === "" ? [] : tail.split(":");
    const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    const nibbles = groups.map((g) => g.padStart(4, "0")).join("").toLowerCase().split("");
    return `${nibbles.reverse().join(".")}.ip6.arpa.`;
  }
  throw new Error(`PTR lookups need an IP address, got ${JSON.stringify(ip)}`);
}

/** One answer as goss prints it (MX "10 mx.", SRV "prio weight port target.", CAA "0 issue ca"). */
export function renderRecord(type: GossDnsType, r: GossDnsRecord): string[] {
  if (typeof r === "string") return [r];
  if (Array.isArray(r)) return r;
  if ("exchange" in r) return [`${r.preference} ${r.exchange}`];
  if ("target" in r) return [`${r.priority} ${r.weight} ${r.port} ${r.target}`];
  if ("tag" in r) return [`${r.critical ? 128 : 0} ${r.tag} ${r.value}`];
  throw new Error(`unexpected ${type} answer ${JSON.stringify(r)}`);
}

async function retried<T>(fn: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < ATTEMPTS; i++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

async function answers(ctx: GossContext, key: string, attrs: Attrs): Promise<string[]> {
  const { type, host } = parseDnsKey(key);
  const timeoutMs = msOption(attrs, "timeout", DEFAULT_TIMEOUT_MS);
  const serverText = stringOption(attrs, "server");
  if (type === "SSHFP") {
    throw new Error("SSHFP lookups are not supported (Deno's resolver has no SSHFP records)");
  }
  let server: { ip: string; port: number } | undefined;
  if (serverText !== "") {
    const s = parseServer(serverText);
    const ips = isIPv4(s.host) || isIPv6(s.host)
      ? [s.host]
      : await lookupHost(ctx, s.host, timeoutMs);
    if (ips[0] === undefined) throw new Error(`DNS server ${serverText} does not resolve`);
    server = { ip: ips[0], port: s.port };
  }
  const known = TYPES.find((t) => t === type);
  if (known === undefined) {
    // Plain lookups (and unknown types, as goss does): A + AAAA.
    if (server === undefined) return await retried(() => lookupHost(ctx, host, timeoutMs));
    const srv = server;
    const both = await retried(async () => {
      const rs = await Promise.allSettled([
        ctx.host.resolveDns(host, "A", { server: srv, timeoutMs }),
        ctx.host.resolveDns(host, "AAAA", { server: srv, timeoutMs }),
      ]);
      if (rs.every((r) => r.status === "rejected")) throw (rs[0] as PromiseRejectedResult).reason;
      return rs.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
    });
    return both.map(String);
  }
  const name = known === "PTR" ? reverseName(host) : host;
  const records = await retried(() =>
    ctx.host.resolveDns(name, known, { ...(server ? { server } : {}), timeoutMs })
  );
  return records.flatMap((r) => renderRecord(known, r));
}

function dnsSystem(target: string, attrs: Attrs, ctx: GossContext): GossSystem {
  const found = lazy(async () => (await answers(ctx, target, attrs)).sort());
  return systemOf("DNS", {
    resolvable: async () => (await found()).length > 0,
    addrs: found,
  }, { resolveable: "resolvable" });
}

/** The `dns` resource type. goss's legacy spelling `resolveable` is read as `resolvable`. */
export const dns: GossResourceType = {
  type: "dns",
  resultType: "DNS",
  idAttr: "resolve",
  tested: ["resolvable", "addrs"],
  options: ["server", "timeout", "retry_count", "retry_delay"],
  required: ["resolvable"],
  gate: "resolvable",
  system: dnsSystem,
};
