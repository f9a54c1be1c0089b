// deno-lint-ignore-file no-console -- a benchmark prints its progress and its table
/**
 * Hub benchmark (`deno task bench:hub`): in one run, against throw-away local TLS nats-servers
 * with JetStream (tests/_nats.ts), measures
 *
 *   (a) pre-fill: SCOUT_EVENTS filled with 200,000 (`--quick` 50,000) ~780-byte events from the
 *       simulator's generator (scripts/simulate.ts, 10,000 nodes x 10 checks), as fast as
 *       JetStream acks them (informational);
 *   (b) baseline: a consumer of the same kind as the hub's, i.e. Stream.consume itself (durable
 *       pull consumer, ack-all once per batch of 256 after the handler) on its own connection,
 *       whose handler only counts; from connecting to the last message;
 *   (c) hub ingest: startHub in-process (no state dir, null logger) reading the same stream into
 *       the view, from startHub until lastSeq() reaches the end of the stream.
 *       (b) and (c) run in alternating rounds (3, `--quick`; 5 otherwise), each a fresh consumer
 *       from the start of the stream, and their medians are compared: a hub runs for months,
 *       so its sustained rate matters, and alternating gives both the same machine state.
 *       Targets: >= 30,000 events/s in the slowest (first, cold) hub round and >= 0.7x the
 *       counting consumer (medians). For information the same with a
 *       state dir (the view snapshot written at most once a second, acks per batch), bounded to
 *       20 s (`--quick` 10 s);
 *   (d) the real hub OUT OF PROCESS, on a fresh nats-server with an empty stream:
 *       `deno run -P=hub main.ts hub --broker .. --tls-ca .. --tls-cert .. --tls-key ..
 *       --listen 127.0.0.1:PORT --state-dir DIR --enrol-listen off` (the test PKI's client
 *       certificate, CN client1, is its identity), its VmRSS read from /proc/<pid>/status every
 *       250 ms and its CPU time from /proc/<pid>/stat. Idle RSS (started, empty view), then
 *       scripts/simulate.ts (a child process) publishes a fleet of 10,000 nodes x 10 checks every
 *       10 s (10,000 runs/s asked, plus each check re-announced every 5 min) for 30 s (`--quick`
 *       15 s) with `--policy all`. Once a second a marker event of node
 *       bench-marker.example.net is published and `GET /api/v1/checks` polled every 20 ms until
 *       it shows: the lag from publishing to visible in the view (max and median; target: within
 *       2 s). Reported: events/s, lag, the hub's max RSS and its CPU;
 *   (e) the same with `--policy changes` (a fresh broker and hub): events/s, lag, RSS and CPU,
 *       and the ratio of events/s against (d), i.e. what the policy saves;
 *   (f) a big view: a fresh stream pre-filled with one state event per check of 100,000 nodes x
 *       10 checks (1,000,000 events; `--quick` 20,000 nodes), then the out-of-process hub started
 *       on it and left to ingest everything: its RSS (max while ingesting, and settled 3 s after
 *       the last event) and RSS per node.
 *
 * Usage: deno task bench:hub [--quick] [--events N] [--fleet-seconds S] [--big-nodes N]
 *
 * Prints the command and a markdown table (metric, value, baseline, ratio/target, result) on
 * stdout, progress on stderr. Exit code 0 every target met, 1 a target missed, 2 it could not
 * run. Everything started (nats-servers, hubs, the simulator, temp dirs) is stopped and removed.
 * @module
 */
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { nagiosStateEvent, scoutExtensions, scoutSubject } from "../src/events.ts";
import { EVENTS_STREAM, EVENTS_SUBJECTS, HUB_CONSUMER, startHub } from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, connectBroker } from "../src/transport/mod.ts";
import { DEFAULT_DUPLICATE_WINDOW_MS } from "../src/hub/mod.ts";
import {
  brokerArgs,
  freePort,
  HAVE_NATS_SERVER,
  makePki,
  type NatsServer,
  type Pki,
  startNatsServer,
} from "../tests/_nats.ts";
import { createFleet, type PaceResult, type SimEvent } from "./simulate.ts";
import { median } from "./_bench_report.ts";

