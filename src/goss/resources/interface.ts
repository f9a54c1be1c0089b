/**
 * goss `interface`: whether a network interface exists, its addresses in CIDR form
 * ("172.17.0.2/16", "fe80::42:acff:fe11:2/64") and its MTU. goss asks the kernel directly;
 * Deno.networkInterfaces needs --allow-sys and lists only interfaces with an address, and
 * /sys is refused without --allow-all, so this asks `ip -j addr` (iproute2).
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { firstLine, lazy, runTool, systemOf } from "./_util.ts";

/** One interface as `ip -j addr` reports it. */
export interface IpInterface {
  /** Interface name. */
  name: string;
  /** MTU in bytes. */
  mtu: number;
  /** Addresses as CIDR strings, in the kernel's order. */
  addrs: string[];
}

/** Parses `ip -j addr` output. */
export function parseIpAddr(json: string): IpInterface[] {
  const doc = JSON.parse(json) as {
    ifname?: string;
    mtu?: number;
    addr_info?: { local?: string; prefixlen?: number }[];
  }[];
  return doc.filter((i) => typeof i.ifname === "string").map((i) => ({
    name: i.ifname!,
    mtu: Number(i.mtu ?? 0),
    addrs: (i.addr_info ?? [])
      .filter((a) => typeof a.local === "string" && a.prefixlen !== undefined)
      .map((a) => `${a.local}/${a.prefixlen}`),
  }));
}

function interfaceSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const found = lazy(async () => {
    const r = await runTool(ctx, ["ip", "-j", "addr"], { purpose: "to list network interfaces" });
    if (r.code !== 0) throw new Error(`ip -j addr failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    return parseIpAddr(r.stdout).find((i) => i.name === target) ?? null;
  });
  const existing = async (): Promise<IpInterface> => {
    const i = await found();
    if (i === null) throw new Error(`interface ${target} does not exist`);
    return i;
  };
  return systemOf("Interface", {
    exists: async () => (await found()) !== null,
    addrs: async () => (await existing()).addrs,
    mtu: async () => (await existing()).mtu,
  });
}

/** The `interface` resource type. */
export const interfaceType: GossResourceType = {
  type: "interface",
  resultType: "Interface",
  idAttr: "name",
  tested: ["exists", "addrs", "mtu"],
  options: [],
  required: ["exists"],
  gate: "exists",
  system: interfaceSystem,
};
