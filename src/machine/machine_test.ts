import { deepEqual, equal, ok } from "node:assert/strict";
import { loadCheckFile } from "../config/mod.ts";
import type { ScoutEvent } from "../events.ts";
import { nullLogger } from "../runtime/mod.ts";
import { FakeClock } from "../../tests/fakes/clock.ts";
import { FakeRunner } from "../../tests/fakes/runner.ts";
import { fakeWatcherDeps } from "../../tests/fakes/deps.ts";
import { checkMachine, createMachine, type HostedMachine, type MachineSnapshot } from "./mod.ts";

interface Rig {
  clock: FakeClock;
  runner: FakeRunner;
  events: ScoutEvent[];
  machine: HostedMachine;
  changed: { urgent: number; lazy: number };
}

function rig(yaml: string, options: { saved?: MachineSnapshot; splay?: number } = {}): Rig {
  const clock = new FakeClock();
  const runner = new FakeRunner(clock);
  const events: ScoutEvent[] = [];
  const loaded = loadCheckFile(yaml, "t.yaml");
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join("; "));
  const spec = checkMachine(loaded.value[0]!, "/etc/scout/checks");
  const changed = { urgent: 0, lazy: 0 };
  let ids = 0;
  const machine = createMachine(spec, {
    clock,
    logger: nullLogger,
    identity: "node1.example.com",
    emit: (e) => events.push(e),
    newId: () => `id-${++ids}`,
    random: () => options.splay ?? 0,
    noSplay: false,
    changed: (_n, urgent) => urgent ? changed.urgent++ : changed.lazy++,
    watcherDeps: fakeWatcherDeps(clock, runner),
  }, options.saved);
  return { clock, runner, events, machine, changed };
}

const states = (events: ScoutEvent[]) =>
  events.filter((e) => e.type.endsWith("nagios.v1.state")).map((e) => e.data.status);
const transitions = (events: ScoutEvent[]) =>
  events.filter((e) => e.type === "io.choria.machine.v1.transition").map((e) =>
    `${e.data.from_state}>${e.data.to_state}`
  );

const CHECK = `checks:\n  - name: web\n    plugin: check_web\n    interval: 60s\n`;

Deno.test("machine sends no state event before the first check, which comes after the splay", async () => {
  const r = rig(CHECK, { splay: 0.5 });
  r.machine.start();
  await r.clock.advance(29_000);
  equal(r.events.length, 0);
  equal(r.runner.calls.length, 0);
  await r.clock.advance(1_000);
  equal(r.runner.calls.length, 1);
  deepEqual(states(r.events), ["OK"]);
  deepEqual(transitions(r.events), ["UNKNOWN>OK"]);
  await r.machine.stop();
});

Deno.test("machine sends a state event but no transition for a same-state result", async () => {
  const r = rig(CHECK);
  r.machine.start();
  await r.clock.advance(0);
  await r.clock.advance(60_000);
  await r.clock.advance(60_000);
  deepEqual(states(r.events), ["OK", "OK", "OK"]);
  deepEqual(transitions(r.events), ["UNKNOWN>OK"]);
  await r.machine.stop();
});

Deno.test("machine checks on a fixed grid without drift when runs take time", async () => {
  const r = rig(CHECK);
  r.runner.script("check_web", { code: 0, stdout: "OK", takesMs: 700 });
  r.machine.start();
  const t0 = r.clock.now();
  for (let i = 0; i < 10; i++) await r.clock.advance(60_000);
  await r.clock.advance(1_000);
  deepEqual(r.runner.startedAt, Array.from({ length: 11 }, (_, i) => t0 + i * 60_000));
  equal(r.machine.nextRuns().check, t0 + 11 * 60_000);
  await r.machine.stop();
});

Deno.test("machine treats non-OK results as soft until attempts, then hard", async () => {
  const r = rig(
    `checks:\n  - name: web\n    plugin: check_web\n    interval: 60s\n    attempts: 3\n    retry_interval: 10s\n`,
  );
  r.runner.script("check_web", { code: 0, stdout: "OK" }, { code: 2, stdout: "CRITICAL: down" });
  r.machine.start();
  await r.clock.advance(0); // OK, hard
  await r.clock.advance(60_000); // CRITICAL soft 1
  await r.clock.advance(10_000); // CRITICAL soft 2 (retry interval)
  deepEqual(transitions(r.events), ["UNKNOWN>OK"]);
  const soft = r.events.filter((e) => e.data.status === "CRITICAL");
  deepEqual(soft.map((e) => [e.scouthard, e.scoutattempt, e.scoutstate]), [
    [false, 1, "OK"],
    [false, 2, "OK"],
  ]);
  await r.clock.advance(10_000); // CRITICAL hard 3
  deepEqual(transitions(r.events), ["UNKNOWN>OK", "OK>CRITICAL"]);
  equal(r.events.at(-1)!.scouthard, true);
  equal(r.machine.state(), "CRITICAL");
  await r.clock.advance(10_000);
  equal(r.runner.calls.length, 4, "hard state goes back to the regular interval");
  await r.machine.stop();
});

