import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";
import { command, goDuration } from "./command.ts";

Deno.test("command runs sh -c once and reports exit status, stdout and stderr", async () => {
  const host = new FakeHost({ programs: { sh: { code: 3, stdout: "out\n", stderr: "err\n" } } });
  const sys = command.system("echo hi", {}, ctxOf(host));
  equal(await sys.get("exit-status"), 3);
  equal(await sys.get("stdout"), "out\n");
  equal(await sys.get("stderr"), "err\n");
  deepEqual(host.ran, [["/usr/bin/sh", "-c", "echo hi"]]);
});

Deno.test("command timing out makes every property an error with goss's message", async () => {
  const host = new FakeHost({ programs: { sh: { timedOut: true, code: null } } });
  const ctx = ctxOf(host);
  match(
    await rejection(actual(command, "sleep 9", { timeout: 1500 }, ctx, "exit-status")),
    /timed out \(1\.5s\)/,
  );
  match(await rejection(actual(command, "sleep 9", {}, ctx, "stdout")), /timed out \(10s\)/);
});

Deno.test("command killed by a signal reports exit status -1 as Go does", async () => {
  const host = new FakeHost({ programs: { sh: { code: null } } });
  equal(await actual(command, "kill -9 $$", {}, ctxOf(host), "exit-status"), -1);
});

Deno.test("command without sh is an error naming the package", async () => {
  match(
    await rejection(actual(command, "true", {}, ctxOf(new FakeHost()), "exit-status")),
    /sh is not installed.*dash/,
  );
});

Deno.test("command rejects a timeout that is not a number", async () => {
  const host = new FakeHost({ programs: { sh: {} } });
  match(
    await rejection(actual(command, "true", { timeout: "soon" }, ctxOf(host), "stdout")),
    /timeout must be/,
  );
});

Deno.test("goDuration prints seconds and milliseconds as Go does", () => {
  deepEqual([goDuration(10_000), goDuration(1500), goDuration(500)], ["10s", "1.5s", "500ms"]);
});

Deno.test("command runs a real shell: exit codes, both streams, 127 for a missing program", async () => {
  const ctx = ctxOf(createDenoGossHost());
  const sys = command.system("echo out; echo err >&2; exit 4", {}, ctx);
  equal(await sys.get("exit-status"), 4);
  equal(await sys.get("stdout"), "out\n");
  equal(await sys.get("stderr"), "err\n");
  equal(await actual(command, "no-such-program-scout", {}, ctx, "exit-status"), 127);
});

Deno.test("command with a real timeout is killed and reported as timed out", async () => {
  const ctx = ctxOf(createDenoGossHost());
  const start = performance.now();
  match(
    await rejection(actual(command, "sleep 5", { timeout: 300 }, ctx, "exit-status")),
    /timed out \(300ms\)/,
  );
  equal(performance.now() - start < 3000, true);
});

Deno.test("command gets a minimal environment: PATH and C.UTF-8 locale only", async () => {
  const out = String(
    await actual(command, "env | sort", {}, ctxOf(createDenoGossHost()), "stdout"),
  );
  const names = out.trim().split("\n").map((l) => l.split("=")[0]).filter((n) =>
    n !== "PWD" && n !== "SHLVL" && n !== "_"
  );
  deepEqual(names, ["LANG", "LC_ALL", "PATH"]);
});
