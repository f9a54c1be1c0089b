/**
 * Process-level tests of the NATS transport against real nats-server processes (TLS, mutual
 * TLS, JetStream) on free loopback ports; skipped only when nats-server is missing outside CI.
 * @module
 */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { ScoutError } from "../src/errors.ts";
import { type BrokerEvent, connectBroker } from "../src/transport/mod.ts";
import { freePort, makePki, type Pki, SKIP_NATS, startNatsServer } from "./_nats.ts";

const enc = new TextEncoder(), dec = new TextDecoder();

function isCode(code: string, re?: RegExp): (e: unknown) => boolean {
  return (e) => {
    ok(e instanceof ScoutError, `not a ScoutError: ${e}`);
    equal(e.code, code);
    if (re) ok(re.test(e.message), `message ${JSON.stringify(e.message)} does not match ${re}`);
    return true;
  };
}

async function withPki(fn: (pki: Pki, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "scout-nats-" });
  try {
    await fn(await makePki(`${dir}/pki`), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A creds file that parses; its JWT and seed are never used because the TLS handshake fails first.
const FAKE_CREDS = `-----BEGIN NATS USER JWT-----
e30.e30.c2ln
------END NATS USER JWT------

-----BEGIN USER NKEY SEED-----
SUAFAKESEED
------END USER NKEY SEED------
`;

Deno.test({
  name: "broker over mutual TLS publishes, subscribes and answers requests",
  ignore: SKIP_NATS,
  fn: () =>
    withPki(async (pki, dir) => {
      const srv = await startNatsServer({ pki, dir });
      const b = await connectBroker({
        urls: [srv.url.replace("tls://", "nats://")],
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
        name: "scout-test",
      });
      try {
        equal(b.status(), "connected");
        const got: { subject: string; data: string; headers: Record<string, string> }[] = [];
        const sub = b.bus.subscribe("scout.node.n1.>", (m) =>
          got.push({ subject: m.subject, data: dec.decode(m.data), headers: m.headers }));
        const rsub = b.bus.subscribe("scout.api.n1.ping", (m) =>
          m.respond?.(enc.encode("pong")));
        await b.bus.flush();
        b.bus.publish("scout.node.n1.machine.transition", enc.encode("hello"), {
          "Nats-Msg-Id": "1",
        });
        b.bus.publish("scout.node.n1.lifecycle.startup", enc.encode("plain"));
        await b.bus.flush();
        await until(() => got.length === 2, 2000);
        deepEqual(got[0], {
          subject: "scout.node.n1.machine.transition",
          data: "hello",
          headers: { "Nats-Msg-Id": "1" },
        });
        deepEqual(got[1], {
          subject: "scout.node.n1.lifecycle.startup",
          data: "plain",
          headers: {},
        });
        equal(
          dec.decode(await b.bus.request("scout.api.n1.ping", enc.encode("ping"), 2000)),
          "pong",
        );
        await rejects(
          b.bus.request("scout.api.nobody", enc.encode("x"), 500),
          isCode("BROKER_CONNECT"),
        );
        sub.unsubscribe();
        rsub.unsubscribe();
      } finally {
        await b.close();
        await srv.stop();
      }
    }),
});

Deno.test({
  name: "stream publish with the same msgId twice stores one message",
  ignore: SKIP_NATS,
  fn: () =>
    withPki(async (pki, dir) => {
      const srv = await startNatsServer({ pki, dir });
      const b = await connectBroker({
        urls: [srv.url],
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
        name: "scout-test",
      });
      try {
        await b.stream.ensure("SCOUT_EVENTS", ["scout.node.*.>"], {
          maxAgeMs: 3_600_000,
          duplicateWindowMs: 60_000,
        });
        // ensure is idempotent and applies changed options
        await b.stream.ensure("SCOUT_EVENTS", ["scout.node.*.>"], { maxAgeMs: 7_200_000 });
        const subj = "scout.node.n1.machine.transition";
        const a = await b.stream.publish(subj, enc.encode("e1"), { msgId: "evt-1" });
        const d = await b.stream.publish(subj, enc.encode("e1"), { msgId: "evt-1" });
        const c = await b.stream.publish(subj, enc.encode("e2"), { msgId: "evt-2" });
        deepEqual(a, { seq: 1, duplicate: false });
        deepEqual(d, { seq: 1, duplicate: true });
        deepEqual(c, { seq: 2, duplicate: false });
        await rejects(
          b.stream.publish("not.in.stream", enc.encode("x"), { msgId: "z", timeoutMs: 500 }),
          isCode("BROKER_CONNECT"),
        );
      } finally {
        await b.close();
        await srv.stop();
      }
    }),
});

Deno.test({
  name: "broker connect failures name the cause",
  ignore: SKIP_NATS,
  fn: () =>
    withPki(async (pki, dir) => {
      const srv = await startNatsServer({ pki, dir });
      const base = { urls: [srv.url], name: "scout-test", connectTimeoutMs: 2000 };
      try {
        await rejects(
          connectBroker({
            ...base,
            tls: { ca: pki.otherCa, cert: pki.client.cert, key: pki.client.key },
          }),
          isCode("BROKER_CONNECT", /unknown CA/),
        );
        await rejects(
          connectBroker({
            ...base,
            tls: { ca: pki.ca, cert: pki.expired.cert, key: pki.expired.key },
          }),
          isCode("BROKER_CONNECT", /certificate expired/),
        );
        await rejects(
          connectBroker({ ...base, tls: { ca: pki.ca }, creds: FAKE_CREDS }),
          isCode("BROKER_CONNECT", /no client certificate/),
        );
        await rejects(
          connectBroker({
            ...base,
            tls: { ca: pki.ca, cert: pki.foreign.cert, key: pki.foreign.key },
          }),
          isCode("BROKER_CONNECT", /unknown CA/),
        );
        await rejects(
          connectBroker({
            ...base,
            tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
            creds: "junk",
          }),
          isCode("BROKER_CONNECT", /creds file unreadable/),
        );
        await rejects(
          connectBroker({
            ...base,
            urls: [`tls://127.0.0.1:${freePort()}`],
            tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
          }),
          isCode("BROKER_CONNECT", /connection refused/),
        );
      } finally {
        await srv.stop();
      }
    }),
});

Deno.test({
  name: "broker connection comes back by itself after the server restarts",
  ignore: SKIP_NATS,
  fn: () =>
    withPki(async (pki, dir) => {
      const srv = await startNatsServer({ pki, dir });
      const events: BrokerEvent[] = [];
      const b = await connectBroker({
        urls: [srv.url],
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
        name: "scout-test",
        reconnectWaitMs: 200,
        reconnectJitterMs: 100,
        onEvent: (e) => events.push(e),
      });
      try {
        const got: string[] = [];
        b.bus.subscribe("t.>", (m) => got.push(dec.decode(m.data)));
        await b.bus.flush();
        await srv.stop();
        await until(() => events.some((e) => e.kind === "disconnected"), 5000);
        equal(b.status(), "disconnected");
        const t0 = Date.now();
        await srv.restart();
        await until(() => b.status() === "connected", 5000);
        const kinds = events.map((e) => e.kind);
        ok(kinds.lastIndexOf("connected") > kinds.indexOf("disconnected"), kinds.join(","));
        ok(Date.now() - t0 < 5000);
        b.bus.publish("t.x", enc.encode("after"));
        await b.bus.flush();
        await until(() => got.includes("after"), 2000);
      } finally {
        await b.close();
        await srv.stop();
      }
    }),
});

Deno.test({
  name: "broker with firstConnect retry connects later when the server starts after it",
  ignore: SKIP_NATS,
  fn: () =>
    withPki(async (pki, dir) => {
      const port = freePort();
      const events: BrokerEvent[] = [];
      const b = await connectBroker({
        urls: [`tls://127.0.0.1:${port}`],
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
        name: "scout-test",
        firstConnect: "retry",
        reconnectWaitMs: 200,
        reconnectJitterMs: 100,
        onEvent: (e) => events.push(e),
      });
      const srvP = (async () => {
        await until(() => events.some((e) => e.kind === "error"), 5000);
        return await startNatsServer({ pki, dir, port });
      })();
      try {
        equal(b.status(), "disconnected");
        throws(() => b.bus.publish("t.x", enc.encode("x")), isCode("BROKER_CONNECT"));
        const got: string[] = [];
        b.bus.subscribe("t.>", (m) => got.push(dec.decode(m.data)));
        await srvP;
        await until(() => b.status() === "connected", 5000);
        ok(/connection refused/.test(events.find((e) => e.kind === "error")!.detail));
        b.bus.publish("t.x", enc.encode("late"));
        await b.bus.flush();
        await until(() => got.includes("late"), 2000);
      } finally {
        await b.close();
        await (await srvP).stop();
      }
    }),
});
