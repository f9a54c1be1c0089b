import { z } from "zod";
import { timerStateEvent } from "../events.ts";
import { durationMs } from "./_props.ts";
import type { WatcherPlugin } from "./types.ts";

/** Properties of a timer watcher: the timer (at least 1s) and an optional one-time splay. */
export const timerProperties = z.strictObject({
  timer: durationMs.refine((ms) => ms >= 1000, "a timer must be at least 1s"),
  splay: z.boolean().default(false),
});

/** Parsed timer properties. */
export type TimerProperties = z.infer<typeof timerProperties>;

/**
 * The timer watcher: entering an active state starts the timer, leaving stops it; when it
 * expires it fires fail_transition (Choria's semantics; success_transition is not used).
 */
export const timerWatcher: WatcherPlugin<TimerProperties> = {
  type: "timer",
  properties: timerProperties,
  create(spec, ctx) {
    const p = spec.properties;
    const ms = p.splay ? Math.floor(Math.random() * p.timer) : p.timer;
    let running = false;
    return {
      trigger: {
        splay: false,
        onEnter: { kind: "after", ms },
        recheckAfterOtherWatcher: false,
        atStart: true,
      },
      run() {
        running = false;
        ctx.deps.logger.debug("timer expired", { machine: ctx.machine, watcher: spec.name });
        return Promise.resolve(
          spec.failTransition === undefined ? {} : { fire: spec.failTransition },
        );
      },
      setActive(active) {
        running = active;
      },
      currentEvent(ref, meta) {
        return timerStateEvent(ref, {
          watcher: spec.name,
          state: running ? "running" : "stopped",
          timerMs: ms,
        }, meta);
      },
      snapshot: () => null,
      info: () => null,
    };
  },
};
