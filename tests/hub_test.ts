/**
 * The hub against a real nats-server (mutual TLS, JetStream): events published as an agent
 * does reach the fleet view and its HTTP API, are republished on Choria's subjects, a foreign
 * identity is refused and counted, and a restarted hub resumes without losing or
 * double-counting anything: its view equals one rebuilt from the whole stream.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  lifecycleEvent,
  type NagiosStatus,
  type ScoutEvent,
  scoutSubject,
  transitionEvent,
} from "../src/events.ts";
import {
  applyEvent,
  applyMetrics,
  createMetrics,
  createView,
  EVENTS_STREAM,
  type HubHandle,
  snapshotMetrics,
  snapshotView,
  startHub,
} from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, connectBroker } from "../src/transport/mod.ts";
import {
  brokerArgs,
  freePort,
  makePki,
  type Pki,
  SKIP_NATS,
  startNatsServer,
  startTestBroker,
} from "./_nats.ts";
import { testNagios, testRef } from "./_events.ts";
import { waitFor } from "./_wait.ts";

let n = 0;
const ref = testRef;

function nagios(identity: string, machine: string, status: NagiosStatus): ScoutEvent {
  return testNagios(identity, machine, status, {
    annotations: { team: identity.startsWith("db") ? "db" : "web" },
  });
}

function transition(identity: string, machine: string, to: string): ScoutEvent {
  return transitionEvent(ref(identity, machine), { transition: to, from: "UNKNOWN", to }, {
    eventId: crypto.randomUUID(),
    timeMs: Date.now(),
  });
}

const enc = (ev: ScoutEvent) => new TextEncoder().encode(JSON.stringify(ev));

/** Publishes as an agent does: durable publish on the node's own subject, id as Nats-Msg-Id. */
async function send(b: Broker, ev: ScoutEvent, asIdentity = ev.subject): Promise<void> {
  n++;
  await b.stream.publish(scoutSubject(asIdentity, ev), enc(ev), { msgId: ev.id });
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

/** The view rebuilt from every message in the stream, straight from JetStream. */
async function rebuiltFromStream(url: string, pki: Pki) {
  const nc = await connect({
    servers: url.replace("tls://", ""),
    tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
  });
  try {
    const jsm = await jetstream(nc).jetstreamManager();
    const info = await jsm.streams.info(EVENTS_STREAM);
    const view = createView();
    const metrics = createMetrics();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = (await jsm.streams.getMessage(EVENTS_STREAM, { seq }))!;
      applyMetrics(metrics, m.subject, applyEvent(view, m.subject, m.data, m.time.getTime()));
    }
    return { view, metrics, lastSeq: info.state.last_seq };
  } finally {
    await nc.close();
  }
}

