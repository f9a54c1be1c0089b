import { parseArgs, type ParseArgsConfig } from "node:util";
import { ScoutError } from "../errors.ts";

/** What a command needs from the outside world, so tests can capture output. */
export interface CliIo {
  /** Writes to stdout. */
  out(text: string): void;
  /** Writes to stderr. */
  err(text: string): void;
  /** Reads an environment variable (SCOUT_* twins of flags). */
  env(name: string): string | undefined;
}

/** One CLI command. */
export interface Command {
  /** Name as typed. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full help text. */
  help: string;
  /** Runs it; returns the exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** Parses flags strictly; a mistake becomes a USAGE error with the command's help as hint. */
// deno-lint-ignore explicit-module-boundary-types -- the typed result is inferred from `options`
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  command: string,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new ScoutError("USAGE", (e as Error).message.replace(/\. To specify.*$/, ""), {
      hint: `see \`scout ${command} --help\``,
    });
  }
}

/** Flag value, else its SCOUT_* environment twin, else the default. */
export function flagOrEnv(
  value: string | undefined,
  io: CliIo,
  envName: string,
  fallback: string,
): string {
  return value ?? io.env(envName) ?? fallback;
}

/** Exit code for an error: 2 for bad usage, bad input or no agent; 1 otherwise. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof ScoutError) {
    if (
      err.code === "USAGE" || err.code === "NO_AGENT" || err.code.startsWith("CONFIG") ||
      err.code === "IDENTITY_INVALID" ||
      err.code === "BROKER_TLS_REQUIRED"
    ) {
      return 2;
    }
  }
  return 1;
}

/** The state directory default. */
export const DEFAULT_STATE_DIR = "/var/lib/scout";
