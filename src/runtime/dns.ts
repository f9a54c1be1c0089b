/**
 * The Deno side of DNS SRV lookups (provisioning discovery), with an optional name server
 * (`--dns-server HOST:PORT`) for private zones and tests.
 * @module
 */
import { ScoutError } from "../errors.ts";

/** A name server to ask instead of the system's resolver. */
export interface NameServer {
  /** IP address (v4 or v6). */
  ipAddr: string;
  /** UDP/TCP port; 53 normally. */
  port: number;
}

/** One SRV answer (RFC 2782). */
export interface DnsSrvRecord {
  /** Host name; without the trailing dot. */
  target: string;
  /** Port. */
  port: number;
  /** Lower is tried first. */
  priority: number;
  /** Relative share within a priority. */
  weight: number;
}

/** Options of createDenoSrvResolver. */
export interface DenoSrvResolverOptions {
  /** Ask this server; default: the system resolver. */
  nameServer?: NameServer;
}

/**
 * Creates an SRV resolver over Deno.resolveDns. A name that does not exist (or has no SRV
 * records) resolves to []; other failures (timeouts, refused) reject.
 */
export function createDenoSrvResolver(
  options: DenoSrvResolverOptions = {},
): (name: string) => Promise<DnsSrvRecord[]> {
  const dnsOptions = options.nameServer ? { nameServer: options.nameServer } : {};
  return async (name) => {
    try {
      const records = await Deno.resolveDns(name, "SRV", dnsOptions);
      return records.map((r) => ({
        target: r.target.replace(/\.$/, ""),
        port: r.port,
        priority: r.priority,
        weight: r.weight,
      }));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  };
}

/** Parses `--dns-server HOST:PORT` (`[v6]:PORT` for IPv6; port default 53). */
export function parseNameServer(text: string): NameServer {
  const m = text.trim().match(/^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/);
  const ipAddr = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? 53 : Number(m[3]);
  if (!ipAddr || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ScoutError("USAGE", `invalid --dns-server "${text}"`, {
      hint: "write HOST:PORT with an IP address, e.g. 127.0.0.1:5353 or [::1]:5353",
    });
  }
  return { ipAddr, port };
}
