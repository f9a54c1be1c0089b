/**
 * `scout broker` against a real nats-server 2.9: the rendered configuration's mutual-TLS mapping
 * (verify_and_map) and per-role permissions, reload after a node is denied, JetStream publish acks
 * and per-key KV reads. Skipped (with a message) only when nats-server is missing and CI is unset.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection, Status } from "@nats-io/nats-core";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { deepEqual, ok, rejects } from "node:assert/strict";
import { type BrokerConfigInput, nodeInboxPrefix, renderBrokerConfig } from "../src/broker/mod.ts";
import { runBroker } from "../src/cli/broker.ts";
import { freePort, makePki, type Pki, SKIP_NATS } from "./_nats.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
let serial = 0x1000;

async function newKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

/** A CA issuing identity certificates the way enrolment does: CN = SAN dNSName = identity. */
async function identityCa(): Promise<{
  pem: string;
  issue(id: string): Promise<{ cert: string; key: string }>;
}> {
  const k = await newKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16),
    name: "CN=Scout Identity Test CA",
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    keys: k,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  return {
    pem: ca.toString("pem"),
    async issue(id) {
      const ck = await newKeys();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16),
        subject: `CN=${id}`,
        issuer: ca.subject,
        notBefore: new Date(Date.now() - DAY),
        notAfter: new Date(Date.now() + DAY),
        publicKey: ck.publicKey,
        signingKey: k.privateKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: "dns", value: id }]),
        ],
      });
      const key = x509.PemConverter.encode(
        await crypto.subtle.exportKey("pkcs8", ck.privateKey),
        "PRIVATE KEY",
      );
      return { cert: cert.toString("pem"), key };
    },
  };
}

