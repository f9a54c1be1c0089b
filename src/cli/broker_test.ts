import { equal, match, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { brokerCommand, checkNatsServer, superviseNatsServer } from "./broker.ts";
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
