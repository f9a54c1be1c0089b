import { deepEqual, equal, ok } from "node:assert/strict";
import { loadCheckFile, loadMachineFile } from "../config/mod.ts";
import type { ScoutEvent } from "../events.ts";
import { checkMachine, createMachine } from "../machine/mod.ts";
import { nullLogger } from "../runtime/mod.ts";
import { FakeClock } from "../../tests/fakes/clock.ts";
import { FakeRunner } from "../../tests/fakes/runner.ts";
import { fakeWatcherDeps } from "../../tests/fakes/deps.ts";
import { scheduleWindow, WATCHER_PLUGINS, watcherSchemas } from "./mod.ts";
import { Cron } from "croner";

function machineFrom(yaml: string, clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 2, 0))) {
  const runner = new FakeRunner(clock);
  const events: ScoutEvent[] = [];
  const loaded = loadMachineFile(yaml, "/m/t/machine.yaml", "/m/t", {
    watcherTypes: watcherSchemas(),
  });
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join("; "));
  let n = 0;
  const machine = createMachine(loaded.value, {
    clock,
    logger: nullLogger,
    identity: "node1",
    emit: (e) => events.push(e),
    newId: () => `id-${++n}`,
    random: () => 0,
    noSplay: true,
    changed: () => {},
    watcherDeps: fakeWatcherDeps(clock, runner),
  });
  const moves = () =>
    events.filter((e) => e.type === "io.choria.machine.v1.transition").map((e) =>
      `${e.data.from_state}>${e.data.to_state}`
    );
  return { clock, runner, events, machine, moves };
}

const TIMER = `name: lease
version: 1.0.0
initial_state: IDLE
transitions:
  - { name: take, from: [IDLE], destination: HELD }
  - { name: expire, from: [HELD], destination: IDLE }
watchers:
  - name: lease_timer
    type: timer
    state_match: [HELD]
    fail_transition: expire
    properties: { timer: 30s }
`;

Deno.test("timer watcher fires fail_transition when it expires after entering its state", async () => {
  const { clock, machine, moves, events } = machineFrom(TIMER);
  machine.start();
  await machine.transition("take", "operator");
  await clock.advance(29_000);
  deepEqual(moves(), ["IDLE>HELD"]);
  await clock.advance(1_100); // the second transition within a minute waits out the backoff
  deepEqual(moves(), ["IDLE>HELD", "HELD>IDLE"]);
  const timerEvent = events.find((e) => e.type === "io.choria.machine.watcher.timer.v1.state");
  equal(timerEvent?.data.timer, 30_000_000_000);
  await machine.stop();
});

Deno.test("timer watcher stops when the machine leaves its state", async () => {
  const { clock, machine, moves } = machineFrom(TIMER);
  machine.start();
  await machine.transition("take", "operator");
  await clock.advance(10_000);
  await machine.transition("expire", "operator");
  await clock.advance(60_000);
  deepEqual(moves(), ["IDLE>HELD", "HELD>IDLE"]);
  await machine.stop();
});

const SCHEDULE = `name: window
version: 1.0.0
initial_state: CLOSED
transitions:
  - { name: open, from: [CLOSED], destination: OPEN }
  - { name: close, from: [OPEN], destination: CLOSED }
watchers:
  - name: cron
    type: schedule
    state_match: [CLOSED, OPEN]
    success_transition: open
    fail_transition: close
    properties: { schedules: ["*/5 * * * *"], duration: 1m }
  - name: announce
    type: exec
    state_match: [OPEN]
    properties: { command: ./announce.sh }
`;

Deno.test("schedule watcher opens on the cron time and closes after its duration; exec runs on entering", async () => {
  const { clock, machine, moves, runner } = machineFrom(SCHEDULE);
  machine.start();
  await clock.advance(1_000);
  deepEqual(moves(), []);
  await clock.advance(3 * 60_000); // past 00:05:00
  deepEqual(moves(), ["CLOSED>OPEN"]);
  equal(runner.calls.length, 1, "exec ran on entering OPEN");
  equal(runner.calls[0]!.cmd, "/m/t/./announce.sh");
  equal(runner.calls[0]!.cwd, "/m/t");
  await clock.advance(61_000);
  deepEqual(moves(), ["CLOSED>OPEN", "OPEN>CLOSED"]);
  await machine.stop();
});

