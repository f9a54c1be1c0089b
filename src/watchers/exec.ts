import { z } from "zod";
import { execStateEvent } from "../events.ts";
import { failureReason, runProgram } from "./_program.ts";
import { commandLine, durationMs, stringMap } from "./_props.ts";
import type { WatcherPlugin } from "./types.ts";

/**
 * Properties of an exec watcher: Choria's command, environment (a `VAR=value` list, or a
 * map) and timeout, plus Scout's `min_interval`: an on-enter run is skipped when the last
 * run started less than this long ago (remediation uses its interval, so a remediation
 * that does not help cannot loop).
 */
export const execProperties = z.strictObject({
  command: commandLine,
  environment: z.union([
    z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, "use VAR=value")),
    stringMap,
  ]).default({}),
  timeout: durationMs.default(10_000),
  min_interval: durationMs.default(0),
  suppress_success_announce: z.boolean().default(false),
});

/** Parsed exec properties. */
export type ExecProperties = z.infer<typeof execProperties>;

function envMap(env: ExecProperties["environment"]): Record<string, string> {
  if (!Array.isArray(env)) return env;
  const out: Record<string, string> = {};
  for (const item of env) {
    const i = item.indexOf("=");
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

type Outcome = "unknown" | "skipped" | "error" | "success";

/** The exec watcher: runs a command on entering its states and every interval; exit 0 fires success_transition, anything else fail_transition. */
export const execWatcher: WatcherPlugin<ExecProperties> = {
  type: "exec",
  properties: execProperties,
  create(spec, ctx) {
    const p = spec.properties;
    const environment = envMap(p.environment);
    let outcome: Outcome = "unknown";
    let runTimeMs = 0;
    const shownCommand = typeof p.command === "string" ? p.command : p.command.join(" ");
    return {
      trigger: {
        ...(spec.intervalMs === undefined ? {} : { intervalMs: spec.intervalMs }),
        splay: false,
        onEnter: { kind: "now", minGapMs: p.min_interval },
        recheckAfterOtherWatcher: false,
        atStart: false,
      },
      async run(signal) {
        const run = await runProgram(ctx, {
          command: p.command,
          environment,
          watcher: spec.name,
          timeoutMs: p.timeout,
          signal,
        });
        if (signal.aborted) return { announce: false };
        let ok = false;
        if (run.kind === "refused") {
          ctx.deps.logger.warn(`exec watcher cannot run its command: ${run.reason}`, {
            machine: ctx.machine,
            watcher: spec.name,
          });
        } else {
          runTimeMs = run.result.durationMs;
          const why = failureReason(run.result, p.timeout);
          ok = run.result.kind === "exited" && run.result.code === 0;
          if (!ok) {
            ctx.deps.logger.warn(`exec watcher command failed`, {
              machine: ctx.machine,
              watcher: spec.name,
              why: why ?? `exit code ${run.result.kind === "exited" ? run.result.code : "?"}`,
            });
          }
        }
        outcome = ok ? "success" : "error";
        const fire = ok ? spec.successTransition : spec.failTransition;
        const announce = !(ok && p.suppress_success_announce);
        return fire === undefined ? { announce } : { fire, announce };
      },
      currentEvent(ref, meta) {
        return execStateEvent(ref, {
          watcher: spec.name,
          command: shownCommand,
          previousOutcome: outcome,
          previousRunTimeMs: runTimeMs,
        }, meta);
      },
      snapshot: () => null,
      info: () => null,
    };
  },
};
