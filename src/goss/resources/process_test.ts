import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { parsePsComm, processType } from "./process.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

const PS = "systemd\nkthreadd\nkworker/0:1-events\nnginx\nnginx\nmy long daemon n\n";

Deno.test("ps comm parser keeps one name per line, names with spaces too", () => {
  deepEqual(parsePsComm(PS), [
    "systemd",
    "kthreadd",
    "kworker/0:1-events",
    "nginx",
    "nginx",
    "my long daemon n",
  ]);
});

Deno.test("process running compares the comm name exactly", async () => {
  const host = new FakeHost({ programs: { ps: { stdout: PS } } });
  const ctx = ctxOf(host);
  equal(await actual(processType, "nginx", {}, ctx, "running"), true);
  equal(await actual(processType, "ngin", {}, ctx, "running"), false);
  equal(await actual(processType, "my long daemon n", {}, ctx, "running"), true);
  deepEqual(host.ran[0], ["/usr/bin/ps", "-e", "-o", "comm="]);
});

Deno.test("process without ps is an error naming procps, never a silent false", async () => {
  match(
    await rejection(actual(processType, "nginx", {}, ctxOf(new FakeHost()), "running")),
    /ps is not installed.*procps/,
  );
});

Deno.test("process reports a failing ps as an error", async () => {
  const host = new FakeHost({ programs: { ps: { code: 1, stderr: "ps: bad option\n" } } });
  match(
    await rejection(actual(processType, "x", {}, ctxOf(host), "running")),
    /failed \(exit 1\): ps: bad option/,
  );
});

/** Real tests may skip for a missing tool only outside CI (under CI=1 they must fail). */
const ignore = (await createDenoGossHost().which("ps")) === null && !Deno.env.get("CI");

Deno.test(
  { name: "process sees a real sleep it started and not a name nobody runs", ignore },
  async () => {
    const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" })
      .spawn();
    try {
      const ctx = ctxOf(createDenoGossHost());
      equal(await actual(processType, "sleep", {}, ctx, "running"), true);
      equal(await actual(processType, "no-such-proc-x", {}, ctx, "running"), false);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  },
);
