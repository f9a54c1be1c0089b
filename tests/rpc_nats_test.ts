/**
 * The node API end to end over a real nats-server: in-process agents in fleet mode answer
 * signed requests on `scout.api.<token>.<action>` and `scout.api._all.<action>` in Choria's
 * field names; attacks are refused with a clear reason, audited, and change nothing.
 */
import { fleetAgentConfig, heartbeatChecks } from "./_fleet_agent.ts";
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type AgentHandle, startAgent } from "../src/agent.ts";
import { issueProvisioningToken } from "../src/provisioning/mod.ts";
import { makeTestCa } from "../src/provisioning/_testing.ts";
import {
  generateCallerKeyPair,
  importCallerPrivateKey,
  issueOperatorToken,
  type RpcAction,
  signRequest,
} from "../src/rpc/mod.ts";
import type { Logger } from "../src/runtime/mod.ts";
import { makePki, SKIP_NATS, startNatsServer } from "./_nats.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const SSO = "https://sso.example.com";
const enc = new TextEncoder();
const dec = new TextDecoder();

type Reply = {
  ok: boolean;
  identity: string;
  id: string | null;
  result?: Record<string, unknown>;
  error?: { code: string; reason: string };
};

Deno.test({
  name: "node API over NATS: Choria-shaped replies, attacks refused and audited, _all, SSO",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-rpc-" });
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
    const fleetCa = await makeTestCa("Scout Fleet CA");
    const evilCa = await makeTestCa("Evil CA");
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const jwks = {
      issuer: SSO,
      audience: "scout",
      keys: [{ ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" }],
    };
    await Deno.writeTextFile(`${dir}/sso.json`, JSON.stringify(jwks));
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      "rules:\n  - effect: allow\n    callers: alice\n    actions: [goss_validate]\n    sent_rules: true\n",
    );
    const agents: AgentHandle[] = [];
    let nc: NatsConnection | null = null;
    try {
      for (const node of ["node1.example", "node2.example", "node3.example"]) {
        const base = `${dir}/${node}`;
        await Deno.mkdir(`${base}/checks`, { recursive: true });
        await Deno.writeTextFile(
          `${base}/checks/beats.yaml`,
          heartbeatChecks("web_a", "web_b", "db_c"),
        );
        agents.push(
          await startAgent(
            fleetAgentConfig({
              identity: node,
              base,
              url: server.url,
              pki,
              trust: [],
              over: {
                rpc: {
                  trust: [
                    { text: fleetCa.certPem, where: "fleet-ca.pem" },
                    { text: await Deno.readTextFile(`${dir}/sso.json`), where: `${dir}/sso.json` },
                  ],
                  policyFile: `${dir}/policy.yaml`,
                  perCallerPerMinute: 30,
                },
              },
            }),
            { logger: quiet },
          ),
        );
      }
      const [agent1] = agents as [AgentHandle, AgentHandle, AgentHandle];
      const auditFile = `${dir}/node1.example/state/audit/rpc.log`;
      nc = await connect({
        servers: server.url.replace("tls://", ""),
        tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
      });
      const keys = await generateCallerKeyPair();
      const privateKey = await importCallerPrivateKey(keys.privatePem);
      const other = await importCallerPrivateKey((await generateCallerKeyPair()).privatePem);
      const now = () => Date.now();
      const token = (o: {
        subject?: string;
        actions?: string[];
        nodes?: string;
        checks?: string;
        ttlMs?: number;
        at?: number;
        ca?: typeof fleetCa;
        issuer?: string;
      } = {}) =>
        issueOperatorToken({
          issuerKeyPem: (o.ca ?? fleetCa).keyPem,
          ...(o.issuer ? { issuer: o.issuer } : {}),
          subject: o.subject ?? "alice",
          callerPublicKey: keys.publicJwk,
          actions: o.actions ?? ["*"],
          nodes: o.nodes ?? "node*",
          checks: o.checks ?? "*",
          ttlMs: o.ttlMs ?? 3_600_000,
          now: o.at ?? now() - 1000,
        });
      const good = await token();
      const signed = async (
        action: string,
        args: Record<string, unknown>,
        o: { token?: string; key?: CryptoKey; target?: string; ts?: number } = {},
      ) =>
        await signRequest({
          action: action as RpcAction as "trigger",
          target: o.target ?? "node1.example",
          args: args as { checks?: string[] },
          token: o.token ?? good,
          privateKey: o.key ?? privateKey,
          now: o.ts ?? now(),
        }) as unknown as Record<string, unknown>;
      const send = async (
        subjectAction: string,
        body: Uint8Array | object,
        node = "node1_example",
      ) => {
        const data = body instanceof Uint8Array ? body : enc.encode(JSON.stringify(body));
        const m = await nc!.request(`scout.api.${node}.${subjectAction}`, data, {
          timeout: 10_000,
        });
        return JSON.parse(dec.decode(m.data)) as Reply;
      };
      const call = async (action: string, args: Record<string, unknown>, o = {}) =>
        await send(action, await signed(action, args, o));
      const auditLines = async () => {
        try {
          return (await Deno.readTextFile(auditFile)).split("\n").filter((l) => l !== "")
            .map((l) => JSON.parse(l) as Record<string, unknown>);
        } catch {
          return [];
        }
      };
      const snapshot = () =>
        agent1.manager.list(false).map((m) => ({
          name: m.name,
          state: m.state,
          maintenance: m.maintenance,
          runs: m.nagios?.checksCount ?? null,
        }));

      // Wait for the heartbeats' first runs and the subscriptions.
      let first: Reply | null = null;
      for (let i = 0; i < 100 && first === null; i++) {
        try {
          const r = await call("checks", {});
          if ((r.result?.["checks"] as unknown[] | undefined)?.length === 3) first = r;
        } catch { /* not subscribed yet */ }
        if (first === null) await new Promise((r) => setTimeout(r, 100));
      }
      ok(first, "the agent answers checks");

      // ---- Allowed paths, Choria's field names.
      ok(first.ok);
      equal(first.identity, "node1.example");
      const checks = first.result!["checks"] as Record<string, unknown>[];
      deepEqual(Object.keys(checks[0]!).sort(), [
        "name",
        "start_time",
        "state",
        "status",
        "version",
      ]);
      deepEqual(checks.map((c) => c.name), ["db_c", "web_a", "web_b"]);
      const trig = await call("trigger", { checks: ["web_a"] });
      ok(trig.ok, JSON.stringify(trig));
      deepEqual(trig.result!["transitioned"], ["web_a"]);
      deepEqual(trig.result!["failed"], []);
      deepEqual(trig.result!["skipped"], []);
      const maint = await call("maintenance", {
        checks: ["web_b"],
        for_ms: 3_600_000,
        reason: "patching",
      });
      ok(maint.ok, JSON.stringify(maint));
      deepEqual(maint.result!["transitioned"], ["web_b"]);
      const inMaint = agent1.manager.list(false).find((m) => m.name === "web_b")!;
      equal(inMaint.state, "MAINTENANCE");
      const mi = (inMaint as unknown as { maintenance: { reason: string; untilMs: number } })
        .maintenance;
      equal(mi.reason, "patching");
      ok(Math.abs(mi.untilMs - (Date.now() + 3_600_000)) < 60_000, String(mi.untilMs));
      const resume = await call("resume", { checks: ["web_b"] });
      ok(resume.ok, JSON.stringify(resume));
      deepEqual(resume.result!["transitioned"], ["web_b"]);
      notMaintenance: {
        const state = agent1.manager.list(false).find((m) => m.name === "web_b")!.state;
        ok(state !== "MAINTENANCE", state);
        break notMaintenance;
      }
      const states = await call("machine_states", {});
      ok(states.ok);
      equal((states.result!["machine_names"] as string[]).length, 3);
      const st = Object.values(
        states.result!["states"] as Record<string, Record<string, unknown>>,
      )[0]!;
      for (
        const k of [
          "name",
          "version",
          "state",
          "path",
          "id",
          "start_time",
          "available_transitions",
          "scout",
        ]
      ) {
        ok(k in st, `MachineState has ${k}`);
      }
      // A token limited to web_* sees only those checks.
      const limited = await call("checks", {}, { token: await token({ checks: "web_*" }) });
      deepEqual((limited.result!["checks"] as { name: string }[]).map((c) => c.name), [
        "web_a",
        "web_b",
      ]);

      // SSO: an RS256 token verified through the JWKS file.
      const sso = await new SignJWT({
        purpose: "scout-operator",
        sub: "bob@example.com",
        aud: "scout",
        cnf: { jwk: keys.publicJwk },
        scout_actions: ["trigger"],
        scout_nodes: "*",
        scout_checks: "web_*",
      }).setProtectedHeader({ alg: "RS256", kid: "rsa-1", typ: "JWT" }).setIssuer(SSO)
        .setIssuedAt().setExpirationTime("1h").sign(rsa.privateKey);
      const ssoTrig = await call("trigger", { checks: ["web_a"] }, { token: sso });
      ok(ssoTrig.ok, JSON.stringify(ssoTrig));
      deepEqual(ssoTrig.result!["transitioned"], ["web_a"]);

      // _all reaches all three agents, each answering on the reply subject: with the fleet
      // CA's token, and with the SSO token verified through the JWKS file.
      const NODES = ["node1.example", "node2.example", "node3.example"];
      for (const [label, tok] of [["fleet CA", good], ["SSO", sso]] as const) {
        const inbox = `_INBOX.${crypto.randomUUID()}`;
        const replies: Reply[] = [];
        const sub = nc.subscribe(inbox, {
          callback: (_e, m) => {
            replies.push(JSON.parse(dec.decode(m.data)));
          },
        });
        nc.publish(
          "scout.api._all.checks",
          enc.encode(JSON.stringify(await signed("checks", {}, { target: "_all", token: tok }))),
          { reply: inbox },
        );
        for (let i = 0; i < 100 && replies.length < NODES.length; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        sub.unsubscribe();
        deepEqual(replies.map((r) => r.identity).sort(), NODES, label);
        ok(replies.every((r) => r.ok), `${label}: ${JSON.stringify(replies)}`);
      }

      // ---- Attacks: each refused with a clear reason, audited, and changing nothing.
      // Let the checks the allowed requests triggered settle first.
      let before = snapshot();
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const now2 = snapshot();
        if (JSON.stringify(now2) === JSON.stringify(before)) break;
        before = now2;
      }
      const attack = async (
        name: string,
        send1: () => Promise<Reply>,
        code: string,
        reason: RegExp,
      ) => {
        const n = (await auditLines()).length;
        const r = await send1();
        ok(!r.ok, `${name}: refused (${JSON.stringify(r)})`);
        equal(r.error?.code, code, `${name}: ${JSON.stringify(r.error)}`);
        match(r.error!.reason, reason, name);
        const lines = await auditLines();
        equal(lines.length, n + 1, `${name}: one audit line`);
        const last = lines.at(-1)!;
        ok(last["reason"] !== "" || last["outcome"] !== "ok", `${name}: audited with why`);
        equal(last["id"] ?? r.id, r.id, `${name}: audit line of this request`);
        deepEqual(snapshot(), before, `${name}: machine state unchanged`);
        return name;
      };
      const cases: string[] = [];
      const trigger = { checks: ["web_a"] };
      const withoutToken = await signed("trigger", trigger);
      delete withoutToken["token"];
      cases.push(
        await attack("no token", () => send("trigger", withoutToken), "AUTH_INVALID", /no token/),
      );
      cases.push(
        await attack(
          "forged token",
          async () => call("trigger", trigger, { token: await token({ ca: evilCa }) }),
          "AUTH_INVALID",
          /token refused: bad signature/,
        ),
      );
      cases.push(
        await attack(
          "unknown issuer",
          async () =>
            call("trigger", trigger, { token: await token({ ca: evilCa, issuer: "evil" }) }),
          "AUTH_INVALID",
          /unknown issuer "evil"/,
        ),
      );
      cases.push(
        await attack(
          "expired token",
          async () =>
            call("trigger", trigger, {
              token: await token({ at: now() - 7_200_000, ttlMs: 600_000 }),
            }),
          "AUTH_INVALID",
          /expired/,
        ),
      );
      cases.push(
        await attack(
          "token for other nodes",
          async () => call("trigger", trigger, { token: await token({ nodes: "db-*" }) }),
          "DENIED",
          /token is for nodes "db-\*"/,
        ),
      );
      cases.push(
        await attack(
          "action not allowed",
          async () => call("trigger", trigger, { token: await token({ actions: ["resume"] }) }),
          "DENIED",
          /does not grant action trigger/,
        ),
      );
      cases.push(
        await attack(
          "check not allowed",
          async () =>
            call("trigger", { checks: ["db_c"] }, { token: await token({ checks: "web_*" }) }),
          "DENIED",
          /not allowed: db_c/,
        ),
      );
      cases.push(
        await attack(
          "bad signature",
          () => call("trigger", trigger, { key: other }),
          "AUTH_INVALID",
          /bad signature/,
        ),
      );
      const altered = await signed("trigger", trigger);
      altered["args"] = { checks: ["web_b"] };
      cases.push(
        await attack(
          "body altered after signing",
          () => send("trigger", altered),
          "AUTH_INVALID",
          /bad signature/,
        ),
      );
      const once = await signed("checks", {});
      ok((await send("checks", once)).ok);
      cases.push(
        await attack(
          "replayed request",
          () => send("checks", once),
          "AUTH_INVALID",
          /replayed request/,
        ),
      );
      cases.push(
        await attack(
          "old timestamp",
          () => call("trigger", trigger, { ts: now() - 300_000 }),
          "AUTH_INVALID",
          /timestamp too old/,
        ),
      );
      cases.push(
        await attack(
          "future timestamp",
          () => call("trigger", trigger, { ts: now() + 300_000 }),
          "AUTH_INVALID",
          /timestamp in the future/,
        ),
      );
      const big = await signed("trigger", trigger);
      big["pad"] = "x".repeat(70_000);
      cases.push(
        await attack(
          "oversized request",
          () => send("trigger", big),
          "AUTH_INVALID",
          /request too large/,
        ),
      );
      cases.push(
        await attack(
          "malformed JSON",
          () => send("trigger", enc.encode('{"id": "abc')),
          "AUTH_INVALID",
          /malformed JSON/,
        ),
      );
      const wrongTypes = await signed("trigger", trigger);
      wrongTypes["ts"] = String(wrongTypes["ts"]);
      cases.push(
        await attack(
          "wrong types",
          () => send("trigger", wrongTypes),
          "AUTH_INVALID",
          /malformed request \(ts:/,
        ),
      );
      cases.push(
        await attack(
          "wrong arg types",
          () => call("trigger", { checks: "web_a" }),
          "AUTH_INVALID",
          /malformed args of trigger/,
        ),
      );
      cases.push(
        await attack(
          "unknown action",
          () => call("shutdown", {}),
          "AUTH_INVALID",
          /unknown action "shutdown"/,
        ),
      );
      cases.push(
        await attack(
          "subject/action mismatch",
          async () => send("trigger", await signed("checks", {})),
          "MISMATCH",
          /subject names action "trigger" but the signed request is for "checks"/,
        ),
      );
      cases.push(
        await attack(
          "request for another node",
          () => call("trigger", trigger, { target: "node2.example" }),
          "AUTH_INVALID",
          /request is for node "node2.example"/,
        ),
      );
      cases.push(
        await attack(
          "goss rules with command",
          () =>
            call("goss_validate", {
              yaml_rules: `command:\n  touch ${dir}/pwned:\n    exit-status: 0\n`,
            }),
          "DENIED",
          /command resources are refused in rules sent over RPC/,
        ),
      );
      cases.push(
        await attack(
          "goss rules reading the agent's key through a template",
          () =>
            call("goss_validate", {
              yaml_rules:
                `file:\n  /etc/hostname:\n    exists: true\n    title: '{{ readFile "${dir}/node1.example/state/tls/key.pem" }}'\n`,
            }),
          "FAILED",
          /readFile is refused for untrusted rules/,
        ),
      );
      cases.push(
        await attack(
          "goss rules sent without a policy allowing them",
          async () =>
            call("goss_validate", { yaml_rules: "file:\n  /etc/hostname:\n    exists: true\n" }, {
              token: await token({ subject: "bob" }),
            }),
          "DENIED",
          /sent_rules: true/,
        ),
      );
      cases.push(
        await attack(
          "provisioning token as operator token",
          async () =>
            call("trigger", trigger, {
              token: await issueProvisioningToken({
                caKeyPem: fleetCa.keyPem,
                caCertPem: fleetCa.certPem,
                identityPattern: "*",
                ttlMs: 3_600_000,
                singleUse: false,
                now: new Date(now() - 1000),
                urls: ["https://hub.example.com:8443"],
              }),
            }),
          "AUTH_INVALID",
          /purpose/,
        ),
      );
      // Rate limit: a fresh caller gets 30 requests a minute.
      const mallory = await token({ subject: "mallory" });
      for (let i = 0; i < 30; i++) ok((await call("checks", {}, { token: mallory })).ok);
      cases.push(
        await attack(
          "rate limit exceeded",
          () => call("checks", {}, { token: mallory }),
          "RATE_LIMITED",
          /rate limit exceeded for caller mallory/,
        ),
      );
      ok(cases.length >= 20, `${cases.length} attack cases`);
      let pwned = true;
      await Deno.stat(`${dir}/pwned`).catch(() => pwned = false);
      ok(!pwned, "no command ran");
      // A flood is answered at once (ok or busy), never queued without bound.
      const flooders = await Promise.all(
        [1, 2, 3, 4, 5].map((i) => token({ subject: `flood-${i}` })),
      );
      const started = Date.now();
      const flood = await Promise.all(
        Array.from({ length: 100 }, (_, i) => call("checks", {}, { token: flooders[i % 5] })),
      );
      ok(Date.now() - started < 5_000, "flood answered within 5 s");
      ok(flood.every((r) => r.ok || r.error?.code === "BUSY"), "each ok or busy");
      ok(flood.some((r) => r.ok));
      // Every refusal's audit line names its decision and reason.
      const denied = (await auditLines()).filter((l) => l["decision"] === "deny");
      ok(denied.length >= cases.length - 2);
      ok(denied.every((l) => typeof l["reason"] === "string" && l["reason"] !== ""));
      // The key file was never readable through goss: the agent still runs its checks.
      deepEqual(snapshot(), before);
    } finally {
      await nc?.close();
      for (const a of agents) await a.stop();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
