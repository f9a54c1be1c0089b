/**
 * Process-level tests of the agent: the real `scout` binary path (`deno run -P=agent main.ts`)
 * with real Nagios plugins and fixture plugins, in temp dirs. See tests/_agent_harness.ts.
 * Needs --allow-all (it spawns deno, reads /proc and signals processes).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import {
  assertNoStackTrace,
  FIXTURE_PLUGINS,
  markedPids,
  NAGIOS_STATE,
  REPO,
  type Sandbox,
  scout,
  SKIP_NAGIOS,
  sleep,
  survivors,
  TRANSITION,
  waitFor,
  withSandbox,
} from "./_agent_harness.ts";
import type { ScoutEvent } from "../src/events.ts";

const fromFile = `${FIXTURE_PLUGINS}/from_file.sh`;

function byName<T extends { name: string }>(rows: T[]): Record<string, T> {
  return Object.fromEntries(rows.map((r) => [r.name, r]));
}

function transitionsOf(events: ScoutEvent[], check: string): string[] {
  return events
    .filter((e) => e.type === TRANSITION && e.data.machine === check)
    .map((e) => `${e.data.from_state}->${e.data.to_state}`);
}

// ------------------------------------------------------------------------------------------------
// scout validate and the CLI without an agent

Deno.test("scout validate exits 0 for valid files and 2 with FILE:LINE:COL: message and hints", async () => {
  await withSandbox("validate", async (box) => {
    await box.writeChecks(
      "good.yaml",
      "checks:\n  - name: beat\n    builtin: heartbeat\n    interval: 10s\n",
    );
    const good = await scout(["validate", "--checks", box.checksDir]);
    equal(good.code, 0, good.stderr);
    ok(/1 file valid/.test(good.stderr), good.stderr);

    const withMachines = await scout([
      "validate",
      "--checks",
      `${REPO}/checks.example`,
      "--machines",
      `${REPO}/checks.example/machines`,
    ]);
    equal(withMachines.code, 0, withMachines.stderr);

    const bad = await box.writeChecks(
      "bad.yaml",
      [
        "checks:",
        "  - name: good_one",
        "    builtin: heartbeat",
        "    interval: 10s",
        "  - name: typo",
        "    plugin: check_dummy",
        "    intervall: 10s",
        "  - name: slow",
        "    builtin: heartbeat",
        "    interval: 1x",
        "",
      ].join("\n"),
    );
    const r = await scout(["validate", "--checks", box.checksDir]);
    equal(r.code, 2, r.stderr);
    const lines = r.stderr.split("\n");
    const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    const typo = at(`${bad}:7:5: `);
    ok(typo >= 0, `no ${bad}:7:5 error in:\n${r.stderr}`);
    ok(/unknown key "intervall"/.test(lines[typo]!), lines[typo]);
    ok(/^\s+hint: .*"interval"/.test(lines[typo + 1] ?? ""), r.stderr);
    const dur = at(`${bad}:10:15: `);
    ok(dur >= 0, `no ${bad}:10:15 error in:\n${r.stderr}`);
    ok(/invalid duration "1x"/.test(lines[dur]!), lines[dur]);
    ok(/^\s+hint: /.test(lines[dur + 1] ?? ""), r.stderr);
    ok(/2 errors in 2 files/.test(r.stderr), r.stderr);
  });
});

Deno.test("checks, trigger, maintenance and resume exit 2 with a hint when no agent runs", async () => {
  await withSandbox("noagent", async (box) => {
    for (
      const args of [
        ["checks", "--json"],
        ["trigger", "x"],
        ["maintenance", "x", "--for", "1h", "--reason", "r"],
        ["resume"],
      ]
    ) {
      const r = await box.cli(args);
      equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      ok(/No running agent/.test(r.stderr), r.stderr);
      ok(/^\s+hint: .*scout agent/m.test(r.stderr), r.stderr);
      assertNoStackTrace(r.stderr);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// running real plugins

Deno.test({
  name: "agent runs real Nagios plugins; scout checks --json shows name, state and latest status",
  ignore: SKIP_NAGIOS,
  async fn() {
    await withSandbox("real", async (box) => {
      await box.writeChecks("real.yaml", [
        {
          name: "load",
          plugin: "check_load",
          arguments: "-w 100,100,100 -c 200,200,200",
          interval: "1m",
        },
        {
          name: "disk",
          plugin: "check_disk",
          arguments: ["-w", "1%", "-c", "1%", "-p", "/"],
          interval: "1m",
        },
        {
          name: "dummy",
          plugin: "check_dummy",
          arguments: '1 "disk almost full | used=91%;80;90;0;100"',
          interval: "1m",
          annotations: { team: "ops" },
        },
        { name: "beat", builtin: "heartbeat", interval: "1m" },
      ]);
      const agent = box.start();
      await box.waitForControl();
      for (const c of ["load", "disk", "dummy", "beat"]) await box.waitForStates(c);
      const rows = byName(await box.checks());
      deepEqual(Object.keys(rows).sort(), ["beat", "disk", "dummy", "load"]);
      for (const row of Object.values(rows)) {
        ok(typeof row.state === "string", row.name);
        ok(row.status !== null, `${row.name} has a status`);
        equal(row.status.machine, row.name);
        ok(["OK", "WARNING", "CRITICAL", "UNKNOWN"].includes(String(row.status.status)), row.name);
        equal(row.state, row.status.status, `${row.name}: state follows the hard status`);
      }
      const dummy = rows.dummy!.status!;
      equal(dummy.status, "WARNING");
      equal(dummy.status_code, 1);
      equal(dummy.output, "WARNING: disk almost full | used=91%;80;90;0;100");
      deepEqual(dummy.perfdata, [{ unit: "%", label: "used", value: 91 }]);
      deepEqual(dummy.annotations, { team: "ops" });
      equal(
        dummy.plugin,
        `/usr/lib/nagios/plugins/check_dummy 1 disk almost full | used=91%;80;90;0;100`,
      );
      const load = rows.load!.status!;
      equal(load.status, "OK");
      ok(String(load.output).startsWith("LOAD OK"), String(load.output));
      deepEqual(
        (load.perfdata as { label: string }[]).map((p) => p.label),
        ["load1", "load5", "load15"],
      );
      ok(String(rows.disk!.status!.output).startsWith("DISK"), String(rows.disk!.status!.output));
      equal(rows.beat!.status!.status, "OK");

      // The human table lists them too.
      const table = await box.cli(["checks"]);
      equal(table.code, 0, table.stderr);
      for (const name of ["load", "disk", "dummy", "beat"]) {
        ok(new RegExp(`^${name}\\s`, "m").test(table.stdout), table.stdout);
      }

      // The textfile has every check.
      // The textfile is rewritten after results; wait for the one with every check's result.
      const want = [
        'choria_machine_nagios_watcher_status{name="dummy",status="WARNING"} 1',
        'choria_machine_nagios_watcher_status{name="load",status="OK"} 0',
        ...["load", "disk", "dummy", "beat"].map((n) =>
          `choria_machine_nagios_watcher_checks_count{name="${n}"} 1`
        ),
      ];
      let prom = "";
      await waitFor(`textfile with ${want.join(", ")}`, async () => {
        prom = await Deno.readTextFile(box.textfile).catch(() => "");
        return want.every((w) => prom.includes(w)) ? true : undefined;
      }, { timeoutMs: 5_000 }).catch((e) => {
        throw new Error(`${(e as Error).message}\n${prom}`);
      });

      const stopped = await agent.stop("SIGTERM");
      equal(stopped.code, 0, stopped.stderr);
      assertNoStackTrace(stopped.stderr);
      await box.events(); // every line parses and passes the schemas
    });
  },
});

Deno.test({
  name:
    "every completed check sends one state event, a same-state result no transition, and none before a check ran",
  ignore: SKIP_NAGIOS,
  async fn() {
    await withSandbox("events", async (box) => {
      const codeFile = `${box.dir}/flip.code`;
      await Deno.writeTextFile(codeFile, "0\n");
      await box.writeChecks("events.yaml", [
        {
          name: "steady",
          plugin: "check_dummy",
          arguments: ["0", "steady ok"],
          interval: "500ms",
        },
        { name: "flip", plugin: fromFile, arguments: [codeFile], interval: "500ms" },
        // Never completes while the test runs: it must send nothing.
        {
          name: "pending",
          plugin: "hang.sh",
          interval: "1h",
          timeout: "1m",
          environment: box.markerEnv("pending"),
        },
      ]);
      const agent = box.start();
      await box.waitForControl();
      await box.waitForStates("steady", 3);
      await box.waitForEvents(
        "two OK results of flip",
        (evs) =>
          evs.filter((e) =>
            e.type === NAGIOS_STATE && e.data.machine === "flip" && e.data.status === "OK"
          ).length >= 2,
      );
      await Deno.writeTextFile(codeFile, "2\n");
      await box.waitForEvents(
        "two CRITICAL results of flip",
        (evs) =>
          evs.filter((e) =>
            e.type === NAGIOS_STATE && e.data.machine === "flip" && e.data.status === "CRITICAL"
          ).length >= 2,
      );
      const rows = byName(await box.checks());
      equal(rows.pending!.status, null, "a check that has not completed has no status");
      equal(rows.pending!.state, "UNKNOWN");
      equal(rows.pending!.nagios!.checksCount, 0);

      const stopped = await agent.stop("SIGTERM");
      equal(stopped.code, 0, stopped.stderr);
      const events = await box.events();
      const state = await box.stateFiles();

      deepEqual(transitionsOf(events, "steady"), ["UNKNOWN->OK"], "same-state results");
      deepEqual(transitionsOf(events, "flip"), ["UNKNOWN->OK", "OK->CRITICAL"]);
      deepEqual(
        events.filter((e) => e.data.machine === "pending"),
        [],
        "no event of a check that never completed",
      );

      for (const check of ["steady", "flip"]) {
        const mine = events.filter((e) => e.data.machine === check);
        const states = mine.filter((e) => e.type === NAGIOS_STATE);
        const watchers = state[check]!.watchers as { check: { checksCount: number } };
        equal(states.length, watchers.check.checksCount, `${check}: one state event per run`);
        ok(mine[0]!.type === TRANSITION, `${check}: first event is the first result's transition`);
        // A transition is followed by the state event of the result that caused it.
        mine.forEach((e, i) => {
          if (e.type !== TRANSITION) return;
          const next = mine[i + 1];
          ok(next !== undefined && next.type === NAGIOS_STATE, `${check}: state after transition`);
          equal(next.data.status, e.data.to_state);
        });
        // Every state event reports a run: check_time is set, history has it.
        for (const s of states) {
          ok(typeof s.data.check_time === "number" && s.data.check_time > 0);
          ok((s.data.history as unknown[]).length >= 1);
        }
      }
      deepEqual(await survivors(box.checkMarker("pending")), []);
    });
  },
});

Deno.test({
  name: "trigger, maintenance and resume act on the running agent; unknown names exit 1",
  ignore: SKIP_NAGIOS,
  async fn() {
    await withSandbox("control", async (box) => {
      await box.writeChecks("control.yaml", [
        { name: "beat", builtin: "heartbeat", interval: "500ms" },
        { name: "dummy", plugin: "check_dummy", arguments: "0 fine", interval: "1h" },
      ]);
      const agent = box.start();
      await box.waitForControl();
      await box.waitForStates("dummy", 1);
      await box.waitForStates("beat", 1);

      // trigger
      const trig = await box.cli(["trigger", "dummy"]);
      equal(trig.code, 0, trig.stderr);
      ok(/Triggered 1 check: dummy/.test(trig.stdout), trig.stdout);
      await box.waitForStates("dummy", 2);

      // unknown names
      for (
        const args of [
          ["trigger", "nope"],
          ["maintenance", "nope", "--for", "1h", "--reason", "x"],
          ["resume", "nope"],
        ]
      ) {
        const r = await box.cli(args);
        equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
        ok(/failed nope: unknown check "nope"/.test(r.stderr), r.stderr);
        assertNoStackTrace(r.stderr);
      }

      // maintenance with expiry and reason
      const before = Date.now();
      const m = await box.cli(["maintenance", "beat", "--for", "1h", "--reason", "planned work"]);
      equal(m.code, 0, m.stderr);
      ok(/Placed into maintenance 1 check: beat/.test(m.stdout), m.stdout);
      const rows = byName(await box.checks());
      equal(rows.beat!.state, "MAINTENANCE");
      equal(rows.beat!.maintenance!.reason, "planned work");
      const until = rows.beat!.maintenance!.untilMs!;
      ok(
        until >= before + 3_600_000 - 1_000 && until <= Date.now() + 3_600_000 + 1_000,
        `${until}`,
      );
      equal(rows.dummy!.state, "OK");
      const beatsAtMaintenance = (await box.stateEvents("beat")).length;

      // the textfile shows MAINTENANCE with value 4
      await waitFor("MAINTENANCE in the textfile", async () => {
        const t = await Deno.readTextFile(box.textfile).catch(() => "");
        return t.includes(
            'choria_machine_nagios_watcher_status{name="beat",status="MAINTENANCE"} 4',
          ) &&
            t.includes('choria_machine_nagios_watcher_status{name="dummy",status="OK"} 0')
          ? true
          : undefined;
      });

      const evs = await box.events();
      const toMaint = evs.find((e) =>
        e.type === TRANSITION && e.data.machine === "beat" && e.data.to_state === "MAINTENANCE"
      );
      ok(toMaint, "a transition to MAINTENANCE was sent");
      equal(toMaint.scoutmaintreason, "planned work");
      equal(toMaint.scoutmaintuntil, Math.floor(until / 1000));

      // In maintenance the check does not run (one run in flight may still report).
      // A second trigger takes a few beat intervals; meanwhile beat must stay paused.
      const again = await box.cli(["trigger", "dummy"]);
      equal(again.code, 0, again.stderr);
      await box.waitForStates("dummy", 3);
      ok((await box.stateEvents("beat")).length <= beatsAtMaintenance + 1, "beat paused");

      // resume
      const res = await box.cli(["resume", "beat"]);
      equal(res.code, 0, res.stderr);
      ok(/Resumed 1 check: beat/.test(res.stdout), res.stdout);
      await box.waitForStates("beat", beatsAtMaintenance + 3);
      const after = byName(await box.checks());
      equal(after.beat!.maintenance, null);
      ok(after.beat!.state !== "MAINTENANCE");

      const stopped = await agent.stop("SIGTERM");
      equal(stopped.code, 0, stopped.stderr);
      assertNoStackTrace(stopped.stderr);
      await box.events();
    });
  },
});

// ------------------------------------------------------------------------------------------------
// signals

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`agent stops within 5 s on ${sig} and kills running plugins, leaving state whole`, async () => {
    await withSandbox(`stop-${sig}`, async (box) => {
      await box.writeChecks("stop.yaml", [
        { name: "beat", builtin: "heartbeat", interval: "500ms" },
        {
          name: "hang",
          plugin: "hang.sh",
          interval: "1h",
          timeout: "1h",
          environment: box.markerEnv("hang"),
        },
        {
          name: "forkhang",
          plugin: "fork_hang.sh",
          interval: "1h",
          timeout: "1h",
          environment: box.markerEnv("forkhang"),
        },
      ]);
      const agent = box.start();
      await box.waitForControl();
      await box.waitForStates("beat", 2);
      // hang.sh: sh + sleep; fork_hang.sh: sh + background sleep + sleep.
      await waitFor("the hanging plugins and their children", async () => {
        return (await markedPids(box.checkMarker("hang"))).length >= 2 &&
            (await markedPids(box.checkMarker("forkhang"))).length >= 3
          ? true
          : undefined;
      });

      const stopped = await agent.stop(sig);
      ok(stopped.elapsedMs < 5_000, `stopped after ${Math.round(stopped.elapsedMs)} ms`);
      equal(stopped.code, 0, stopped.stderr);
      equal(stopped.signal, null, "exits by itself, not by the signal");
      assertNoStackTrace(stopped.stderr);
      deepEqual(await survivors(box.marker), [], "no plugin process survives");

      const state = await box.stateFiles();
      deepEqual(Object.keys(state).sort(), ["beat", "forkhang", "hang"]);
      equal(state.beat!.state, "OK");
      // An aborted run is no result.
      equal(
        (state.hang!.watchers as { check: { checksCount: number } }).check.checksCount,
        0,
      );
      deepEqual(
        (await box.events()).filter((e) => e.data.machine === "hang"),
        [],
        "an aborted run sends no event",
      );
      const after = await box.cli(["checks"]);
      equal(after.code, 2, "the control socket is gone");
    });
  });
}

Deno.test("without --standalone and with nothing to discover the agent runs standalone", async () => {
  await withSandbox("nostandalone", async (box) => {
    await box.writeChecks("beat.yaml", [
      { name: "beat", builtin: "heartbeat", interval: "500ms" },
      { name: "codes", plugin: "exit_codes.sh", arguments: ["1"], interval: "500ms" },
    ]);
    const agent = box.start({ standalone: false });
    await box.waitForControl();
    await box.waitForStates("beat", 2);
    const codes = await box.waitForStates("codes", 1);
    equal(codes[0]!.data.status, "WARNING");
    const rows = byName(await box.checks());
    equal(rows.beat!.state, "OK");
    equal(rows.codes!.state, "WARNING");
    const stopped = await agent.stop("SIGTERM");
    equal(stopped.code, 0, stopped.stderr);
    assertNoStackTrace(stopped.stderr);
  });
});

// ------------------------------------------------------------------------------------------------
// plugin environment

Deno.test("plugins see only PATH, MACHINE_NAME, MACHINE_WATCHER_NAME and their environment", async () => {
  await withSandbox("env", async (box) => {
    await box.writeChecks("env.yaml", [
      {
        name: "envcheck",
        plugin: "env.sh",
        interval: "1h",
        environment: { SCOUT_VISIBLE: "yes it is", OTHER_VAR: "2" },
      },
    ]);
    const agent = box.start({
      env: { SCOUT_SECRET_TEST: "must-not-leak", SCOUT_CHECKS: "/nonexistent" },
    });
    const [ev] = await box.waitForStates("envcheck", 1);
    await agent.stop("SIGTERM");
    const output = String(ev!.data.output);
    ok(!output.includes("must-not-leak"), output);
    ok(!output.includes("SCOUT_SECRET_TEST"), output);
    const vars = Object.fromEntries(
      output.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    // /bin/sh exports PWD itself; nothing else may appear.
    const names = Object.keys(vars).filter((n) => n !== "PWD").sort();
    deepEqual(names, [
      "MACHINE_NAME",
      "MACHINE_WATCHER_NAME",
      "OTHER_VAR",
      "PATH",
      "SCOUT_VISIBLE",
    ]);
    equal(vars.MACHINE_NAME, "envcheck");
    equal(vars.MACHINE_WATCHER_NAME, "check");
    equal(vars.SCOUT_VISIBLE, "yes it is");
    equal(vars.OTHER_VAR, "2");
    ok(vars.PATH!.length > 0);
  });
});

// ------------------------------------------------------------------------------------------------
// hot reload

async function instanceIds(box: Sandbox): Promise<Record<string, string>> {
  return Object.fromEntries((await box.checks()).map((r) => [r.name, r.instanceId]));
}

Deno.test("hot reload: an edited check gets a new instance id, the others keep theirs", async () => {
  await withSandbox("reload", async (box) => {
    const checks = (bInterval: string) => [
      { name: "alpha", builtin: "heartbeat", interval: "500ms" },
      { name: "bravo", builtin: "heartbeat", interval: bInterval },
      { name: "charlie", plugin: "exit_codes.sh", arguments: ["0"], interval: "500ms" },
    ];
    await box.writeChecks("three.yaml", checks("500ms"));
    const agent = box.start({ extraArgs: ["--rescan", "1s"] });
    await box.waitForControl();
    for (const c of ["alpha", "bravo", "charlie"]) await box.waitForStates(c, 1);
    const before = await instanceIds(box);

    await box.writeChecks("three.yaml", checks("700ms"));
    const after = await waitFor("bravo's new instance id", async () => {
      const ids = await instanceIds(box);
      return ids.bravo !== undefined && ids.bravo !== before.bravo ? ids : undefined;
    });
    equal(after.alpha, before.alpha, "alpha kept its id");
    equal(after.charlie, before.charlie, "charlie kept its id");
    ok(after.bravo !== before.bravo);

    // Events carry the ids: alpha's and charlie's one id throughout; bravo's new one after.
    const count = (await box.stateEvents("alpha")).length;
    await box.waitForStates("alpha", count + 2);
    await box.waitForEvents(
      "a state event of bravo with its new id",
      (evs) => evs.some((e) => e.type === NAGIOS_STATE && e.data.id === after.bravo),
    );
    const stopped = await agent.stop("SIGTERM");
    equal(stopped.code, 0, stopped.stderr);
    const events = await box.events();
    for (const c of ["alpha", "charlie"]) {
      deepEqual(
        [...new Set(events.filter((e) => e.data.machine === c).map((e) => e.data.id))],
        [before[c]],
        `${c}: one instance id in every event`,
      );
    }
    deepEqual(
      [...new Set(events.filter((e) => e.data.machine === "bravo").map((e) => e.data.id))],
      [before.bravo, after.bravo],
    );
  });
});

Deno.test("a check file with a YAML error beside a good one: good checks keep running, error logged with file:line", async () => {
  await withSandbox("badyaml", async (box) => {
    await box.writeChecks("good.yaml", [
      { name: "alpha", builtin: "heartbeat", interval: "500ms" },
      { name: "bravo", builtin: "heartbeat", interval: "500ms" },
    ]);
    const agent = box.start({ extraArgs: ["--rescan", "1s"] });
    await box.waitForControl();
    await box.waitForStates("alpha", 1);
    const before = await instanceIds(box);

    const bad = await box.writeChecks(
      "bad.yaml",
      "checks:\n  - name: broken\n    builtin: heartbeat\n    interval: [1s\n",
    );
    const logged = await waitFor("the YAML error in the agent's log", () => {
      const line = agent.stderr.split("\n").find((l) => l.includes(`${bad}:`));
      return line;
    });
    const where = new RegExp(`${bad}:\\d+:\\d+`).exec(logged)?.[0];
    ok(where !== undefined, logged);
    ok(/ERROR/.test(logged), logged);

    // The good file's checks keep running, with the same instances.
    for (const c of ["alpha", "bravo"]) {
      const n = (await box.stateEvents(c)).length;
      await box.waitForStates(c, n + 2);
    }
    deepEqual(await instanceIds(box), before, "the good checks were not restarted");
    equal((await box.checks()).some((r) => r.name === "broken"), false);

    // validate reports the same place.
    const v = await scout(["validate", "--checks", box.checksDir]);
    equal(v.code, 2);
    ok(v.stderr.includes(`${where}: `), v.stderr);

    const stopped = await agent.stop("SIGTERM");
    equal(stopped.code, 0, stopped.stderr);
    assertNoStackTrace(stopped.stderr);
  });
});

// Replies are not capped at the 64 KiB request limit: 150 checks make a reply over 64 KiB.
Deno.test({
  name: "scout checks --json works when the reply is over 64 KiB (150 checks)",
  async fn() {
    await withSandbox("bigreply", async (box) => {
      const checks = Array.from({ length: 150 }, (_, i) => ({
        name: `beat${String(i).padStart(3, "0")}`,
        builtin: "heartbeat",
        interval: "1h",
        annotations: { team: "ops", runbook: "https://wiki.example.com/runbooks/heartbeat" },
      }));
      await box.writeChecks("many.yaml", checks);
      const agent = box.start({ quiet: true });
      await box.waitForStates("beat149", 1);
      const r = await box.cli(["checks", "--json"]);
      equal(r.code, 0, r.stderr);
      equal((JSON.parse(r.stdout) as unknown[]).length, 150);
      await agent.stop("SIGTERM");
    });
  },
});

// The control socket is taken before any check starts, so a second agent on the same state
// dir is refused before it runs anything.
Deno.test({
  name: "a second agent on the same state dir is refused without running checks or leaving plugins",
  async fn() {
    await withSandbox("second", async (box) => {
      await box.writeChecks("second.yaml", [
        ...["a", "b", "c"].map((n) => ({
          name: `beat_${n}`,
          builtin: "heartbeat",
          interval: "1h",
        })),
        {
          name: "hang",
          plugin: "hang.sh",
          interval: "1h",
          timeout: "1h",
          environment: box.markerEnv("hang"),
        },
      ]);
      const first = box.start();
      await box.waitForControl();
      for (const n of ["a", "b", "c"]) await box.waitForStates(`beat_${n}`, 1);
      const hangPids = await waitFor("the first agent's hang.sh", async () => {
        const pids = await markedPids(box.checkMarker("hang"));
        return pids.length >= 2 ? pids : undefined;
      });
      const eventsBefore = (await box.events()).length;

      const second = await box.start().wait();
      ok(second.code !== 0, "the second agent is refused");
      ok(/Another agent is already running/.test(second.stderr), second.stderr);
      ok(/^\s+hint: /m.test(second.stderr), second.stderr);
      assertNoStackTrace(second.stderr);
      await sleep(300);
      equal((await box.events()).length, eventsBefore, "the refused agent sent no event");
      deepEqual(
        (await markedPids(box.checkMarker("hang"))).sort(),
        hangPids.sort(),
        "the refused agent left no plugin running",
      );
      const stopped = await first.stop("SIGTERM");
      equal(stopped.code, 0, stopped.stderr);
    });
  },
});
