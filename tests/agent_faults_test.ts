/**
 * Process-level fault tests of the agent: faulty plugins, plugins outside the allowed
 * directories, and SIGKILL at random moments. Real `scout` binary path under the "agent"
 * permission set; see tests/_agent_harness.ts. Needs --allow-all.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import {
  assertNoStackTrace,
  type CheckEntry,
  markedPids,
  sleep,
  survivors,
  waitFor,
  withSandbox,
} from "./_agent_harness.ts";
import type { ScoutEvent } from "../src/events.ts";

interface Fault {
  /** Check name. */
  name: string;
  /** What the plugin does, for the step name. */
  what: string;
  plugin: string;
  arguments?: string[];
  /** Words the UNKNOWN message must contain. */
  message: RegExp;
}

const TIMEOUT_S = 1;
const MAX_OUTPUT = 16_384;

const FAULTS: Fault[] = [
  { name: "hang", what: "hangs", plugin: "hang.sh", message: /timed out after 1s/ },
  {
    name: "forkhang",
    what: "forks a child that hangs",
    plugin: "fork_hang.sh",
    message: /timed out after 1s; its process group was killed/,
  },
  {
    name: "missing",
    what: "is missing",
    plugin: "no_such_plugin.sh",
    message: /Cannot run plugin "no_such_plugin\.sh": not found in /,
  },
  {
    name: "noexec",
    what: "is not executable",
    plugin: "noexec.sh",
    message: /noexec\.sh is not executable/,
  },
  {
    name: "sigkill",
    what: "is killed by SIGKILL",
    plugin: "selfkill.sh",
    arguments: ["KILL"],
    message: /killed by signal SIGKILL/,
  },
  {
    name: "sigterm",
    what: "is killed by SIGTERM",
    plugin: "selfkill.sh",
    arguments: ["TERM"],
    message: /killed by signal SIGTERM/,
  },
  {
    name: "exit4",
    what: "exits 4",
    plugin: "exit_codes.sh",
    arguments: ["4"],
    message: /exited with code 4\b/,
  },
  {
    name: "exit5",
    what: "exits 5",
    plugin: "exit_codes.sh",
    arguments: ["5"],
    message: /exited with code 5\b/,
  },
  {
    name: "exit127",
    what: "exits 127",
    plugin: "exit_codes.sh",
    arguments: ["127"],
    message: /exited with code 127\b/,
  },
];

/** Execution start (ms) of the run an event reports: the newest history entry. */
function executeMs(ev: ScoutEvent): number {
  const history = ev.data.history as { execute: string }[];
  return Date.parse(history.at(-1)!.execute);
}

/** Asserts the event came within timeout + 1 s of the run's start. */
function assertPrompt(ev: ScoutEvent, timeoutS: number): void {
  const eventS = Date.parse(ev.time) / 1000;
  const checkS = ev.data.check_time as number;
  ok(
    eventS - checkS <= timeoutS + 1,
    `${ev.data.machine}: event at ${ev.time} for a run started at ${checkS}`,
  );
  ok((ev.data.runtime as number) <= timeoutS + 1, `${ev.data.machine}: runtime ${ev.data.runtime}`);
}

