/**
 * The command line: one file per command, dispatched from the table below.
 * Layer 7: may import everything. Renders text or --json and maps errors to exit codes.
 * @module
 */
import { formatError } from "../errors.ts";
import { agentCommand } from "./agent.ts";
import { type CliIo, type Command, exitCodeFor } from "./_common.ts";
import { checksCommand, maintenanceCommand, resumeCommand, triggerCommand } from "./control.ts";
import { gossCommand } from "./goss.ts";
import { validateCommand } from "./validate.ts";
import { versionCommand } from "./version.ts";

export type { CliIo } from "./_common.ts";

/** Every command of the `scout` binary. */
export const COMMANDS: readonly Command[] = [
  agentCommand,
  validateCommand,
  gossCommand,
  checksCommand,
  triggerCommand,
  maintenanceCommand,
  resumeCommand,
  versionCommand,
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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`scout: unknown command "${name}"\n  hint: run \`scout --help\` for the list\n`);
    return 2;
  }
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
