import { equal, match, ok } from "node:assert/strict";
import { cli } from "./mod.ts";
import { captureIo } from "../../tests/fakes/io.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("scout validate accepts checks.example and its machines (examples cannot go stale)", async () => {
  const io = captureIo();
  const code = await cli([
    "validate",
    "--checks",
    `${root}checks.example`,
    "--machines",
    `${root}checks.example/machines`,
    "--plugin-dir",
    `${root}checks.example/plugins`,
  ], io);
  equal(code, 0, io.stderr);
  match(io.stderr, /files? valid/);
});

Deno.test("scout validate prints FILE:LINE:COL and a hint, and exits 2", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/web.yaml`,
    "checks:\n  - name: web\n    plugin: check_http\n    intervall: 5m\n  - name: web\n    builtin: heartbeat\n",
  );
  await Deno.writeTextFile(`${dir}/bad.yaml`, "checks:\n  - name: [\n");
  const io = captureIo();
  equal(await cli(["validate", "--checks", dir], io), 2);
  match(
    io.stderr,
    new RegExp(
      `${dir}/web.yaml:4:5: .*unknown key "intervall"\\n  hint: did you mean "interval"\\?`,
    ),
  );
  match(io.stderr, new RegExp(`${dir}/web.yaml:5:\\d+: .*web`));
  match(io.stderr, new RegExp(`${dir}/bad.yaml:\\d+:\\d+: `));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("scout validate --json reports errors as data", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/a.yaml`,
    "checks:\n  - name: web\n    plugin: check_http\n    interval: 5 minutes\n",
  );
  const io = captureIo();
  equal(await cli(["validate", "--checks", dir, "--json"], io), 2);
  const out = JSON.parse(io.stdout);
  equal(out.ok, false);
  equal(out.errors[0].code, "CONFIG_DURATION");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("scout checks without a running agent exits 2 with a hint", async () => {
  const dir = await Deno.makeTempDir();
  const io = captureIo();
  equal(await cli(["checks", "--state-dir", dir], io), 2);
  match(io.stderr, /No running agent/);
  match(io.stderr, /hint: /);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("scout rejects an unknown command or flag with exit 2", async () => {
  const io = captureIo();
  equal(await cli(["frobnicate"], io), 2);
  equal(await cli(["checks", "--bogus"], io), 2);
  match(io.stderr, /--bogus/);
});

Deno.test("scout agent refuses an identity with an underscore", async () => {
  const io = captureIo();
  equal(
    await cli(
      ["agent", "--standalone", "--identity", "bad_name", "--state-dir", "/nonexistent"],
      io,
    ),
    2,
  );
  match(io.stderr, /bad_name/);
});

Deno.test("every command answers --help with exit 0", async () => {
  for (const c of ["agent", "validate", "checks", "trigger", "maintenance", "resume", "version"]) {
    const io = captureIo();
    equal(await cli([c, "--help"], io), 0);
    ok(io.stdout.includes(`scout ${c}`), c);
  }
});

Deno.test("scout checks ends with the fleet connection's spool counts", async () => {
  const { fleetLine } = await import("./control.ts");
  equal(
    fleetLine({ connected: false, waiting: 12, dropped: 3 }),
    "fleet: NOT CONNECTED, 12 event(s) waiting in the spool, 3 dropped from a full spool",
  );
});

Deno.test("scout version names the permission set it runs under: agent, hub, or more than either", async () => {
  for (const set of ["agent", "hub"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", `-P=${set}`, "main.ts", "version", "--json"],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    equal(JSON.parse(new TextDecoder().decode(out.stdout)).permissions, set);
  }
  const { permissionProfile } = await import("./version.ts");
  equal(permissionProfile(() => "granted"), "none (more than Scout's sets grant, e.g. -A)");
  equal(permissionProfile(() => "denied"), "unknown");
});
