import { z } from "zod";
import {
  type MachineRef,
  nagiosStateData,
  nagiosStateEvent,
  type NagiosStatePayload,
  SCOUT_EXTENSIONS,
} from "../events.ts";
import { formatError } from "../errors.ts";
import {
  choriaPerfdata,
  NAGIOS_STATUSES,
  type NagiosStatus,
  parsePluginOutput,
  type PerfDatum,
  STATUS_CODE,
  statusFromCode,
} from "../nagios.ts";
import { failureReason, runProgram } from "./_program.ts";
import { durationMs, stringMap } from "./_props.ts";
import type { NagiosInfo, WatcherInstance, WatcherPlugin } from "./types.ts";

/** Results kept in a check's history, as Choria does. */
export const HISTORY_SIZE = 15;

/** Properties of a nagios watcher: Choria's, plus Scout's arguments, environment and retries. */
export const nagiosProperties = z.strictObject({
  plugin: z.string().min(1).optional(),
  arguments: z.union([z.string(), z.array(z.string())]).optional(),
  builtin: z.enum(["heartbeat", "goss"]).optional(),
  gossfile: z.string().min(1).optional(),
  vars: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  timeout: durationMs.default(10_000),
  annotations: stringMap.default({}),
  environment: stringMap.default({}),
  attempts: z.number().int().min(1).max(100).default(1),
  retry_interval: durationMs.optional(),
}).refine((p) => (p.plugin === undefined) !== (p.builtin === undefined), {
  message: 'set exactly one of "plugin" or "builtin"',
}).refine((p) => p.builtin !== "goss" || p.gossfile !== undefined, {
  message: 'builtin "goss" needs "gossfile"',
  path: ["gossfile"],
});

/** Parsed nagios properties. */
export type NagiosProperties = z.infer<typeof nagiosProperties>;

type WirePerfdata = { unit: string; label: string; value: number }[];

interface HistoryItem {
  executeMs: number;
  status: 0 | 1 | 2 | 3;
  perfdata: WirePerfdata;
}

interface LastRun {
  status: NagiosStatus;
  output: string;
  plugin: string;
  checkTimeMs: number;
  runtimeMs: number;
  perfdata: PerfDatum[];
  wirePerfdata: WirePerfdata;
  hard: boolean;
}

const wirePerfdata = z.array(z.object({ unit: z.string(), label: z.string(), value: z.number() }));

const savedSchema = z.object({
  history: z.array(z.object({
    executeMs: z.number(),
    status: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]),
    perfdata: wirePerfdata,
  })).default([]),
  checksCount: z.number().default(0),
  attempt: z.number().default(0),
  hardStatus: z.enum(NAGIOS_STATUSES).nullable().default(null),
  last: z.object({
    status: z.enum(NAGIOS_STATUSES),
    output: z.string(),
    plugin: z.string(),
    checkTimeMs: z.number(),
    runtimeMs: z.number(),
    wirePerfdata: wirePerfdata.default([]),
    hard: z.boolean(),
  }).nullable().default(null),
});

/**
 * Decides soft or hard for a result (Nagios semantics): OK is always hard; a non-OK result
 * is hard once `attempts` consecutive non-OK results were seen, or at once when the last
 * hard status was already non-OK (moving between problem states needs no retries).
 */
export function hardness(
  status: NagiosStatus,
  attempt: number,
  attempts: number,
  hardStatus: NagiosStatus | null,
): boolean {
  if (status === "OK") return true;
  if (hardStatus !== null && hardStatus !== "OK") return true;
  return attempt >= attempts;
}

