/**
 * `scout push` live: the real command (pushCommand.run with flags) against a real nats-server,
 * with an in-process agent watching its key: push FILE --to IDENTITY, --list, --show,
 * --rollback (the previous checks come back under a higher sequence), --remove (a signed
 * tombstone: the pushed checks are gone), and a push by an operator whose token lacks `push`
 * is refused by the node and reported in a refused event.
 */
import { fleetAgentConfig, heartbeatChecks } from "./_fleet_agent.ts";
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { type AgentHandle, startAgent } from "../src/agent.ts";
import { pushCommand } from "../src/cli/push.ts";
import type { ScoutEvent } from "../src/events.ts";
import { makeTestCa } from "../src/provisioning/_testing.ts";
import { nodeKey } from "../src/push/mod.ts";
import { generateCallerKeyPair, issueOperatorToken } from "../src/rpc/mod.ts";
import type { Logger } from "../src/runtime/mod.ts";
import { brokerArgs, makePki, SKIP_NATS, startNatsServer } from "./_nats.ts";
import { captureIo } from "./fakes/io.ts";
import { waitUntil } from "./_wait.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

Deno.test({
  name: "scout push live: push, list, show, rollback, remove; a token without push is refused",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-push-cli-" });
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
    const fleetCa = await makeTestCa("Scout Fleet CA");
    const node = "web1.example";
    const key = nodeKey(node);
    const events: ScoutEvent[] = [];
    const pushEvents = (outcome: "applied" | "refused") =>
      events.filter((e) => e.type === `io.scout.push.v1.${outcome}`);
    let agent: AgentHandle | null = null;
    try {
      // The operator's files, as `scout-hub token operator` writes them.
      const keys = await generateCallerKeyPair();
      await Deno.writeTextFile(`${dir}/op.key`, keys.privatePem);
      const tokenFile = async (name: string, actions: string[]) => {
        const token = await issueOperatorToken({
          issuerKeyPem: fleetCa.keyPem,
          subject: "alice",
          callerPublicKey: keys.publicJwk,
          actions,
          nodes: "web*",
          checks: "*",
          ttlMs: 3_600_000,
          now: Date.now() - 1000,
        });
        await Deno.writeTextFile(`${dir}/${name}.jwt`, token + "\n");
        return `${dir}/${name}.jwt`;
      };
      const pusher = await tokenFile("pusher", ["push"]);
      const reader = await tokenFile("reader", ["checks"]);
      const broker = [
        ...brokerArgs(server.url, pki),
      ];
      const push = async (args: string[], token = pusher) => {
        const io = captureIo();
        const code = await pushCommand.run(
          [...args, ...broker, "--token", token, "--key", `${dir}/op.key`],
          io,
        );
        return { code, out: io.stdout, err: io.stderr };
      };

      const base = `${dir}/${node}`;
      await Deno.mkdir(`${base}/checks`, { recursive: true });
      await Deno.writeTextFile(`${base}/checks/local.yaml`, heartbeatChecks("local_beat"));
      agent = await startAgent(
        fleetAgentConfig({
          identity: node,
          base,
          url: server.url,
          pki,
          trust: [{ text: fleetCa.certPem, where: "fleet-ca.pem" }],
        }),
        { logger: quiet, onEvent: (e) => events.push(e) },
      );
      const a = agent;
      const names = () => a.manager.list(false).map((m) => m.name).sort().join(",");
      await waitUntil("the local check", () => names() === "local_beat");

      // ---- push FILE --to IDENTITY: the agent runs the checks.
      await Deno.writeTextFile(`${dir}/v1.yaml`, heartbeatChecks("web_a"));
      await Deno.writeTextFile(`${dir}/v2.yaml`, heartbeatChecks("web_a", "web_b"));
      let r = await push([`${dir}/v1.yaml`, "--to", node]);
      equal(r.code, 0, r.err);
      equal(r.out, `${key}: seq 1 stored\n`);
      await waitUntil("web_a runs", () => names() === "local_beat,web_a");
      r = await push([`${dir}/v2.yaml`, "--to", node, "--json"]);
      equal(r.code, 0, r.err);
      deepEqual(JSON.parse(r.out), [{ key, seq: 2, removed: false }]);
      await waitUntil("web_b runs", () => names() === "local_beat,web_a,web_b");

      // ---- --list and --show need no token.
      const read = async (args: string[]) => {
        const io = captureIo();
        const code = await pushCommand.run([...args, ...broker], io);
        return { code, out: io.stdout, err: io.stderr };
      };
      r = await read(["--list", "--json"]);
      equal(r.code, 0, r.err);
      const rows = JSON.parse(r.out);
      equal(rows.length, 1);
      equal(rows[0].key, key);
      equal(rows[0].seq, 2);
      equal(rows[0].author, "alice");
      equal(rows[0].removed, false);
      r = await read(["--list"]);
      equal(r.code, 0, r.err);
      ok(new RegExp(`^${key} +2 +alice +\\d{4}-`, "m").test(r.out), r.out);
      r = await read(["--show", key]);
      equal(r.code, 0, r.err);
      ok(/revision \d+ PUT seq 1 by alice/.test(r.out), r.out);
      ok(/revision \d+ PUT seq 2 by alice/.test(r.out), r.out);
      ok(r.out.endsWith(`---\n${heartbeatChecks("web_a", "web_b")}`), r.out);

      // ---- --rollback: the previous checks come back, under a higher sequence.
      r = await push(["--rollback", "--to", node]);
      equal(r.code, 0, r.err);
      equal(r.out, `${key}: seq 3 stored\n`);
      await waitUntil("web_b gone after rollback", () => names() === "local_beat,web_a");
      await waitUntil(
        "applied seq 3",
        () => pushEvents("applied").some((e) => e.data["seq"] === 3),
      );
      deepEqual(pushEvents("applied").at(-1)!.data["checks"], ["web_a"]);

      // ---- A token without `push`: stored (the bucket cannot judge) but refused by the node.
      r = await push([`${dir}/v2.yaml`, "--to", node], reader);
      equal(r.code, 0, r.err);
      await waitUntil("the refused event", () => pushEvents("refused").length === 1);
      const refused = pushEvents("refused")[0]!;
      equal(refused.data["step"], "rights");
      equal(refused.data["author"], "alice");
      equal(refused.data["seq"], 4);
      ok(/no push right/.test(String(refused.data["reason"])), String(refused.data["reason"]));
      equal(names(), "local_beat,web_a", "the refused bundle changed the checks");

      // ---- --rollback --seq: back to the last bundle the node applied (3), not the refused 4.
      r = await push(["--rollback", "--seq", "3", "--to", node]);
      equal(r.code, 0, r.err);
      equal(r.out, `${key}: seq 5 stored\n`);
      await waitUntil(
        "applied seq 5",
        () => pushEvents("applied").some((e) => e.data["seq"] === 5),
      );
      deepEqual(pushEvents("applied").at(-1)!.data["checks"], ["web_a"]);
      await rejects(
        push(["--rollback", "--seq", "99", "--to", node]),
        /has no bundle with sequence 99/,
      );

      // ---- --remove: a signed tombstone; the pushed checks are gone.
      r = await push(["--remove", "--to", node]);
      equal(r.code, 0, r.err);
      equal(r.out, `${key}: seq 6 (tombstone) stored\n`);
      await waitUntil("pushed checks removed", () => names() === "local_beat");
      await waitUntil(
        "tombstone applied event",
        () => pushEvents("applied").some((e) => e.data["seq"] === 6 && e.data["removed"] === true),
      );
      r = await read(["--list", "--json"]);
      equal(JSON.parse(r.out)[0].removed, true);
      deepEqual(
        pushEvents("applied").map((e) => e.data["seq"]),
        [1, 2, 3, 5, 6],
        "each applied bundle is reported once",
      );
    } finally {
      await agent?.stop();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