Deno.test("scheduleWindow is on within duration after a cron time and says when it changes", () => {
  const crons = [new Cron("0 * * * *", { paused: true })];
  const at = (h: number, m: number) => Date.UTC(2026, 0, 1, h, m);
  const on = scheduleWindow(crons, 10 * 60_000, at(3, 5));
  equal(on.on, true);
  equal(on.nextChangeMs, at(3, 10));
  const off = scheduleWindow(crons, 10 * 60_000, at(3, 30));
  equal(off.on, false);
  equal(off.nextChangeMs, at(4, 0));
});

Deno.test("every watcher plugin has a unique type and a properties schema that rejects junk", () => {
  const types = WATCHER_PLUGINS.map((p) => p.type);
  equal(new Set(types).size, types.length);
  for (const p of WATCHER_PLUGINS) {
    ok(!p.properties.safeParse({ no_such_property: 1 }).success, `${p.type} accepts unknown keys`);
  }
});

Deno.test("schedule watcher refuses a 6-field cron with a hint", () => {
  const schema = watcherSchemas().get("schedule")!;
  const r = schema.safeParse({ schedules: ["* * * * * *"] });
  ok(!r.success);
  ok(r.error.issues[0]!.message.includes("use 5"), r.error.issues[0]!.message);
});

/** A machine hosting the first check of a check file, with a fake clock and runner. */
function hostCheck(text: string) {
  const loaded = loadCheckFile(text, "/etc/scout/checks/t.yaml");
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join("; "));
  const clock = new FakeClock();
  const events: ScoutEvent[] = [];
  const machine = createMachine(checkMachine(loaded.value[0]!, "/etc/scout/checks"), {
    clock,
    logger: nullLogger,
    identity: "node1",
    emit: (e) => events.push(e),
    newId: () => crypto.randomUUID(),
    random: () => 0,
    noSplay: true,
    changed: () => {},
    watcherDeps: fakeWatcherDeps(clock, new FakeRunner(clock)),
  });
  /** Advances the clock until the first nagios state event (at most 500 ms). */
  const firstResult = async () => {
    for (let i = 0; i < 50 && !events.some((e) => e.type.endsWith("nagios.v1.state")); i++) {
      await clock.advance(10);
    }
    return events.findLast((e) => e.type.endsWith("nagios.v1.state"))!;
  };
  return { machine, events, firstResult };
}

async function gossCheck(gossfile: string) {
  const { machine, firstResult } = hostCheck(
    `checks:\n  - name: system\n    builtin: goss\n    gossfile: ${gossfile}\n    interval: 60s\n`,
  );
  machine.start();
  const ev = await firstResult();
  await machine.stop();
  return ev;
}

Deno.test("goss builtin is OK when every test passes, with Choria's output and perfdata", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a`, "hello\n");
  await Deno.writeTextFile(
    `${dir}/goss.yaml`,
    `file:\n  ${dir}/a:\n    exists: true\n    contents: [hello]\n`,
  );
  const ev = await gossCheck(`${dir}/goss.yaml`);
  equal(ev.data.status, "OK", String(ev.data.output));
  ok(
    /^OK: Count: 2, Failed: 0, Duration: [\d.]+s\|checks=2;; failed=0;; runtime=/.test(
      String(ev.data.output),
    ),
  );
  deepEqual((ev.data.perfdata as { label: string }[]).map((p) => p.label), [
    "checks",
    "failed",
    "runtime",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("goss builtin is CRITICAL when a test fails", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/goss.yaml`, `file:\n  ${dir}/missing:\n    exists: true\n`);
  const ev = await gossCheck(`${dir}/goss.yaml`);
  equal(ev.data.status, "CRITICAL");
  ok(String(ev.data.output).startsWith("CRITICAL: Count: 1, Failed: 1"), String(ev.data.output));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("goss builtin is UNKNOWN, saying why, when the gossfile cannot load", async () => {
  const ev = await gossCheck("/nonexistent/goss.yaml");
  equal(ev.data.status, "UNKNOWN");
  ok(
    String(ev.data.output).startsWith("UNKNOWN: goss configuration failed:"),
    String(ev.data.output),
  );
});

Deno.test("a check's listed status is its latest nagios state event's data, built without the CloudEvent", async () => {
  const { machine, firstResult } = hostCheck(
    "checks:\n  - name: beat\n    builtin: heartbeat\n    interval: 60s\n    annotations: { team: ops }\n",
  );
  equal(machine.info(true).status, null, "nothing before the first run");
  machine.start();
  const ev = await firstResult();
  deepEqual(machine.info(true).status, ev.data);
  await machine.stop();
});
