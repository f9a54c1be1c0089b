// deno-lint-ignore-file no-console -- a command-line script prints its progress and rate
/**
 * Fleet simulator (`deno task simulate`): publishes as N virtual nodes with M nagios checks each,
 * every check once per interval (spread evenly over the interval), as valid CloudEvents built by
 * src/events.ts on each node's own subjects (`scout.node.<token>.machine.watcher.nagios.state`,
 * and `...machine.transition` when a check changes state, about 2% of runs) into the
 * SCOUT_EVENTS stream, each with its CloudEvent id as `Nats-Msg-Id`. Prints the rate it asked
 * for and the rate JetStream acknowledged.
 *
 * Usage:
 *   deno task simulate [--nodes 100] [--checks 10] [--interval 10s] [--duration 60s]
 *     (--broker tls://host:4222 --tls-ca ca.pem --tls-cert node.pem --tls-key node.key | --local)
 *     [--in-flight 2000] [--json]
 *
 *   --local      start a throw-away TLS nats-server with JetStream in a temp dir (removed after)
 *   --in-flight  most publishes awaiting their ack at once (default 2000)
 *   --json       print the summary as one JSON line on stdout (progress goes to stderr)
 *
 * The generator (`createFleet`) is also used by scripts/bench_hub.ts.
 * @module
 */
import { parseArgs } from "node:util";
import {
  identityToken,
  type MachineRef,
  nagiosStateEvent,
  type NagiosStatus,
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

/** A virtual fleet: N nodes x M checks, each check with its current status. */
export interface Fleet {
  /** Number of nodes. */
  nodes: number;
  /** Checks per node. */
  checks: number;
  /** The events of the next check run in round-robin order (1, or 2 with a transition). */
  next(nowMs: number): SimEvent[];
  /** The events of one run of check `check` of node `node`. */
  run(node: number, check: number, nowMs: number): SimEvent[];
}

const STATUSES: NagiosStatus[] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
const enc = new TextEncoder();

/** The identity of virtual node i. */
export function simIdentity(i: number, prefix = "sim"): string {
  return `${prefix}-${String(i).padStart(5, "0")}.example.net`;
}

/**
 * Creates a fleet generator. `transitionRate` is the chance that a run changes the check's
 * status (then a transition event goes out too). Events are ~780 bytes (transitions ~560).
 */
export function createFleet(
  nodes: number,
  checks: number,
  opts: { transitionRate?: number; prefix?: string } = {},
): Fleet {
  const rate = opts.transitionRate ?? 0.02;
  const status = new Uint8Array(nodes * checks);
  const identities = Array.from({ length: nodes }, (_, i) => simIdentity(i, opts.prefix));
  const instance = crypto.randomUUID().slice(0, 24);
  let cursor = 0;
  const ref = (n: number, c: number): MachineRef => ({
    identity: identities[n]!,
    machine: `check_${String(c).padStart(2, "0")}`,
    version: "1.0.0",
    instanceId: `${instance}${(n * checks + c).toString(16).padStart(12, "0")}`,
  });
  const run = (n: number, c: number, nowMs: number): SimEvent[] => {
    const k = n * checks + c;
    const from = STATUSES[status[k]!]!;
    let to = from;
    if (Math.random() < rate) {
      to = STATUSES[(status[k]! + 1 + Math.floor(Math.random() * 3)) % 4]!;
      status[k] = STATUSES.indexOf(to);
    }
    const r = ref(n, c);
    const out: SimEvent[] = [];
    const push = (ev: ReturnType<typeof nagiosStateEvent>) =>
      out.push({
        subject: scoutSubject(r.identity, ev),
        data: enc.encode(JSON.stringify(ev)),
        msgId: ev.id,
      });
    if (to !== from) {
      push(transitionEvent(r, { transition: `to_${to.toLowerCase()}`, from, to }, {
        eventId: crypto.randomUUID(),
        timeMs: nowMs,
      }));
    }
    const load = (Math.random() * 4).toFixed(2);
    push(nagiosStateEvent(r, {
      watcher: r.machine,
      plugin: "check_load -w 4",
      status: to,
      output: `${to} - load average: ${load}, 0.80`,
      checkTimeMs: nowMs,
      runtimeMs: 12 + Math.floor(Math.random() * 5),
      perfdata: [{ unit: "", label: "load1", value: Number(load) }],
      history: [],
      annotations: { team: `ops${n % 4}` },
    }, {
      eventId: crypto.randomUUID(),
      timeMs: nowMs,
      extensions: scoutExtensions({ state: to, hard: true, attempt: 1, attempts: 3 }),
    }));
    return out;
  };
  return {
    nodes,
    checks,
    run,
    next(nowMs) {
      const k = cursor;
      cursor = (cursor + 1) % (nodes * checks);
      // Round-robin over nodes first, so consecutive runs come from different nodes.
      return run(k % nodes, Math.floor(k / nodes), nowMs);
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

/** Result of a paced run. */
export interface PaceResult {
  /** Check runs asked for per second. */
  askedPerSec: number;
  /** Events (incl. transitions) acknowledged. */
  acked: number;
  /** Publishes that failed. */
  failed: number;
  /** Wall time from start to the last ack, ms. */
  elapsedMs: number;
  /** acked / elapsed. */
  achievedPerSec: number;
}

/**
 * Publishes the fleet's runs at nodes*checks/interval runs per second for durationMs, keeping at
 * most inFlight publishes unacknowledged; waits for the last acks.
 */
export async function pace(
  fleet: Fleet,
  publish: Publish,
  opts: {
    intervalMs: number;
    durationMs: number;
    inFlight?: number;
    onProgress?: (acked: number, ms: number) => void;
  },
): Promise<PaceResult> {
  const perSec = (fleet.nodes * fleet.checks) / (opts.intervalMs / 1000);
  const limit = opts.inFlight ?? 2000;
  const t0 = performance.now();
  let runs = 0, acked = 0, failed = 0, pending = 0, lastReport = t0;
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
    const due = Math.min(
      Math.floor((elapsed / 1000) * perSec),
      Math.ceil(opts.durationMs / 1000 * perSec),
    );
    while (runs < due && pending < limit) {
      for (const e of fleet.next(Date.now())) send(e);
      runs++;
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
  return {
    askedPerSec: perSec,
    acked,
    failed,
    elapsedMs,
    achievedPerSec: acked / (elapsedMs / 1000),
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
      const fleet = createFleet(nodes, checks);
      identityToken(simIdentity(nodes - 1)); // refuses a bad identity before starting
      console.error(
        `simulating ${nodes} nodes x ${checks} checks every ${values.interval} for ` +
          `${values.duration} (${((nodes * checks) / (intervalMs / 1000)).toFixed(0)} runs/s)`,
      );
      const r = await pace(
        fleet,
        (e) => broker.stream.publish(e.subject, e.data, { msgId: e.msgId }),
        {
          intervalMs,
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
          `asked ${r.askedPerSec.toFixed(0)} runs/s; JetStream acked ${r.acked} events in ` +
            `${(r.elapsedMs / 1000).toFixed(1)} s = ${r.achievedPerSec.toFixed(0)} events/s` +
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
