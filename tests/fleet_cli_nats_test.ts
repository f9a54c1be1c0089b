/**
 * `scout checks|trigger --fleet` against a real nats-server, with three fake nodes written here:
 * each subscribes to `scout.api._all.>` and its own `scout.api.<token>.>`, authenticates the
 * request envelope with the real node-side check (token from a trusted CA, ed25519 signature,
 * timestamp, target, replay) and answers `{ ok, identity, result | error }`.
 * web-1 answers everything; web-2 lists checks but refuses actions; db-1 answers too late.
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { realFleetDeps, runFleet } from "../src/cli/fleet.ts";
import { makeTestCa } from "../src/provisioning/_testing.ts";
import {
  authenticateRequest,
  generateCallerKeyPair,
  issueOperatorToken,
  ReplayCache,
} from "../src/rpc/mod.ts";
import { connectBroker } from "../src/transport/mod.ts";
import { brokerArgs, SKIP_NATS, startTestBroker } from "./_nats.ts";
import { captureIo } from "./fakes/io.ts";

const SLOW_MS = 1_200;
const TIMEOUT = "600ms";

interface Seen {
  node: string;
  subject: string;
  action: string;
  target: string;
  auth: string;
}

Deno.test({
  name: "fleet commands gather signed replies from fake nodes over a real nats-server",
  ignore: SKIP_NATS,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "scout-fleet-nats-" });
    const { pki, server, brokerOpts } = await startTestBroker(dir, "fleet-nodes");
    const ca = await makeTestCa();
    const caller = await generateCallerKeyPair();
    const token = await issueOperatorToken({
      issuerKeyPem: ca.keyPem,
      subject: "alice",
      callerPublicKey: caller.publicJwk as unknown as JsonWebKey,
      actions: ["*"],
      nodes: "*",
      checks: "*",
      ttlMs: 3_600_000,
      now: Date.now(),
    });
    await Deno.writeTextFile(`${dir}/op.jwt`, token);
    await Deno.writeTextFile(`${dir}/op.key`, caller.privatePem);

    const nodes = await connectBroker(brokerOpts);
    const seen: Seen[] = [];
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const checksOf = (id: string) => ({
      checks: [{
        name: "web",
        state: id.startsWith("db") ? "CRITICAL" : "OK",
        version: "1.0.0",
        start_time: 1,
        status: { annotations: { team: id.startsWith("db") ? "dba" : "web" } },
      }],
    });
    const subs = ["web-1.example.com", "web-2.example.com", "db-1.example.com"].flatMap((id) => {
      const replay = new ReplayCache();
      const handle = async (
        m: { subject: string; data: Uint8Array; respond?(d: Uint8Array): void },
      ) => {
        const raw = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
        const auth = await authenticateRequest(m.data, {
          trust: [{ kind: "fleet-ca", certPem: ca.certPem }],
          now: Date.now(),
          seen: replay,
          node: id,
        });
        seen.push({
          node: id,
          subject: m.subject,
          action: String(raw.action),
          target: String(raw.target),
          auth: auth.ok ? `ok ${auth.caller}` : `${auth.step}: ${auth.reason}`,
        });
        let reply: Record<string, unknown>;
        if (!auth.ok) {
          reply = { ok: false, identity: id, error: { code: auth.code, reason: auth.reason } };
        } else if (id === "web-2.example.com" && auth.request.action !== "checks") {
          reply = {
            ok: false,
            identity: id,
            error: { code: "AUTHZ_DENIED", reason: `action ${auth.request.action} not allowed` },
          };
        } else if (auth.request.action === "checks") {
          reply = { ok: true, identity: id, result: checksOf(id), extra: "ignored" };
        } else {
          const names = (auth.request.args as { checks?: string[] }).checks ?? ["web"];
          reply = {
            ok: true,
            identity: id,
            result: { transitioned: names, skipped: [], failed: [] },
          };
        }
        const send = () => m.respond?.(new TextEncoder().encode(JSON.stringify(reply)));
        if (id.startsWith("db")) {
          const timer = setTimeout(() => {
            timers.delete(timer);
            try {
              send();
            } catch { /* the test may be over */ }
          }, SLOW_MS);
          timers.add(timer);
        } else send();
      };
      const token = id.replaceAll(".", "_");
      return [
        nodes.bus.subscribe("scout.api._all.>", (m) => void handle(m)),
        nodes.bus.subscribe(`scout.api.${token}.>`, (m) => void handle(m)),
      ];
    });
    await nodes.bus.flush();

    const base = [
      "--fleet",
      ...brokerArgs(server.url, pki),
      "--token",
      `${dir}/op.jwt`,
      "--key",
      `${dir}/op.key`,
    ];
    const deps = { ...realFleetDeps, isTerminal: () => false };
    const run = async (action: "checks" | "trigger", extra: string[]) => {
      await new Promise((res) => setTimeout(res, 100)); // requests of the last run settle
      seen.length = 0;
      const io = captureIo();
      const started = Date.now();
      const code = await runFleet(action, [...base, ...extra], io, deps);
      return { code, io, ms: Date.now() - started };
    };

    try {
      await t.step(
        "_all: gathers until the deadline; the late node is left out (no registry to miss it)",
        async () => {
          const r = await run("checks", ["--timeout", TIMEOUT, "--json"]);
          equal(r.code, 0, r.io.stderr);
          const out = JSON.parse(r.io.stdout);
          deepEqual(out.map((o: { identity: string }) => o.identity), [
            "web-1.example.com",
            "web-2.example.com",
          ]);
          deepEqual(Object.keys(out[0]), ["identity", "ok", "result", "error"]);
          deepEqual(out[0].result, checksOf("web-1.example.com"));
          ok(r.ms >= 550 && r.ms < SLOW_MS + 2000, `took ${r.ms} ms`);
          // Every node got one request on the _all subject, each authenticated by the node.
          await new Promise((res) => setTimeout(res, 50));
          deepEqual(seen.map((s) => s.node).sort(), [
            "db-1.example.com",
            "web-1.example.com",
            "web-2.example.com",
          ]);
          for (const s of seen) {
            equal(s.subject, "scout.api._all.checks");
            equal(s.target, "_all");
            equal(s.auth, "ok alice");
          }
        },
      );

      await t.step("--expect N stops as soon as N nodes answered", async () => {
        const r = await run("checks", ["--expect", "2", "--timeout", "5s"]);
        equal(r.code, 0, r.io.stderr);
        ok(r.ms < 2_000, `took ${r.ms} ms`);
        ok(/web-1\.example\.com +ok +1 check: 1 OK/.test(r.io.stdout), r.io.stdout);
      });

      await t.step(
        "a plain --identity goes to that node's subject only and waits for it",
        async () => {
          const r = await run("checks", [
            "--identity",
            "db-1.example.com",
            "--timeout",
            "5s",
            "--json",
          ]);
          equal(r.code, 0, r.io.stderr);
          ok(r.ms >= SLOW_MS - 100 && r.ms < 4_000, `took ${r.ms} ms`);
          deepEqual(seen.map((s) => [s.node, s.subject, s.target, s.auth]), [
            [
              "db-1.example.com",
              "scout.api.db-1_example_com.checks",
              "db-1.example.com",
              "ok alice",
            ],
          ]);
          equal(JSON.parse(r.io.stdout)[0].result.checks[0].state, "CRITICAL");
        },
      );

      await t.step("a slow node beyond --timeout is reported as NO_REPLY, exit 1", async () => {
        const r = await run("checks", [
          "--identity",
          "db-1.example.com",
          "--timeout",
          "300ms",
          "--json",
        ]);
        equal(r.code, 1);
        deepEqual(JSON.parse(r.io.stdout), [{
          identity: "db-1.example.com",
          ok: false,
          result: null,
          error: { code: "NO_REPLY", reason: "no answer within 300 ms" },
        }]);
        ok(r.ms < 1_500, `took ${r.ms} ms`);
      });

      await t.step(
        "an identity nobody listens on ends at once with no answer, exit 1",
        async () => {
          const r = await run("checks", ["--identity", "nobody.example.com", "--timeout", "5s"]);
          equal(r.code, 1);
          ok(r.ms < 2_000, `no-responders should end early, took ${r.ms} ms`);
          ok(/failed nobody\.example\.com: NO_REPLY/.test(r.io.stderr), r.io.stderr);
        },
      );

      await t.step("the identity glob filters _all replies client-side", async () => {
        const r = await run("checks", ["--identity", "web-*", "--timeout", TIMEOUT, "--json"]);
        equal(r.code, 0, r.io.stderr);
        deepEqual(JSON.parse(r.io.stdout).map((o: { identity: string }) => o.identity), [
          "web-1.example.com",
          "web-2.example.com",
        ]);
      });

      await t.step(
        "trigger on a glob: discovery first, then the action only to matches; a refusal exits 1",
        async () => {
          const r = await run("trigger", [
            "web",
            "--identity",
            "web-*",
            "--timeout",
            TIMEOUT,
            "--json",
          ]);
          equal(r.code, 1);
          const out = JSON.parse(r.io.stdout);
          deepEqual(out, [
            {
              identity: "web-1.example.com",
              ok: true,
              result: { transitioned: ["web"], skipped: [], failed: [] },
              error: null,
            },
            {
              identity: "web-2.example.com",
              ok: false,
              result: null,
              error: { code: "AUTHZ_DENIED", reason: "action trigger not allowed" },
            },
          ]);
          await new Promise((res) => setTimeout(res, 50));
          const triggers = seen.filter((s) => s.action === "trigger")
            .map((s) => [s.node, s.subject, s.target, s.auth]).sort();
          deepEqual(triggers, [
            [
              "web-1.example.com",
              "scout.api.web-1_example_com.trigger",
              "web-1.example.com",
              "ok alice",
            ],
            [
              "web-2.example.com",
              "scout.api.web-2_example_com.trigger",
              "web-2.example.com",
              "ok alice",
            ],
          ]);
        },
      );

      await t.step(
        "trigger with --annotation and --expect acts on the matching node only, exit 0",
        async () => {
          const r = await run("trigger", [
            "--annotation",
            "team=dba",
            "--expect",
            "3",
            "--timeout",
            "5s",
          ]);
          equal(r.code, 0, r.io.stderr);
          ok(/db-1\.example\.com +ok +1 transitioned \(web\)/.test(r.io.stdout), r.io.stdout);
          await new Promise((res) => setTimeout(res, 50));
          deepEqual(seen.filter((s) => s.action === "trigger").map((s) => s.node), [
            "db-1.example.com",
          ]);
        },
      );

      await t.step(
        "--hub: waits exactly for the hub's fresh nodes (the late one too), a silent one fails",
        async () => {
          // The hub's node list (GET /api/v1/nodes), as the hub serves it.
          let listed = ["web-1.example.com", "web-2.example.com", "db-1.example.com"];
          const hub = Deno.serve(
            { hostname: "127.0.0.1", port: 0, onListen: () => {} },
            () =>
              Response.json({
                nodes: [
                  ...listed.map((identity) => ({ identity, stale: false })),
                  { identity: "old-1.example.com", stale: true },
                ],
              }),
          );
          try {
            const url = `http://127.0.0.1:${hub.addr.port}`;
            const all = await run("checks", ["--hub", url, "--timeout", "10s"]);
            equal(all.code, 0, all.io.stderr);
            ok(all.ms >= SLOW_MS && all.ms < 5_000, `waited for db-1 only: ${all.ms} ms`);
            match(all.io.stdout, /db-1\.example\.com +ok/);
            listed = [...listed, "gone-1.example.com"];
            const missing = await run("checks", ["--hub", url, "--timeout", "2s"]);
            equal(missing.code, 1, missing.io.stderr);
            match(missing.io.stderr, /failed gone-1\.example\.com: NO_REPLY/);
            ok(!/old-1/.test(missing.io.stdout + missing.io.stderr), "stale: not waited for");
            match(missing.io.stderr, /not waiting for 1 node the hub lists as stale/);
          } finally {
            await hub.shutdown();
          }
        },
      );
    } finally {
      for (const timer of timers) clearTimeout(timer);
      for (const s of subs) s.unsubscribe();
      await nodes.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