const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
const enc = new TextEncoder();
const log = (s: string) => console.error(`[bench:hub] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")}/s`;

interface Row {
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
  result: "pass" | "FAIL" | "info";
}

/** Publishes `count` events (at least) from the fleet with at most `window` awaiting acks. */
async function fill(
  broker: Broker,
  next: () => SimEvent[],
  count: number,
  window: number,
): Promise<{ acked: number; lastSeq: number; ms: number }> {
  const t0 = performance.now();
  let sent = 0, acked = 0, pending = 0, lastSeq = 0, failure: unknown = null;
  let room = Promise.withResolvers<void>();
  while (sent < count && failure === null) {
    for (const e of next()) {
      sent++;
      pending++;
      broker.stream.publish(e.subject, e.data, { msgId: e.msgId, timeoutMs: 30_000 }).then(
        (a) => {
          acked++;
          lastSeq = Math.max(lastSeq, a.seq);
        },
        (err) => (failure = err),
      ).finally(() => {
        pending--;
        room.resolve();
      });
    }
    if (pending >= window) {
      room = Promise.withResolvers<void>();
      await room.promise;
    }
  }
  while (pending > 0) {
    room = Promise.withResolvers<void>();
    await room.promise;
  }
  if (failure !== null) throw failure;
  return { acked, lastSeq, ms: performance.now() - t0 };
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The real hub as its own process (`deno run -P=hub main.ts hub ...`). */
interface HubProcess {
  pid: number;
  url: string;
  /** VmRSS in bytes now (0 once gone). */
  rss(): Promise<number>;
  /** User + system CPU time so far, seconds. */
  cpu(): Promise<number>;
  /** GET /healthz. */
  health(): Promise<{ lastSeq: number; counters: { accepted: number } }>;
  stop(): Promise<void>;
}

async function rssOf(pid: number): Promise<number> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const CLK_TCK = 100; // `getconf CLK_TCK` on Linux

async function cpuOf(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
}

/** Starts the hub command under its permission set and waits until /healthz says ok. */
async function startHubProcess(
  server: NatsServer,
  pki: Pki,
  stateDir: string,
): Promise<HubProcess> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-P=hub",
      "main.ts",
      "hub",
      ...brokerArgs(server.url, pki),
      "--listen",
      `127.0.0.1:${port}`,
      "--state-dir",
      stateDir,
      "--enrol-listen",
      "off",
      "--log-level",
      "warn",
    ],
    cwd: ROOT,
    env: { RUST_BACKTRACE: "0" },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const health = async () => {
    const r = await fetch(`${url}/healthz`);
    const body = await r.json();
    if (!r.ok) throw new Error(`healthz ${r.status}: ${JSON.stringify(body)}`);
    return body as { lastSeq: number; counters: { accepted: number } };
  };
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    await status;
    clearTimeout(t);
  };
  const end = performance.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`the hub process exited: ${JSON.stringify(await status)}`);
    try {
      await health();
      break;
    } catch (e) {
      if (performance.now() > end) {
        await stop();
        throw new Error(`the hub process did not get ready in 30 s: ${e}`);
      }
      await sleep(100);
    }
  }
  return {
    pid: child.pid,
    url,
    rss: () => rssOf(child.pid),
    cpu: () => cpuOf(child.pid),
    health,
    stop,
  };
}