/** The nagios watcher: runs a Nagios plugin (or a builtin) and fires the transition named after its status. */
export const nagiosWatcher: WatcherPlugin<NagiosProperties> = {
  type: "nagios",
  properties: nagiosProperties,
  create(spec, ctx, saved): WatcherInstance {
    const p = spec.properties;
    const restored = savedSchema.safeParse(saved ?? {});
    const s = restored.success ? restored.data : savedSchema.parse({});
    const history: HistoryItem[] = s.history.slice(-HISTORY_SIZE);
    let checksCount = s.checksCount;
    let attempt = s.attempt;
    let hardStatus: NagiosStatus | null = s.hardStatus;
    let last: LastRun | null = s.last ? { ...s.last, perfdata: [] } : null;
    const intervalMs = spec.intervalMs ?? 300_000;
    const retryMs = p.retry_interval ?? intervalMs;
    const args = typeof p.arguments === "string" ? undefined : p.arguments;

    /** Choria's goss builtin: CRITICAL when a test fails, UNKNOWN when the gossfile cannot run. */
    async function runGoss(
      signal: AbortSignal,
    ): Promise<Omit<LastRun, "hard" | "checkTimeMs" | "wirePerfdata">> {
      // The goss engine loads on first use: agents without goss checks never pay for it.
      const { choriaNagiosSummary, loadGossfile, RESOURCE_TYPES, validate } = await import(
        "../goss/mod.ts"
      );
      const host = await ctx.deps.gossHost();
      const started = ctx.deps.clock.now();
      const unknown = (why: string) => ({
        status: "UNKNOWN" as const,
        output: `UNKNOWN: ${why}`,
        plugin: "goss",
        runtimeMs: ctx.deps.clock.now() - started,
        perfdata: [],
      });
      let spec;
      try {
        spec = await loadGossfile(p.gossfile!, {
          host,
          resources: RESOURCE_TYPES,
          ...(typeof p.vars === "string" ? { vars: [p.vars] } : {}),
          ...(p.vars !== undefined && typeof p.vars !== "string" ? { varsData: p.vars } : {}),
        });
      } catch (e) {
        return unknown(`goss configuration failed: ${formatError(e).replace(/\n\s*/g, " ")}`);
      }
      const timeout = new Promise<"timeout">((resolve) => {
        const t = ctx.deps.clock.setTimer(p.timeout, () => resolve("timeout"));
        signal.addEventListener("abort", () => t.cancel(), { once: true });
      });
      try {
        const results = await Promise.race([
          validate(spec, { resources: RESOURCE_TYPES, host, maxConcurrent: 1 }),
          timeout,
        ]);
        if (results === "timeout") {
          return unknown(`goss validate timed out after ${p.timeout / 1000}s`);
        }
        const summary = choriaNagiosSummary(results);
        return {
          status: summary.status,
          output: summary.output,
          plugin: "goss",
          runtimeMs: ctx.deps.clock.now() - started,
          perfdata: parsePluginOutput(summary.output).perfdata,
        };
      } catch (e) {
        return unknown(`goss validate failed: ${formatError(e).replace(/\n\s*/g, " ")}`);
      }
    }

    async function execute(
      signal: AbortSignal,
    ): Promise<Omit<LastRun, "hard" | "checkTimeMs" | "wirePerfdata">> {
      const started = ctx.deps.clock.now();
      if (p.builtin === "heartbeat") {
        return {
          status: "OK",
          output: String(Math.floor(ctx.deps.clock.now() / 1000)),
          plugin: "heartbeat",
          runtimeMs: ctx.deps.clock.now() - started,
          perfdata: [],
        };
      }
      if (p.builtin === "goss") return await runGoss(signal);
      const command = typeof p.arguments === "string"
        ? `${p.plugin} ${p.arguments}`
        : p.plugin ?? "";
      const run = await runProgram(ctx, {
        command,
        extraArgs: args ?? [],
        environment: p.environment,
        watcher: spec.name,
        timeoutMs: p.timeout,
        signal,
      });
      if (run.kind === "refused") {
        return {
          status: "UNKNOWN",
          output: `UNKNOWN: ${run.reason}`,
          plugin: run.commandLine,
          runtimeMs: ctx.deps.clock.now() - started,
          perfdata: [],
        };
      }
      const r = run.result;
      const text = (r.stdout.trim() === "" ? r.stderr : r.stdout).trim();
      const parsed = parsePluginOutput(text);
      const why = failureReason(r, p.timeout);
      let status: NagiosStatus;
      let output = text;
      if (why !== null) {
        status = "UNKNOWN";
        output = `UNKNOWN: plugin ${why}${text ? `\n${text}` : ""}`;
      } else if (r.kind === "exited") {
        const mapped = statusFromCode(r.code);
        status = mapped ?? "UNKNOWN";
        if (mapped === null) {
          output = `UNKNOWN: plugin exited with code ${r.code}; only 0 to 3 are plugin states${
            text ? `\n${text}` : ""
          }`;
        }
      } else status = "UNKNOWN";
      return {
        status,
        output,
        plugin: run.commandLine,
        runtimeMs: r.durationMs,
        perfdata: parsed.perfdata,
      };
    }

    let statusCache: { last: LastRun; ref: MachineRef; data: Record<string, unknown> } | null =
      null;

    /** The last result as an event payload, or null before the first run. */
    function payload(): NagiosStatePayload | null {
      if (!last) return null;
      return {
        watcher: spec.name,
        plugin: last.plugin,
        status: last.status,
        output: last.output,
        checkTimeMs: last.checkTimeMs,
        runtimeMs: last.runtimeMs,
        perfdata: last.wirePerfdata,
        history,
        annotations: p.annotations,
      };
    }

    return {
      trigger: {
        intervalMs,
        splay: true,
        onEnter: { kind: "none" },
        forceIn: "FORCE_CHECK",
        recheckAfterOtherWatcher: true,
        atStart: false,
      },
      async run(signal) {
        const checkTimeMs = ctx.deps.clock.now();
        const r = await execute(signal);
        if (signal.aborted) return { announce: false };
        checksCount++;
        attempt = r.status === "OK" ? 0 : attempt + 1;
        const hard = hardness(r.status, attempt, p.attempts, hardStatus);
        if (hard) hardStatus = r.status;
        last = { ...r, checkTimeMs, hard, wirePerfdata: choriaPerfdata(r.perfdata) };
        history.push({
          executeMs: checkTimeMs,
          status: STATUS_CODE[r.status],
          perfdata: last.wirePerfdata,
        });
        if (history.length > HISTORY_SIZE) history.splice(0, history.length - HISTORY_SIZE);
        if (hard) return { fire: r.status };
        // Soft: leave FORCE_CHECK for the last hard state; re-check at the retry interval.
        const back = ctx.state() === "FORCE_CHECK" ? hardStatus ?? "UNKNOWN" : undefined;
        return back === undefined ? { nextInMs: retryMs } : { fire: back, nextInMs: retryMs };
      },
      currentStatus(ref) {
        // Built once per result and reused by every listing until the next one: a flood of
        // `checks` requests must not format 15 history times per check per request.
        if (!last) return null;
        if (statusCache?.last !== last || statusCache.ref !== ref) {
          statusCache = {
            last,
            ref,
            data: nagiosStateData(ref, payload()!, { timeMs: last.checkTimeMs }),
          };
        }
        return statusCache.data;
      },
      currentEvent(ref, meta) {
        const s = payload();
        if (!s || !last) return null;
        return nagiosStateEvent(ref, s, {
          ...meta,
          extensions: {
            ...meta.extensions,
            [SCOUT_EXTENSIONS.hard]: last.hard,
            [SCOUT_EXTENSIONS.attempt]: Math.max(1, Math.min(attempt, p.attempts)),
            [SCOUT_EXTENSIONS.attempts]: p.attempts,
          },
        });
      },
      snapshot() {
        return {
          history,
          checksCount,
          attempt,
          hardStatus,
          last: last && { ...last, perfdata: undefined },
        };
      },
      info(): NagiosInfo {
        return {
          type: "nagios",
          hardStatus,
          lastStatus: last?.status ?? null,
          lastRunMs: last?.checkTimeMs ?? null,
          checksCount,
          attempt,
          attempts: p.attempts,
          perfdata: last?.perfdata ?? [],
        };
      },
    };
  },
};
