/**
 * `scout watch` and `scout status` against a real nats-server (mutual TLS, JetStream) and hub:
 * events published as an agent does are printed live with the filters applied (text and JSON
 * lines), invalid ones are counted; the hub's view comes out as the fleet and node tables and as
 * JSON; an unknown node exits 1 and an unreachable hub exits 2 with a hint.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { cli } from "../src/cli/mod.ts";
import { statusCommand } from "../src/cli/status.ts";
import { makeWatchCommand } from "../src/cli/watch.ts";
import {
  type NagiosStatus,
  parseEvent,
  type ScoutEvent,
  scoutSubject,
  transitionEvent,
} from "../src/events.ts";
import { type HubHandle, startHub } from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, connectBroker } from "../src/transport/mod.ts";
import { brokerArgs, freePort, SKIP_NATS, startTestBroker } from "./_nats.ts";
import { testNagios, testRef } from "./_events.ts";
import { captureIo } from "./fakes/io.ts";
import { waitUntil } from "./_wait.ts";

const ref = testRef;

function nagios(identity: string, machine: string, status: NagiosStatus): ScoutEvent {
  return testNagios(identity, machine, status, {
    output: `${machine} is ${status} | v=1\nsecond line`,
  });
}

function transition(identity: string, machine: string, from: string, to: string): ScoutEvent {
  return transitionEvent(ref(identity, machine), { transition: to.toLowerCase(), from, to }, {
    eventId: crypto.randomUUID(),
    timeMs: Date.now(),
  });
}

/** Publishes as an agent does: durable publish on the node's own subject, id as Nats-Msg-Id. */
async function send(b: Broker, ev: ScoutEvent): Promise<void> {
  const data = new TextEncoder().encode(JSON.stringify(ev));
  await b.stream.publish(scoutSubject(ev.subject, ev), data, { msgId: ev.id });
}

/**
 * Runs `scout watch` in-process until it printed `lines` lines, publishing `events` once its
 * subscription is in place; returns the exit code and what it printed.
 */
async function watch(
  args: string[],
  lines: number,
  publish: () => Promise<void>,
): Promise<{ code: number; stdout: string[]; stderr: string }> {
  const stop = new AbortController();
  const ready = Promise.withResolvers<void>();
  const io = captureIo();
  const out: string[] = [];
  io.out = (t) => {
    out.push(...t.split("\n").filter((l) => l !== ""));
    if (out.length >= lines) stop.abort();
  };
  const cmd = makeWatchCommand({
    stop: stop.signal,
    onReady: () => ready.resolve(),
    colour: false,
    signals: false,
  });
  const running = cmd.run(args, io);
  running.catch(() => ready.resolve());
  await ready.promise;
  await publish();
  const guard = setTimeout(() => stop.abort(), 15_000);
  try {
    const code = await running;
    return { code, stdout: out, stderr: io.stderr };
  } finally {
    clearTimeout(guard);
  }
}

const CLOCK = "\\d{2}:\\d{2}:\\d{2}";