Deno.test("machine moves between problem states at once once a state is hard", async () => {
  const r = rig(
    `checks:\n  - name: web\n    plugin: check_web\n    interval: 60s\n    attempts: 3\n`,
  );
  r.runner.script("check_web", { code: 2 }, { code: 2 }, { code: 2 }, { code: 1 });
  r.machine.start();
  for (let i = 0; i < 4; i++) await r.clock.advance(i === 0 ? 0 : 60_000);
  await r.clock.advance(1_000); // the second transition within a minute waits out the backoff
  deepEqual(transitions(r.events), ["UNKNOWN>CRITICAL", "CRITICAL>WARNING"]);
  await r.machine.stop();
});

Deno.test("trigger runs the check at once through FORCE_CHECK", async () => {
  const r = rig(CHECK);
  r.machine.start();
  await r.clock.advance(0);
  equal(r.runner.calls.length, 1);
  const out = await r.machine.trigger();
  equal(out.kind, "transitioned");
  await r.clock.advance(1_000); // the third transition within a minute waits out the backoff
  equal(r.runner.calls.length, 2);
  deepEqual(transitions(r.events), ["UNKNOWN>OK", "OK>FORCE_CHECK", "FORCE_CHECK>OK"]);
  await r.machine.stop();
});

Deno.test("a check never overlaps itself: a trigger during a slow run waits for it", async () => {
  const r = rig(CHECK);
  r.runner.script("check_web", { code: 0, takesMs: 5_000 });
  r.machine.start();
  await r.clock.advance(1_000);
  equal(r.runner.inFlight, 1);
  await r.machine.trigger();
  await r.clock.advance(1_000);
  equal(r.runner.maxInFlight, 1);
  await r.clock.advance(10_000);
  equal(r.runner.maxInFlight, 1);
  equal(r.runner.calls.length, 2);
  await r.machine.stop();
});

Deno.test("maintenance freezes the state and stops checks until it expires", async () => {
  const r = rig(CHECK);
  r.runner.script("check_web", { code: 2, stdout: "CRITICAL" });
  r.machine.start();
  await r.clock.advance(0);
  const out = await r.machine.maintenance({
    reason: "disk swap",
    untilMs: r.clock.now() + 3_600_000,
  });
  equal(out.kind, "transitioned");
  equal(r.machine.state(), "MAINTENANCE");
  const enter = r.events.at(-1)!;
  equal(enter.scoutmaintreason, "disk swap");
  equal(enter.scoutmaintuntil, Math.floor((r.clock.now() + 3_600_000) / 1000));
  const before = r.runner.calls.length;
  await r.clock.advance(3_599_000);
  equal(r.runner.calls.length, before, "no checks in maintenance");
  equal((await r.machine.trigger()).kind, "skipped");
  await r.clock.advance(1_000);
  equal(r.runner.calls.length, before + 1, "expiry resumes and re-checks at once");
  await r.clock.advance(1_000);
  deepEqual(transitions(r.events).slice(-3), [
    "CRITICAL>MAINTENANCE",
    "MAINTENANCE>UNKNOWN",
    "UNKNOWN>CRITICAL",
  ]);
  await r.machine.stop();
});

Deno.test("resume goes to UNKNOWN and re-checks at once", async () => {
  const r = rig(CHECK);
  r.machine.start();
  await r.clock.advance(0);
  await r.machine.maintenance({ reason: "", untilMs: null });
  await r.clock.advance(600_000);
  const n = r.runner.calls.length;
  equal((await r.machine.resume()).kind, "transitioned");
  await r.clock.advance(1_000);
  equal(r.runner.calls.length, n + 1);
  equal(r.machine.state(), "OK");
  equal((await r.machine.resume()).kind, "skipped");
  await r.machine.stop();
});

