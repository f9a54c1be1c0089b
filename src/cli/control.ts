import type { ControlResponse, FleetStatus } from "../api/mod.ts";
import { parseDuration } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { requestSocket } from "../runtime/mod.ts";
import { type CliIo, type Command, DEFAULT_STATE_DIR, flagOrEnv, parseFlags } from "./_common.ts";

async function ask(
  io: CliIo,
  stateDir: string | undefined,
  request: unknown,
): Promise<ControlResponse> {
  const dir = flagOrEnv(stateDir, io, "SCOUT_STATE_DIR", DEFAULT_STATE_DIR);
  const reply = await requestSocket(`${dir}/scout.sock`, request) as ControlResponse;
  if (!reply.ok) {
    throw new ScoutError(reply.error.code === "USAGE" ? "USAGE" : "CONTROL", reply.error.message, {
      ...(reply.error.hint ? { hint: reply.error.hint } : {}),
    });
  }
  return reply;
}

function age(seconds: number | undefined, nowS: number): string {
  if (!seconds) return "never";
  const d = Math.max(0, nowS - seconds);
  return d < 60
    ? `${d}s ago`
    : d < 3600
    ? `${Math.floor(d / 60)}m ago`
    : `${Math.floor(d / 3600)}h ago`;
}

const STATE_HELP = "  --state-dir DIR   the agent's state directory (default /var/lib/scout)\n";

/** Help of `--fleet`, shared by checks, trigger, maintenance and resume. */
const FLEET_HELP = `
Fleet mode (--fleet): send one signed request to every node (scout.api._all.<action>) or to one
node (scout.api.<identity with "." as "_">.<action>) through the broker and gather the replies.
  --fleet             operate on the fleet instead of the local agent
  --broker URL        broker (repeatable; env SCOUT_BROKER), with --tls-ca FILE and
                      --tls-cert FILE --tls-key FILE or --creds FILE (env SCOUT_TLS_*, SCOUT_CREDS)
  --token FILE        operator token (\`scout-hub token operator\`; env SCOUT_OPERATOR_TOKEN)
  --key FILE          the caller's ed25519 private key bound to the token (env SCOUT_OPERATOR_KEY)
  --identity PATTERN  nodes whose identity matches the glob (* = any run); without * only that node
  --annotation K=V    nodes with a check whose latest result carries annotation K=V (repeatable)
  --check NAME        nodes that have this check (repeatable); \`checks\` lists only these checks
  --expect N          stop waiting once N (matching) nodes answered
  --hub URL           the hub's HTTP address (env SCOUT_HUB): wait for the fresh nodes it lists
                      (matching --identity), and list each that does not answer as a failure
  --timeout DURATION  how long to wait for replies (default 5s; per round)
  --json              print one JSON array, one {identity, ok, result, error} object per node

Discovery: with --hub the nodes to wait for come from the hub's fleet view; without --hub,
--expect or a plain --identity the command waits the whole --timeout for replies. trigger, maintenance and resume with an identity
glob, --annotation or --check first ask the matching nodes for their checks (a read-only round),
then send the action only to the nodes that matched, each on its own subject, and wait until all
of them answered. Exit 0 when every node answered ok, 1 on any failure or missing answer, 2 on
bad usage.
`;

/** Runs the fleet variant; fleet.ts loads only when --fleet is given. */
async function runOnFleet(
  action: "checks" | "trigger" | "maintenance" | "resume",
  args: string[],
  io: CliIo,
): Promise<number> {
  return await (await import("./fleet.ts")).runFleet(action, args, io);
}

/** The footer of `scout checks` for an agent in a fleet. */
export function fleetLine(f: FleetStatus): string {
  return `fleet: ${f.connected ? "connected" : "NOT CONNECTED"}, ${f.waiting} event(s) waiting ` +
    `in the spool, ${f.dropped} dropped from a full spool`;
}

