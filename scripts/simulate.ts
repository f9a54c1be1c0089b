// deno-lint-ignore-file no-console -- a command-line script prints its progress and rate
/**
 * Fleet simulator (`deno task simulate`): publishes as N virtual nodes with M nagios checks each,
 * every check once per interval (spread evenly over the interval), as valid CloudEvents built by
 * src/events.ts on each node's own subjects (`scout.node.<token>.machine.watcher.nagios.state`,
 * and `...machine.transition` when a check changes state, about 2% of runs) into the
 * SCOUT_EVENTS stream, each with its CloudEvent id as `Nats-Msg-Id`. Prints the rate it asked
 * for and the rate JetStream acknowledged.
 *
 * The checks' statuses follow a realistic mix that stays put over time: each check starts with a
 * status drawn from STATUS_MIX (95% OK, 3% WARNING, 1.5% CRITICAL, 0.5% UNKNOWN) and a run
 * re-draws it from that mix often enough that about 2% of runs change it (a transition; then the
 * transition event goes out before the result). As the agent does, every node filters what it
 * publishes with its publish policy (`publishes()` of src/events.ts) and re-announces every
 * check's current state every `--announce` (whatever the policy; the announcements are spread
 * evenly over that interval), so a view can be rebuilt from the stream under any policy.
 *
 * Usage:
 *   deno task simulate [--nodes 100] [--checks 10] [--interval 10s] [--duration 60s]
 *     [--policy all|changes|non-ok] [--announce 5m] [--seed N]
 *     (--broker tls://host:4222 --tls-ca ca.pem --tls-cert node.pem --tls-key node.key | --local)
 *     [--in-flight 2000] [--json]
 *
 *   --policy     the agents' publish policy (default all)
 *   --announce   how often each check's state is re-announced (default 5m; 0 never)
 *   --seed       seed of the status generator (default random), for repeatable runs
 *   --local      start a throw-away TLS nats-server with JetStream in a temp dir (removed after)
 *   --in-flight  most publishes awaiting their ack at once (default 2000)
 *   --json       print the summary as one JSON line on stdout (progress goes to stderr)
 *
 * The generator (`createFleet`) and the pacing (`pace`) are also used by scripts/bench_hub.ts.
 * @module
 */
import { parseArgs } from "node:util";
import {
  identityToken,
  type MachineRef,
  nagiosStateEvent,
  type NagiosStatus,
  PUBLISH_POLICIES,
  publishes,
  type PublishPolicy,
  SCOUT_EXTENSIONS,
  type ScoutEvent,
  scoutExtensions,
  scoutSubject,
  transitionEvent,
} from "../src/events.ts";
import { connectBroker } from "../src/transport/mod.ts";
import { DEFAULT_DUPLICATE_WINDOW_MS, EVENTS_STREAM, EVENTS_SUBJECTS } from "../src/hub/mod.ts";

/** One event ready to publish. */
export interface SimEvent {
  /** NATS subject (the node's own). */
  subject: string;
  /** JSON CloudEvent. */
  data: Uint8Array;
  /** Its CloudEvent id, sent as Nats-Msg-Id. */
  msgId: string;
}

/** What a fleet generated so far, before and after its publish policy. */
export interface FleetStats {
  /** Check runs. */
  runs: number;
  /** Runs that changed their check's status (each made a transition event). */
  transitions: number;
  /** Announcements (re-sent states; always published). */
  announces: number;
  /** Events built (results, transitions, announcements), i.e. what `all` would publish. */
  built: number;
  /** Events that passed the policy (announcements included). */
  published: number;
}

/** A virtual fleet: N nodes x M checks, each check with its current status. */
export interface Fleet {
  /** Number of nodes. */
  nodes: number;
  /** Checks per node. */
  checks: number;
  /** The publish policy the nodes filter their events with. */
  policy: PublishPolicy;
  /** Counts so far. */
  stats: FleetStats;
  /**
   * The published events of the next check run in round-robin order over nodes first (0, 1, or
   * 2 with a transition).
   */
  next(nowMs: number): SimEvent[];
  /** The published events of one run of check `check` of node `node`. */
  run(node: number, check: number, nowMs: number): SimEvent[];
  /** The next announcement (the current state, re-sent) in the same round-robin order. */
  nextAnnounce(nowMs: number): SimEvent[];
}

