/**
 * Network push end to end over a real nats-server: in-process agents in fleet mode watch their
 * keys of the SCOUT_CHECKS bucket, apply signed bundles, refuse forged, unauthorised, altered and
 * replayed ones (the last good bundle keeps running), and ignore unsigned deletions; each applied
 * and refused bundle is reported as an event. A pushed check's plugin stays inside the plugin
 * directories.
 */
import { fleetAgentConfig, heartbeatChecks } from "./_fleet_agent.ts";
import { deepEqual, equal, ok } from "node:assert/strict";
import type { ScoutEvent } from "../src/events.ts";
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
import { waitUntil } from "./_wait.ts";

const enc = new TextEncoder();

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
    const events: ScoutEvent[] = [];
    const pushEvents = (node: string, outcome: "applied" | "refused") =>
      events.filter((e) => e.subject === node && e.type === `io.scout.push.v1.${outcome}`);
    const start = async (node: string, pluginDirs: string[] = []) => {
      const base = `${dir}/${node}`;
      await Deno.mkdir(`${base}/checks`, { recursive: true });
      await Deno.writeTextFile(`${base}/checks/local.yaml`, heartbeatChecks("local_beat"));
      const a = await startAgent(
        fleetAgentConfig({
          identity: node,
          base,
          url: server.url,
          pki,
          trust: [{ text: fleetCa.certPem, where: "fleet-ca.pem" }],
          over: { pluginDirs },
        }),
        { logger, onEvent: (e) => events.push(e) },
      );
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
      await waitUntil("local check", () => names(a1) === "local_beat");
      const localStart = a1.manager.list(false)[0]!.startTime;
      const b1 = await bundle(k1, 1, heartbeatChecks("pushed_a"));
      await put(k1, b1);
      await waitUntil("pushed_a on node1", () => names(a1) === "local_beat,pushed_a");
      equal(a1.manager.list(false).find((m) => m.name === "local_beat")!.startTime, localStart);
      // ... and reports it in an applied event with the bundle's facts.
      await waitUntil("applied event", () => pushEvents("node1.example", "applied").length === 1);
      const applied = pushEvents("node1.example", "applied")[0]!;
      equal(applied.source, "io.scout.push");
      deepEqual(
        {
          key: applied.data["key"],
          seq: applied.data["seq"],
          author: applied.data["author"],
          issuer: applied.data["issuer"],
          issued: applied.data["issued"],
          checks: applied.data["checks"],
          removed: applied.data["removed"],
        },
        {
          key: k1,
          seq: 1,
          author: "alice",
          issuer: b1.issuer,
          issued: Math.floor(b1.issued / 1000),
          checks: ["pushed_a"],
          removed: false,
        },
      );

      // ---- A node offline during the push gets it when it starts.
      const k2 = nodeKey("node2.example");
      await put(k2, await bundle(k2, 1, heartbeatChecks("pushed_b")));
      const a2 = await start("node2.example");
      await waitUntil("pushed_b on node2 after start", () => names(a2) === "local_beat,pushed_b");

      // ---- Refused, and the last good bundle keeps running.
      const refusedBy = async (
        what: string,
        b: object,
        re: RegExp,
        expect = "local_beat,pushed_a",
        step?: RegExp,
      ) => {
        const n = refusals.length;
        const e = pushEvents("node1.example", "refused").length;
        await put(k1, b);
        await waitUntil(`refusal of ${what}`, () => refusals.length > n);
        ok(re.test(refusals[n]!), `${what}: ${refusals[n]}`);
        equal(names(a1), expect, `${what} changed the checks`);
        // The refusal is reported as an event too, with the step and the reason.
        await waitUntil(
          `refused event of ${what}`,
          () => pushEvents("node1.example", "refused").length > e,
        );
        const ev = pushEvents("node1.example", "refused")[e]!;
        equal(ev.data["key"], k1, what);
        ok(re.test(String(ev.data["reason"])), `${what} event: ${ev.data["reason"]}`);
        if (step) ok(step.test(String(ev.data["step"])), `${what} step: ${ev.data["step"]}`);
      };
      await refusedBy(
        "an unknown signer",
        await bundle(k1, 2, heartbeatChecks("evil"), await token({ ca: evilCa })),
        /unknown issuer|bad signature/,
        undefined,
        /^(token|signature)$/,
      );
      await refusedBy(
        "an operator without rights for the node",
        await bundle(k1, 2, heartbeatChecks("evil"), await token({ nodes: "db*" })),
        /may not push to node1\.example/,
        undefined,
        /^rights$/,
      );
      await refusedBy(
        "a bundle altered in the bucket",
        { ...(await bundle(k1, 2, heartbeatChecks("pushed_a"))), checks: heartbeatChecks("evil") },
        /bad signature/,
        undefined,
        /^signature$/,
      );
      await refusedBy(
        "a bad bundle",
        await bundle(k1, 2, "checks: 12\n"),
        /invalid checks/,
        undefined,
        /^checks$/,
      );
      await refusedBy(
        "a clash with a local check",
        await bundle(k1, 2, heartbeatChecks("local_beat")),
        /local_beat already defined/,
        undefined,
        /^clash$/,
      );
      const clash = pushEvents("node1.example", "refused").at(-1)!;
      deepEqual(clash.data["checks"], ["local_beat"]);
      equal(clash.data["seq"], 2);
      equal(clash.data["author"], "alice");
      const b3 = await bundle(k1, 3, heartbeatChecks("pushed_a", "pushed_c"));
      await put(k1, b3);
      await waitUntil("seq 3 applied", () => names(a1) === "local_beat,pushed_a,pushed_c");
      await refusedBy(
        "a replayed older sequence",
        b1,
        /replay/,
        "local_beat,pushed_a,pushed_c",
        /^replay$/,
      );
      // ---- A plain KV delete removes nothing.
      await kv.delete(k1);
      await waitUntil("the ignored delete", () => ignored.includes(k1));
      equal(names(a1), "local_beat,pushed_a,pushed_c");
      // ---- A signed tombstone removes the pushed checks.
      await put(k1, await bundle(k1, 4, null));
      await waitUntil("tombstone applied", () => names(a1) === "local_beat");
      const state = JSON.parse(
        await Deno.readTextFile(`${dir}/node1.example/state/pushed/state.json`),
      );
      equal(state[k1].seq, 4);
      equal(state[k1].removed, true);
      await waitUntil(
        "tombstone event",
        () =>
          pushEvents("node1.example", "applied").some((e) =>
            e.data["seq"] === 4 && e.data["removed"] === true
          ),
      );
      // An unsigned delete and the watch's re-delivery of an applied bundle report nothing.
      equal(pushEvents("node1.example", "applied").length, 3);

      // ---- The sandbox holds for pushed checks: a plugin outside the plugin directories
      // (through "..", an absolute path, or a link in a plugin directory) never runs.
      const plugins = `${dir}/plugins`;
      const outside = `${dir}/outside`;
      await Deno.mkdir(plugins);
      await Deno.mkdir(outside);
      for (const name of ["abs", "dotdot", "link"]) {
        await Deno.writeTextFile(
          `${outside}/evil_${name}.sh`,
          `#!/bin/sh\ntouch ${dir}/ran-${name}\necho "EVIL ran"\nexit 0\n`,
          { mode: 0o755 },
        );
      }
      await Deno.writeTextFile(`${plugins}/allowed.sh`, "#!/bin/sh\necho 'ALLOWED ok'\n", {
        mode: 0o755,
      });
      await Deno.symlink(`${outside}/evil_link.sh`, `${plugins}/link.sh`);
      const plugin = (name: string, path: string) =>
        `  - name: ${name}\n    plugin: ${JSON.stringify(path)}\n    interval: 1h\n`;
      const k3 = nodeKey("node3.example");
      const sandboxed = "checks:\n" + plugin("allowed", "allowed.sh") +
        plugin("absolute", `${outside}/evil_abs.sh`) +
        plugin("dotdot", `${plugins}/../outside/evil_dotdot.sh`) +
        plugin("symlink", "link.sh") +
        plugin("binsh", `${"../".repeat(64)}bin/sh`);
      await put(k3, await bundle(k3, 1, sandboxed));
      const a3 = await start("node3.example", [plugins]);
      const result = (check: string) =>
        events.find((e) =>
          e.subject === "node3.example" && e.type === "io.choria.machine.watcher.nagios.v1.state" &&
          e.data["machine"] === check
        );
      const all = ["allowed", "absolute", "dotdot", "symlink", "binsh"];
      await waitUntil(
        "the pushed sandbox checks ran",
        () => all.every((c) => result(c) !== undefined),
      );
      equal(names(a3), "absolute,allowed,binsh,dotdot,local_beat,symlink");
      equal(result("allowed")!.data["status"], "OK");
      equal(result("allowed")!.data["output"], "ALLOWED ok");
      const expected: Record<string, RegExp> = {
        absolute: new RegExp(`${outside}/evil_abs\\.sh is outside the allowed plugin directories`),
        dotdot: new RegExp(`${outside}/evil_dotdot\\.sh is outside the allowed plugin directories`),
        symlink: new RegExp(`${outside}/evil_link\\.sh is outside the allowed plugin directories`),
        binsh: /is outside the allowed plugin directories/,
      };
      for (const [check, why] of Object.entries(expected)) {
        const out = String(result(check)!.data["output"]);
        equal(result(check)!.data["status"], "UNKNOWN", check);
        ok(out.startsWith("UNKNOWN: Cannot run plugin"), `${check}: ${out}`);
        ok(why.test(out), `${check}: ${out}`);
      }
      const ran = (await Array.fromAsync(Deno.readDir(dir))).filter((e) =>
        e.name.startsWith("ran-")
      );
      deepEqual(ran.map((e) => e.name), [], "no refused plugin ran");
    } finally {
      for (const a of agents) await a.stop();
      await operator.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