Deno.test({
  name: "scout watch and scout status against a broker and a hub",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "scout-watch-" });
    const { pki, server, brokerOpts } = await startTestBroker(dir, "watch-test");
    let hub: HubHandle | null = null;
    let agent: Broker | null = null;
    try {
      hub = await startHub({
        broker: brokerOpts,
        listen: "127.0.0.1:0",
        staleAfterMs: 60_000,
        stateDir: null,
        logger: nullLogger,
      });
      const a = agent = await connectBroker({ ...brokerOpts, name: "fake-agent" });
      const b = brokerArgs(server.url, pki);

      await t.step(
        "watch prints transitions and results, filtered, and counts invalid events",
        async () => {
          const r = await watch([...b, "--node", "web1", "--check", "disk"], 2, async () => {
            await send(a, transition("web1.example", "disk", "OK", "CRITICAL"));
            await send(a, nagios("web1.example", "load", "OK")); // other check
            await send(a, nagios("db1.example", "disk", "WARNING")); // other node
            a.bus.publish(
              "scout.node.web1_example.machine.transition",
              new TextEncoder().encode("{"),
            );
            await send(a, nagios("web1.example", "disk", "CRITICAL"));
          });
          equal(r.code, 0, r.stderr);
          equal(r.stdout.length, 2, r.stdout.join("\n"));
          match(r.stdout[0]!, new RegExp(`^${CLOCK} web1\\.example disk OK => CRITICAL$`));
          match(
            r.stdout[1]!,
            new RegExp(`^${CLOCK} CRITICAL web1\\.example disk: disk is CRITICAL$`),
          );
          match(r.stderr, /ignored 1 invalid event/);
        },
      );

      await t.step("watch --json --status prints parseable CloudEvents as JSON lines", async () => {
        const r = await watch([...b, "--json", "--status", "critical"], 2, async () => {
          await send(a, nagios("web1.example", "disk", "OK")); // status filtered
          await send(a, transition("web1.example", "disk", "CRITICAL", "OK"));
          await send(a, nagios("db1.example", "disk", "CRITICAL"));
        });
        equal(r.code, 0, r.stderr);
        const evs = r.stdout.map((l) => parseEvent(JSON.parse(l)));
        deepEqual(evs.map((e) => [e.type, e.subject]), [
          ["io.choria.machine.v1.transition", "web1.example"],
          ["io.choria.machine.watcher.nagios.v1.state", "db1.example"],
        ]);
        equal(evs[1]!.data["status"], "CRITICAL");
      });

      await t.step("watch --transitions-only", async () => {
        const r = await watch([...b, "--transitions-only", "--node", "db1"], 1, async () => {
          await send(a, nagios("db1.example", "disk", "CRITICAL"));
          await send(a, transition("web1.example", "disk", "OK", "WARNING"));
          await send(a, transition("db1.example", "disk", "WARNING", "CRITICAL"));
        });
        equal(r.code, 0, r.stderr);
        deepEqual(r.stdout.map((l) => l.slice(9)), ["db1.example disk WARNING => CRITICAL"]);
      });

      await t.step("watch refuses a bad status and a broker without TLS", async () => {
        const io = captureIo();
        equal(await cli(["watch", ...b, "--status", "FINE"], io), 2);
        match(io.stderr, /unknown status "FINE"/);
        const io2 = captureIo();
        equal(await cli(["watch", "--broker", server.url], io2), 2);
        match(io2.stderr, /needs TLS/);
      });

      await t.step(
        "scout watch under -P=agent prints, and SIGINT stops it with exit 0",
        async () => {
          const root = new URL("../", import.meta.url).pathname;
          const child = new Deno.Command(Deno.execPath(), {
            args: ["run", "--quiet", "-P=agent", "main.ts", "watch", ...b],
            cwd: root,
            env: { NO_COLOR: "1" },
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let text = "";
          const got = (async () => {
            while (!text.includes("\n")) {
              const { value, done } = await reader.read();
              if (done) return;
              text += value;
            }
          })();
          // The child subscribes some time after it starts: publish until it prints a line.
          let printed = false;
          got.then(() => printed = true);
          const end = Date.now() + 20_000;
          while (!printed && Date.now() < end) {
            await send(a, nagios("web1.example", "load", "OK"));
            await new Promise((r) => setTimeout(r, 200));
          }
          child.kill("SIGINT");
          const [status, err] = await Promise.all([
            child.status,
            new Response(child.stderr).text(),
            (async () => {
              for (;;) {
                const { done } = await reader.read();
                if (done) return;
              }
            })(),
          ]);
          ok(printed, "the child printed a line");
          match(text, new RegExp(`^${CLOCK} OK web1\\.example load: load is OK\\n`));
          equal(status.code, 0, err);
          equal(err, "");
        },
      );

      const h = hub;
      await waitUntil("the hub's view", () => {
        const web = h.view.nodes.get("web1.example")?.checks;
        const db = h.view.nodes.get("db1.example")?.checks;
        return web?.get("disk")?.status === "OK" && web.get("disk")?.state === "WARNING" &&
          web.get("load")?.status === "OK" &&
          db?.get("disk")?.status === "CRITICAL" && db.get("disk")?.state === "CRITICAL";
      });

      await t.step("status prints the fleet table and --json", async () => {
        const io = captureIo({ SCOUT_HUB: h.url });
        equal(await cli(["status"], io), 0, io.stderr);
        const lines = io.stdout.trimEnd().split("\n");
        match(lines[0]!, /^NODE\s+CHECKS\s+OK\s+WARNING\s+CRITICAL\s+UNKNOWN\s+LAST SEEN\s+STALE$/);
        match(lines[1]!, /^db1\.example\s+1\s+0\s+0\s+1\s+0\s+\d+s ago\s+no$/);
        match(lines[2]!, /^web1\.example\s+2\s+2\s+0\s+0\s+0\s+\d+s ago\s+no$/);
        const jio = captureIo();
        equal(await statusCommand.run(["--hub", h.url, "--json"], jio), 0);
        const nodes = JSON.parse(jio.stdout) as { identity: string; checks: number }[];
        deepEqual(nodes.map((n) => [n.identity, n.checks]), [["db1.example", 1], [
          "web1.example",
          2,
        ]]);
      });

      await t.step("status NODE prints its checks and --json", async () => {
        const io = captureIo();
        equal(await cli(["status", "web1.example", "--hub", h.url], io), 0, io.stderr);
        const lines = io.stdout.trimEnd().split("\n");
        match(lines[0]!, /^NAME\s+STATE\s+STATUS\s+LAST RESULT\s+OUTPUT$/);
        match(lines[1]!, /^disk\s+WARNING\s+OK\s+\d+s ago\s+disk is OK$/);
        match(lines[2]!, /^load\s+-\s+OK\s+\d+s ago\s+load is OK$/);
        const jio = captureIo();
        equal(await cli(["status", "db1.example", "--hub", h.url, "--json"], jio), 0);
        const checks = JSON.parse(jio.stdout) as { check: string; status: string }[];
        deepEqual(checks.map((c) => [c.check, c.status]), [["disk", "CRITICAL"]]);
      });

      await t.step("status of an unknown node exits 1", async () => {
        const io = captureIo();
        equal(await cli(["status", "nope.example", "--hub", h.url], io), 1);
        match(io.stderr, /no node "nope\.example"/);
        match(io.stderr, /hint:/);
      });
    } finally {
      await agent?.close();
      await hub?.stop();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("scout status: an unreachable hub exits 2 with a hint", async () => {
  const io = captureIo({ SCOUT_HUB: `http://127.0.0.1:${freePort()}` });
  equal(await cli(["status"], io), 2);
  match(io.stderr, /cannot reach the hub at http:\/\/127\.0\.0\.1:\d+/);
  match(io.stderr, /hint: start the hub/);
  const bad = captureIo();
  equal(await cli(["status", "--hub", "ftp://x"], bad), 2);
  ok(bad.stderr.includes("not an http(s) URL"));
});

Deno.test("scout watch and status answer --help", async () => {
  for (const c of ["watch", "status"]) {
    const io = captureIo();
    equal(await cli([c, "--help"], io), 0);
    ok(io.stdout.includes(`scout ${c}`), c);
  }
});