Deno.test("maintenance and its expiry survive a restart through the snapshot", async () => {
  const a = rig(CHECK);
  a.machine.start();
  await a.clock.advance(0);
  const until = a.clock.now() + 60_000;
  await a.machine.maintenance({ reason: "r", untilMs: until });
  const snap = JSON.parse(JSON.stringify(a.machine.snapshot())) as MachineSnapshot;
  await a.machine.stop();
  const b = rig(CHECK, { saved: snap });
  b.machine.start();
  equal(b.machine.state(), "MAINTENANCE");
  deepEqual(b.machine.info().maintenance, { reason: "r", untilMs: until });
  equal(b.machine.info().nagios?.checksCount, 1, "history and counters come back");
  await b.clock.advance(61_000);
  equal(b.machine.state(), "OK");
  await b.machine.stop();
});

Deno.test("remediation runs on entering CRITICAL, and its success re-checks through UNKNOWN", async () => {
  const r = rig(
    `checks:\n  - name: web\n    plugin: check_web\n    interval: 60s\n    remediate:\n      command: fix.sh\n      interval: 15m\n`,
  );
  r.runner.script("check_web", { code: 2, stdout: "CRITICAL" }, { code: 0, stdout: "OK" });
  r.runner.script("fix.sh", { code: 0 });
  r.machine.start();
  await r.clock.advance(0);
  await r.clock.advance(100);
  equal(r.runner.callsTo("fix.sh").length, 1);
  deepEqual(transitions(r.events), ["UNKNOWN>CRITICAL", "CRITICAL>UNKNOWN", "UNKNOWN>OK"]);
  equal(r.runner.callsTo("check_web").length, 2, "re-checked at once after remediation");
  await r.machine.stop();
});

Deno.test("a remediation that does not help runs again only after its interval", async () => {
  const r = rig(
    `checks:\n  - name: web\n    plugin: check_web\n    interval: 60s\n    remediate:\n      command: fix.sh\n      interval: 15m\n`,
  );
  r.runner.script("check_web", { code: 2, stdout: "CRITICAL" });
  r.runner.script("fix.sh", { code: 0 });
  r.machine.start();
  for (let i = 0; i < 10; i++) await r.clock.advance(60_000);
  equal(r.runner.callsTo("fix.sh").length, 1);
  await r.clock.advance(6 * 60_000);
  equal(r.runner.callsTo("fix.sh").length, 2);
  await r.machine.stop();
});

Deno.test("plugin exit codes outside 0-3 give UNKNOWN with the reason", async () => {
  const r = rig(CHECK);
  r.runner.script("check_web", { code: 4, stdout: "weird" });
  r.machine.start();
  await r.clock.advance(0);
  const ev = r.events.find((e) => e.type.endsWith("nagios.v1.state"))!;
  equal(ev.data.status, "UNKNOWN");
  ok(String(ev.data.output).includes("exited with code 4"), String(ev.data.output));
  await r.machine.stop();
});

Deno.test("history keeps the last 15 results", async () => {
  const r = rig(CHECK);
  r.machine.start();
  for (let i = 0; i < 20; i++) await r.clock.advance(i === 0 ? 0 : 60_000);
  const last = r.events.filter((e) => e.type.endsWith("nagios.v1.state")).at(-1)!;
  equal((last.data.history as unknown[]).length, 15);
  await r.machine.stop();
});

Deno.test("the plugin gets only PATH, MACHINE_NAME, MACHINE_WATCHER_NAME and its environment", async () => {
  const r = rig(
    `checks:\n  - name: web\n    plugin: check_web\n    interval: 60s\n    environment:\n      URL: http://x\n`,
  );
  r.machine.start();
  await r.clock.advance(0);
  deepEqual(r.runner.calls[0]!.env, {
    URL: "http://x",
    PATH: "/usr/bin:/bin",
    MACHINE_NAME: "web",
    MACHINE_WATCHER_NAME: "check",
  });
  await r.machine.stop();
});

Deno.test("stop() aborts a running plugin and stops the schedule", async () => {
  const r = rig(CHECK);
  r.runner.script("check_web", { code: 0, takesMs: 50_000 });
  r.machine.start();
  await r.clock.advance(10);
  equal(r.runner.inFlight, 1);
  await r.machine.stop();
  equal(r.runner.inFlight, 0);
  await r.clock.advance(600_000);
  equal(r.runner.calls.length, 1);
});