/** The statuses a simulated check can have. */
export const STATUSES: readonly NagiosStatus[] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

/** The default share of checks in each status (order of STATUSES): most OK, a few not. */
export const STATUS_MIX: readonly number[] = [0.95, 0.03, 0.015, 0.005];

/** Options of createFleet. */
export interface FleetOptions {
  /** Share of runs that change their check's status; default 0.02. */
  transitionRate?: number;
  /** Share of checks in each status, in the order of STATUSES; default STATUS_MIX. */
  statusMix?: readonly number[];
  /** Identity prefix of the nodes; default "sim". */
  prefix?: string;
  /** The nodes' publish policy; default "all". */
  policy?: PublishPolicy;
  /** Seed of the status generator (and of outputs and runtimes); default random. */
  seed?: number;
}

const enc = new TextEncoder();

/** A small seeded PRNG (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The identity of virtual node i. */
export function simIdentity(i: number, prefix = "sim"): string {
  return `${prefix}-${String(i).padStart(5, "0")}.example.net`;
}

/**
 * Creates a fleet generator. Each check starts in a status drawn from `statusMix`; a run
 * re-draws it from the mix with a probability chosen so that `transitionRate` of the runs change
 * it, so the mix stays the same however long the fleet runs (a non-OK check recovers after about
 * 5 runs, an OK one fails about once in 100 runs). Events are ~780 bytes (transitions ~560).
 */
export function createFleet(nodes: number, checks: number, opts: FleetOptions = {}): Fleet {
  const rate = opts.transitionRate ?? 0.02;
  const mix = opts.statusMix ?? STATUS_MIX;
  const policy = opts.policy ?? "all";
  const random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
  const sum = mix.reduce((a, b) => a + b, 0);
  const cumulative = mix.map((_, i) => mix.slice(0, i + 1).reduce((a, b) => a + b, 0) / sum);
  const draw = () => {
    const r = random();
    const i = cumulative.findIndex((c) => r < c);
    return i < 0 ? cumulative.length - 1 : i;
  };
  // A re-draw changes the status with probability 1 - sum(p^2) (in the stationary mix).
  const change = 1 - mix.reduce((a, p) => a + (p / sum) ** 2, 0);
  const redraw = change > 0 ? Math.min(1, rate / change) : 0;
  const status = new Uint8Array(nodes * checks);
  for (let k = 0; k < status.length; k++) status[k] = draw();
  const identities = Array.from({ length: nodes }, (_, i) => simIdentity(i, opts.prefix));
  const instance = crypto.randomUUID().slice(0, 24);
  const stats: FleetStats = { runs: 0, transitions: 0, announces: 0, built: 0, published: 0 };
  let cursor = 0, announceCursor = 0;
  const ref = (n: number, c: number): MachineRef => ({
    identity: identities[n]!,
    machine: `check_${String(c).padStart(2, "0")}`,
    version: "1.0.0",
    instanceId: `${instance}${(n * checks + c).toString(16).padStart(12, "0")}`,
  });
  const state = (r: MachineRef, n: number, s: NagiosStatus, nowMs: number): ScoutEvent => {
    const load = (random() * 4).toFixed(2);
    return nagiosStateEvent(r, {
      watcher: r.machine,
      plugin: "check_load -w 4",
      status: s,
      output: `${s} - load average: ${load}, 0.80`,
      checkTimeMs: nowMs,
      runtimeMs: 12 + Math.floor(random() * 5),
      perfdata: [{ unit: "", label: "load1", value: Number(load) }],
      history: [],
      annotations: { team: `ops${n % 4}` },
    }, {
      eventId: crypto.randomUUID(),
      timeMs: nowMs,
      extensions: scoutExtensions({ state: s, hard: true, attempt: 1, attempts: 3 }),
    });
  };
  const out = (r: MachineRef, evs: ScoutEvent[], announce: boolean): SimEvent[] => {
    const sims: SimEvent[] = [];
    for (const ev of evs) {
      stats.built++;
      if (!announce && !publishes(policy, ev)) continue;
      stats.published++;
      sims.push({
        subject: scoutSubject(r.identity, ev),
        data: enc.encode(JSON.stringify(ev)),
        msgId: ev.id,
      });
    }
    return sims;
  };
  const run = (n: number, c: number, nowMs: number): SimEvent[] => {
    const k = n * checks + c;
    const from = STATUSES[status[k]!]!;
    if (random() < redraw) status[k] = draw();
    const to = STATUSES[status[k]!]!;
    stats.runs++;
    const r = ref(n, c);
    const evs: ScoutEvent[] = [];
    if (to !== from) {
      stats.transitions++;
      evs.push(transitionEvent(r, { transition: `to_${to.toLowerCase()}`, from, to }, {
        eventId: crypto.randomUUID(),
        timeMs: nowMs,
      }));
    }
    evs.push(state(r, n, to, nowMs));
    return out(r, evs, false);
  };
  return {
    nodes,
    checks,
    policy,
    stats,
    run,
    next(nowMs) {
      const k = cursor;
      cursor = (cursor + 1) % (nodes * checks);
      // Round-robin over nodes first, so consecutive runs come from different nodes.
      return run(k % nodes, Math.floor(k / nodes), nowMs);
    },
    nextAnnounce(nowMs) {
      const k = announceCursor;
      announceCursor = (announceCursor + 1) % (nodes * checks);
      const n = k % nodes, c = Math.floor(k / nodes);
      const r = ref(n, c);
      const ev = state(r, n, STATUSES[status[n * checks + c]!]!, nowMs);
      ev[SCOUT_EXTENSIONS.announce] = true;
      stats.announces++;
      return out(r, [ev], true);
    },
  };
}

