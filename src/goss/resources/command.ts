/**
 * goss `command`: runs `sh -c <exec>` once per resource (through GossHost.run: own process
 * group, killed on timeout, minimal environment) and reports exit status, stdout and stderr.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossRun, GossSystem } from "../types.ts";
import { lazy, missingTool, msOption, systemOf } from "./_util.ts";

/** goss's default command timeout. */
const DEFAULT_TIMEOUT_MS = 10_000;

/** A duration as Go prints it in goss's timeout message ("10s", "1.5s", "500ms"). */
export function goDuration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}

function commandSystem(target: string, attrs: Attrs, ctx: GossContext): GossSystem {
  const result = lazy(async (): Promise<GossRun> => {
    const timeoutMs = msOption(attrs, "timeout", DEFAULT_TIMEOUT_MS);
    const sh = await ctx.host.which("sh");
    if (sh === null) throw missingTool("sh", "commands run through sh -c");
    const r = await ctx.host.run([sh, "-c", target], { timeoutMs });
    if (r.timedOut) throw new Error(`Command execution timed out (${goDuration(timeoutMs)})`);
    return r;
  });
  return systemOf("Command", {
    // A shell killed by a signal has no exit code; Go reports -1 for it.
    "exit-status": async () => (await result()).code ?? -1,
    stdout: async () => (await result()).stdout,
    stderr: async () => (await result()).stderr,
  });
}

/** The `command` resource type (runs arbitrary commands). */
export const command: GossResourceType = {
  type: "command",
  resultType: "Command",
  idAttr: "exec",
  tested: ["exit-status", "stdout", "stderr"],
  options: ["timeout", "retry_count", "retry_delay"],
  required: ["exit-status"],
  streams: ["stdout", "stderr"],
  runsCommands: true,
  system: commandSystem,
};
