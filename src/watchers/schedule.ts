import { Cron } from "croner";
import { z } from "zod";
import { scheduleStateEvent } from "../events.ts";
import { durationMs } from "./_props.ts";
import type { WatcherPlugin } from "./types.ts";

function cronError(expr: string): string | null {
  const fields = expr.trim().split(/\s+/);
  if (!expr.trim().startsWith("@") && fields.length !== 5) {
    return `"${expr}" has ${fields.length} fields; use 5 (minute hour day month weekday) or @daily`;
  }
  try {
    new Cron(expr, { paused: true });
    return null;
  } catch (e) {
    return `"${expr}" is not a cron schedule: ${(e as Error).message}`;
  }
}

/** Properties of a schedule watcher: 5-field cron schedules and how long each stays on. */
export const scheduleProperties = z.strictObject({
  schedules: z.array(
    z.string().superRefine((expr, ctx) => {
      const err = cronError(expr);
      if (err) ctx.addIssue({ code: "custom", message: err });
    }),
  ).min(1),
  duration: durationMs.default(60_000).transform((ms) => (ms < 1000 ? 60_000 : ms)),
});

/** Parsed schedule properties. */
export type ScheduleProperties = z.infer<typeof scheduleProperties>;

/**
 * Whether any schedule started within the last `duration` at time `nowMs`, and when the
 * answer can next change. Pure; exported for tests.
 */
export function scheduleWindow(
  crons: Cron[],
  durationMsValue: number,
  nowMs: number,
): { on: boolean; nextChangeMs: number } {
  let on = false;
  let next = Infinity;
  for (const c of crons) {
    const started = c.nextRun(new Date(nowMs - durationMsValue));
    if (started && started.getTime() <= nowMs) {
      on = true;
      next = Math.min(next, started.getTime() + durationMsValue);
    }
    const upcoming = c.nextRun(new Date(nowMs));
    if (upcoming) next = Math.min(next, upcoming.getTime());
  }
  return { on, nextChangeMs: next };
}

/**
 * The schedule watcher: "on" for `duration` after each cron time. Turning on (or entering
 * an active state while on) fires success_transition; turning off fires fail_transition.
 */
export const scheduleWatcher: WatcherPlugin<ScheduleProperties> = {
  type: "schedule",
  properties: scheduleProperties,
  create(spec, ctx) {
    const p = spec.properties;
    const crons = p.schedules.map((s) => new Cron(s, { paused: true }));
    let state: "unknown" | "off" | "on" = "unknown";
    let entering = false;
    return {
      trigger: {
        splay: false,
        onEnter: { kind: "now", minGapMs: 0 },
        recheckAfterOtherWatcher: false,
        atStart: true,
      },
      run() {
        const now = ctx.deps.clock.now();
        const w = scheduleWindow(crons, p.duration, now);
        const next = w.on ? "on" : "off";
        const changed = next !== state || entering;
        entering = false;
        state = next;
        const nextInMs = Math.max(1000, Math.min(w.nextChangeMs - now + 1, 24 * 3600_000));
        if (!changed) return Promise.resolve({ nextInMs, announce: false });
        const fire = next === "on" ? spec.successTransition : spec.failTransition;
        return Promise.resolve(fire === undefined ? { nextInMs } : { fire, nextInMs });
      },
      setActive(active) {
        if (active) entering = true;
      },
      currentEvent(ref, meta) {
        return scheduleStateEvent(ref, { watcher: spec.name, state }, meta);
      },
      snapshot: () => null,
      info: () => null,
    };
  },
};