/** Parses `10s`, `500ms`, `2m`, `1h` or plain seconds into ms. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: "${s}" (e.g. 10s, 500ms, 2m)`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * mult;
}

/** Something that publishes durably and resolves on the stream's ack. */
export type Publish = (e: SimEvent) => Promise<unknown>;

/** How a fleet is paced: every check once per interval, every state re-announced once per announce interval. */
export interface PaceTiming {
  /** Each check runs once per interval, ms. */
  intervalMs: number;
  /** Each check's state is re-announced once per this many ms; 0 never. @default 300000 */
  announceMs?: number;
}

/** Runs and announcements due `elapsedMs` into a run of `durationMs`, spread evenly. */
export function dueCounts(
  fleet: Pick<Fleet, "nodes" | "checks">,
  timing: PaceTiming,
  elapsedMs: number,
  durationMs: number,
): { runs: number; announces: number } {
  const size = fleet.nodes * fleet.checks;
  const t = Math.min(elapsedMs, durationMs);
  const announceMs = timing.announceMs ?? 300_000;
  return {
    runs: Math.floor((t / timing.intervalMs) * size),
    announces: announceMs > 0 ? Math.floor((t / announceMs) * size) : 0,
  };
}

/**
 * Generates a run of `durationMs` without publishing or waiting (virtual time from `startMs`):
 * what the fleet would publish per second under its policy. For tests and estimates.
 */
export function dryRun(
  fleet: Fleet,
  timing: PaceTiming & { durationMs: number; startMs?: number },
): FleetStats & { eventsPerSec: number; builtPerSec: number } {
  const due = dueCounts(fleet, timing, timing.durationMs, timing.durationMs);
  const start = timing.startMs ?? 0;
  const before = { ...fleet.stats };
  let runs = 0, announces = 0;
  // Interleave runs and announcements in time order, as pace does.
  while (runs < due.runs || announces < due.announces) {
    const tr = runs < due.runs ? (runs / due.runs) : Infinity;
    const ta = announces < due.announces ? (announces / due.announces) : Infinity;
    if (tr <= ta) {
      fleet.next(start + tr * timing.durationMs);
      runs++;
    } else {
      fleet.nextAnnounce(start + ta * timing.durationMs);
      announces++;
    }
  }
  const s = fleet.stats, secs = timing.durationMs / 1000;
  const d: FleetStats = {
    runs: s.runs - before.runs,
    transitions: s.transitions - before.transitions,
    announces: s.announces - before.announces,
    built: s.built - before.built,
    published: s.published - before.published,
  };
  return { ...d, eventsPerSec: d.published / secs, builtPerSec: d.built / secs };
}