Deno.test({
  name: "hub: view, API, Choria republish, foreign identity, restart without loss or double count",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-hub-" });
    const { pki, server, brokerOpts } = await startTestBroker(dir, "scout-hub-test");
    const hubOpts = {
      broker: brokerOpts,
      listen: "127.0.0.1:0",
      staleAfterMs: 60_000,
      streamMaxAgeMs: 86_400_000,
      stateDir: `${dir}/state`,
      logger: nullLogger,
      batch: 4,
    };
    const agent = await connectBroker({ ...brokerOpts, name: "fake-agent" });
    const choria: string[] = [];
    agent.bus.subscribe("choria.>", (m) => choria.push(m.subject));
    await agent.bus.flush();
    let hub: HubHandle | null = await startHub(hubOpts);
    try {
      // The hub made the stream; events published as agents do reach the view.
      await send(
        agent,
        lifecycleEvent({
          kind: "startup",
          identity: "web1.example",
          component: "scout",
          version: "1",
        }, { eventId: crypto.randomUUID(), timeMs: Date.now() }),
      );
      await send(agent, transition("web1.example", "disk", "CRITICAL"));
      await send(agent, nagios("web1.example", "disk", "CRITICAL"));
      await send(agent, nagios("web1.example", "load", "OK"));
      await send(agent, nagios("db1.example", "disk", "WARNING"));
      // web1 claims to be db1: foreign, refused and counted.
      await send(agent, nagios("db1.example", "disk", "OK"), "web1.example");
      // Garbage on a node subject.
      n++;
      await agent.stream.publish(
        "scout.node.web1_example.machine.transition",
        new TextEncoder().encode("{oops"),
        { msgId: "junk-1" },
      );
      const h = hub;
      const checks = await waitFor("checks in the API", async () => {
        const r = await getJson(`${h.url}/api/v1/checks`);
        const rows = r.body.checks as { node: string; check: string; status: string }[];
        return rows.length === 3 && h.lastSeq() === n ? rows : undefined;
      });
      deepEqual(checks.map((c) => `${c.node}/${c.check}=${c.status}`), [
        "db1.example/disk=WARNING",
        "web1.example/disk=CRITICAL",
        "web1.example/load=OK",
      ]);
      const crit = await getJson(
        `${h.url}/api/v1/checks?status=CRITICAL,WARNING&annotation=team=web`,
      );
      deepEqual((crit.body.checks as { node: string }[]).map((c) => c.node), ["web1.example"]);
      const bad = await getJson(`${h.url}/api/v1/checks?status=NOPE`);
      equal(bad.status, 400);
      const nodes = await getJson(`${h.url}/api/v1/nodes`);
      deepEqual(
        (nodes.body.nodes as { identity: string; lifecycle: string | null; stale: boolean }[])
          .map((x) => [x.identity, x.lifecycle, x.stale]),
        [["db1.example", null, false], ["web1.example", "startup", false]],
      );
      deepEqual(nodes.body.counters, {
        accepted: 5,
        rejected: { malformed: 1, foreign: 1, schema: 0 },
      });
      const health = await getJson(`${h.url}/healthz`);
      equal(health.status, 200);
      equal(health.body.status, "ok");
      // Each verified event was republished on Choria's subjects, and only those.
      await waitFor(
        "republished events",
        () => Promise.resolve(choria.length >= 5 ? 1 : undefined),
      );
      deepEqual(choria.toSorted(), [
        "choria.lifecycle.event.startup.scout",
        "choria.machine.transition",
        "choria.machine.watcher.nagios.state",
        "choria.machine.watcher.nagios.state",
        "choria.machine.watcher.nagios.state",
      ]);

      // Restart: events sent while the hub is down are picked up, nothing counted twice.
      await hub.stop();
      hub = null;
      await send(agent, nagios("web1.example", "disk", "OK"));
      await send(agent, nagios("db2.example", "disk", "UNKNOWN"));
      await send(agent, nagios("web1.example", "load", "OK"));
      hub = await startHub(hubOpts);
      const h2 = hub;
      await waitFor(
        "the events sent while down",
        () => Promise.resolve(h2.lastSeq() === n ? 1 : undefined),
      );
      const rebuilt = await rebuiltFromStream(server.url, pki);
      equal(rebuilt.lastSeq, n);
      deepEqual(snapshotView(h2.view), snapshotView(rebuilt.view));
      equal(h2.view.counters.accepted, 8);
      await new Promise((r) => setTimeout(r, 300));
      equal(choria.length, 8, "each new event republished once");

      // Without a state directory the view is rebuilt from the whole stream, and old events are
      // not republished again.
      await hub.stop();
      hub = await startHub({ ...hubOpts, stateDir: null });
      const h3 = hub;
      await waitFor("the rebuilt view", () => Promise.resolve(h3.lastSeq() === n ? 1 : undefined));
      deepEqual(snapshotView(h3.view), snapshotView(rebuilt.view));
      await new Promise((r) => setTimeout(r, 300));
      equal(choria.length, 8, "a rebuild republishes nothing");
    } finally {
      await hub?.stop();
      await agent.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "hub: snapshots are periodic and on stop; a crash after acks replays from the snapshot, " +
    "none lost, none counted or republished twice",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-hub-snap-" });
    const { pki, server, brokerOpts } = await startTestBroker(dir, "scout-hub-snap-test");
    const snapFile = `${dir}/state/hub/view.json`;
    const hubOpts = {
      broker: brokerOpts,
      listen: "127.0.0.1:0",
      staleAfterMs: 60_000,
      stateDir: `${dir}/state`,
      logger: nullLogger,
      batch: 2,
      // After the first snapshot, none until stop: the acks run ahead of it meanwhile.
      snapshotIntervalMs: 600_000,
    };
    const snapSeq = async () => {
      try {
        return (JSON.parse(await Deno.readTextFile(snapFile)) as { seq: number }).seq;
      } catch {
        return undefined;
      }
    };
    const agent = await connectBroker({ ...brokerOpts, name: "fake-agent" });
    const choria: string[] = [];
    agent.bus.subscribe("choria.>", (m) => choria.push(m.subject));
    await agent.bus.flush();
    let sent = 0;
    const sendOne = async (ev: ScoutEvent) => {
      sent++;
      await agent.stream.publish(scoutSubject(ev.subject, ev), enc(ev), { msgId: ev.id });
    };
    let hub: HubHandle | null = await startHub(hubOpts);
    try {
      await sendOne(transition("web1.example", "disk", "CRITICAL"));
      await sendOne(nagios("web1.example", "disk", "CRITICAL"));
      const h = hub;
      await waitFor(
        "the first events",
        () => Promise.resolve(h.lastSeq() === sent ? 1 : undefined),
      );
      const first = await waitFor("the first snapshot", snapSeq);
      const crashImage = await Deno.readTextFile(snapFile);
      ok(first <= 2, `the first snapshot holds the first batch only, not seq ${first}`);
      for (let i = 0; i < 6; i++) {
        await sendOne(nagios(`db${i}.example`, "disk", i % 2 ? "OK" : "WARNING"));
        await sendOne(transition(`db${i}.example`, "disk", "OK"));
      }
      await waitFor("every event", () => Promise.resolve(h.lastSeq() === sent ? 1 : undefined));
      equal(await snapSeq(), first, "no second snapshot within the interval");
      await waitFor(
        "the republished events",
        () => Promise.resolve(choria.length === sent ? 1 : undefined),
      );
      await hub.stop();
      hub = null;
      equal(await snapSeq(), sent, "stop writes the snapshot");

      // A crash after the acks but before the next snapshot leaves the older snapshot behind.
      await Deno.writeTextFile(snapFile, crashImage);
      await sendOne(nagios("web1.example", "disk", "OK"));
      hub = await startHub(hubOpts);
      const h2 = hub;
      await waitFor("the replay", () => Promise.resolve(h2.lastSeq() === sent ? 1 : undefined));
      const rebuilt = await rebuiltFromStream(server.url, pki);
      equal(rebuilt.lastSeq, sent);
      deepEqual(snapshotView(h2.view), snapshotView(rebuilt.view));
      deepEqual(snapshotMetrics(h2.metrics), snapshotMetrics(rebuilt.metrics));
      equal(h2.view.counters.accepted, sent);
      await new Promise((r) => setTimeout(r, 300));
      equal(choria.length, sent, "replayed events are not republished again, the new one is");
    } finally {
      await hub?.stop();
      await agent.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

const ROOT = new URL("../", import.meta.url).pathname;

function hubCli(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-P=hub", "main.ts", "hub", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("scout-hub hub refuses a non-loopback --listen, naming TLS and a token", async () => {
  const out = await hubCli([
    "--broker",
    "tls://127.0.0.1:1",
    "--tls-ca",
    "deno.json",
    "--tls-cert",
    "deno.json",
    "--tls-key",
    "deno.json",
    "--listen",
    "0.0.0.0:8080",
  ]).output();
  const err = new TextDecoder().decode(out.stderr);
  deepEqual([out.code, /loopback/.test(err), /TLS/.test(err), /token/.test(err)], [
    2,
    true,
    true,
    true,
  ]);
});

Deno.test({
  name: "scout-hub hub runs under the hub permission set, serves /healthz, stops on SIGTERM",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-hub-cli-" });
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
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
        `${dir}/state`,
        "--retention",
        "2d",
        "--stale-after",
        "1m",
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const health = await waitFor("the hub's /healthz", async () => {
        try {
          return await getJson(`http://127.0.0.1:${port}/healthz`);
        } catch {
          return undefined;
        }
      });
      equal(health.status, 200);
      equal(health.body.broker, "connected");
      child.kill("SIGTERM");
      equal((await child.status).code, 0);
      await Deno.stat(`${dir}/state/hub`);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "a hub started before its broker keeps trying and comes up when the broker does",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-hub-late-" });
    const pki = await makePki(`${dir}/pki`);
    const port = freePort();
    const warnings: string[] = [];
    const starting = startHub({
      broker: {
        urls: [`tls://127.0.0.1:${port}`],
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
        name: "late-hub",
        connectTimeoutMs: 500,
      },
      listen: "127.0.0.1:0",
      staleAfterMs: 600_000,
      stateDir: null,
      logger: { ...nullLogger, warn: (m) => warnings.push(m) },
      retryFirstConnect: true,
    });
    let server: Awaited<ReturnType<typeof startNatsServer>> | null = null;
    let hub: HubHandle | null = null;
    try {
      while (warnings.length === 0) await new Promise((r) => setTimeout(r, 50));
      equal(warnings[0], "the broker is not reachable; trying again in 1 s");
      server = await startNatsServer({ pki, dir: `${dir}/nats`, port });
      hub = await starting;
      equal((await fetch(`${hub.url}/healthz`)).status, 200);
    } finally {
      await hub?.stop();
      await server?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
