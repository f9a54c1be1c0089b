/**
 * goss `port`: whether something listens on `tcp:N`, `tcp6:N`, `udp:N` or `udp6:N` (a bare
 * number means tcp), and on which local IPs. TCP counts only sockets in LISTEN state, UDP any
 * bound socket. goss reads /proc/net/{tcp,tcp6,udp,udp6}; Deno refuses /proc reads without
 * --allow-all, so this asks `ss` (iproute2), once per address family. As in goss, a dual-stack
 * socket (`[::]:80`, bindv6only=0) shows only as tcp6.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { firstLine, goIPv6, lazy, runTool, systemOf } from "./_util.ts";

/** One socket of `ss` output. */
export interface SsSocket {
  /** "tcp", "tcp6", "udp" or "udp6". */
  proto: string;
  /** Socket state as ss prints it (LISTEN, UNCONN, ESTAB...). */
  state: string;
  /** Local IP as goss prints it (IPv6 uppercase, no brackets or zone). */
  ip: string;
  /** Local port. */
  port: number;
}

/** Splits a port key into protocol and number: "tcp:22", "udp6:53", "22" (tcp). */
export function parsePortKey(key: string): { proto: string; port: number } {
  const m = /^(?:(tcp|tcp6|udp|udp6):)?(\d{1,5})$/.exec(key.trim());
  if (!m || Number(m[2]) > 65535) {
    throw new Error(`invalid port ${JSON.stringify(key)}: want tcp:N, tcp6:N, udp:N, udp6:N or N`);
  }
  return { proto: m[1] ?? "tcp", port: Number(m[2]) };
}

/** Splits ss's "addr:port" into an IP goss would print and the port. */
function splitLocal(local: string, family: 4 | 6): { ip: string; port: number } | null {
  const i = local.lastIndexOf(":");
  if (i < 0) return null;
  const port = Number(local.slice(i + 1));
  if (!Number.isInteger(port)) return null;
  let ip = local.slice(0, i);
  ip = ip.replace(/%[^\]]*$/, ""); // 127.0.0.53%lo
  if (ip.startsWith("[")) ip = ip.slice(1, ip.indexOf("]"));
  if (ip === "*") ip = family === 4 ? "0.0.0.0" : "::";
  return { ip: family === 6 ? goIPv6(ip) : ip, port };
}

/**
 * Parses `ss -n -a -t -u -4` (family 4) or `-6` output: columns Netid State Recv-Q Send-Q
 * Local Peer; the header line, if any, is skipped.
 */
export function parseSs(stdout: string, family: 4 | 6): SsSocket[] {
  const out: SsSocket[] = [];
  for (const line of stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[0] === "Netid") continue;
    const netid = f[0]!;
    if (netid !== "tcp" && netid !== "udp") continue;
    const local = splitLocal(f[4]!, family);
    if (local === null) continue;
    out.push({ proto: family === 6 ? `${netid}6` : netid, state: f[1]!, ...local });
  }
  return out;
}

/** All TCP and UDP sockets of both families, via ss. */
export async function sockets(ctx: GossContext): Promise<SsSocket[]> {
  const all: SsSocket[] = [];
  for (const family of [4, 6] as const) {
    const r = await runTool(ctx, ["ss", "-n", "-a", "-t", "-u", `-${family}`], {
      purpose: "to list listening ports",
    });
    if (r.code !== 0) {
      throw new Error(`ss -n -a -t -u -${family} failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    }
    all.push(...parseSs(r.stdout, family));
  }
  return all;
}

/** The sockets that make `proto:port` listening in goss's sense. */
export function listeners(all: readonly SsSocket[], proto: string, port: number): SsSocket[] {
  return all.filter((s) =>
    s.proto === proto && s.port === port && (proto.startsWith("udp") || s.state === "LISTEN")
  );
}

function portSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const found = lazy(async () => {
    const { proto, port } = parsePortKey(target);
    return listeners(await sockets(ctx), proto, port);
  });
  return systemOf("Port", {
    listening: async () => (await found()).length > 0,
    ip: async () => [...new Set((await found()).map((s) => s.ip))],
  });
}

/** The `port` resource type. */
export const port: GossResourceType = {
  type: "port",
  resultType: "Port",
  idAttr: "port",
  tested: ["listening", "ip"],
  options: [],
  required: ["listening"],
  gate: "listening",
  system: portSystem,
};
