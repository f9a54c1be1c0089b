import type { MachineSpec } from "../config/mod.ts";
import { type MachineRef, SCOUT_EXTENSIONS, type ScoutEvent, transitionEvent } from "../events.ts";
import { type BackoffState, fire, type FireResult, nextBackoff } from "../fsm.ts";
import type { Clock, Logger, Timer } from "../runtime/mod.ts";
import {
  type NagiosInfo,
  type WatcherDeps,
  type WatcherInstance,
  watcherPlugin,
  type WatcherResult,
} from "../watchers/mod.ts";

/** The source name of transitions an operator asked for. */
const OPERATOR = "operator";

/** Maintenance details kept with a machine in MAINTENANCE. */
export interface Maintenance {
  /** Why, as the operator said. */
  reason: string;
  /** When it ends by itself (epoch ms), or null for never. */
  untilMs: number | null;
}

/** What a machine persists across restarts. */
export interface MachineSnapshot {
  /** Machine instance UUID. */
  instanceId: string;
  /** Current state. */
  state: string;
  /** When this instance started, epoch ms. */
  startTimeMs: number;
  /** Set while in MAINTENANCE. */
  maintenance: Maintenance | null;
  /** Each watcher's own snapshot, by watcher name. */
  watchers: Record<string, unknown>;
}

/** Ports and settings a hosted machine needs. */
export interface MachineDeps {
  /** Time. */
  clock: Clock;
  /** Logs. */
  logger: Logger;
  /** The node identity, the subject of every event. */
  identity: string;
  /** Receives every CloudEvent the machine produces. */
  emit(event: ScoutEvent): void;
  /** Makes a UUID. */
  newId(): string;
  /** Random in [0,1), for splay. */
  random(): number;
  /** What watchers get. */
  watcherDeps: WatcherDeps;
  /** Start interval watchers at once instead of after a random splay. */
  noSplay: boolean;
  /** Told after anything worth persisting changed; `urgent` after a state change. */
  changed(machine: string, urgent: boolean): void;
  /** Told how late each interval run started, in ms (for benchmarks). */
  observeLateness?(ms: number): void;
}

/** How an operator request on one machine went. */
export type ControlOutcome =
  | { kind: "transitioned" }
  | { kind: "skipped"; reason: string }
  | { kind: "failed"; reason: string };

/** What `scout checks` shows of a machine. */
export interface MachineInfo {
  /** Machine name. */
  name: string;
  /** Current state. */
  state: string;
  /** Machine version. */
  version: string;
  /** Instance UUID. */
  instanceId: string;
  /** Start time, unix seconds. */
  startTime: number;
  /** Maintenance details, or null. */
  maintenance: Maintenance | null;
  /** The nagios watcher's summary, or null when the machine has none. */
  nagios: NagiosInfo | null;
  /** The data of the latest nagios state event, or null before the first run. */
  status: Record<string, unknown> | null;
}

interface LiveWatcher {
  name: string;
  stateMatch: string[];
  instance: WatcherInstance;
  timer: Timer | null;
  dueMs: number | null;
  running: Promise<void> | null;
  pending: boolean;
  lastStartMs: number | null;
  controller: AbortController | null;
}

/** A hosted machine: FSM state plus watchers gated by state, driven by the clock. */
export interface HostedMachine {
  /** The definition it runs. */
  readonly spec: MachineSpec;
  /** Current state. */
  state(): string;
  /** Starts the watchers. */
  start(): void;
  /** Stops timers and running watchers (killing their processes), and waits for them. */
  stop(): Promise<void>;
  /** Fires a transition by name, as a watcher or an operator would. */
  transition(name: string, source: string): Promise<FireResult>;
  /** FORCE_CHECK: runs the check at once. */
  trigger(): Promise<ControlOutcome>;
  /** MAINTENANCE with an optional expiry and reason. */
  maintenance(m: Maintenance): Promise<ControlOutcome>;
  /** RESUME: leaves maintenance, back to UNKNOWN, and re-checks at once. */
  resume(): Promise<ControlOutcome>;
  /** Sends every watcher's current state again. */
  announce(): void;
  /** What to persist. */
  snapshot(): MachineSnapshot;
  /** What to show; the latest nagios state payload only when asked (it costs an event build). */
  info(withStatus?: boolean): MachineInfo;
  /** When each interval watcher runs next (epoch ms), for status and tests. */
  nextRuns(): Record<string, number | null>;
}

