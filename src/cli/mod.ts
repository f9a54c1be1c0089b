/**
 * The command line: one file per command, dispatched from the table below.
 * Layer 7: may import everything. Renders text or --json and maps errors to exit codes.
 * @module
 */
import { formatError } from "../errors.ts";
import { type CliIo, type Command, exitCodeFor } from "./_common.ts";

export type { CliIo } from "./_common.ts";

/** A command of the table: its name and summary, and its module, loaded only when it runs. */
export interface CommandEntry {
  /** Name as typed. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Loads the command's module. */
  load(): Promise<Command>;
}

/**
 * Every command of the `scout` binary. Modules load on use: the agent never loads the goss CLI
 * or its HTTP server, and `scout checks` never loads the agent.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "agent",
    summary: "run the node agent",
    load: async () => (await import("./agent.ts")).agentCommand,
  },
  {
    name: "push",
    summary: "push signed check bundles to nodes over the fleet broker",
    load: async () => (await import("./push.ts")).pushCommand,
  },
  {
    name: "validate",
    summary: "check check files and machine definitions",
    load: async () => (await import("./validate.ts")).validateCommand,
  },
  {
    name: "goss",
    summary: "validate or serve a gossfile natively (goss's flags, formats and exit codes)",
    load: async () => (await import("./goss.ts")).gossCommand,
  },
  {
    name: "checks",
    summary: "list the local agent's checks and their states",
    load: async () => (await import("./control.ts")).checksCommand,
  },
  {
    name: "trigger",
    summary: "run checks at once",
    load: async () => (await import("./control.ts")).triggerCommand,
  },
  {
    name: "maintenance",
    summary: "put checks into maintenance",
    load: async () => (await import("./control.ts")).maintenanceCommand,
  },
  {
    name: "resume",
    summary: "end maintenance and re-check",
    load: async () => (await import("./control.ts")).resumeCommand,
  },
  {
    name: "reprovision",
    summary: "make the local agent drop its certificate and enrol again",
    load: async () => (await import("./control.ts")).reprovisionCommand,
  },
  {
    name: "status",
    summary: "fleet or node status tables from the hub",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    name: "watch",
    summary: "live stream of the fleet's check transitions and results",
    load: async () => (await import("./watch.ts")).watchCommand,
  },
  {
    name: "hub",
    summary: "run the hub: fleet state view, event archive and HTTP API",
    load: async () => (await import("./hub.ts")).hubCommand,
  },
  {
    name: "broker",
    summary: "write (and supervise) the fleet's nats-server configuration",
    load: async () => (await import("./broker.ts")).brokerCommand,
  },
  {
    name: "ca",
    summary: "make the fleet's file CA and sign CSRs with it",
    load: async () => (await import("./ca.ts")).caCommand,
  },
  {
    name: "token",
    summary: "make provisioning and operator tokens, and caller key pairs",
    load: async () => (await import("./token.ts")).tokenCommand,
  },
  {
    name: "version",
    summary: "print version, Deno version, target and permission profile",
    load: async () => (await import("./version.ts")).versionCommand,
  },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `scout: monitoring agent for fleets of servers, containers and devices\n\nUsage: scout COMMAND [flags]\n\nCommands:\n${
    COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")
  }\n\nRun \`scout COMMAND --help\` for a command's flags.\n`;
}

/** Runs the CLI with argv and returns the exit code. */
export async function cli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.out(usage());
    return name ? 0 : 2;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.err(`scout: unknown command "${name}"\n  hint: run \`scout --help\` for the list\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(command.help.endsWith("\n") ? command.help : command.help + "\n");
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    io.err(`scout ${name}: ${formatError(e)}\n`);
    return exitCodeFor(e);
  }
}

/** The real terminal and environment. */
export const denoIo: CliIo = {
  out: (t) => void Deno.stdout.writeSync(new TextEncoder().encode(t)),
  err: (t) => void Deno.stderr.writeSync(new TextEncoder().encode(t)),
  env: (n) => Deno.env.get(n),
};