/** Result of a paced run. */
export interface PaceResult {
  /** The nodes' publish policy. */
  policy: PublishPolicy;
  /** Check runs asked for per second. */
  askedPerSec: number;
  /** Announcements asked for per second. */
  announcesPerSec: number;
  /** Check runs made. */
  runs: number;
  /** Runs that changed a check's status. */
  transitions: number;
  /** Announcements made. */
  announces: number;
  /** Events built, i.e. what the `all` policy would have published. */
  built: number;
  /** Events that passed the policy and were published. */
  published: number;
  /** Events (incl. transitions and announcements) acknowledged. */
  acked: number;
  /** Publishes that failed. */
  failed: number;
  /** Wall time from start to the last ack, ms. */
  elapsedMs: number;
  /** acked / elapsed. */
  achievedPerSec: number;
  /** runs / elapsed. */
  runsPerSec: number;
}

/**
 * Publishes the fleet's runs at nodes*checks/interval runs per second and its announcements at
 * nodes*checks/announce per second for durationMs (each event that passes the fleet's policy),
 * keeping at most inFlight publishes unacknowledged; waits for the last acks.
 */
export async function pace(
  fleet: Fleet,
  publish: Publish,
  opts: PaceTiming & {
    durationMs: number;
    inFlight?: number;
    onProgress?: (acked: number, ms: number) => void;
  },
): Promise<PaceResult> {
  const size = fleet.nodes * fleet.checks;
  const perSec = size / (opts.intervalMs / 1000);
  const announceMs = opts.announceMs ?? 300_000;
  const limit = opts.inFlight ?? 2000;
  const before = { ...fleet.stats };
  const t0 = performance.now();
  let runs = 0, announces = 0, acked = 0, failed = 0, pending = 0, lastReport = t0;
  let room = Promise.withResolvers<void>();
  const send = (e: SimEvent) => {
    pending++;
    publish(e).then(() => acked++, () => failed++).finally(() => {
      pending--;
      room.resolve();
    });
  };
  for (;;) {
    const now = performance.now();
    const elapsed = now - t0;
    if (elapsed >= opts.durationMs) break;
    const due = dueCounts(fleet, opts, elapsed, opts.durationMs);
    while ((runs < due.runs || announces < due.announces) && pending < limit) {
      // Whichever is further behind goes first.
      if (
        announces < due.announces &&
        (runs >= due.runs || announces / due.announces < runs / due.runs)
      ) {
        for (const e of fleet.nextAnnounce(Date.now())) send(e);
        announces++;
      } else {
        for (const e of fleet.next(Date.now())) send(e);
        runs++;
      }
    }
    if (opts.onProgress && now - lastReport >= 5000) {
      lastReport = now;
      opts.onProgress(acked, elapsed);
    }
    if (pending >= limit) {
      room = Promise.withResolvers<void>();
      await room.promise;
    } else {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  while (pending > 0) {
    room = Promise.withResolvers<void>();
    await room.promise;
  }
  const elapsedMs = performance.now() - t0;
  const s = fleet.stats;
  return {
    policy: fleet.policy,
    askedPerSec: perSec,
    announcesPerSec: announceMs > 0 ? size / (announceMs / 1000) : 0,
    runs: s.runs - before.runs,
    transitions: s.transitions - before.transitions,
    announces: s.announces - before.announces,
    built: s.built - before.built,
    published: s.published - before.published,
    acked,
    failed,
    elapsedMs,
    achievedPerSec: acked / (elapsedMs / 1000),
    runsPerSec: (s.runs - before.runs) / (elapsedMs / 1000),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "100" },
      checks: { type: "string", default: "10" },
      interval: { type: "string", default: "10s" },
      duration: { type: "string", default: "60s" },
      policy: { type: "string", default: "all" },
      announce: { type: "string", default: "5m" },
      seed: { type: "string" },
      broker: { type: "string" },
      "tls-ca": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      local: { type: "boolean", default: false },
      "in-flight": { type: "string", default: "2000" },
      json: { type: "boolean", default: false },
    },
  });
  const nodes = Number(values.nodes), checks = Number(values.checks);
  const inFlight = Number(values["in-flight"]);
  if (![nodes, checks, inFlight].every((n) => Number.isInteger(n) && n > 0)) {
    console.error("--nodes, --checks and --in-flight must be positive integers");
    return 2;
  }
  const intervalMs = parseDuration(values.interval), durationMs = parseDuration(values.duration);
  const announceMs = parseDuration(values.announce);
  const policy = values.policy as PublishPolicy;
  if (!PUBLISH_POLICIES.includes(policy)) {
    console.error(`--policy must be one of ${PUBLISH_POLICIES.join(", ")}, got "${values.policy}"`);
    return 2;
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) {
    console.error("--seed must be an integer");
    return 2;
  }
  let cleanup = async () => {};
  let url: string, ca: string, cert: string, key: string;
  if (values.local) {
    const { makePki, startNatsServer } = await import("../tests/_nats.ts");
    const dir = await Deno.makeTempDir({ prefix: "scout-sim-" });
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir });
    url = server.url;
    ca = pki.ca;
    cert = pki.client.cert;
    key = pki.client.key;
    cleanup = async () => {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    };
    console.error(`local nats-server at ${url} (store in ${dir})`);
  } else {
    if (!values.broker || !values["tls-ca"] || !values["tls-cert"] || !values["tls-key"]) {
      console.error("give --broker with --tls-ca, --tls-cert and --tls-key, or --local");
      return 2;
    }
    url = values.broker;
    ca = await Deno.readTextFile(values["tls-ca"]);
    cert = await Deno.readTextFile(values["tls-cert"]);
    key = await Deno.readTextFile(values["tls-key"]);
  }
  try {
    const broker = await connectBroker({
      urls: [url],
      tls: { ca, cert, key },
      name: "scout-simulate",
    });
    try {
      await broker.stream.ensure(EVENTS_STREAM, [...EVENTS_SUBJECTS], {
        duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
      });
      const fleet = createFleet(nodes, checks, { policy, ...(seed === undefined ? {} : { seed }) });
      identityToken(simIdentity(nodes - 1)); // refuses a bad identity before starting
      console.error(
        `simulating ${nodes} nodes x ${checks} checks every ${values.interval} for ` +
          `${values.duration} (${((nodes * checks) / (intervalMs / 1000)).toFixed(0)} runs/s), ` +
          `policy ${policy}, announcing every ${values.announce}`,
      );
      const r = await pace(
        fleet,
        (e) => broker.stream.publish(e.subject, e.data, { msgId: e.msgId }),
        {
          intervalMs,
          announceMs,
          durationMs,
          inFlight,
          onProgress: (acked, ms) =>
            console.error(
              `  ${(ms / 1000).toFixed(0)} s: ${acked} acked (${
                (acked / (ms / 1000)).toFixed(0)
              }/s)`,
            ),
        },
      );
      if (values.json) console.log(JSON.stringify(r));
      else {
        console.log(
          `asked ${r.askedPerSec.toFixed(0)} runs/s + ${
            r.announcesPerSec.toFixed(0)
          } announcements/s; ` +
            `${r.runs} runs (${r.transitions} transitions), ${r.announces} announcements; policy ` +
            `${r.policy} published ${r.published} of ${r.built} events; JetStream acked ${r.acked} ` +
            `in ${(r.elapsedMs / 1000).toFixed(1)} s = ${r.achievedPerSec.toFixed(0)} events/s` +
            (r.failed > 0 ? `; ${r.failed} publishes failed` : ""),
        );
      }
      return r.failed > 0 ? 1 : 0;
    } finally {
      await broker.close();
    }
  } finally {
    await cleanup();
  }
}

if (import.meta.main) Deno.exit(await main());