Deno.test("faulty plugins give UNKNOWN with a clear message within timeout + 1 s, leave no process, and other checks keep running", async (t) => {
  await withSandbox("faults", async (box) => {
    const entries: CheckEntry[] = [
      { name: "beat", builtin: "heartbeat", interval: "500ms" },
      ...FAULTS.map((f) => ({
        name: f.name,
        plugin: f.plugin,
        ...(f.arguments ? { arguments: f.arguments } : {}),
        interval: "1h",
        timeout: `${TIMEOUT_S}s`,
        environment: box.markerEnv(f.name),
      })),
      {
        name: "flood",
        plugin: "flood.sh",
        interval: "1h",
        timeout: "10s",
        environment: box.markerEnv("flood"),
      },
      {
        name: "badutf8",
        plugin: "badutf8.sh",
        interval: "1h",
        timeout: `${TIMEOUT_S}s`,
        environment: box.markerEnv("badutf8"),
      },
      {
        name: "forkexit",
        plugin: "fork_exit.sh",
        interval: "1h",
        timeout: `${TIMEOUT_S}s`,
        environment: box.markerEnv("forkexit"),
      },
    ];
    await box.writeChecks("faults.yaml", entries);
    // A smaller output cap than the default shows that --max-output is honoured.
    const agent = box.start({ extraArgs: ["--max-output", String(MAX_OUTPUT)] });
    await box.waitForControl();

    for (const f of FAULTS) {
      await t.step(`a plugin that ${f.what}: UNKNOWN matching ${f.message}`, async () => {
        const [ev] = await box.waitForStates(f.name, 1);
        equal(ev!.data.status, "UNKNOWN", String(ev!.data.output));
        equal(ev!.data.status_code, 3);
        ok(f.message.test(String(ev!.data.output)), String(ev!.data.output));
        ok(String(ev!.data.output).startsWith("UNKNOWN: "), String(ev!.data.output));
        equal(ev!.scouthard, true);
        assertPrompt(ev!, TIMEOUT_S);
        deepEqual(await survivors(box.checkMarker(f.name)), [], "no process left");
      });
    }

    await t.step(
      "a plugin printing 100 MB: output capped with a marker, no process left",
      async () => {
        const [ev] = await box.waitForStates("flood", 1);
        // flood.sh exits 0 after printing, so the result is OK; what matters is the cap.
        equal(ev!.data.status, "OK");
        const out = String(ev!.data.output);
        ok(out.endsWith(`[output truncated at ${MAX_OUTPUT} bytes]`), out.slice(-80));
        ok(out.length <= MAX_OUTPUT + 64, `${out.length} chars kept`);
        ok(/^x+$/.test(out.split("\n")[0]!), "the kept part is the plugin's output");
        assertPrompt(ev!, 10);
        deepEqual(await survivors(box.checkMarker("flood")), []);
      },
    );

    await t.step(
      "a plugin printing invalid UTF-8: replacement characters, a valid event",
      async () => {
        const [ev] = await box.waitForStates("badutf8", 1);
        // badutf8.sh exits 0: the result is OK, its bad bytes become U+FFFD.
        equal(ev!.data.status, "OK");
        equal(ev!.data.output, "\uFFFD\uFFFD OK");
        assertPrompt(ev!, TIMEOUT_S);
      },
    );

    await t.step(
      "a plugin that exits leaving a child holding stdout: OK, child killed",
      async () => {
        const [ev] = await box.waitForStates("forkexit", 1);
        equal(ev!.data.status, "OK");
        equal(ev!.data.output, "OK");
        assertPrompt(ev!, TIMEOUT_S);
        deepEqual(await survivors(box.checkMarker("forkexit")), []);
      },
    );

    await t.step("the heartbeat ran while plugins hung, and keeps running after", async () => {
      const [hang] = await box.waitForStates("hang", 1);
      const start = executeMs(hang!);
      const end = start + (hang!.data.runtime as number) * 1000;
      const beats = (await box.stateEvents("beat")).map(executeMs);
      ok(
        beats.some((b) => b > start && b < end),
        `a heartbeat ran between ${new Date(start).toISOString()} and ${
          new Date(end).toISOString()
        }`,
      );
      await box.waitForStates("beat", beats.length + 2);
      const rows = await box.checks();
      equal(rows.find((r) => r.name === "beat")!.state, "OK");
      for (const f of FAULTS) equal(rows.find((r) => r.name === f.name)!.state, "UNKNOWN", f.name);
    });

    const stopped = await agent.stop("SIGTERM");
    equal(stopped.code, 0, stopped.stderr);
    ok(stopped.elapsedMs < 5_000);
    assertNoStackTrace(stopped.stderr);
    deepEqual(await survivors(box.marker), []);
    await box.stateFiles();
    await box.events();
  });
});

