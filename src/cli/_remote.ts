/**
 * Helpers of the commands that talk to a broker or a hub (hub, push, watch, the fleet
 * commands). Kept out of _common.ts, which `scout agent` loads: their types would pull the
 * hub and the NATS client into the agent's static module graph.
 * @module
 */
import { ScoutError } from "../errors.ts";
import type { NodeRow } from "../hub/mod.ts";
import type { BrokerOptions } from "../transport/mod.ts";
import type { BrokerFlags } from "./_common.ts";

/** The transport's connection options for broker flags, under the connection name `name`. */
export function brokerOptions(flags: BrokerFlags, name: string): BrokerOptions {
  return {
    urls: flags.urls,
    tls: {
      ca: flags.ca,
      ...(flags.cert === undefined ? {} : { cert: flags.cert }),
      ...(flags.key === undefined ? {} : { key: flags.key }),
    },
    ...(flags.creds === undefined ? {} : { creds: flags.creds }),
    name,
  };
}

/** A node as the hub's `GET /api/v1/nodes` lists it: the fields the CLI uses. */
export type HubNode = Pick<NodeRow, "identity" | "stale">;

/**
 * The hub's node list (`--hub URL`, `GET /api/v1/nodes`); throws USAGE when the hub cannot be
 * asked or answers with an error.
 */
export async function fetchHubNodes(hub: string): Promise<HubNode[]> {
  const url = `${hub.replace(/\/$/, "")}/api/v1/nodes`;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new ScoutError("USAGE", `cannot ask the hub for its nodes: ${(e as Error).message}`, {
      hint: "check --hub (the hub's HTTP address, e.g. http://hub.example:8080)",
      context: { url },
    });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new ScoutError("USAGE", `the hub answered ${res.status} for /api/v1/nodes`, {
      hint: "check --hub (the hub's HTTP address)",
      context: { url },
    });
  }
  const body = await res.json() as { nodes?: { identity?: unknown; stale?: unknown }[] };
  return (body.nodes ?? []).flatMap((n) =>
    typeof n.identity === "string" ? [{ identity: n.identity, stale: n.stale === true }] : []
  );
}