/** Samples a process's RSS every 250 ms until stopped; returns the max and the last. */
function sampleRss(hub: HubProcess): { stop(): Promise<{ max: number; last: number }> } {
  let on = true, max = 0, last = 0;
  const loop = (async () => {
    while (on) {
      last = await hub.rss();
      max = Math.max(max, last);
      await sleep(250);
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      last = await hub.rss();
      max = Math.max(max, last);
      return { max, last };
    },
  };
}

/** Publishes a marker once a second and polls the view until it shows; the lags in ms. */
async function markerLags(
  client: Broker,
  hubUrl: string,
  seconds: number,
): Promise<{ lags: number[]; missed: number }> {
  const lags: number[] = [];
  let missed = 0;
  const markerId = "bench-marker.example.net";
  const ref = { identity: markerId, machine: "marker", version: "1.0.0", instanceId: "m" };
  const tf = performance.now();
  for (let i = 1; performance.now() - tf < seconds * 1000 - 500; i++) {
    const tick = performance.now();
    const ev = nagiosStateEvent(ref, {
      watcher: "marker",
      plugin: "marker",
      status: "OK",
      output: `marker ${i}`,
      checkTimeMs: Date.now(),
      runtimeMs: 0,
      perfdata: [],
      history: [],
      annotations: {},
    }, {
      eventId: crypto.randomUUID(),
      timeMs: Date.now(),
      extensions: scoutExtensions({ state: "OK", hard: true, attempt: 1, attempts: 1 }),
    });
    const t0 = performance.now();
    await client.stream.publish(scoutSubject(markerId, ev), enc.encode(JSON.stringify(ev)), {
      msgId: ev.id,
    });
    let seen = false;
    while (performance.now() - t0 < 10_000) {
      const r = await fetch(`${hubUrl}/api/v1/checks?node=${markerId}&check=marker`);
      const body = await r.json() as { checks: { output: string }[] };
      if (body.checks.some((c) => c.output === `marker ${i}`)) {
        seen = true;
        break;
      }
      await sleep(20);
    }
    if (seen) lags.push(performance.now() - t0);
    else missed++;
    const wait = 1000 - (performance.now() - tick);
    if (wait > 0) await sleep(wait);
  }
  return { lags, missed };
}

/** What one fleet phase against an out-of-process hub measured. */
interface FleetPhase {
  sim: PaceResult | null;
  simExit: number;
  lags: number[];
  missed: number;
  idleRss: number;
  rssMax: number;
  cpuSeconds: number;
  wallSeconds: number;
  viewNodes: number;
}

/** A fresh broker and hub process, the simulator with `policy` for `seconds`, markers meanwhile. */
async function fleetPhase(
  dir: string,
  pki: Pki,
  policy: "all" | "changes",
  seconds: number,
): Promise<FleetPhase> {
  return await withCleanup((stack) => runFleetPhase(dir, pki, policy, seconds, stack));
}

/** Runs `fn` with a place to register stops, run in reverse order afterwards, whatever happens. */
async function withCleanup<T>(
  fn: (stack: (stop: () => Promise<unknown>) => void) => Promise<T>,
): Promise<T> {
  const stops: (() => Promise<unknown>)[] = [];
  try {
    return await fn((stop) => void stops.push(stop));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

async function runFleetPhase(
  dir: string,
  pki: Pki,
  policy: "all" | "changes",
  seconds: number,
  stack: (stop: () => Promise<unknown>) => void,
): Promise<FleetPhase> {
  const server = await startNatsServer({ pki, dir: `${dir}/nats` });
  stack(() => server.stop());
  const client = await connectBroker({
    urls: [server.url],
    tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    name: "bench-markers",
  });
  stack(() => client.close());
  const hub = await startHubProcess(server, pki, `${dir}/hub`);
  stack(() => hub.stop());
  await sleep(1500);
  const idleRss = await hub.rss();
  log(
    `fleet (${policy}): hub pid ${hub.pid} idle RSS ${mib(idleRss)}; 10,000 x 10 for ${seconds} s`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `${ROOT}/scripts/simulate.ts`,
      ...brokerArgs(server.url, pki),
      "--nodes",
      "10000",
      "--checks",
      "10",
      "--interval",
      "10s",
      "--announce",
      "5m",
      "--policy",
      policy,
      "--duration",
      `${seconds}s`,
      "--json",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  stack(async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  });
  const simOut = child.output();
  const sampler = sampleRss(hub);
  const cpu0 = await hub.cpu(), w0 = performance.now();
  const { lags, missed } = await markerLags(client, hub.url, seconds);
  const out = await simOut;
  const cpuSeconds = (await hub.cpu()) - cpu0, wallSeconds = (performance.now() - w0) / 1000;
  const { max } = await sampler.stop();
  const simText = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  let sim: PaceResult | null = null;
  try {
    sim = JSON.parse(simText) as PaceResult;
  } catch {
    log(`simulator printed no summary (exit ${out.code}): ${simText}`);
  }
  const nodes = await fetch(`${hub.url}/api/v1/nodes`).then((r) => r.json()) as {
    nodes: unknown[];
  };
  const h = await hub.health();
  log(`fleet (${policy}): hub at seq ${h.lastSeq} right after the fleet stopped`);
  return {
    sim,
    simExit: out.code,
    lags,
    missed,
    idleRss,
    rssMax: max,
    cpuSeconds,
    wallSeconds,
    viewNodes: nodes.nodes.length,
  };
}

/** What the big-view phase measured. */
interface BigView {
  events: number;
  fillRate: number;
  ingestRate: number;
  rssMax: number;
  rssSettled: number;
  viewNodes: number;
}

/** A fresh stream with one state event per check of `nodes` x 10, then the hub process on it. */
async function bigViewPhase(dir: string, pki: Pki, nodes: number): Promise<BigView> {
  return await withCleanup(async (stack) => {
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
    stack(() => server.stop());
    const client = await connectBroker({
      urls: [server.url],
      tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
      name: "bench-big-fill",
    });
    stack(() => client.close());
    await client.stream.ensure(EVENTS_STREAM, [...EVENTS_SUBJECTS], {
      duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
    });
    const fleet = createFleet(nodes, 10, { transitionRate: 0, prefix: "big" });
    const total = nodes * 10;
    log(`big view: pre-filling ${total} events (${nodes} nodes x 10 checks, one each)`);
    const filled = await fill(client, () => fleet.next(Date.now()), total, 4000);
    const fillRate = filled.acked / (filled.ms / 1000);
    log(`big view: filled to seq ${filled.lastSeq} at ${rate(fillRate)}; starting the hub`);
    const t0 = performance.now();
    const hub = await startHubProcess(server, pki, `${dir}/hub`);
    stack(() => hub.stop());
    const sampler = sampleRss(hub);
    let lastLog = performance.now();
    for (;;) {
      const h = await hub.health();
      if (h.lastSeq >= filled.lastSeq) break;
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        log(`big view: hub at seq ${h.lastSeq}, RSS ${mib(await hub.rss())}`);
      }
      if (performance.now() - t0 > 600_000) throw new Error("the hub did not ingest in 10 min");
      await sleep(250);
    }
    const ingestMs = performance.now() - t0;
    await sleep(3000); // the snapshot written, the last batch's garbage collectable
    const { max, last } = await sampler.stop();
    const body = await fetch(`${hub.url}/api/v1/nodes`).then((r) => r.json()) as {
      nodes: unknown[];
    };
    return {
      events: filled.acked,
      fillRate,
      ingestRate: filled.lastSeq / (ingestMs / 1000),
      rssMax: max,
      rssSettled: last,
      viewNodes: body.nodes.length,
    };
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      events: { type: "string" },
      "fleet-seconds": { type: "string" },
      "big-nodes": { type: "string" },
    },
  });
  const quick = values.quick;
  const total = Number(values.events ?? (quick ? 50_000 : 200_000));
  const fleetSeconds = Number(values["fleet-seconds"] ?? (quick ? 15 : 30));
  const bigNodes = Number(values["big-nodes"] ?? (quick ? 20_000 : 100_000));
  const stateDirCapMs = quick ? 10_000 : 20_000;
  const rounds = quick ? 3 : 5;
  if (!HAVE_NATS_SERVER) {
    console.error("nats-server is not on PATH");
    return 2;
  }
  const command = `deno task bench:hub${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
  const rows: Row[] = [];
  const t00 = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-hub-" });
  try {
    const pki = await makePki(`${dir}/pki`);
    await withCleanup(async (stack) => {
      const server = await startNatsServer({ pki, dir: `${dir}/inproc` });
      stack(() => server.stop());
      const brokerOpts = (name: string) => ({
        urls: [server.url],
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
        name,
      });
      const client = await connectBroker(brokerOpts("bench-client"));
      stack(() => client.close());
      await client.stream.ensure(EVENTS_STREAM, [...EVENTS_SUBJECTS], {
        duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
      });

      // (a) pre-fill
      const fleet = createFleet(10_000, 10);
      log(`pre-filling ${EVENTS_STREAM} with ${total} events`);
      let bytes = 0;
      const filled = await fill(
        client,
        () => {
          const evs = fleet.next(Date.now());
          for (const e of evs) bytes += e.data.length;
          return evs;
        },
        total,
        4000,
      );
      const endSeq = filled.lastSeq;
      const fillRate = filled.acked / (filled.ms / 1000);
      rows.push({
        metric: `pre-fill publish (${filled.acked} events, mean ${
          Math.round(bytes / filled.acked)
        } B)`,
        value: rate(fillRate),
        baseline: "-",
        ratio: "-",
        result: "info",
      });
      log(`pre-filled to seq ${endSeq} at ${rate(fillRate)}`);

      // (b) and (c), in alternating rounds (each a fresh consumer from the stream's start), so
      // both get the same machine state and the hub's code its JIT warm-up; medians reported.
      const admin = await connect({
        servers: server.url.replace("tls://", ""),
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
      });
      stack(() => admin.close());
      const dropConsumer = async (durable: string) => {
        const jsm = await jetstream(admin).jetstreamManager();
        await jsm.consumers.delete(EVENTS_STREAM, durable).catch(() => false);
      };
      const rssBefore = Deno.memoryUsage().rss, heapBefore = Deno.memoryUsage().heapUsed;
      const countRates: number[] = [], hubRates: number[] = [];
      let rssAfterIngest = 0, heapAfter = 0, viewNodes = 0;
      for (let round = 0; round < rounds; round++) {
        // (b) baseline: the same consumer, counting only
        let counted = 0;
        const doneCounting = Promise.withResolvers<void>();
        const tb = performance.now();
        const counter = await connectBroker(brokerOpts(`bench-counter-${round}`));
        const consumption = await counter.stream.consume(
          EVENTS_STREAM,
          `bench-count-${round}`,
          (batch) => {
            counted += batch.length;
            if (batch[batch.length - 1]!.seq >= endSeq) doneCounting.resolve();
            return Promise.resolve();
          },
        );
        await doneCounting.promise;
        const countMs = performance.now() - tb;
        await consumption.stop();
        await counter.close();
        countRates.push(counted / (countMs / 1000));
        log(`round ${round + 1}: counting consumer: ${counted} in ${countMs.toFixed(0)} ms`);

        // (c) hub ingest in-process, no state dir. The previous round's durable consumer goes
        // first: its ack floor would make this round's events replays, which are not republished.
        await dropConsumer(HUB_CONSUMER);
        const th = performance.now();
        const hub = await startHub({
          broker: brokerOpts(`bench-hub-${round}`),
          listen: "127.0.0.1:0",
          staleAfterMs: 600_000,
          stateDir: null,
          logger: nullLogger,
        });
        try {
          while (hub.lastSeq() < endSeq) await sleep(2);
          const hubMs = performance.now() - th;
          hubRates.push(endSeq / (hubMs / 1000));
          viewNodes = hub.view.nodes.size;
          log(`round ${round + 1}: hub ingest: ${endSeq} in ${hubMs.toFixed(0)} ms`);
          rssAfterIngest = Deno.memoryUsage().rss;
          heapAfter = Deno.memoryUsage().heapUsed;
        } finally {
          await hub.stop();
        }
      }
      const countRate = median(countRates), hubRate = median(hubRates);
      const ratio = hubRate / countRate;
      const each = (xs: number[]) => xs.map((x) => rate(x)).join(", ");
      rows.push({
        metric:
          `counting consumer (Stream.consume, batch 256, ack-all; median of ${rounds} rounds)`,
        value: rate(countRate),
        baseline: "-",
        ratio: `rounds: ${each(countRates)}`,
        result: "info",
      });
      rows.push({
        metric: `hub ingest into the view (startHub, no state dir; median of ${rounds} rounds, ` +
          "each after a counting round)",
        value: `${rate(hubRate)} (rounds: ${each(hubRates)})`,
        baseline: rate(countRate),
        ratio: `${ratio.toFixed(2)}x (>= 0.7x)`,
        result: ratio >= 0.7 ? "pass" : "FAIL",
      });
      rows.push({
        metric: "hub ingest, absolute (slowest round, the first: JIT warm-up included)",
        value: rate(Math.min(...hubRates)),
        baseline: "-",
        ratio: ">= 30,000/s",
        result: Math.min(...hubRates) >= 30_000 ? "pass" : "FAIL",
      });
      rows.push({
        metric: `this process's RSS around the in-process ingest (view: ${viewNodes} nodes; ` +
          `holds the pre-fill's leftovers too)`,
        value: `${mib(rssAfterIngest)} (heap ${mib(heapAfter)}) after (c)`,
        baseline: `${mib(rssBefore)} (heap ${mib(heapBefore)}) before startHub`,
        ratio: `${(rssAfterIngest / rssBefore).toFixed(2)}x`,
        result: "info",
      });

      // (c') hub ingest with a state dir, bounded (republishing too, like the rounds)
      await dropConsumer(HUB_CONSUMER);
      const ts = performance.now();
      const hub = await startHub({
        broker: brokerOpts("bench-hub-state"),
        listen: "127.0.0.1:0",
        staleAfterMs: 600_000,
        stateDir: `${dir}/state`,
        logger: nullLogger,
      });
      while (hub.lastSeq() < endSeq && performance.now() - ts < stateDirCapMs) await sleep(5);
      const stMs = performance.now() - ts;
      const stSeq = Math.min(hub.lastSeq(), endSeq);
      const stRate = stSeq / (stMs / 1000);
      await hub.stop();
      rows.push({
        metric:
          `hub ingest with --state-dir (snapshot at most every 1 s; ${stSeq} of ${endSeq} events${
            stSeq < endSeq ? ` in the ${stateDirCapMs / 1000} s cap` : ""
          })`,
        value: rate(stRate),
        baseline: rate(countRate),
        ratio: `${(stRate / countRate).toFixed(2)}x`,
        result: "info",
      });
    });
    await Deno.remove(`${dir}/inproc`, { recursive: true }).catch(() => {});

    // (d) and (e): the fleet against the hub as its own process, per policy
    const phases: Record<"all" | "changes", FleetPhase> = {
      all: await fleetPhase(`${dir}/fleet-all`, pki, "all", fleetSeconds),
      changes: await fleetPhase(`${dir}/fleet-changes`, pki, "changes", fleetSeconds),
    };
    await Deno.remove(`${dir}/fleet-all`, { recursive: true }).catch(() => {});
    await Deno.remove(`${dir}/fleet-changes`, { recursive: true }).catch(() => {});
    const all = phases.all;
    rows.push({
      metric: "hub process idle RSS (`deno run -P=hub main.ts hub`, --state-dir, empty view)",
      value: mib(all.idleRss),
      baseline: `${mib(phases.changes.idleRss)} (second start)`,
      ratio: "-",
      result: "info",
    });
    for (const policy of ["all", "changes"] as const) {
      const p = phases[policy];
      const sim = p.sim;
      const label = `10,000 x 10 at 10 s, announce 5m, --policy ${policy}, ${fleetSeconds} s`;
      const runsOk = sim !== null && sim.failed === 0 && sim.runsPerSec >= 0.95 * sim.askedPerSec;
      rows.push({
        metric: `fleet publish (simulate.ts, ${label}): events/s acked` +
          (sim
            ? ` (${sim.runs} runs, ${sim.transitions} transitions, ${sim.announces} ` +
              `announcements; ${sim.published} of ${sim.built} events published)`
            : ""),
        value: sim ? rate(sim.achievedPerSec) : `no summary (exit ${p.simExit})`,
        baseline: sim ? `${rate(sim.askedPerSec)} runs asked, ${rate(sim.runsPerSec)} made` : "-",
        ratio: sim ? `${(sim.achievedPerSec / sim.askedPerSec).toFixed(3)} events/run` : "-",
        result: runsOk ? "pass" : "FAIL",
      });
      if (policy === "changes" && sim && all.sim) {
        const r = sim.achievedPerSec / all.sim.achievedPerSec;
        rows.push({
          metric: "`changes` against `all`: events/s published",
          value: rate(sim.achievedPerSec),
          baseline: `${rate(all.sim.achievedPerSec)} (all)`,
          ratio: `${r.toFixed(3)}x (saves ${((1 - r) * 100).toFixed(1)}%)`,
          result: "info",
        });
      }
      rows.push({
        metric:
          `view lag, publish -> visible in /api/v1/checks, --policy ${policy} (${p.lags.length} markers${
            p.missed ? `, ${p.missed} not seen in 10 s` : ""
          })`,
        value: `max ${percentile(p.lags, 100).toFixed(0)} ms`,
        baseline: `median ${percentile(p.lags, 50).toFixed(0)} ms`,
        ratio: "max <= 2,000 ms",
        result: p.missed === 0 && percentile(p.lags, 100) <= 2000 ? "pass" : "FAIL",
      });
      rows.push({
        metric: `hub process RSS during the fleet, --policy ${policy} (view: ${p.viewNodes} nodes)`,
        value: `max ${mib(p.rssMax)}`,
        baseline: policy === "all" ? `${mib(p.idleRss)} idle` : `max ${mib(all.rssMax)} (all)`,
        ratio: policy === "all"
          ? `${(p.rssMax / p.idleRss).toFixed(2)}x idle`
          : `${(p.rssMax / all.rssMax).toFixed(2)}x`,
        result: "info",
      });
      const cores = p.cpuSeconds / p.wallSeconds;
      const allCores = all.cpuSeconds / all.wallSeconds;
      rows.push({
        metric: `hub process CPU during the fleet, --policy ${policy}`,
        value: `${(cores * 100).toFixed(0)}% of a core (${p.cpuSeconds.toFixed(1)} s in ${
          p.wallSeconds.toFixed(1)
        } s)`,
        baseline: policy === "all" ? "-" : `${(allCores * 100).toFixed(0)}% (all)`,
        ratio: policy === "all" ? "-" : `${(cores / allCores).toFixed(2)}x`,
        result: "info",
      });
    }

    // (f) a big view
    const big = await bigViewPhase(`${dir}/big`, pki, bigNodes);
    await Deno.remove(`${dir}/big`, { recursive: true }).catch(() => {});
    rows.push({
      metric: `big view: pre-fill ${big.events} events (${bigNodes} nodes x 10 checks, one each)`,
      value: rate(big.fillRate),
      baseline: "-",
      ratio: "-",
      result: "info",
    });
    rows.push({
      metric: `big view: hub process ingest from start (--state-dir; view: ${big.viewNodes} nodes)`,
      value: rate(big.ingestRate),
      baseline: "-",
      ratio: "-",
      result: "info",
    });
    rows.push({
      metric: `big view: hub process RSS with ${big.viewNodes} nodes x 10 checks (settled 3 s ` +
        `after the last event; max while ingesting)`,
      value: `${mib(big.rssSettled)} (max ${mib(big.rssMax)})`,
      baseline: `${mib(all.idleRss)} idle`,
      ratio: `${((big.rssSettled - all.idleRss) / big.viewNodes / 1024).toFixed(1)} KiB/node ` +
        `above idle (${(big.rssSettled / big.viewNodes / 1024).toFixed(1)} KiB/node in all)`,
      result: "info",
    });

    console.log(`\n\`${command}\` (${((performance.now() - t00) / 1000).toFixed(0)} s)\n`);
    console.log("| metric | value | baseline (same run) | ratio / target | result |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const r of rows) {
      console.log(`| ${r.metric} | ${r.value} | ${r.baseline} | ${r.ratio} | ${r.result} |`);
    }
    return rows.some((r) => r.result === "FAIL") ? 1 : 0;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`bench:hub could not run: ${e instanceof Error ? e.stack : String(e)}`);
    Deno.exit(2);
  }
}