/** `scout checks`: lists the local agent's checks. */
export const checksCommand: Command = {
  name: "checks",
  summary: "list the local agent's checks and their states",
  help:
    `scout checks: list the local agent's checks\n\nUsage: scout checks [--json]\n       scout checks --fleet [fleet flags]\n\n${STATE_HELP}${FLEET_HELP}`,
  async run(args, io) {
    if (args.includes("--fleet")) return await runOnFleet("checks", args, io);
    const { values } = parseFlags(args, {
      "state-dir": { type: "string" },
      json: { type: "boolean" },
    }, "checks");
    const reply = await ask(io, values["state-dir"], { action: "checks" });
    const checks = ("checks" in reply ? reply.checks : []) as {
      name: string;
      state: string;
      status: { output?: string; check_time?: number } | null;
      maintenance: { reason: string; untilMs: number | null } | null;
    }[];
    if (values.json) {
      io.out(JSON.stringify(checks) + "\n");
      return 0;
    }
    const now = Math.floor(Date.now() / 1000);
    const rows = checks.map((c) => [
      c.name,
      c.state,
      age(c.status?.check_time, now),
      (c.status?.output ?? "").split("\n")[0]!.split("|")[0]!.trim().slice(0, 60) +
      (c.maintenance?.reason ? ` [maintenance: ${c.maintenance.reason}]` : ""),
    ]);
    const head = ["NAME", "STATE", "LAST CHECK", "OUTPUT"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) {
      io.out(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
    }
    const fleet = "fleet" in reply ? reply.fleet : null;
    if (fleet) io.out(fleetLine(fleet) + "\n");
    return 0;
  },
};

function controlCommand(
  name: "trigger" | "maintenance" | "resume",
  summary: string,
  extraHelp: string,
  verb: string,
): Command {
  return {
    name,
    summary,
    help:
      `scout ${name}: ${summary}\n\nUsage: scout ${name} [NAME...] [flags]\n       scout ${name} [NAME...] --fleet [fleet flags]\n\nNo name means every check.\n\n${STATE_HELP}${extraHelp}  --json            print the reply as JSON\n${FLEET_HELP}`,
    async run(args, io) {
      if (args.includes("--fleet")) return await runOnFleet(name, args, io);
      const { values, positionals } = parseFlags(args, {
        "state-dir": { type: "string" },
        json: { type: "boolean" },
        ...(name === "maintenance" ? { for: { type: "string" }, reason: { type: "string" } } : {}),
      }, name);
      const v = values as Record<string, string | boolean | undefined>;
      const request: Record<string, unknown> = { action: name, checks: positionals };
      if (name === "maintenance") {
        if (typeof v.for === "string") request.for_ms = parseDuration(v.for);
        if (typeof v.reason === "string") request.reason = v.reason;
      }
      const reply = await ask(io, v["state-dir"] as string | undefined, request);
      if (!("transitioned" in reply)) return 1;
      if (v.json) io.out(JSON.stringify(reply) + "\n");
      else {
        io.out(
          `${verb} ${reply.transitioned.length} check${
            reply.transitioned.length === 1 ? "" : "s"
          }` +
            (reply.transitioned.length ? `: ${reply.transitioned.join(", ")}` : "") + "\n",
        );
        for (const s of reply.skipped) io.out(`skipped ${s.name}: ${s.reason}\n`);
        for (const f of reply.failed) io.err(`failed ${f.name}: ${f.reason}\n`);
      }
      return reply.failed.length ? 1 : 0;
    },
  };
}

/** `scout trigger`: FORCE_CHECK on the local agent. */
export const triggerCommand: Command = controlCommand(
  "trigger",
  "run checks at once",
  "",
  "Triggered",
);
/** `scout maintenance`: MAINTENANCE on the local agent. */
export const maintenanceCommand: Command = controlCommand(
  "maintenance",
  "put checks into maintenance",
  "  --for DURATION    end maintenance by itself after this long (e.g. 2h)\n  --reason TEXT     why, shown in events and `scout checks`\n",
  "Placed into maintenance",
);
/** `scout resume`: RESUME on the local agent. */
export const resumeCommand: Command = controlCommand(
  "resume",
  "end maintenance and re-check",
  "",
  "Resumed",
);

/** `scout reprovision`: the local agent drops its certificate and enrols again. */
export const reprovisionCommand: Command = {
  name: "reprovision",
  summary: "make the local agent drop its certificate and enrol again",
  help: `scout reprovision: make the local agent drop its certificate and enrol again

Usage: scout reprovision [flags]

The agent leaves the fleet, forgets its key and certificate, and enrols again with the
provisioning token it finds (flag, environment, embedded or /etc/scout/provisioning.jwt).

${STATE_HELP}`,
  async run(args, io) {
    const { values } = parseFlags(args, { "state-dir": { type: "string" } }, "reprovision");
    await ask(io, values["state-dir"], { action: "reprovision" });
    io.out("re-provisioning: the agent enrols again\n");
    return 0;
  },
};
