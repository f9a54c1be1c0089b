/**
 * The typed values the config loaders return.
 * @module
 */
import type { z } from "zod";
import type { ScoutError, SourceLocation } from "../errors.ts";

/** A loader's answer: the value, or every error found in the file. */
export type LoadResult<T> = { ok: true; value: T } | { ok: false; errors: ScoutError[] };

/** What the machine loader needs from its caller. */
export interface LoadOptions {
  /** Watcher type -> the schema of its properties (the watchers layer owns them). */
  watcherTypes: ReadonlyMap<string, z.ZodType>;
}

/** One event of a machine: valid in `from`, leads to `destination`. */
export interface TransitionSpec {
  /** Event name, fired by watchers or operators. */
  name: string;
  /** States in which the event is valid. */
  from: string[];
  /** State after the event. */
  destination: string;
  /** Free text. */
  description?: string;
}

/** One watcher of a machine. */
export interface WatcherSpec {
  /** Unique within the machine. */
  name: string;
  /** Registered watcher type, e.g. "nagios" or "exec". */
  type: string;
  /** States in which it runs; empty means every state. */
  stateMatch: string[];
  /** Transition fired when it fails. */
  failTransition?: string;
  /** Transition fired when it succeeds. */
  successTransition?: string;
  /** Time between runs. */
  intervalMs?: number;
  /** Time between announcements of its state. */
  announceIntervalMs?: number;
  /** The output of the watcher type's properties schema. */
  properties: unknown;
  /** Where the watcher entry starts. */
  location: SourceLocation;
}

/** A hosted finite state machine, from a Choria machine.yaml or built from a check. */
export interface MachineSpec {
  /** Unique machine name. */
  name: string;
  /** Semantic version, echoed in events. */
  version: string;
  /** State at start. */
  initialState: string;
  /** Upper bound of the random delay before the watchers start. */
  splayStartMs: number;
  /** Events of the machine. */
  transitions: TransitionSpec[];
  /** Watchers of the machine. */
  watchers: WatcherSpec[];
  /** Directory the machine's relative commands resolve against. */
  dir: string;
  /** Where the definition starts (check entry or machine.yaml top). */
  location: SourceLocation;
  /** Whether it came from a check file or a machine.yaml. */
  origin: "check" | "machine";
  /** Stable hash of the raw definition, to tell whether a reload changed it. */
  hash: string;
}

/** A remediation: a command run on entering the given states and then every interval in them. */
export interface RemediateSpec {
  /** The command and its arguments; never run through a shell. */
  command: string[];
  /** Time between runs while the check stays in one of `states`. */
  intervalMs: number;
  /** Check states that trigger the remediation. */
  states: string[];
}

/** One check of a check file, with every default applied. */
export interface CheckSpec {
  /** Unique machine name. */
  name: string;
  /** Nagios plugin (absolute path or a name in the plugin directories). */
  plugin?: string;
  /** Arguments of the plugin. */
  arguments: string[];
  /** Builtin check run instead of a plugin. */
  builtin?: "heartbeat" | "goss";
  /** Gossfile of the goss builtin, as written (relative to the check file's directory). */
  gossfile?: string;
  /** Goss vars: a vars file path, or the vars themselves. */
  vars?: string | Record<string, unknown>;
  /** Time between checks. */
  intervalMs: number;
  /** Time after which the plugin is killed and the result is UNKNOWN. */
  timeoutMs: number;
  /** Consecutive non-OK results before a state becomes hard. */
  attempts: number;
  /** Time between checks while a state is soft. */
  retryIntervalMs: number;
  /** Optional remediation. */
  remediate?: RemediateSpec;
  /** Strings copied into every event. */
  annotations: Record<string, string>;
  /** Extra environment variables of the plugin. */
  environment: Record<string, string>;
  /** Where the check entry starts. */
  location: SourceLocation;
  /** Stable hash of everything but the location, to tell whether a reload changed the check. */
  hash: string;
}
