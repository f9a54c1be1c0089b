import { deepEqual, equal, ok } from "node:assert/strict";
import {
  createDenoRunner,
  limitConcurrency,
  type ProcessRunner,
  type RunRequest,
  type RunResult,
} from "./process.ts";

// These tests spawn the fault plugins of tests/fixtures/plugins and need --allow-all:
// the group kill needs unscoped --allow-run, and /proc reads need -A (deno-environment.md §4).

const FIXTURES = new URL("../../tests/fixtures/plugins/", import.meta.url).pathname;
const MARKER_VAR = "SCOUT_TEST_MARKER";
const runner = createDenoRunner();

/** Both ways of making a process group: the setsid(1) wrapper and Deno's detached spawn. */
const MODES: [string, ProcessRunner][] = [
  ["setsid", createDenoRunner({ setsidPath: "/usr/bin/setsid" })],
  ["detached", createDenoRunner({ setsidPath: null })],
];

/** A request for a fixture plugin; its processes carry a unique marker in their environment. */
function fixture(
  name: string,
  overrides: Partial<RunRequest> = {},
): { req: RunRequest; marker: string } {
  const marker = `scout-${crypto.randomUUID()}`;
  const req: RunRequest = {
    cmd: FIXTURES + name,
    args: [],
    env: { PATH: "/usr/bin:/bin", [MARKER_VAR]: marker },
    timeoutMs: 5_000,
    maxOutputBytes: 64 * 1024,
    ...overrides,
  };
  return { req, marker };
}

