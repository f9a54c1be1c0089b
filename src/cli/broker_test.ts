import { equal, match, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { brokerCommand, checkNatsServer, runBroker, superviseNatsServer } from "./broker.ts";
import type { CliIo } from "./_common.ts";

function io(): CliIo & { text: string[] } {
  const text: string[] = [];
  return {
    text,
    out: (t) => void text.push(t),
    err: (t) => void text.push(t),
    env: () => undefined,
  };
}

const HAVE_NATS = (() => {
  try {
    return new Deno.Command("nats-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

function flags(dir: string, extra: string[] = []): string[] {
  return [
    "--out",
    `${dir}/nats.conf`,
    "--listen",
    "127.0.0.1:4222",
    "--tls-cert",
    "/s.pem",
    "--tls-key",
    "/s-key.pem",
    "--tls-ca",
    "/ca.pem",
    "--store-dir",
    `${dir}/js`,
    ...extra,
  ];
}

Deno.test("scout broker config writes the fleet's configuration with mode 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/fleet.yaml`,
      "nodes:\n  - identity: n1.example\n    groups: [web]\nhubs: [hub]\noperators: [op]\ndenied: [old]\n",
    );
    const code = await brokerCommand.run([
      "config",
      ...flags(dir, ["--fleet", `${dir}/fleet.yaml`]),
    ], io());
    equal(code, 0);
    const text = await Deno.readTextFile(`${dir}/nats.conf`);
    match(text, /user: "n1\.example"/);
    match(text, /"\$JS\.API\.DIRECT\.GET\.KV_SCOUT_CHECKS\.\$KV\.SCOUT_CHECKS\.group\.web"/);
    ok(!text.includes('user: "old"'));
    equal((await Deno.stat(`${dir}/nats.conf`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scout broker config names the fleet file when an identity in it is invalid", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/fleet.json`, '{"hubs": ["bad_name"]}');
    await rejects(
      () => brokerCommand.run(["config", ...flags(dir, ["--fleet", `${dir}/fleet.json`])], io()),
      (e) =>
        e instanceof ScoutError && e.code === "IDENTITY_INVALID" &&
        e.message.includes("fleet.json"),
    );
    await rejects(
      () => brokerCommand.run(["config", "--out", `${dir}/x.conf`], io()),
      (e) => e instanceof ScoutError && e.code === "USAGE" && /--listen/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scout broker run explains how to install a missing nats-server", async () => {
  await rejects(
    () => checkNatsServer("/nonexistent/nats-server"),
    (e) => e instanceof ScoutError && /apt install nats-server/.test(e.hint ?? ""),
  );
});

Deno.test({
  name: "the supervisor restarts a nats-server that died and stops it cleanly",
  ignore: !HAVE_NATS && !Deno.env.get("CI"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    await Deno.writeTextFile(`${dir}/n.conf`, `listen: "127.0.0.1:${port}"\n`);
    const lines: string[] = [];
    const sup = superviseNatsServer({
      configFile: `${dir}/n.conf`,
      backoffMs: 50,
      log: (line) => void lines.push(line),
    });
    const waitPid = async (not: number | null) => {
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        const p = sup.pid();
        if (p !== null && p !== not) return p;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no nats-server pid; log: ${lines.join(" | ")}`);
    };
    try {
      const first = await waitPid(null);
      Deno.kill(first, "SIGKILL");
      const second = await waitPid(first);
      ok(second !== first);
      ok(lines.some((x) => x.startsWith("restarting nats-server")), lines.join(" | "));
      sup.reload();
    } finally {
      await sup.stop();
      await Deno.remove(dir, { recursive: true });
    }
    equal(sup.pid(), null);
  },
});

Deno.test("scout broker run rewrites the config and reloads when the fleet file changes on disk", async () => {
  const dir = await Deno.makeTempDir();
  // A stand-in for nats-server: answers --version, records each SIGHUP (a reload).
  const fake = `${dir}/fake-nats-server`;
  await Deno.writeTextFile(
    fake,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "nats-server: v0.0.0-fake"; exit 0; fi\n` +
      `trap 'echo hup >> "${dir}/hups"' HUP\ntrap 'exit 0' TERM\n` +
      `while true; do sleep 0.05; done\n`,
    { mode: 0o755 },
  );
  const stop = new AbortController();
  const out = io();
  const started = Promise.withResolvers<void>();
  // The fleet file does not exist yet: nats-server waits for it (an empty fleet lets any
  // certificate of the CA in).
  const running = runBroker(
    ["run", ...flags(dir, ["--fleet", `${dir}/fleet.json`, "--nats-server", fake])],
    out,
    { signal: stop.signal, fleetPollMs: 50, onStarted: () => started.resolve() },
  );
  const hups = async () =>
    (await Deno.readTextFile(`${dir}/hups`).catch(() => "")).split("\n").filter(Boolean).length;
  const until = async (what: string, cond: () => Promise<boolean>) => {
    const end = Date.now() + 5000;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}; log: ${out.text.join("")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    await new Promise((r) => setTimeout(r, 200));
    equal(await Deno.stat(`${dir}/nats.conf`).catch(() => null), null, "not started yet");
    await Deno.writeTextFile(`${dir}/fleet.json`, '{"hubs": ["hub.example"]}');
    await started.promise;
    ok(!(await Deno.readTextFile(`${dir}/nats.conf`)).includes('user: "n1.example"'));
    await new Promise((r) => setTimeout(r, 200)); // the fake has set its traps
    await Deno.writeTextFile(
      `${dir}/fleet.json`,
      '{"hubs": ["hub.example"], "nodes": [{"identity": "n1.example"}]}',
    );
    await until(
      "config with n1",
      async () => (await Deno.readTextFile(`${dir}/nats.conf`)).includes('user: "n1.example"'),
    );
    await until("a reload", async () => (await hups()) >= 1);
    // An invalid fleet file keeps the running configuration.
    await Deno.writeTextFile(`${dir}/fleet.json`, '{"nodes": [{"identity": "bad_name"}]}');
    await until(
      "the refusal logged",
      () => Promise.resolve(out.text.join("").includes("config not reloaded")),
    );
    ok((await Deno.readTextFile(`${dir}/nats.conf`)).includes('user: "n1.example"'));
    await Deno.writeTextFile(`${dir}/fleet.json`, '{"denied": ["n1.example"]}');
    await until(
      "config without n1",
      async () => !(await Deno.readTextFile(`${dir}/nats.conf`)).includes('user: "n1.example"'),
    );
    await until("a second reload", async () => (await hups()) >= 2);
  } finally {
    stop.abort();
    equal(await running, 0);
    await Deno.remove(dir, { recursive: true });
  }
});
