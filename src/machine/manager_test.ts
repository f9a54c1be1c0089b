import { deepEqual, equal, ok } from "node:assert/strict";
import type { ScoutEvent } from "../events.ts";
import { nullLogger } from "../runtime/mod.ts";
import { FakeClock } from "../../tests/fakes/clock.ts";
import { MemoryFs } from "../../tests/fakes/fs.ts";
import { FakeRunner } from "../../tests/fakes/runner.ts";
import { fakeWatcherDeps } from "../../tests/fakes/deps.ts";
import { createManager, type Manager } from "./mod.ts";

function three(argsOfB: string): string {
  return `checks:
  - name: alpha
    plugin: check_a
    interval: 60s
  - name: beta
    plugin: check_b
    arguments: ${argsOfB}
    interval: 60s
  - name: gamma
    plugin: check_c
    interval: 60s
`;
}

function setup(fs = new MemoryFs(), clock = new FakeClock()) {
  const runner = new FakeRunner(clock);
  const events: ScoutEvent[] = [];
  let ids = 0;
  const manager: Manager = createManager({
    fs,
    clock,
    logger: nullLogger,
    identity: "node1",
    emit: (e) => events.push(e),
    newId: () => `id-${++ids}`,
    random: () => 0.5,
    noSplay: false,
    checksDirs: ["/etc/scout/checks"],
    machinesDirs: ["/etc/scout/machines"],
    stateDir: "/var/lib/scout",
    textfileDir: "/prom",
    watcherDeps: fakeWatcherDeps(clock, runner),
  });
  return { fs, clock, runner, events, manager };
}

Deno.test("manager reloads only the edited check: the others keep instance id and next run", async () => {
  const { fs, manager, clock } = setup();
  fs.files.set("/etc/scout/checks/web.yaml", three("-x 1"));
  const first = await manager.reload();
  deepEqual(first.started.sort(), ["alpha", "beta", "gamma"]);
  await clock.advance(5_000);
  const before = Object.fromEntries(manager.list().map((i) => [i.name, i.instanceId]));
  const nextA = manager.get("alpha")!.nextRuns();
  fs.files.set("/etc/scout/checks/web.yaml", three("-x 2"));
  const second = await manager.reload();
  deepEqual(second.stopped, ["beta"]);
  deepEqual(second.started, ["beta"]);
  deepEqual(second.kept.sort(), ["alpha", "gamma"]);
  const after = Object.fromEntries(manager.list().map((i) => [i.name, i.instanceId]));
  equal(after.alpha, before.alpha);
  equal(after.gamma, before.gamma);
  ok(after.beta !== before.beta);
  deepEqual(manager.get("alpha")!.nextRuns(), nextA);
  await manager.stop();
});

Deno.test("manager keeps the last good version of a broken file running and reports where", async () => {
  const { fs, manager } = setup();
  fs.files.set("/etc/scout/checks/web.yaml", three("-x 1"));
  fs.files.set("/etc/scout/checks/other.yaml", "checks:\n  - name: delta\n    plugin: check_d\n");
  await manager.reload();
  fs.files.set(
    "/etc/scout/checks/web.yaml",
    "checks:\n  - name: alpha\n    intervall: 5m\n    plugin: x\n",
  );
  const r = await manager.reload();
  equal(r.problems.length, 1, JSON.stringify(r.problems));
  equal(r.problems[0]!.keptLastGood, true);
  equal(r.problems[0]!.errors[0]!.location?.line, 3);
  deepEqual(manager.list().map((i) => i.name), ["alpha", "beta", "delta", "gamma"]);
  deepEqual(r.stopped, []);
  const again = await manager.reload();
  equal(again.problems.length, 1, "an unchanged broken file is still reported");
  equal(again.problems[0]!.keptLastGood, true);
  await manager.stop();
});

Deno.test("manager refuses a check name defined in two files, keeping the first", async () => {
  const { fs, manager } = setup();
  fs.files.set("/etc/scout/checks/a.yaml", "checks:\n  - name: web\n    plugin: check_a\n");
  fs.files.set("/etc/scout/checks/b.yaml", "checks:\n  - name: web\n    plugin: check_b\n");
  const r = await manager.reload();
  equal(r.problems.length, 1);
  equal(r.problems[0]!.errors[0]!.code, "CONFIG_DUPLICATE");
  equal(r.problems[0]!.file, "/etc/scout/checks/b.yaml");
  deepEqual(r.started, ["web"]);
  await manager.stop();
});

Deno.test("manager stops and forgets checks removed from their file", async () => {
  const { fs, manager, clock } = setup();
  fs.files.set("/etc/scout/checks/web.yaml", three("-x 1"));
  await manager.reload();
  await clock.advance(60_000);
  ok(fs.files.has("/var/lib/scout/machines/alpha.json"));
  fs.files.set("/etc/scout/checks/web.yaml", "checks: []\n");
  const r = await manager.reload();
  deepEqual(r.stopped.sort(), ["alpha", "beta", "gamma"]);
  equal(manager.list().length, 0);
  ok(!fs.files.has("/var/lib/scout/machines/alpha.json"));
  await manager.stop();
});

Deno.test("manager persists maintenance at once and restores it after a restart", async () => {
  const first = setup();
  first.fs.files.set("/etc/scout/checks/web.yaml", three("-x 1"));
  await first.manager.reload();
  const until = first.clock.now() + 3_600_000;
  const reply = await first.manager.maintenance(["beta", "nope"], {
    reason: "swap",
    untilMs: until,
  });
  deepEqual(reply.transitioned, ["beta"]);
  deepEqual(reply.failed, [{ name: "nope", reason: 'unknown check "nope"' }]);
  await first.clock.advance(0);
  const saved = JSON.parse(first.fs.files.get("/var/lib/scout/machines/beta.json")!);
  equal(saved.state, "MAINTENANCE");
  // A crash: no stop(); a new manager on the same files.
  const second = setup(first.fs, first.clock);
  await second.manager.reload();
  const b = second.manager.list().find((i) => i.name === "beta")!;
  equal(b.state, "MAINTENANCE");
  deepEqual(b.maintenance, { reason: "swap", untilMs: until });
  await first.manager.stop();
  await second.manager.stop();
});

Deno.test("manager writes the textfile with MAINTENANCE as 4, never OK", async () => {
  const { fs, manager, clock } = setup();
  fs.files.set("/etc/scout/checks/web.yaml", three("-x 1"));
  await manager.reload();
  await clock.advance(60_000);
  await manager.maintenance(["alpha"], { reason: "", untilMs: null });
  await clock.advance(2_000);
  const text = fs.files.get("/prom/choria_machine_nagios_watcher_status.prom")!;
  ok(
    text.includes('choria_machine_nagios_watcher_status{name="alpha",status="MAINTENANCE"} 4'),
    text,
  );
  ok(text.includes('choria_machine_nagios_watcher_status{name="beta",status="OK"} 0'), text);
  await manager.stop();
});

Deno.test("manager trigger with no names acts on every check", async () => {
  const { fs, manager, clock } = setup();
  fs.files.set("/etc/scout/checks/web.yaml", three("-x 1"));
  await manager.reload();
  await clock.advance(60_000);
  const r = await manager.trigger([]);
  deepEqual(r.transitioned.sort(), ["alpha", "beta", "gamma"]);
  await clock.advance(1_000);
  await manager.stop();
});