/** Builds a hosted machine from its spec, restoring a snapshot when given. */
export function createMachine(
  spec: MachineSpec,
  deps: MachineDeps,
  saved?: MachineSnapshot,
): HostedMachine {
  const { clock, logger } = deps;
  const states = new Set([
    spec.initialState,
    ...spec.transitions.flatMap((t) => [...t.from, t.destination]),
  ]);
  let state = saved && states.has(saved.state) ? saved.state : spec.initialState;
  const instanceId = saved?.instanceId ?? deps.newId();
  const startTimeMs = saved?.startTimeMs ?? clock.now();
  let maintenance: Maintenance | null = state === "MAINTENANCE" ? saved?.maintenance ?? null : null;
  let maintenanceTimer: Timer | null = null;
  let backoff: BackoffState = { count: 0, lastMs: -Infinity };
  let queue: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let started = false;
  const ref: MachineRef = {
    identity: deps.identity,
    machine: spec.name,
    version: spec.version,
    instanceId,
  };

  const watchers: LiveWatcher[] = spec.watchers.map((w) => {
    const plugin = watcherPlugin(w.type);
    if (!plugin) throw new Error(`watcher type "${w.type}" is not registered`);
    const instance = plugin.create(w, {
      machine: spec.name,
      machineDir: spec.dir,
      machineDirAllowed: spec.origin === "machine",
      state: () => state,
      deps: deps.watcherDeps,
    }, saved?.watchers[w.name]);
    return {
      name: w.name,
      stateMatch: w.stateMatch,
      instance,
      timer: null,
      dueMs: null,
      running: null,
      pending: false,
      lastStartMs: null,
      controller: null,
    };
  });

  const active = (w: LiveWatcher, s = state) =>
    w.stateMatch.length === 0 || w.stateMatch.includes(s);

  function extensions(): Record<string, string | number | boolean> {
    const ext: Record<string, string | number | boolean> = { [SCOUT_EXTENSIONS.state]: state };
    if (maintenance) {
      if (maintenance.reason) ext[SCOUT_EXTENSIONS.maintReason] = maintenance.reason;
      if (maintenance.untilMs !== null) {
        ext[SCOUT_EXTENSIONS.maintUntil] = Math.floor(maintenance.untilMs / 1000);
      }
    }
    return ext;
  }

  function emitState(w: LiveWatcher) {
    const ev = w.instance.currentEvent(ref, {
      eventId: deps.newId(),
      timeMs: clock.now(),
      extensions: extensions(),
    });
    if (ev) deps.emit(ev);
  }

  function schedule(w: LiveWatcher, atMs: number) {
    w.timer?.cancel();
    w.dueMs = atMs;
    w.timer = clock.setTimer(atMs - clock.now(), () => {
      w.timer = null;
      deps.observeLateness?.(clock.now() - atMs);
      void runWatcher(w);
    });
  }

  function cancel(w: LiveWatcher) {
    w.timer?.cancel();
    w.timer = null;
    w.dueMs = null;
  }

  function nextDue(w: LiveWatcher, result: WatcherResult): number | null {
    const now = clock.now();
    if (result.nextInMs !== undefined) return now + result.nextInMs;
    const interval = w.instance.trigger.intervalMs;
    if (interval === undefined) return null;
    let due = (w.dueMs ?? now) + interval;
    if (due <= now) due += Math.ceil((now - due + 1) / interval) * interval;
    return due;
  }

  /** Runs a watcher once; a run never overlaps itself, a request during a run queues one more. */
  function runWatcher(w: LiveWatcher, forced = false): Promise<void> {
    if (stopped) return Promise.resolve();
    if (w.running) {
      w.pending = true;
      return w.running;
    }
    if (!forced && !active(w)) return Promise.resolve();
    const controller = new AbortController();
    w.controller = controller;
    w.lastStartMs = clock.now();
    w.running = (async () => {
      let result: WatcherResult = {};
      try {
        result = await w.instance.run(controller.signal);
      } catch (e) {
        logger.error("watcher failed", { machine: spec.name, watcher: w.name, error: String(e) });
      }
      w.running = null;
      w.controller = null;
      if (stopped) return;
      try {
        if (result.fire !== undefined) await transition(result.fire, w.name);
        if (stopped) return;
        if (result.announce !== false) emitState(w);
        deps.changed(spec.name, false);
      } catch (e) {
        logger.error("cannot process a watcher result", {
          machine: spec.name,
          watcher: w.name,
          error: String(e),
        });
      }
      if (w.pending) {
        w.pending = false;
        void runWatcher(w, state === w.instance.trigger.forceIn);
        return;
      }
      const due = nextDue(w, result);
      if (due !== null && active(w)) schedule(w, due);
      else if (due === null) w.dueMs = null;
    })();
    return w.running;
  }

  function enter(w: LiveWatcher, from: string | null, source: string) {
    const t = w.instance.trigger;
    const was = from !== null && active(w, from);
    if (t.forceIn !== undefined && state === t.forceIn) {
      void runWatcher(w, true);
      return;
    }
    if (!active(w)) {
      if (was) {
        cancel(w);
        w.instance.setActive?.(false);
      }
      return;
    }
    if (!was) w.instance.setActive?.(true);
    if (
      t.recheckAfterOtherWatcher && source !== w.name && watchers.some((o) => o.name === source)
    ) {
      void runWatcher(w);
      return;
    }
    switch (t.onEnter.kind) {
      case "now": {
        const gapOk = w.lastStartMs === null || clock.now() - w.lastStartMs >= t.onEnter.minGapMs;
        if (gapOk) void runWatcher(w);
        else if (t.intervalMs !== undefined && !w.timer) schedule(w, w.lastStartMs! + t.intervalMs);
        return;
      }
      case "after":
        schedule(w, clock.now() + t.onEnter.ms);
        return;
      case "none":
        if (!was && t.intervalMs !== undefined && !w.timer && !w.running) {
          const next = w.lastStartMs === null
            ? clock.now()
            : Math.max(clock.now(), w.lastStartMs + t.intervalMs);
          schedule(w, next);
        }
        return;
    }
  }

  async function applyTransition(
    name: string,
    source: string,
    maint?: Maintenance,
  ): Promise<FireResult> {
    const first = fire(spec, state, name);
    if (first.kind !== "moved") return first;
    // Backoff against runaway machines; an operator's request is counted but not delayed.
    const b = nextBackoff(backoff, clock.now());
    backoff = b.state;
    if (b.delayMs > 0 && source !== OPERATOR) await clock.sleep(b.delayMs);
    if (stopped) return first;
    const r = fire(spec, state, name);
    if (r.kind !== "moved") return r;
    state = r.to;
    if (state === "MAINTENANCE") {
      maintenance = maint ?? { reason: "", untilMs: null };
      armMaintenanceExpiry();
    } else if (maintenance) {
      maintenance = null;
      maintenanceTimer?.cancel();
      maintenanceTimer = null;
    }
    deps.emit(transitionEvent(ref, { transition: name, from: r.from, to: r.to }, {
      eventId: deps.newId(),
      timeMs: clock.now(),
      extensions: extensions(),
    }));
    deps.changed(spec.name, true);
    logger.debug("transition", {
      machine: spec.name,
      transition: name,
      from: r.from,
      to: r.to,
      source,
    });
    for (const w of watchers) enter(w, r.from, source);
    return r;
  }

  function transition(name: string, source: string, maint?: Maintenance): Promise<FireResult> {
    const next = queue.then(() => applyTransition(name, source, maint));
    queue = next.catch(() => {});
    return next;
  }

  function outcome(r: FireResult): ControlOutcome {
    switch (r.kind) {
      case "moved":
        return { kind: "transitioned" };
      case "same":
        return { kind: "skipped", reason: `already in ${r.state}` };
      case "invalid":
        return { kind: "skipped", reason: r.reason };
    }
  }

  function armMaintenanceExpiry(): void {
    maintenanceTimer?.cancel();
    maintenanceTimer = null;
    if (maintenance?.untilMs == null) return;
    maintenanceTimer = clock.setTimer(maintenance.untilMs - clock.now(), () => {
      maintenanceTimer = null;
      logger.info("maintenance expired", { machine: spec.name });
      void resume();
    });
  }

  async function resume(): Promise<ControlOutcome> {
    const r = await transition("RESUME", OPERATOR);
    if (r.kind === "moved") {
      for (const w of watchers) {
        if (w.instance.trigger.intervalMs !== undefined && active(w)) {
          cancel(w);
          void runWatcher(w);
        }
      }
    }
    return outcome(r);
  }

  return {
    spec,
    state: () => state,
    start() {
      if (started) return;
      started = true;
      const now = clock.now();
      for (const w of watchers) {
        const t = w.instance.trigger;
        if (!active(w)) continue;
        w.instance.setActive?.(true);
        if (t.atStart) {
          if (t.onEnter.kind === "after") schedule(w, now + t.onEnter.ms);
          else void runWatcher(w);
        } else if (t.intervalMs !== undefined) {
          const splay = t.splay && !deps.noSplay ? Math.floor(deps.random() * t.intervalMs) : 0;
          schedule(w, now + splay + spec.splayStartMs * (deps.noSplay ? 0 : deps.random()));
        }
      }
      if (maintenance?.untilMs != null && maintenance.untilMs <= now) void resume();
      else armMaintenanceExpiry();
    },
    async stop() {
      stopped = true;
      maintenanceTimer?.cancel();
      for (const w of watchers) {
        cancel(w);
        w.controller?.abort();
      }
      await Promise.all(watchers.map((w) => w.running));
    },
    transition,
    async trigger() {
      return outcome(await transition("FORCE_CHECK", OPERATOR));
    },
    async maintenance(m) {
      const r = await transition("MAINTENANCE", OPERATOR, m);
      if (r.kind !== "same" || state !== "MAINTENANCE") return outcome(r);
      maintenance = m; // already in maintenance: the new reason and expiry replace the old
      armMaintenanceExpiry();
      deps.changed(spec.name, true);
      return { kind: "transitioned" };
    },
    resume,
    announce() {
      for (const w of watchers) emitState(w);
    },
    snapshot() {
      const ws: Record<string, unknown> = {};
      for (const w of watchers) {
        const s = w.instance.snapshot();
        if (s !== null && s !== undefined) ws[w.name] = s;
      }
      return { instanceId, state, startTimeMs, maintenance, watchers: ws };
    },
    info(withStatus = false) {
      const nagios = watchers.map((w) => w.instance.info()).find((i) => i !== null) ?? null;
      const nw = withStatus ? watchers.find((w) => w.instance.info() !== null) : undefined;
      const status = nw?.instance.currentStatus?.(ref) ?? null;
      return {
        name: spec.name,
        state,
        version: spec.version,
        instanceId,
        startTime: Math.floor(startTimeMs / 1000),
        maintenance,
        nagios,
        status,
      };
    },
    nextRuns() {
      return Object.fromEntries(watchers.map((w) => [w.name, w.timer ? w.dueMs : null]));
    },
  };
}
