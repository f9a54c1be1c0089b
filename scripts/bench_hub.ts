// deno-lint-ignore-file no-console -- a benchmark prints its progress and its table
/**
 * Hub benchmark (`deno task bench:hub`): in one run, against a throw-away local TLS nats-server
 * with JetStream (tests/_nats.ts), measures
 *
 *   (a) pre-fill: SCOUT_EVENTS filled with 200,000 (`--quick` 50,000) ~780-byte events from the
 *       simulator's generator (scripts/simulate.ts, 10,000 nodes x 10 checks), as fast as
 *       JetStream acks them (informational);
 *   (b) baseline: a consumer of the same kind as the hub's, i.e. Stream.consume itself (durable
 *       pull consumer, ack-all once per batch of 256 after the handler) on its own connection,
 *       whose handler only counts; from connecting to the last message;
 *   (c) hub ingest: startHub in-process (no state dir, null logger) reading the same stream into
 *       the view, from startHub until lastSeq() reaches the end of the stream. Targets:
 *       >= 30,000 events/s and >= 0.7x the counting consumer. For information the same with a
 *       state dir (the view snapshot written at most once a second, acks per batch), bounded to 20 s (`--quick` 10 s);
 *   (d) the hub from (c) kept running while scripts/simulate.ts (a child process, so the hub's
 *       process only holds the hub and this harness) publishes a fleet of 10,000 nodes x 10
 *       checks every 10 s (10,000 events/s asked) for 30 s (`--quick` 15 s). Once a second a
 *       marker event of node bench-marker.example.net is published and `GET /api/v1/checks`
 *       polled every 20 ms until it shows: the lag from publishing to visible in the view (max
 *       and median). The process's RSS and V8 heap used (Deno.memoryUsage()) are sampled every
 *       250 ms; the process also holds the pre-fill's leftovers, so the RSS before startHub is
 *       the baseline.
 *
 * Usage: deno task bench:hub [--quick] [--events N] [--fleet-seconds S]
 *
 * Prints the command and a markdown table (metric, value, baseline, ratio/target, result) on
 * stdout, progress on stderr. Exit code 0 every target met, 1 a target missed, 2 it could not
 * run. Everything started (nats-server, the simulator, temp dirs) is stopped and removed.
 * @module
 */
