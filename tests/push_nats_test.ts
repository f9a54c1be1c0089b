/**
 * Network push end to end over a real nats-server: in-process agents in fleet mode watch their
 * keys of the SCOUT_CHECKS bucket, apply signed bundles, refuse forged, unauthorised, altered and
 * replayed ones (the last good bundle keeps running), and ignore unsigned deletions.
 */
import { equal, ok } from "node:assert/strict";
import { type AgentHandle, startAgent } from "../src/agent.ts";
import { makeTestCa } from "../src/provisioning/_testing.ts";
import { CHECKS_BUCKET, nodeKey, signBundle } from "../src/push/mod.ts";
import {
  generateCallerKeyPair,
  importCallerPrivateKey,
  issueOperatorToken,
} from "../src/rpc/mod.ts";
import type { Logger } from "../src/runtime/mod.ts";
import { connectBroker } from "../src/transport/mod.ts";
import { makePki, SKIP_NATS, startNatsServer } from "./_nats.ts";

const enc = new TextEncoder();
const beat = (...names: string[]) =>
  "checks:\n" +
  names.map((n) => `  - name: ${n}\n    builtin: heartbeat\n    interval: 1h\n`).join("");

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: "push over NATS: online and offline nodes apply signed bundles; attacks are refused",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-push-" });
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
    const fleetCa = await makeTestCa("Scout Fleet CA");
    const evilCa = await makeTestCa("Evil CA");
    const refusals: string[] = [];
    const ignored: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn(msg, f) {
        if (/unsigned deletion/.test(msg)) ignored.push(String(f?.["key"]));
      },
      error(msg, f) {
        if (/refused/.test(msg)) refusals.push(String(f?.["reason"]));
      },
    };
    const agents: AgentHandle[] = [];
    const start = async (node: string) => {
      const base = `${dir}/${node}`;
      await Deno.mkdir(`${base}/checks`, { recursive: true });
      await Deno.writeTextFile(`${base}/checks/local.yaml`, beat("local_beat"));
      const a = await startAgent({
        identity: node,
        checksDirs: [`${base}/checks`],
        machinesDirs: [`${base}/machines`],
        stateDir: `${base}/state`,
        textfileDir: null,
        eventsFile: null,
        pluginDirs: [],
        noSplay: true,
        maxOutputBytes: 65536,
        rescanMs: 3_600_000,
        maxConcurrent: 4,
        printEvents: false,
        fleet: {
          urls: [server.url],
          ca: pki.ca,
          cert: pki.client.cert,
          key: pki.client.key,
          spoolBytes: 1 << 20,
          policy: "all",
          announceMs: 0,
        },
        rpc: { trust: [{ text: fleetCa.certPem, where: "fleet-ca.pem" }], policyFile: null },
      }, { logger });
      agents.push(a);
      return a;
    };
    const operator = await connectBroker({
      urls: [server.url],
      tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
      name: "operator",
    });
    try {
      const kv = await operator.kv(CHECKS_BUCKET, { create: true, history: 10 });
      const keys = await generateCallerKeyPair();
      const privateKey = await importCallerPrivateKey(keys.privatePem);
      const token = (o: { nodes?: string; ca?: typeof fleetCa } = {}) =>
        issueOperatorToken({
          issuerKeyPem: (o.ca ?? fleetCa).keyPem,
          subject: "alice",
          callerPublicKey: keys.publicJwk,
          actions: ["*"],
          nodes: o.nodes ?? "node*",
          checks: "*",
          ttlMs: 3_600_000,
          now: Date.now() - 1000,
        });
      const good = await token();
      const bundle = async (
        key: string,
        seq: number,
        checks: string | null,
        tok = good,
      ) => await signBundle({ key, seq, checks, token: tok, privateKey, now: Date.now() });
      const put = async (key: string, b: object) =>
        await kv.put(key, enc.encode(JSON.stringify(b)));
      const names = (a: AgentHandle) => a.manager.list(false).map((m) => m.name).sort().join(",");

      // ---- An online node gets the push; only the pushed checks start beside the local one.
      const a1 = await start("node1.example");
      const k1 = nodeKey("node1.example");
      await until("local check", () => names(a1) === "local_beat");
      const localStart = a1.manager.list(false)[0]!.startTime;
      const b1 = await bundle(k1, 1, beat("pushed_a"));
      await put(k1, b1);
      await until("pushed_a on node1", () => names(a1) === "local_beat,pushed_a");
      equal(a1.manager.list(false).find((m) => m.name === "local_beat")!.startTime, localStart);

      // ---- A node offline during the push gets it when it starts.
      const k2 = nodeKey("node2.example");
      await put(k2, await bundle(k2, 1, beat("pushed_b")));
      const a2 = await start("node2.example");
      await until("pushed_b on node2 after start", () => names(a2) === "local_beat,pushed_b");

      // ---- Refused, and the last good bundle keeps running.
      const refusedBy = async (
        what: string,
        b: object,
        re: RegExp,
        expect = "local_beat,pushed_a",
      ) => {
        const n = refusals.length;
        await put(k1, b);
        await until(`refusal of ${what}`, () => refusals.length > n);
        ok(re.test(refusals[n]!), `${what}: ${refusals[n]}`);
        equal(names(a1), expect, `${what} changed the checks`);
      };
      await refusedBy(
        "an unknown signer",
        await bundle(k1, 2, beat("evil"), await token({ ca: evilCa })),
        /unknown issuer|bad signature/,
      );
      await refusedBy(
        "an operator without rights for the node",
        await bundle(k1, 2, beat("evil"), await token({ nodes: "db*" })),
        /may not push to node1\.example/,
      );
      await refusedBy(
        "a bundle altered in the bucket",
        { ...(await bundle(k1, 2, beat("pushed_a"))), checks: beat("evil") },
        /bad signature/,
      );
      await refusedBy("a bad bundle", await bundle(k1, 2, "checks: 12\n"), /invalid checks/);
      await refusedBy(
        "a clash with a local check",
        await bundle(k1, 2, beat("local_beat")),
        /local_beat already defined/,
      );
      const b3 = await bundle(k1, 3, beat("pushed_a", "pushed_c"));
      await put(k1, b3);
      await until("seq 3 applied", () => names(a1) === "local_beat,pushed_a,pushed_c");
      await refusedBy("a replayed older sequence", b1, /replay/, "local_beat,pushed_a,pushed_c");
      // ---- A plain KV delete removes nothing.
      await kv.delete(k1);
      await until("the ignored delete", () => ignored.includes(k1));
      equal(names(a1), "local_beat,pushed_a,pushed_c");
      // ---- A signed tombstone removes the pushed checks.
      await put(k1, await bundle(k1, 4, null));
      await until("tombstone applied", () => names(a1) === "local_beat");
      const state = JSON.parse(
        await Deno.readTextFile(`${dir}/node1.example/state/pushed/state.json`),
      );
      equal(state[k1].seq, 4);
      equal(state[k1].removed, true);
    } finally {
      for (const a of agents) await a.stop();
      await operator.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