/** Pids of live processes whose environment holds the marker (zombies have none). */
async function marked(marker: string): Promise<number[]> {
  const needle = `${MARKER_VAR}=${marker}\0`;
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const env = await Deno.readTextFile(`/proc/${entry.name}/environ`);
      if (env.includes(needle)) pids.push(Number(entry.name));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

/** Waits until at least `count` marked processes run (so a test proves what it kills). */
async function waitForMarked(marker: string, count: number): Promise<number[]> {
  const until = performance.now() + 3_000;
  while (performance.now() < until) {
    const pids = await marked(marker);
    if (pids.length >= count) return pids;
    await new Promise((r) => setTimeout(r, 10));
  }
  return await marked(marker);
}

/** Waits up to 1 s for every marked process to be gone; returns the survivors. */
async function survivors(marker: string): Promise<number[]> {
  const until = performance.now() + 1_000;
  let pids = await marked(marker);
  while (pids.length && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    pids = await marked(marker);
  }
  return pids;
}

/** Kills whatever a test left behind, so a failing test does not leak processes. */
async function cleanup(marker: string): Promise<void> {
  for (const pid of await marked(marker)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Runs a request and measures the wall time the caller waited. */
async function timed(
  req: RunRequest,
  using: ProcessRunner = runner,
): Promise<{ result: RunResult; waitedMs: number }> {
  const t0 = performance.now();
  const result = await using.run(req);
  return { result, waitedMs: performance.now() - t0 };
}

for (const [mode, using] of MODES) {
  Deno.test(`runner makes the plugin lead its own process group and session [${mode}]`, async () => {
    const result = await using.run({
      cmd: "/bin/sh",
      args: ["-c", 'echo "$$"; cut -d" " -f5,6 "/proc/$$/stat"'],
      env: {},
      timeoutMs: 5_000,
      maxOutputBytes: 1024,
    });
    equal(result.kind, "exited");
    const [pid, ids] = result.stdout.trim().split("\n");
    equal(ids, `${pid} ${pid}`, "pgid and sid should equal the plugin's pid");
    ok(Number(pid) !== Deno.pid);
  });

  Deno.test(`runner reports the exit code and both streams of a plugin [${mode}]`, async () => {
    for (const code of [0, 1, 2, 3, 255]) {
      const { req } = fixture("exit_codes.sh", { args: [String(code)] });
      const result = await using.run(req);
      equal(result.kind, "exited");
      if (result.kind !== "exited") return;
      equal(result.code, code);
      equal(result.stdout, `exit ${code}\n`);
      equal(result.stderr, `err ${code}\n`);
      equal(result.truncated, false);
      ok(result.durationMs > 0 && result.durationMs < 2_000);
    }
  });

  Deno.test(`runner times out a hanging plugin within timeoutMs + 1 s [${mode}]`, async () => {
    const { req, marker } = fixture("hang.sh", { timeoutMs: 300 });
    try {
      const { result, waitedMs } = await timed(req, using);
      equal(result.kind, "timeout");
      ok(waitedMs < req.timeoutMs + 1_000, `waited ${waitedMs} ms`);
      ok(result.durationMs >= 290, `durationMs ${result.durationMs}`);
      equal(result.stdout, "hanging\n");
      deepEqual(await survivors(marker), []);
    } finally {
      await cleanup(marker);
    }
  });

  Deno.test(`runner kills the whole process group on timeout [${mode}]`, async () => {
    const { req, marker } = fixture("fork_hang.sh", { timeoutMs: 400 });
    try {
      const pending = timed(req, using);
      // sh, its background sleep and its foreground sleep
      ok((await waitForMarked(marker, 3)).length >= 3, "grandchildren should have started");
      const { result, waitedMs } = await pending;
      equal(result.kind, "timeout");
      ok(waitedMs < req.timeoutMs + 1_000, `waited ${waitedMs} ms`);
      equal(result.stdout, "forked\n");
      deepEqual(await survivors(marker), []);
    } finally {
      await cleanup(marker);
    }
  });

  Deno.test(`runner kills the whole process group when the signal aborts [${mode}]`, async () => {
    const controller = new AbortController();
    const { req, marker } = fixture("fork_hang.sh", {
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    try {
      const pending = timed(req, using);
      ok((await waitForMarked(marker, 3)).length >= 3, "grandchildren should have started");
      controller.abort();
      const { result } = await pending;
      equal(result.kind, "aborted");
      deepEqual(await survivors(marker), []);
    } finally {
      await cleanup(marker);
    }
  });

  Deno.test(`runner kills the group when the signal aborts right after spawn [${mode}]`, async () => {
    const controller = new AbortController();
    const { req, marker } = fixture("fork_hang.sh", { signal: controller.signal });
    try {
      const pending = timed(req, using);
      controller.abort(); // before setsid or the fork may have happened
      const { result, waitedMs } = await pending;
      equal(result.kind, "aborted");
      ok(waitedMs < 1_000, `waited ${waitedMs} ms`);
      deepEqual(await survivors(marker), []);
    } finally {
      await cleanup(marker);
    }
  });

  Deno.test(`runner returns soon after exit when a grandchild keeps stdout open, and kills it [${mode}]`, async () => {
    const { req, marker } = fixture("fork_exit.sh", { timeoutMs: 5_000 });
    try {
      const { result, waitedMs } = await timed(req, using);
      equal(result.kind, "exited");
      if (result.kind === "exited") equal(result.code, 0);
      equal(result.stdout, "OK\n");
      ok(waitedMs < 1_000, `waited ${waitedMs} ms`);
      deepEqual(await survivors(marker), []);
    } finally {
      await cleanup(marker);
    }
  });

  Deno.test(`runner stops reading at once after a timeout even when an escaped process holds stdout [${mode}]`, async () => {
    // setsid moves the grandchild out of the group: the group kill cannot reach it, so the
    // runner must stop reading instead of waiting for the pipe to close.
    const { req, marker } = fixture("escape_hang.sh", { timeoutMs: 300 });
    try {
      const pending = timed(req, using);
      ok((await waitForMarked(marker, 3)).length >= 3, "processes should have started");
      const { result, waitedMs } = await pending;
      equal(result.kind, "timeout");
      ok(waitedMs < req.timeoutMs + 1_000, `waited ${waitedMs} ms`);
      equal(result.stdout, "escaped\n");
    } finally {
      await cleanup(marker);
    }
    deepEqual(await survivors(marker), []);
  });

  Deno.test(`runner passes exactly the given environment and nothing of the agent's [${mode}]`, async () => {
    Deno.env.set("SCOUT_AGENT_ONLY_SECRET", "must-not-leak");
    try {
      const { req } = fixture("env.sh");
      req.env.GREETING = "hello world";
      const result = await using.run(req);
      equal(result.kind, "exited");
      const seen: Record<string, string> = {};
      for (const line of result.stdout.split("\n").filter((l) => l !== "")) {
        const i = line.indexOf("=");
        seen[line.slice(0, i)] = line.slice(i + 1);
      }
      ok(!("SCOUT_AGENT_ONLY_SECRET" in seen));
      ok(!("HOME" in seen));
      const shellOwn = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);
      const passed = Object.fromEntries(Object.entries(seen).filter(([k]) => !shellOwn.has(k)));
      deepEqual(passed, req.env);
    } finally {
      Deno.env.delete("SCOUT_AGENT_ONLY_SECRET");
    }
  });

  Deno.test(`runner reports spawn_error for a missing, non-executable or misplaced program [${mode}]`, async () => {
    const missing = await using.run(fixture("no_such_plugin.sh").req);
    equal(missing.kind, "spawn_error");
    if (missing.kind === "spawn_error") {
      equal(missing.message, `Cannot start "${FIXTURES}no_such_plugin.sh": no such file`);
    }

    const noexec = await using.run(fixture("noexec.sh").req);
    equal(noexec.kind, "spawn_error");
    if (noexec.kind === "spawn_error") ok(noexec.message.includes("permission denied"));

    const badCwd = await using.run(fixture("exit_codes.sh", { cwd: "/no/such/dir" }).req);
    equal(badCwd.kind, "spawn_error");
    if (badCwd.kind === "spawn_error") {
      ok(badCwd.message.includes(`working directory "/no/such/dir" does not exist`));
    }
  });

  Deno.test(`runner reports signaled when the plugin kills itself [${mode}]`, async () => {
    for (const [arg, signal] of [["KILL", "SIGKILL"], ["TERM", "SIGTERM"]] as const) {
      const { req } = fixture("selfkill.sh", { args: [arg] });
      const result = await using.run(req);
      equal(result.kind, "signaled");
      if (result.kind === "signaled") equal(result.signal, signal);
      equal(result.stdout, "dying\n");
    }
  });
}

Deno.test("runner returns aborted without spawning when the signal already aborted", async () => {
  const { req, marker } = fixture("hang.sh", { signal: AbortSignal.abort() });
  const result = await runner.run(req);
  equal(result.kind, "aborted");
  equal(result.stdout, "");
  deepEqual(await marked(marker), []);
});

Deno.test("runner truncates a 100 MB flood to maxOutputBytes plus a marker", async () => {
  const { req } = fixture("flood.sh", { timeoutMs: 20_000, maxOutputBytes: 64 * 1024 });
  const { result, waitedMs } = await timed(req);
  equal(result.kind, "exited");
  if (result.kind === "exited") equal(result.code, 0);
  equal(result.truncated, true);
  equal(result.stdout, "x".repeat(64 * 1024) + "\n[output truncated at 65536 bytes]");
  equal(result.stderr, "flooding\n");
  ok(waitedMs < 5_000, `waited ${waitedMs} ms`);
});

Deno.test("runner keeps memory flat over 3 floods of 100 MB", async () => {
  // Measured in a fresh Deno process: `deno test --parallel` runs other test files in this
  // process, and their allocations would show in this process's RSS.
  const script = `
    import { createDenoRunner } from ${
    JSON.stringify(new URL("./process.ts", import.meta.url).href)
  };
    const runner = createDenoRunner();

/** Both ways of making a process group: the setsid(1) wrapper and Deno's detached spawn. */
const MODES: [string, ProcessRunner][] = [
  ["setsid", createDenoRunner({ setsidPath: "/usr/bin/setsid" })],
  ["detached", createDenoRunner({ setsidPath: null })],
];
    const req = { args: [], env: {}, timeoutMs: 20000, maxOutputBytes: 65536 };
    await runner.run({ ...req, cmd: "/bin/echo" }); // load the spawn and stream code once
    const before = Deno.memoryUsage().rss;
    const kinds = [];
    for (let i = 0; i < 3; i++) {
      const r = await runner.run({ ...req, cmd: ${JSON.stringify(FIXTURES + "flood.sh")} });
      kinds.push(r.kind + ":" + r.stdout.length + ":" + r.truncated);
    }
    console.log(JSON.stringify({ kinds, grownMb: (Deno.memoryUsage().rss - before) / 1048576 }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdin: "null",
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const { kinds, grownMb } = JSON.parse(new TextDecoder().decode(out.stdout));
  const kept = 65536 + "\n[output truncated at 65536 bytes]".length;
  deepEqual(kinds, Array(3).fill(`exited:${kept}:true`));
  ok(grownMb < 30, `RSS grew by ${grownMb.toFixed(1)} MB`);
});

Deno.test("runner replaces invalid UTF-8 with U+FFFD", async () => {
  const { req } = fixture("badutf8.sh");
  const result = await runner.run(req);
  equal(result.kind, "exited");
  equal(result.stdout, "\uFFFD\uFFFD OK\n");
});

Deno.test("runner cuts a multi-byte character at the cap into U+FFFD, not an error", async () => {
  // "é" is two bytes; a cap of 3 bytes keeps one and a half of them.
  const result = await runner.run({
    cmd: "/usr/bin/printf",
    args: ["ééé"],
    env: {},
    timeoutMs: 5_000,
    maxOutputBytes: 3,
  });
  equal(result.kind, "exited");
  equal(result.truncated, true);
  equal(result.stdout, "é\uFFFD\n[output truncated at 3 bytes]");
});

Deno.test("runner runs the plugin in the given working directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const result = await runner.run({
      cmd: "/bin/pwd",
      args: [],
      env: {},
      cwd: dir,
      timeoutMs: 5_000,
      maxOutputBytes: 1024,
    });
    equal(result.kind, "exited");
    equal(result.stdout, `${await Deno.realPath(dir)}\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("limitConcurrency runs at most max programs at once and hands slots over in order", async () => {
  let inFlight = 0;
  let peak = 0;
  const order: string[] = [];
  const gates: (() => void)[] = [];
  const slow: ProcessRunner = {
    async run(req) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      order.push(req.cmd);
      await new Promise<void>((r) => gates.push(r));
      inFlight--;
      return { kind: "exited", code: 0, stdout: "", stderr: "", truncated: false, durationMs: 0 };
    },
  };
  const limited = limitConcurrency(slow, 2);
  const req = (cmd: string) => ({ cmd, args: [], env: {}, timeoutMs: 1000, maxOutputBytes: 10 });
  const all = ["a", "b", "c", "d"].map((c) => limited.run(req(c)));
  await new Promise((r) => setTimeout(r, 0));
  deepEqual(order, ["a", "b"]);
  while (order.length < 4 || gates.length) {
    gates.shift()?.();
    await new Promise((r) => setTimeout(r, 0));
  }
  await Promise.all(all);
  deepEqual(order, ["a", "b", "c", "d"]);
  equal(peak, 2);
});