import { parseArgs } from "node:util";
import { nagiosStateEvent, scoutExtensions, scoutSubject } from "../src/events.ts";
import { EVENTS_STREAM, EVENTS_SUBJECTS, startHub } from "../src/hub/mod.ts";
import type { HubHandle } from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, connectBroker } from "../src/transport/mod.ts";
import { DEFAULT_DUPLICATE_WINDOW_MS } from "../src/hub/mod.ts";
import { HAVE_NATS_SERVER, makePki, startNatsServer } from "../tests/_nats.ts";
import { createFleet, type SimEvent } from "./simulate.ts";

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

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      events: { type: "string" },
      "fleet-seconds": { type: "string" },
    },
  });
  const quick = values.quick;
  const total = Number(values.events ?? (quick ? 50_000 : 200_000));
  const fleetSeconds = Number(values["fleet-seconds"] ?? (quick ? 15 : 30));
  const stateDirCapMs = quick ? 10_000 : 20_000;
  if (!HAVE_NATS_SERVER) {
    console.error("nats-server is not on PATH");
    return 2;
  }
  const command = `deno task bench:hub${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
  const rows: Row[] = [];
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-hub-" });
  const pki = await makePki(`${dir}/pki`);
  const server = await startNatsServer({ pki, dir });
  const brokerOpts = (name: string) => ({
    urls: [server.url],
    tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    name,
  });
  let client: Broker | null = null;
  let hub: HubHandle | null = null;
  let child: Deno.ChildProcess | null = null;
  try {
    client = await connectBroker(brokerOpts("bench-client"));
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

    // (b) baseline: the same consumer, counting only
    const rssBefore = Deno.memoryUsage().rss, heapBefore = Deno.memoryUsage().heapUsed;
    let counted = 0;
    const doneCounting = Promise.withResolvers<void>();
    const tb = performance.now();
    const counter = await connectBroker(brokerOpts("bench-counter"));
    const consumption = await counter.stream.consume(EVENTS_STREAM, "bench-count", (batch) => {
      counted += batch.length;
      if (batch[batch.length - 1]!.seq >= endSeq) doneCounting.resolve();
      return Promise.resolve();
    });
    await doneCounting.promise;
    const countMs = performance.now() - tb;
    await consumption.stop();
    await counter.close();
    const countRate = counted / (countMs / 1000);
    rows.push({
      metric: "counting consumer (Stream.consume, batch 256, ack-all)",
      value: rate(countRate),
      baseline: "-",
      ratio: "-",
      result: "info",
    });
    log(`counting consumer: ${counted} in ${countMs.toFixed(0)} ms`);

    // (c) hub ingest, no state dir
    const th = performance.now();
    hub = await startHub({
      broker: brokerOpts("bench-hub"),
      listen: "127.0.0.1:0",
      staleAfterMs: 600_000,
      stateDir: null,
      logger: nullLogger,
    });
    while (hub.lastSeq() < endSeq) await sleep(2);
    const hubMs = performance.now() - th;
    const hubRate = endSeq / (hubMs / 1000);
    const ratio = hubRate / countRate;
    rows.push({
      metric: "hub ingest into the view (startHub, no state dir)",
      value: rate(hubRate),
      baseline: rate(countRate),
      ratio: `${ratio.toFixed(2)}x (>= 0.7x)`,
      result: ratio >= 0.7 ? "pass" : "FAIL",
    });
    rows.push({
      metric: "hub ingest, absolute",
      value: rate(hubRate),
      baseline: "-",
      ratio: ">= 30,000/s",
      result: hubRate >= 30_000 ? "pass" : "FAIL",
    });
    log(`hub ingest: ${endSeq} in ${hubMs.toFixed(0)} ms; view has ${hub.view.nodes.size} nodes`);
    const rssAfterIngest = Deno.memoryUsage().rss;

    // (d) live fleet while the hub runs
    log(`fleet: 10,000 nodes x 10 checks at 10 s for ${fleetSeconds} s`);
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        `${ROOT}/scripts/simulate.ts`,
        "--broker",
        server.url,
        "--tls-ca",
        pki.caFile,
        "--tls-cert",
        pki.client.certFile,
        "--tls-key",
        pki.client.keyFile,
        "--nodes",
        "10000",
        "--checks",
        "10",
        "--interval",
        "10s",
        "--duration",
        `${fleetSeconds}s`,
        "--json",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    const simOut = child.output();
    let rssMax = Deno.memoryUsage().rss, heapMax = Deno.memoryUsage().heapUsed;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const u = Deno.memoryUsage();
        rssMax = Math.max(rssMax, u.rss);
        heapMax = Math.max(heapMax, u.heapUsed);
        await sleep(250);
      }
    })();
    const lags: number[] = [];
    let missed = 0;
    const markerId = "bench-marker.example.net";
    const ref = { identity: markerId, machine: "marker", version: "1.0.0", instanceId: "m" };
    const h = hub;
    const tf = performance.now();
    for (let i = 1; performance.now() - tf < fleetSeconds * 1000 - 500; i++) {
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
        const r = await fetch(`${h.url}/api/v1/checks?node=${markerId}&check=marker`);
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
    const out = await simOut;
    child = null;
    sampling = false;
    await sampler;
    const simText = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    let achieved = NaN, asked = 10_000;
    try {
      const r = JSON.parse(simText) as { achievedPerSec: number; askedPerSec: number };
      achieved = r.achievedPerSec;
      asked = r.askedPerSec;
    } catch {
      log(`simulator printed no summary (exit ${out.code}): ${simText}`);
    }
    const info = await fetch(`${h.url}/healthz`).then((r) => r.json()) as { lastSeq: number };
    rows.push({
      metric: `fleet publish (simulate.ts, 10,000 x 10 at 10 s, ${fleetSeconds} s)`,
      value: rate(achieved),
      baseline: rate(asked),
      ratio: `${(achieved / asked).toFixed(2)}x`,
      result: achieved >= 0.95 * asked ? "pass" : "FAIL",
    });
    rows.push({
      metric: `view lag, publish -> visible in /api/v1/checks (${lags.length} markers${
        missed ? `, ${missed} not seen in 10 s` : ""
      })`,
      value: `max ${percentile(lags, 100).toFixed(0)} ms`,
      baseline: `median ${percentile(lags, 50).toFixed(0)} ms`,
      ratio: "-",
      result: missed > 0 ? "FAIL" : "info",
    });
    rows.push({
      metric: `hub process RSS during the fleet (view: ${h.view.nodes.size} nodes)`,
      value: `max ${mib(rssMax)} (V8 heap used max ${mib(heapMax)})`,
      baseline: `${mib(rssBefore)} (heap ${mib(heapBefore)}) before startHub; ${
        mib(rssAfterIngest)
      } after (c)`,
      ratio: `${(rssMax / rssBefore).toFixed(2)}x`,
      result: "info",
    });
    log(`hub at seq ${info.lastSeq} right after the fleet stopped`);
    await hub.stop();
    hub = null;

    // (c') hub ingest with a state dir, bounded
    const stateDir = `${dir}/state`;
    const ts = performance.now();
    hub = await startHub({
      broker: brokerOpts("bench-hub-state"),
      listen: "127.0.0.1:0",
      staleAfterMs: 600_000,
      stateDir,
      logger: nullLogger,
    });
    while (hub.lastSeq() < endSeq && performance.now() - ts < stateDirCapMs) await sleep(5);
    const stMs = performance.now() - ts;
    const stSeq = Math.min(hub.lastSeq(), endSeq);
    const stRate = stSeq / (stMs / 1000);
    await hub.stop();
    hub = null;
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

    console.log(`\n\`${command}\`\n`);
    console.log("| metric | value | baseline (same run) | ratio / target | result |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const r of rows) {
      console.log(`| ${r.metric} | ${r.value} | ${r.baseline} | ${r.ratio} | ${r.result} |`);
    }
    return rows.some((r) => r.result === "FAIL") ? 1 : 0;
  } finally {
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    }
    await hub?.stop().catch(() => {});
    await client?.close().catch(() => {});
    await server.stop();
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