/** Records a connection's status events; waits for one with bounded polling. */
function recorder(nc: NatsConnection): {
  events: Status[];
  waitFor(pred: (s: Status) => boolean, what: string, ms?: number): Promise<Status>;
} {
  const events: Status[] = [];
  (async () => {
    for await (const s of nc.status()) events.push(s);
  })().catch(() => {});
  return {
    events,
    async waitFor(pred, what, ms = 5000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const hit = events.find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no ${what} within ${ms} ms; saw ${JSON.stringify(events.map(show))}`);
    },
  };
}

function show(s: Status): string {
  return s.type === "error" ? `error: ${s.error.message}` : s.type;
}

const permissionError = (subject: string) => (s: Status) =>
  s.type === "error" && /permission/i.test(s.error.message) && s.error.message.includes(subject);

async function waitAccepting(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`nats-server did not accept on 127.0.0.1:${port} within ${ms} ms`);
}

async function waitUntil(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "scout broker config enforces mTLS identity mapping and role permissions on nats-server",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "scout-broker-" });
    const pki: Pki = await makePki(`${dir}/pki`);
    const ids = await identityCa();
    // The server trusts both the test PKI's CA and the identity CA (pki.client has no user).
    const caBundle = `${dir}/client-ca.pem`;
    await Deno.writeTextFile(caBundle, `${pki.ca.trim()}\n${ids.pem.trim()}\n`);
    const port = freePort();
    const fleet = {
      nodes: [{ identity: "n1.example", groups: ["web"] }, { identity: "n2", groups: [] }],
      hubs: ["hub.example"],
      operators: ["op.example"],
      denied: ["bad.example"],
    };
    const base: Omit<BrokerConfigInput, "nodes" | "hubs" | "operators" | "denied"> = {
      listen: { host: "127.0.0.1", port },
      tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: caBundle },
      jetstream: { storeDir: `${dir}/js`, maxMemory: 64 * 1024 * 1024, maxFile: 256 * 1024 * 1024 },
      monitorPort: null,
    };
    const confFile = `${dir}/nats.conf`;
    await Deno.writeTextFile(confFile, renderBrokerConfig({ ...base, ...fleet }));
    const server = new Deno.Command("nats-server", {
      args: ["-c", confFile, "-l", `${dir}/nats.log`],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    const conns: NatsConnection[] = [];
    const open = async (id: string, opts: { inbox?: boolean; reconnect?: boolean } = {}) => {
      const c = await ids.issue(id);
      const nc = await connect({
        servers: `tls://127.0.0.1:${port}`,
        tls: { ca: pki.ca, cert: c.cert, key: c.key },
        name: id,
        timeout: 5000,
        reconnect: opts.reconnect ?? false,
        reconnectTimeWait: 100,
        maxReconnectAttempts: 20,
        ...(opts.inbox ? { inboxPrefix: nodeInboxPrefix(id) } : {}),
      });
      conns.push(nc);
      return nc;
    };
    try {
      await waitAccepting(port, 10_000).catch(async (e) => {
        const log = await Deno.readTextFile(`${dir}/nats.log`).catch(() => "(no log)");
        throw new Error(`${e.message}\n${log}`);
      });
      const hub = await open("hub.example");
      const op = await open("op.example");
      const n1 = await open("n1.example", { inbox: true });
      const n2 = await open("n2", { inbox: true, reconnect: true });
      const r1 = recorder(n1), r2 = recorder(n2);

      await t.step("a node publishes under its own subject only", async () => {
        const seen: string[] = [];
        const sub = hub.subscribe("scout.node.>", {
          callback: (_e, m) => void seen.push(m.subject),
        });
        await hub.flush();
        n1.publish("scout.node.n1_example.machine.transition", "ok");
        n1.publish("scout.node.n2.machine.transition", "forged");
        await r1.waitFor(permissionError("scout.node.n2.machine.transition"), "publish violation");
        n1.publish("scout.node.n1_example.marker", "after");
        await waitUntil(() => seen.includes("scout.node.n1_example.marker"), "marker at hub");
        deepEqual(seen, [
          "scout.node.n1_example.machine.transition",
          "scout.node.n1_example.marker",
        ]);
        sub.unsubscribe();
      });

      await t.step("a node cannot subscribe to another node's API subjects", async () => {
        const sub = n1.subscribe("scout.api.n2.>");
        const closed = await sub.closed;
        ok(closed instanceof Error && /permission/i.test(closed.message), String(closed));
      });

      await t.step(
        "a node answers its own and fleet-wide API requests from an operator",
        async () => {
          const answer = (_e: unknown, m: { subject: string; respond(d: string): boolean }) =>
            void m.respond(`n1:${m.subject}`);
          n1.subscribe("scout.api.n1_example.>", { callback: answer });
          n1.subscribe("scout.api._all.>", { callback: answer });
          await n1.flush();
          const one = await op.request("scout.api.n1_example.checks", "", { timeout: 3000 });
          deepEqual(one.string(), "n1:scout.api.n1_example.checks");
          const all = await op.request("scout.api._all.checks", "", { timeout: 3000 });
          deepEqual(all.string(), "n1:scout.api._all.checks");
        },
      );

      await t.step("a node makes requests through its own inbox prefix", async () => {
        hub.subscribe("scout.node.*.ping", { callback: (_e, m) => void m.respond("pong") });
        await hub.flush();
        const r = await n1.request("scout.node.n1_example.ping", "", { timeout: 3000 });
        deepEqual(r.string(), "pong");
      });

      await t.step("a node cannot subscribe to other inboxes", async () => {
        for (const subj of ["_INBOX_n1_example.>", "_INBOX.>", ">"]) {
          const closed = await n2.subscribe(subj).closed;
          ok(closed instanceof Error && /permission/i.test(closed.message), `${subj}: ${closed}`);
        }
        ok(r2.events.some(permissionError("_INBOX_n1_example.>")));
      });

      await t.step("denied and unknown identities are refused at connect", async () => {
        await rejects(() => open("bad.example"), /Authorization Violation/);
        await rejects(
          () =>
            connect({
              servers: `tls://127.0.0.1:${port}`,
              tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
              timeout: 5000,
              reconnect: false,
            }),
          /Authorization Violation/,
        );
      });

      await t.step("a node's event lands in SCOUT_EVENTS with a publish ack", async () => {
        const jsm = await jetstreamManager(hub);
        await jsm.streams.add({ name: "SCOUT_EVENTS", subjects: ["scout.node.*.>"] });
        const ack = await jetstream(n1).publish("scout.node.n1_example.machine.transition", "ev");
        deepEqual(ack.stream, "SCOUT_EVENTS");
        await rejects(
          () => jetstream(n1).publish("scout.node.n2.machine.transition", "ev", { timeout: 1500 }),
        );
      });

      await t.step("a node reads its own and its groups' KV keys, not another node's", async () => {
        const jsm = await jetstreamManager(hub);
        await jsm.streams.add({
          name: "KV_SCOUT_CHECKS",
          subjects: ["$KV.SCOUT_CHECKS.>"],
          retention: RetentionPolicy.Limits,
          max_msgs_per_subject: 5,
          allow_direct: true,
          allow_rollup_hdrs: true,
          deny_delete: true,
        });
        const ojs = jetstream(op);
        for (const k of ["node.n1_example", "group.web", "node.n2"]) {
          await ojs.publish(`$KV.SCOUT_CHECKS.${k}`, `bundle ${k}`);
        }
        const njsm = await jetstreamManager(n1, { timeout: 1500 });
        for (const k of ["node.n1_example", "group.web"]) {
          const m = await njsm.direct.getMessage("KV_SCOUT_CHECKS", {
            last_by_subj: `$KV.SCOUT_CHECKS.${k}`,
          });
          deepEqual(m?.string(), `bundle ${k}`);
        }
        await rejects(() =>
          njsm.direct.getMessage("KV_SCOUT_CHECKS", { last_by_subj: "$KV.SCOUT_CHECKS.node.n2" })
        );
        await r1.waitFor(permissionError("node.n2"), "KV read violation");
        // A watch: an ordered consumer filtered on the node's key.
        const c = await jetstream(n1).consumers.get("KV_SCOUT_CHECKS", {
          filter_subjects: "$KV.SCOUT_CHECKS.node.n1_example",
        });
        const m = await c.next({ expires: 2000 });
        deepEqual(m?.string(), "bundle node.n1_example");
        await c.delete().catch(() => {});
        // Creating a consumer on another node's key is refused by permissions, and a create
        // subject naming the own key with another key in the body is refused by the server.
        await rejects(() =>
          njsm.consumers.add("KV_SCOUT_CHECKS", {
            name: "peek",
            filter_subject: "$KV.SCOUT_CHECKS.node.n2",
            ack_policy: AckPolicy.None,
          })
        );
        const sneaky = await n1.request(
          "$JS.API.CONSUMER.CREATE.KV_SCOUT_CHECKS.peek.$KV.SCOUT_CHECKS.node.n1_example",
          JSON.stringify({
            stream_name: "KV_SCOUT_CHECKS",
            config: {
              name: "peek",
              filter_subject: "$KV.SCOUT_CHECKS.node.n2",
              ack_policy: "none",
            },
          }),
          { timeout: 3000 },
        );
        const reply = sneaky.json<{ error?: { description: string } }>();
        ok(reply.error, `the server accepted a mismatching filter: ${sneaky.string()}`);
      });

      await t.step("reload with n2 denied disconnects n2, refuses it, keeps n1", async () => {
        const denied = {
          ...fleet,
          nodes: fleet.nodes.filter((n) => n.identity !== "n2"),
          denied: [...fleet.denied, "n2"],
        };
        await Deno.writeTextFile(confFile, renderBrokerConfig({ ...base, ...denied }));
        const before = r1.events.length;
        server.kill("SIGHUP");
        await r2.waitFor((s) => s.type === "disconnect", "n2 disconnect");
        await rejects(() => open("n2"), /Authorization Violation/);
        const got: string[] = [];
        hub.subscribe("scout.node.n1_example.after", { callback: () => void got.push("after") });
        await hub.flush();
        n1.publish("scout.node.n1_example.after", "still here");
        await n1.flush();
        await waitUntil(() => got.length === 1, "n1's message after the reload");
        deepEqual(
          r1.events.slice(before).filter((s) => s.type === "disconnect").length,
          0,
          "n1 must stay connected",
        );
        deepEqual(n1.isClosed(), false);
      });
    } finally {
      for (const nc of conns) await nc.close().catch(() => {});
      try {
        server.kill("SIGTERM");
      } catch { /* gone */ }
      await server.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "scout broker run reloads nats-server when the fleet file changes: a denied node is cut off",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-broker-run-" });
    const pki = await makePki(`${dir}/pki`);
    const ids = await identityCa();
    const caBundle = `${dir}/client-ca.pem`;
    await Deno.writeTextFile(caBundle, `${pki.ca.trim()}\n${ids.pem.trim()}\n`);
    const port = freePort();
    const fleetFile = `${dir}/fleet.json`;
    await Deno.writeTextFile(
      fleetFile,
      JSON.stringify({
        nodes: [{ identity: "n1.example", groups: [] }],
        hubs: ["hub.example"],
        operators: [],
        denied: [],
      }),
    );
    const stop = new AbortController();
    const log: string[] = [];
    const running = runBroker(
      [
        "run",
        "--out",
        `${dir}/nats.conf`,
        "--listen",
        `127.0.0.1:${port}`,
        "--tls-cert",
        pki.server.certFile,
        "--tls-key",
        pki.server.keyFile,
        "--tls-ca",
        caBundle,
        "--store-dir",
        `${dir}/js`,
        "--fleet",
        fleetFile,
      ],
      { out: (t) => void log.push(t), err: (t) => void log.push(t), env: () => undefined },
      {
        signal: stop.signal,
        fleetPollMs: 100,
      },
    );
    let nc: NatsConnection | null = null;
    try {
      await waitAccepting(port, 10_000);
      const c = await ids.issue("n1.example");
      const open = () =>
        connect({
          servers: `tls://127.0.0.1:${port}`,
          tls: { ca: pki.ca, cert: c.cert, key: c.key },
          timeout: 5000,
          reconnect: false,
          inboxPrefix: nodeInboxPrefix("n1.example"),
        });
      nc = await open();
      const r = recorder(nc);
      // What the hub does after `scout-hub hub deny n1.example`: rewrite the fleet file.
      await Deno.writeTextFile(
        `${fleetFile}.tmp`,
        JSON.stringify({ nodes: [], hubs: ["hub.example"], operators: [], denied: ["n1.example"] }),
      );
      await Deno.rename(`${fleetFile}.tmp`, fleetFile);
      await r.waitFor((s) => s.type === "disconnect", "n1 disconnect", 8000).catch((e) => {
        throw new Error(`${e.message}\n${log.join("")}`);
      });
      await rejects(() => open(), /Authorization Violation/);
      ok(log.join("").includes("changed: configuration rewritten"), log.join(""));
    } finally {
      await nc?.close().catch(() => {});
      stop.abort();
      await running;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

if (SKIP_NATS) {
  // deno-lint-ignore no-console -- tell the reader why the real-server test did not run
  console.warn("broker_nats_test: nats-server not installed and CI unset: skipped");
}
