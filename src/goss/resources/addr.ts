/**
 * goss `addr`: whether `[tcp|udp]://host:port` (no scheme: tcp) is reachable. TCP opens a real
 * connection within the timeout (optionally from `local-address`); a failed dial is `false`,
 * never an error. UDP has no handshake: as in goss it is reachable when the host resolves.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { lookupHost } from "./_resolve.ts";
import { lazy, msOption, stringOption, systemOf } from "./_util.ts";

/** goss's default dial timeout. */
const DEFAULT_TIMEOUT_MS = 500;

/** A parsed addr key. */
export interface AddrTarget {
  /** "tcp" or "udp". */
  transport: "tcp" | "udp";
  /** Host name or IP (IPv6 without brackets). */
  host: string;
  /** Port number. */
  port: number;
}

/** Parses "tcp://host:port", "udp://[::1]:53" or "host:port". */
export function parseAddr(address: string): AddrTarget {
  const m = /^(?:(tcp|udp):\/\/)?(\[[^\]]+\]|[^:\[\]\/]+):(\d{1,5})$/.exec(address.trim());
  if (!m || Number(m[3]) > 65535) {
    throw new Error(`invalid address ${JSON.stringify(address)}: want [tcp|udp]://host:port`);
  }
  const host = m[2]!.startsWith("[") ? m[2]!.slice(1, -1) : m[2]!;
  return { transport: (m[1] ?? "tcp") as "tcp" | "udp", host, port: Number(m[3]) };
}

function addrSystem(target: string, attrs: Attrs, ctx: GossContext): GossSystem {
  const reachable = lazy(async () => {
    const t = parseAddr(target);
    const timeoutMs = msOption(attrs, "timeout", DEFAULT_TIMEOUT_MS);
    const local = stringOption(attrs, "local-address");
    if (t.transport === "udp") {
      try {
        return (await lookupHost(ctx, t.host, timeoutMs)).length > 0;
      } catch {
        return false;
      }
    }
    const r = await ctx.host.dialTcp({
      hostname: t.host,
      port: t.port,
      timeoutMs,
      ...(local === "" ? {} : { localAddress: local }),
    });
    return r.ok;
  });
  return systemOf("Addr", { reachable });
}

/** The `addr` resource type. */
export const addr: GossResourceType = {
  type: "addr",
  resultType: "Addr",
  idAttr: "address",
  tested: ["reachable"],
  options: ["timeout", "local-address"],
  required: ["reachable"],
  system: addrSystem,
};
