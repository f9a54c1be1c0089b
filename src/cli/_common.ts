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

/** The broker flags `scout agent` and `scout-hub hub` share. */
export const BROKER_FLAGS = {
  broker: { type: "string", multiple: true },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  creds: { type: "string" },
} as const;

/** A broker to connect to: URLs and TLS material as PEM text (files already read). */
export interface BrokerFlags {
  /** Broker URLs. */
  urls: string[];
  /** CA that verifies the broker. */
  ca: string;
  /** Client certificate (mutual TLS). */
  cert?: string;
  /** Client key. */
  key?: string;
  /** Creds file text for operator-mode brokers. */
  creds?: string;
}

async function readFlagFile(flag: string, path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ScoutError("USAGE", `Cannot read ${flag} "${path}": ${(e as Error).message}`, {
      hint: `give ${flag} a readable file`,
    });
  }
}

/**
 * Reads the broker flags (or their SCOUT_* twins) and the files they name; null without
 * --broker. A broker without --tls-ca is refused: Scout never connects without TLS.
 */
export async function brokerFlags(
  values: { [K in keyof typeof BROKER_FLAGS]?: K extends "broker" ? string[] : string },
  io: CliIo,
): Promise<BrokerFlags | null> {
  const urls = values.broker ?? io.env("SCOUT_BROKER")?.split(",").filter(Boolean) ?? [];
  if (urls.length === 0) return null;
  const ca = await readFlagFile("--tls-ca", values["tls-ca"] ?? io.env("SCOUT_TLS_CA"));
  if (ca === undefined) {
    throw new ScoutError("BROKER_TLS_REQUIRED", "--broker needs TLS: no --tls-ca given", {
      hint: "Scout never connects without TLS: give --tls-ca, and --tls-cert/--tls-key or --creds",
    });
  }
  const cert = await readFlagFile("--tls-cert", values["tls-cert"] ?? io.env("SCOUT_TLS_CERT"));
  const key = await readFlagFile("--tls-key", values["tls-key"] ?? io.env("SCOUT_TLS_KEY"));
  const creds = await readFlagFile("--creds", values.creds ?? io.env("SCOUT_CREDS"));
  return {
    urls,
    ca,
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(creds === undefined ? {} : { creds }),
  };
}