Deno.test("plugins outside the plugin dirs, .. escapes and symlinks out of a plugin dir are refused", async () => {
  await withSandbox("confine", async (box) => {
    const plugins = `${box.dir}/plugins`;
    const outside = `${box.dir}/outside`;
    await Deno.mkdir(plugins);
    await Deno.mkdir(outside);
    const script = (name: string) =>
      `#!/bin/sh\ntouch ${box.dir}/ran-${name}\necho "EVIL ran"\nexit 0\n`;
    for (const name of ["abs", "dotdot", "link"]) {
      await Deno.writeTextFile(`${outside}/evil_${name}.sh`, script(name), { mode: 0o755 });
    }
    await Deno.writeTextFile(`${plugins}/allowed.sh`, "#!/bin/sh\necho 'ALLOWED ok'\nexit 0\n", {
      mode: 0o755,
    });
    await Deno.symlink(`${outside}/evil_link.sh`, `${plugins}/link.sh`);

    await box.writeChecks("confine.yaml", [
      { name: "allowed", plugin: "allowed.sh", interval: "1h" },
      { name: "absolute", plugin: `${outside}/evil_abs.sh`, interval: "1h" },
      { name: "dotdot", plugin: `${plugins}/../outside/evil_dotdot.sh`, interval: "1h" },
      { name: "symlink", plugin: "link.sh", interval: "1h" },
    ]);
    const agent = box.start({ pluginDirs: [plugins] });

    const [allowed] = await box.waitForStates("allowed", 1);
    equal(allowed!.data.status, "OK", "a plugin inside the plugin dir runs");
    equal(allowed!.data.output, "ALLOWED ok");
    const expected: Record<string, string> = {
      absolute: `${outside}/evil_abs.sh is outside the allowed plugin directories`,
      dotdot: `${outside}/evil_dotdot.sh is outside the allowed plugin directories`,
      symlink: `${outside}/evil_link.sh is outside the allowed plugin directories`,
    };
    for (const [check, why] of Object.entries(expected)) {
      const [ev] = await box.waitForStates(check, 1);
      equal(ev!.data.status, "UNKNOWN", check);
      ok(String(ev!.data.output).includes(why), `${check}: ${ev!.data.output}`);
      ok(String(ev!.data.output).startsWith("UNKNOWN: Cannot run plugin"), String(ev!.data.output));
    }
    const stopped = await agent.stop("SIGTERM");
    equal(stopped.code, 0, stopped.stderr);
    assertNoStackTrace(stopped.stderr);
    const ran = (await Array.fromAsync(Deno.readDir(box.dir))).filter((e) =>
      e.name.startsWith("ran-")
    );
    deepEqual(ran.map((e) => e.name), [], "no refused script ran");
  });
});

Deno.test("state survives 20 SIGKILLs at random moments; maintenance keeps its reason and expiry", async () => {
  await withSandbox("sigkill", async (box) => {
    await box.writeChecks("kill.yaml", [
      { name: "beat", builtin: "heartbeat", interval: "1s" },
      { name: "codes", plugin: "exit_codes.sh", arguments: ["1"], interval: "1s" },
      { name: "maint", builtin: "heartbeat", interval: "1s" },
    ]);
    const first = box.start({ quiet: true });
    await box.waitForControl();
    await box.waitForStates("maint", 1);
    const m = await box.cli(["maintenance", "maint", "--for", "1h", "--reason", "r"]);
    equal(m.code, 0, m.stderr);
    const row = (await box.checks()).find((r) => r.name === "maint")!;
    equal(row.state, "MAINTENANCE");
    const untilMs = row.maintenance!.untilMs!;
    ok(untilMs > Date.now() + 3_500_000);
    await waitFor("MAINTENANCE persisted", async () => {
      const s = await box.stateFiles();
      return s.maint?.state === "MAINTENANCE" ? true : undefined;
    });
    await first.stop("SIGKILL");

    for (let i = 0; i < 20; i++) {
      const agent = box.start({ quiet: true });
      await sleep(50 + Math.floor(Math.random() * 751));
      const r = await agent.stop("SIGKILL");
      equal(r.signal, "SIGKILL", `round ${i}: ${r.stderr}`);
      const state = await box.stateFiles(); // throws naming a file that is not whole JSON
      equal(state.maint?.state, "MAINTENANCE", `round ${i}`);
      deepEqual(state.maint?.maintenance, { reason: "r", untilMs }, `round ${i}`);
    }

    const last = box.start({ quiet: true });
    await box.waitForControl();
    const rows = await box.checks();
    const maint = rows.find((r) => r.name === "maint")!;
    equal(maint.state, "MAINTENANCE");
    deepEqual(maint.maintenance, { reason: "r", untilMs });
    deepEqual(rows.map((r) => r.name).sort(), ["beat", "codes", "maint"]);
    const stopped = await last.stop("SIGTERM");
    equal(stopped.code, 0, stopped.stderr);
    assertNoStackTrace(stopped.stderr);
    await box.stateFiles();
    // Killed writers may cut the last line; every complete one must be a valid event.
    await box.events();
    ok((await markedPids(box.marker)).length === 0);
  });
});
