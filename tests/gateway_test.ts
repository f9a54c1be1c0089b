/**
 * The event gateway against a real nats-server (mutual TLS, JetStream) and loopback HTTP
 * receivers: binary and structured deliveries are correct CloudEvents, filters work, foreign and
 * malformed events are dropped, an outage (503, then a refused connection) ends with every event
 * delivered once and in order, a 400 goes to the dead-letter subject, and a restarted gateway
 * resumes where it stopped.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { HTTP } from "cloudevents";
import {
  type NagiosStatus,
  type ScoutEvent,
  scoutSubject,
  transitionEvent,
} from "../src/events.ts";
import {
  DEADLETTER_REASON_HEADER,
  DEFAULT_DUPLICATE_WINDOW_MS,
  EVENTS_STREAM,
  EVENTS_SUBJECTS,
  type GatewayHandle,
  type GatewayOptions,
  parseGatewayRules,
  startGateway,
} from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, type BusMessage, connectBroker } from "../src/transport/mod.ts";
import { freePort, SKIP_NATS, startTestBroker } from "./_nats.ts";
import { testNagios, testRef } from "./_events.ts";
import { waitUntil } from "./_wait.ts";

const ref = testRef;

function nagios(
  identity: string,
  machine: string,
  status: NagiosStatus,
  team = "ops",
): ScoutEvent {
  return testNagios(identity, machine, status, {
    annotations: { team },
    extensions: { scoutstate: status },
  });
}

async function send(b: Broker, ev: ScoutEvent, asIdentity = ev.subject): Promise<void> {
  await b.stream.publish(
    scoutSubject(asIdentity, ev),
    new TextEncoder().encode(JSON.stringify(ev)),
    {
      msgId: ev.id,
    },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** The CloudEvent id of a received request, whichever the mode. */
function idOf(r: Received): string {
  return r.headers["ce-id"] ?? JSON.parse(r.body).id;
}

/** The check (data.machine) of a received request, whichever the mode. */
function checkOf(r: Received): string {
  const body = JSON.parse(r.body);
  return r.headers["ce-id"] !== undefined ? body.machine : body.data.machine;
}

