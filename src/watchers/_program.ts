import { splitArgs } from "../config/mod.ts";
import type { RunResult } from "../runtime/mod.ts";
import type { WatcherContext } from "./types.ts";

/** A program run through the allow-list, or the reason it could not start. */
export type ProgramRun =
  | { kind: "ran"; commandLine: string; result: RunResult }
  | { kind: "refused"; commandLine: string; reason: string };

/** Options of runProgram. */
export interface ProgramOptions {
  /** The command: a shell-like string or a list; the first word is the program. */
  command: string | string[];
  /** More arguments appended after the command's own. @default [] */
  extraArgs?: string[];
  /** Variables added to the minimal environment. @default {} */
  environment?: Record<string, string>;
  /** Watcher name for MACHINE_WATCHER_NAME. */
  watcher: string;
  /** Kill after this long. */
  timeoutMs: number;
  /** Aborts the run. */
  signal: AbortSignal;
}

/**
 * Resolves a command inside the allowed directories and runs it without a shell. The child
 * sees only PATH, MACHINE_NAME, MACHINE_WATCHER_NAME and the given environment.
 */
export async function runProgram(ctx: WatcherContext, opts: ProgramOptions): Promise<ProgramRun> {
  const words = typeof opts.command === "string" ? splitArgs(opts.command) : [...opts.command];
  const [program, ...args] = [...words, ...(opts.extraArgs ?? [])];
  const shown = [program ?? "", ...args].join(" ");
  if (!program) return { kind: "refused", commandLine: shown, reason: "no command given" };
  const dirs = ctx.machineDirAllowed
    ? [ctx.machineDir, ...ctx.deps.pluginDirs]
    : ctx.deps.pluginDirs;
  const relative = ctx.machineDirAllowed && program.includes("/") && !program.startsWith("/")
    ? `${ctx.machineDir}/${program}`
    : program;
  const resolved = await ctx.deps.resolveProgram(relative, { searchDirs: dirs, allowedDirs: dirs });
  if (!resolved.ok) return { kind: "refused", commandLine: shown, reason: resolved.error.message };
  const path = ctx.machineDirAllowed ? `${ctx.deps.path}:${ctx.machineDir}` : ctx.deps.path;
  const env = {
    ...opts.environment,
    PATH: path,
    MACHINE_NAME: ctx.machine,
    MACHINE_WATCHER_NAME: opts.watcher,
  };
  const result = await ctx.deps.runner.run({
    cmd: resolved.path,
    args,
    env,
    cwd: ctx.machineDir,
    timeoutMs: opts.timeoutMs,
    maxOutputBytes: ctx.deps.maxOutputBytes,
    signal: opts.signal,
  });
  return { kind: "ran", commandLine: [resolved.path, ...args].join(" "), result };
}

/** Says in words why a run did not exit normally, or null when it exited. */
export function failureReason(result: RunResult, timeoutMs: number): string | null {
  switch (result.kind) {
    case "exited":
      return null;
    case "signaled":
      return `killed by signal ${result.signal}`;
    case "timeout":
      return `timed out after ${timeoutMs / 1000}s; its process group was killed`;
    case "aborted":
      return "stopped because the agent is shutting down";
    case "spawn_error":
      return `could not be started: ${result.message}`;
  }
}
