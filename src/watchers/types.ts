import type { z } from "zod";
import type { WatcherSpec } from "../config/mod.ts";
import type { EventMeta, MachineRef, ScoutEvent } from "../events.ts";
import type { GossHost } from "../goss/mod.ts";
import type { NagiosStatus, PerfDatum } from "../nagios.ts";
import type { Clock, Logger, ProcessRunner } from "../runtime/mod.ts";

/** Resolves a program name or path to an allowed real path, or says why not. */
export type ProgramResolver = (
  nameOrPath: string,
  options: { searchDirs: string[]; allowedDirs: string[] },
) => Promise<{ ok: true; path: string } | { ok: false; error: Error }>;

/** The ports and settings every watcher may use; nothing more. */
export interface WatcherDeps {
  /** Time. */
  clock: Clock;
  /** Runs plugins and commands. */
  runner: ProcessRunner;
  /** Structured logs. */
  logger: Logger;
  /** Finds programs inside the allowed directories only. */
  resolveProgram: ProgramResolver;
  /** Plugin directories (search order); also the only places programs may come from. */
  pluginDirs: string[];
  /** Bytes of plugin output kept. */
  maxOutputBytes: number;
  /** PATH given to plugins. */
  path: string;
  /** System access of the goss builtin, created on first use. */
  gossHost: () => Promise<GossHost>;
}

/** What a watcher knows about the machine that hosts it. */
export interface WatcherContext {
  /** Machine name. */
  machine: string;
  /** Directory of the machine; relative commands resolve here for Choria machines. */
  machineDir: string;
  /** True for a Choria machine.yaml, whose own directory may hold programs. */
  machineDirAllowed: boolean;
  /** The machine's current state. */
  state(): string;
  /** Shared ports. */
  deps: WatcherDeps;
}

/**
 * When the machine runs a watcher. `interval` repeats while the watcher is active;
 * `onEnter` says what entering an active state does; `forceIn` runs it once at once in
 * that state even though the state is not in state_match (FORCE_CHECK).
 */
export interface Trigger {
  /** Repeat period while active, ms. */
  intervalMs?: number;
  /** First interval run after a random delay within one interval. */
  splay: boolean;
  /** On entering an active state: nothing, run now, or run after a delay. */
  onEnter: { kind: "none" } | { kind: "now"; minGapMs: number } | { kind: "after"; ms: number };
  /** A state in which the watcher runs once at once regardless of state_match. */
  forceIn?: string;
  /** Re-run at once when another watcher of the machine fired a transition. */
  recheckAfterOtherWatcher: boolean;
  /** Treat agent start as entering the initial state (timers start, schedules evaluate). */
  atStart: boolean;
}

/** Summary of a nagios watcher, for `scout checks`, Prometheus and the API. */
export interface NagiosInfo {
  /** Discriminant. */
  type: "nagios";
  /** Hard status (the one that moved the machine), null before the first hard result. */
  hardStatus: NagiosStatus | null;
  /** Status of the last run, null before the first run. */
  lastStatus: NagiosStatus | null;
  /** When the last run started, ms; null before the first. */
  lastRunMs: number | null;
  /** Runs so far. */
  checksCount: number;
  /** Consecutive non-OK results. */
  attempt: number;
  /** Attempts before a non-OK result is hard. */
  attempts: number;
  /** Latest perfdata. */
  perfdata: PerfDatum[];
}

/** What happened when a watcher ran. */
export interface WatcherResult {
  /** Transition to fire, if any. */
  fire?: string;
  /** Run again after this long instead of the regular interval (soft retries, cron). */
  nextInMs?: number;
  /** False when the run produced nothing to announce (skipped). @default true */
  announce?: boolean;
}

/** A live watcher. */
export interface WatcherInstance {
  /** How the machine schedules it. */
  readonly trigger: Trigger;
  /** Runs once; aborting the signal kills what it started. */
  run(signal: AbortSignal): Promise<WatcherResult>;
  /** The watcher's current state as a CloudEvent, or null before it has run. */
  currentEvent(ref: MachineRef, meta: EventMeta): ScoutEvent | null;
  /**
   * The check's status for listings: the nagios state event's `data` for the latest result
   * (its `timestamp` is the check time), without the CloudEvent and built once per result;
   * null before it has run and for other types. Callers must not change it.
   */
  currentStatus?(ref: MachineRef): Record<string, unknown> | null;
  /** Watcher state worth keeping across restarts (JSON-safe). */
  snapshot(): unknown;
  /** Nagios summary; other types return null. */
  info(): NagiosInfo | null;
  /** Told when the machine enters (true) or leaves (false) the watcher's active states. */
  setActive?(active: boolean): void;
}

/** A watcher type: its name, its properties schema, and a factory. */
export interface WatcherPlugin<P = unknown> {
  /** Type name as written in machine.yaml. */
  readonly type: string;
  /** Zod schema of `properties`; the plugin owns it. */
  readonly properties: z.ZodType<P>;
  /** Builds a live watcher; `saved` is what snapshot() returned before a restart. */
  create(
    spec: WatcherSpec & { properties: P },
    ctx: WatcherContext,
    saved: unknown,
  ): WatcherInstance;
}