Deno.test({
  name: "gateway: CloudEvents over HTTP, filters, outage without loss, dead letters, restart",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-gateway-" });
    const { server, brokerOpts } = await startTestBroker(dir, "scout-gateway-test");
    const gwBroker = await connectBroker(brokerOpts);
    const agent = await connectBroker({ ...brokerOpts, name: "fake-agent" });
    await gwBroker.stream.ensure(EVENTS_STREAM, [...EVENTS_SUBJECTS], {
      duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
    });
    const dead: BusMessage[] = [];
    agent.bus.subscribe("scout.gateway.deadletter.>", (m) => dead.push(m));
    await agent.bus.flush();

    // An event published before the gateway's first start is not forwarded (new rules start new).
    await send(agent, nagios("web1.example", "old", "CRITICAL"));

    const got: Received[] = [];
    let flakyDown = false;
    const attempts = new Map<string, number>();
    const record = async (req: Request): Promise<Received> => {
      const r = {
        path: new URL(req.url).pathname,
        headers: Object.fromEntries(req.headers),
        body: await req.text(),
      };
      attempts.set(`${r.path} ${idOf(r)}`, (attempts.get(`${r.path} ${idOf(r)}`) ?? 0) + 1);
      return r;
    };
    const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const r = await record(req);
      if (r.path === "/flaky" && flakyDown) return new Response("down", { status: 503 });
      if (r.path === "/bad" && checkOf(r) === "poison") {
        return new Response("no such thing", { status: 400 });
      }
      got.push(r);
      return new Response(null, { status: 202 });
    });
    const base = `http://127.0.0.1:${receiver.addr.port}`;
    const laterPort = freePort();
    let later: Deno.HttpServer | null = null;

    const rules = parseGatewayRules(
      `
- name: bin
  match: { type: "io.choria.machine.watcher.*.v1.state", node: "*1.example" }
  url: ${base}/bin
  mode: binary
  headers: { X-Token: secret }
- name: st
  match: { type: [io.choria.machine.watcher.nagios.v1.state], node: "*1.example" }
  url: ${base}/st
- name: filter
  match:
    status: [CRITICAL]
    check: "disk*"
    annotation: { team: ops }
  url: ${base}/filter
- name: flaky
  match: { node: seq.example }
  url: ${base}/flaky
  timeout: 2s
- name: refused
  match: { node: seq.example }
  url: http://127.0.0.1:${laterPort}/later
  mode: binary
- name: bad
  match: { node: dl.example }
  url: ${base}/bad
`,
      "gateway.yaml",
    );
    const gwOpts: GatewayOptions = {
      stream: gwBroker.stream,
      bus: gwBroker.bus,
      rules,
      logger: nullLogger,
      retry: { minMs: 100, maxMs: 800 },
      batch: 4,
    };
    let gw: GatewayHandle | null = await startGateway(gwOpts);
    const only = (path: string) => got.filter((r) => r.path === path);
    try {
      // 1. Deliveries and filters.
      const e1 = nagios("web1.example", "disk", "CRITICAL");
      const e2 = nagios("web1.example", "disk", "WARNING");
      const e3 = nagios("web1.example", "load", "CRITICAL");
      const e4 = nagios("db1.example", "disk_data", "CRITICAL", "db");
      const e5 = nagios("db1.example", "disk_data", "CRITICAL");
      const tr = transitionEvent(ref("web1.example", "disk"), {
        transition: "CRITICAL",
        from: "OK",
        to: "CRITICAL",
      }, { eventId: crypto.randomUUID(), timeMs: Date.now() });
      for (const ev of [e1, e2, tr, e3, e4]) await send(agent, ev);
      // Foreign: web1 publishes an event of db1. Malformed: junk on a node subject.
      await send(agent, nagios("db1.example", "disk", "CRITICAL"), "web1.example");
      await agent.stream.publish(
        "scout.node.web1_example.machine.transition",
        new TextEncoder().encode("{oops"),
        { msgId: "junk-1" },
      );
      await send(agent, e5);
      const nagiosIds = [e1, e2, e3, e4, e5].map((e) => e.id);
      await waitUntil(
        "binary and structured deliveries",
        () => only("/bin").length === 5 && only("/st").length === 5 && only("/filter").length === 2,
      );
      await sleep(300);
      deepEqual(only("/bin").map(idOf), nagiosIds);
      deepEqual(only("/st").map(idOf), nagiosIds);
      deepEqual(only("/filter").map(idOf), [e1.id, e5.id]);

      const bin = only("/bin")[0]!;
      equal(bin.headers["content-type"], "application/json");
      equal(bin.headers["ce-specversion"], "1.0");
      equal(bin.headers["ce-type"], "io.choria.machine.watcher.nagios.v1.state");
      equal(bin.headers["ce-source"], "io.choria.machine");
      equal(bin.headers["ce-subject"], "web1.example");
      equal(bin.headers["ce-time"], e1.time);
      equal(bin.headers["ce-scoutstate"], "CRITICAL");
      equal(bin.headers["x-token"], "secret");
      deepEqual(JSON.parse(bin.body), e1.data);
      const fromBin = HTTP.toEvent({ headers: bin.headers, body: bin.body });
      const b = Array.isArray(fromBin) ? fromBin[0]! : fromBin;
      equal(b.id, e1.id);
      deepEqual(b.data, e1.data);

      const st = only("/st")[0]!;
      match(st.headers["content-type"]!, /^application\/cloudevents\+json/);
      equal(st.headers["ce-id"], undefined);
      deepEqual(JSON.parse(st.body), e1);
      const fromSt = HTTP.toEvent({ headers: st.headers, body: st.body });
      const s = Array.isArray(fromSt) ? fromSt[0]! : fromSt;
      equal(s.id, e1.id);
      equal(s.subject, "web1.example");
      deepEqual(s.data, e1.data);

      const stats = gw.stats();
      deepEqual(stats["bin"]?.dropped, { malformed: 1, foreign: 1, schema: 0 });
      equal(stats["bin"]?.delivered, 5);
      equal(stats["bin"]?.skipped, 1, "the transition");
      equal(stats["filter"]?.delivered, 2);
      equal(stats["filter"]?.skipped, 4);

      // 2. Outage: /flaky answers 503 and nothing listens on the refused rule's port yet.
      flakyDown = true;
      const seq = Array.from({ length: 10 }, (_, i) => nagios("seq.example", `c${i}`, "OK"));
      for (const ev of seq) await send(agent, ev);
      await waitUntil(
        "retries",
        () =>
          (gw!.stats()["flaky"]?.retries ?? 0) >= 3 && (gw!.stats()["refused"]?.retries ?? 0) >= 3,
      );
      await sleep(1500);
      equal(only("/flaky").length, 0);
      match(gw.stats()["flaky"]?.failing ?? "", /HTTP 503/);
      ok(gw.stats()["refused"]?.failing !== null);
      flakyDown = false;
      later = Deno.serve({ hostname: "127.0.0.1", port: laterPort, onListen() {} }, async (req) => {
        got.push(await record(req));
        return new Response("ok");
      });
      await waitUntil(
        "delivery after the outage",
        () => only("/flaky").length === 10 && only("/later").length === 10,
      );
      await sleep(1000);
      deepEqual(only("/flaky").map(idOf), seq.map((e) => e.id), "once each, in order");
      deepEqual(only("/later").map(idOf), seq.map((e) => e.id), "once each, in order");
      equal(gw.stats()["flaky"]?.failing, null);
      equal(gw.stats()["flaky"]?.deadLettered, 0);

      // 3. A permanent refusal goes to the dead-letter subject and delivery moves on.
      const ok1 = nagios("dl.example", "first", "OK");
      const poison = nagios("dl.example", "poison", "CRITICAL");
      const ok2 = nagios("dl.example", "second", "OK");
      for (const ev of [ok1, poison, ok2]) await send(agent, ev);
      await waitUntil("dead letter", () => dead.length === 1 && only("/bad").length === 2);
      deepEqual(only("/bad").map(idOf), [ok1.id, ok2.id]);
      equal(attempts.get(`/bad ${poison.id}`), 1, "a 400 is not retried");
      const dl = dead[0]!;
      equal(dl.subject, "scout.gateway.deadletter.bad");
      match(dl.headers[DEADLETTER_REASON_HEADER]!, /HTTP 400.*no such thing/);
      equal(dl.headers["Scout-Gateway-Status"], "400");
      equal(dl.headers["Scout-Gateway-Subject"], scoutSubject("dl.example", poison));
      deepEqual(JSON.parse(new TextDecoder().decode(dl.data)), poison);
      equal(gw.stats()["bad"]?.deadLettered, 1);

      // 4. A restarted gateway resumes after its acknowledgements: nothing lost, nothing twice.
      await gw.stop();
      gw = null;
      const r1 = nagios("web1.example", "restart1", "OK");
      const r2 = nagios("web1.example", "restart2", "OK");
      await send(agent, r1);
      await send(agent, r2);
      gw = await startGateway(gwOpts);
      await waitUntil("deliveries after restart", () => only("/st").length === 7);
      await sleep(500);
      deepEqual(only("/st").map(idOf), [...nagiosIds, r1.id, r2.id]);
      equal(only("/flaky").length, 10);
      ok(!got.some((r) => checkOf(r) === "old"), "events before the first start are not sent");
    } finally {
      await gw?.stop();
      await receiver.shutdown();
      await later?.shutdown();
      await agent.close();
      await gwBroker.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
