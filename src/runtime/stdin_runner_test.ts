import { equal, match, ok } from "node:assert/strict";
import { createDenoStdinRunner } from "./mod.ts";

const env = { PATH: "/usr/local/bin:/usr/bin:/bin" };

/** True once the process is dead (absent or a zombie); the kill may take a moment to land. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (/\) [ZX] /.test(stat)) return true;
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

Deno.test("stdin runner gives the program its stdin and only the given environment", async () => {
  Deno.env.set("SCOUT_LEAK_TEST", "leaked");
  const r = await createDenoStdinRunner().run({
    cmd: "/bin/sh",
    args: ["-c", 'cat; echo "[${SCOUT_LEAK_TEST:-unset}] $X"; echo oops >&2; exit 3'],
    env: { ...env, X: "given" },
    stdin: '{"csr":"..."}\n',
    timeoutMs: 10_000,
  });
  equal(r.code, 3);
  equal(r.timedOut, false);
  equal(r.stdout, '{"csr":"..."}\n[unset] given\n');
  equal(r.stderr, "oops\n");
});

Deno.test("stdin runner caps stdout at 64 KiB and says so", async () => {
  const r = await createDenoStdinRunner().run({
    cmd: "/bin/sh",
    args: ["-c", "head -c 200000 /dev/zero | tr '\\0' a"],
    env,
    stdin: "",
    timeoutMs: 10_000,
  });
  equal(r.code, 0);
  ok(r.stdout.startsWith("a".repeat(65536)));
  match(r.stdout, /^a{65536}\n\[output truncated at 65536 bytes\]$/);
});

Deno.test("stdin runner kills the program and what it started on timeout", async () => {
  const started = performance.now();
  const r = await createDenoStdinRunner().run({
    cmd: "/bin/sh",
    args: ["-c", "sleep 30 & echo $!; wait"],
    env,
    stdin: "",
    timeoutMs: 200,
  });
  equal(r.timedOut, true);
  equal(r.code, null);
  ok(performance.now() - started < 5_000, "returned soon after the timeout");
  const pid = Number(r.stdout.trim());
  ok(pid > 0, r.stdout);
  ok(await gone(pid), `the background sleep (pid ${pid}) was killed with its group`);
});

Deno.test("stdin runner reports a program that cannot start, without throwing", async () => {
  const r = await createDenoStdinRunner().run({
    cmd: "/nonexistent/signer",
    args: [],
    env,
    stdin: "{}",
    timeoutMs: 1_000,
  });
  equal(r.code, null);
  equal(r.timedOut, false);
  match(r.stderr, /cannot start \/nonexistent\/signer/);
});

Deno.test("stdin runner survives a program that ignores a large stdin", async () => {
  const r = await createDenoStdinRunner().run({
    cmd: "/bin/sh",
    args: ["-c", "echo done"],
    env,
    stdin: "x".repeat(1_000_000),
    timeoutMs: 10_000,
  });
  equal(r.code, 0);
  equal(r.stdout, "done\n");
});
