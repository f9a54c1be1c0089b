import { formatError, ScoutError } from "../errors.ts";
import { type CliIo, type Command, flagOrEnv, parseFlags } from "./_common.ts";
import type { CheckRow as HubCheckRow, NodeRow } from "../hub/mod.ts";

const HELP = `scout status: the fleet's status from the hub, or one node's checks

Usage: scout status [NODE] [--hub URL] [--json]

Without NODE: one row per node (checks, OK/WARNING/CRITICAL/UNKNOWN counts, last seen, stale).
With NODE: that node's checks (name, state, status, last result, first line of output).

Flags:
  --hub URL   the hub's HTTP API (default http://127.0.0.1:8080; env SCOUT_HUB)
  --json      print the API's data as one JSON array

Exit codes: 0 success, 1 unknown node or an error from the hub, 2 bad usage or the hub
unreachable.`;

/** A node row of GET /api/v1/nodes: the hub's own type. */
export type { NodeRow };

/** The fields of a GET /api/v1/checks row the node table shows (the hub's row has more). */
export type CheckRow = Pick<
  HubCheckRow,
  "node" | "check" | "stale" | "status" | "output" | "lastResultMs" | "state"
>;

/** "12s ago", "3m ago", "2h ago", "4d ago", or "never". */
export function ago(ms: number | null, nowMs: number): string {
  if (ms === null || !Number.isFinite(ms) || ms <= 0) return "never";
  const s = Math.max(0, Math.floor((nowMs - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** Lays rows out in columns under a header; lines end with "\n". */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [head, ...rows]
    .map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n")
    .join("");
}

/** The fleet table. */
export function fleetTable(nodes: NodeRow[], nowMs: number): string {
  const head = ["NODE", "CHECKS", "OK", "WARNING", "CRITICAL", "UNKNOWN", "LAST SEEN", "STALE"];
  const rows = nodes.map((n) => [
    n.identity,
    String(n.checks),
    ...["OK", "WARNING", "CRITICAL", "UNKNOWN"].map((s) => String(n.statuses[s] ?? 0)),
    ago(n.lastSeenMs, nowMs),
    n.stale ? "yes" : "no",
  ]);
  return table(head, rows);
}

/** One node's checks table. */
export function nodeTable(checks: CheckRow[], nowMs: number): string {
  const head = ["NAME", "STATE", "STATUS", "LAST RESULT", "OUTPUT"];
  const rows = checks.map((c) => [
    c.check,
    c.state ?? "-",
    c.status ?? "PENDING",
    ago(c.lastResultMs, nowMs),
    (c.output.split("\n")[0] ?? "").split("|")[0]!.trim().slice(0, 80),
  ]);
  return table(head, rows);
}

class Unreachable extends Error {}

async function getJson(base: string, path: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new Unreachable((e as Error).message);
  }
  let body: Record<string, unknown>;
  try {
    body = await res.json();
  } catch (e) {
    throw new ScoutError(
      "BROKER_CONNECT",
      `${base} did not answer with JSON (HTTP ${res.status})`,
      {
        hint: "check that --hub points at the hub's HTTP API",
        cause: e,
      },
    );
  }
  if (!res.ok) {
    throw new ScoutError(
      "BROKER_CONNECT",
      `the hub answered ${path} with HTTP ${res.status}: ${String(body["error"] ?? "")}`,
      typeof body["hint"] === "string" ? { hint: body["hint"] } : {},
    );
  }
  return body;
}

function hubUrl(text: string): string {
  try {
    const u = new URL(text);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
    return u.href;
  } catch {
    throw new ScoutError("USAGE", `--hub "${text}" is not an http(s) URL`, {
      hint: "give the hub's API address, e.g. --hub http://127.0.0.1:8080",
    });
  }
}

/** `scout status`: the fleet or one node, from the hub's HTTP API. */
export const statusCommand: Command = {
  name: "status",
  summary: "fleet or node status tables from the hub",
  help: HELP,
  async run(args: string[], io: CliIo) {
    const { values, positionals } = parseFlags(args, {
      hub: { type: "string" },
      json: { type: "boolean" },
    }, "status");
    if (positionals.length > 1) {
      throw new ScoutError("USAGE", "scout status takes at most one node name", {
        hint: "see `scout status --help`",
      });
    }
    const base = hubUrl(flagOrEnv(values.hub, io, "SCOUT_HUB", "http://127.0.0.1:8080"));
    const node = positionals[0];
    try {
      const nodes = (await getJson(base, "/api/v1/nodes"))["nodes"] as NodeRow[];
      const now = Date.now();
      if (node === undefined) {
        io.out(values.json ? JSON.stringify(nodes) + "\n" : fleetTable(nodes, now));
        return 0;
      }
      if (!nodes.some((n) => n.identity === node)) {
        io.err(`scout status: ${
          formatError(
            new ScoutError("USAGE", `the hub knows no node "${node}"`, {
              hint: "run `scout status` for the list of nodes",
            }),
          )
        }\n`);
        return 1;
      }
      const checks = (await getJson(
        base,
        `/api/v1/checks?node=${encodeURIComponent(node)}`,
      ))["checks"] as CheckRow[];
      io.out(values.json ? JSON.stringify(checks) + "\n" : nodeTable(checks, now));
      return 0;
    } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      io.err(`scout status: ${
        formatError(
          new ScoutError("BROKER_CONNECT", `cannot reach the hub at ${base}: ${e.message}`, {
            hint: "start the hub (`scout-hub hub`) or point --hub / SCOUT_HUB at its API",
          }),
        )
      }\n`);
      return 2;
    }
  },
};
