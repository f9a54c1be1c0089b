// deno-lint-ignore-file no-console -- the demo talks to the person running it
/**
 * The fleet demo (`deno task demo [--exit]`): on this machine, with nats-server installed, it
 * makes a fleet CA, starts the managed broker (`scout-hub broker run`), the hub with its
 * provisioner (`scout-hub hub`), issues a provisioning token (`scout-hub token provisioning`),
 * and starts three agents that hold nothing but that token. They enrol, run checks.example and
 * show up in the hub's fleet view; the demo prints the view and the page's URL and keeps running
 * until Ctrl-C (with `--exit` it stops everything once the three are in the view, for tests).
 *
 * Everything lives in `.scout/demo/` (logs in `.scout/demo/logs/`), recreated on each run. Every
 * process is a real command under its own permission set: `-P=hub` for the hub side, `-P=agent`
 * for the agents. The broker issues and renews its own server certificate from the CA
 * (`--ca-dir`); the hub's client certificate is issued in-process (an operator would use
 * `scout-hub ca sign`).
 * @module
 */
import { parseArgs } from "node:util";
import { fileCaSigner, generateKeyAndCsr } from "../src/pki/mod.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const DIR = `${ROOT}/.scout/demo`;
const DENO = Deno.execPath();
const AGENTS = ["demo-1", "demo-2", "demo-3"];

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const children: { name: string; child: Deno.ChildProcess }[] = [];

/** Runs a scout command to completion (hub or agent permission set); throws with its output. */
async function scout(set: "hub" | "agent", args: string[]): Promise<string> {
  const out = await new Deno.Command(DENO, {
    args: ["run", "--quiet", `-P=${set}`, "main.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`scout ${args.slice(0, 2).join(" ")} failed:\n${text}`);
  return text;
}

/** Starts a long-running scout command with its output in logs/<name>.log. */
async function start(name: string, set: "hub" | "agent", args: string[]): Promise<void> {
  const log = await Deno.open(`${DIR}/logs/${name}.log`, { write: true, create: true });
  const child = new Deno.Command(DENO, {
    args: ["run", "--quiet", `-P=${set}`, "main.ts", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  // Both streams into the one log file.
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) await log.write(chunk);
  };
  Promise.all([pump(child.stdout), pump(child.stderr)]).finally(() => log.close());
  children.push({ name, child });
}

async function stopAll(): Promise<void> {
  for (const { child } of [...children].reverse()) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  await Promise.all(children.map(({ child }) => child.status));
}

async function tail(name: string, lines = 15): Promise<string> {
  try {
    const text = await Deno.readTextFile(`${DIR}/logs/${name}.log`);
    return text.trimEnd().split("\n").slice(-lines).map((l) => `  ${name}| ${l}`).join("\n");
  } catch {
    return `  ${name}| (no log)`;
  }
}

interface NodeRow {
  identity: string;
  checks: number;
  statuses: Record<string, number>;
}

async function nodes(api: string): Promise<NodeRow[]> {
  try {
    const r = await fetch(`${api}/api/v1/nodes`);
    return r.ok ? ((await r.json()) as { nodes: NodeRow[] }).nodes : [];
  } catch {
    return [];
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ args: Deno.args, options: { exit: { type: "boolean" } } });
  try {
    await new Deno.Command("nats-server", { args: ["--version"], stdout: "null" }).output();
  } catch {
    console.error("The demo needs nats-server: apt-get install nats-server");
    return 2;
  }
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${DIR}/logs`, { recursive: true });
  const brokerPort = freePort();
  const enrolPort = freePort();
  const apiPort = freePort();
  const brokerUrl = `tls://127.0.0.1:${brokerPort}`;
  const api = `http://127.0.0.1:${apiPort}`;

  console.log(`1. fleet CA:        scout-hub ca init --dir .scout/demo/ca`);
  await scout("hub", ["ca", "init", "--dir", `${DIR}/ca`]);
  const ca = {
    certPem: await Deno.readTextFile(`${DIR}/ca/ca.pem`),
    keyPem: await Deno.readTextFile(`${DIR}/ca/ca.key`),
  };
  const signer = fileCaSigner(ca);
  // The hub's client certificate for the broker (the broker issues its own from --ca-dir).
  const k = await generateKeyAndCsr("hub.demo");
  const hubCert = await signer.sign({
    csrPem: k.csrPem,
    identity: "hub.demo",
    usage: "client",
    days: 30,
    now: new Date(),
  });
  await Deno.writeTextFile(`${DIR}/hub.pem`, hubCert.certPem);
  await Deno.writeTextFile(`${DIR}/hub.key`, k.keyPem, { mode: 0o600 });
  const tls = ["--tls-ca", `${DIR}/ca/ca.pem`];

  console.log(`2. broker:          scout-hub broker run --listen 127.0.0.1:${brokerPort} ...`);
  await start("broker", "hub", [
    "broker",
    "run",
    "--out",
    `${DIR}/nats.conf`,
    "--listen",
    `127.0.0.1:${brokerPort}`,
    "--ca-dir",
    `${DIR}/ca`,
    "--store-dir",
    `${DIR}/jetstream`,
    "--fleet",
    `${DIR}/hub/fleet.json`,
  ]);
  console.log(
    `3. hub:             scout-hub hub --enrol-listen 127.0.0.1:${enrolPort} --listen 127.0.0.1:${apiPort} ...`,
  );
  await start("hub", "hub", [
    "hub",
    "--broker",
    brokerUrl,
    ...tls,
    "--tls-cert",
    `${DIR}/hub.pem`,
    "--tls-key",
    `${DIR}/hub.key`,
    "--state-dir",
    `${DIR}/hub`,
    "--ca-dir",
    `${DIR}/ca`,
    "--enrol-listen",
    `127.0.0.1:${enrolPort}`,
    "--listen",
    `127.0.0.1:${apiPort}`,
    "--stale-after",
    "2m",
  ]);
  console.log(
    `4. token:           scout-hub token provisioning --url https://127.0.0.1:${enrolPort}/ --identity 'demo-*'`,
  );
  await scout("hub", [
    "token",
    "provisioning",
    "--ca",
    `${DIR}/ca`,
    "--url",
    `https://127.0.0.1:${enrolPort}/`,
    "--identity",
    "demo-*",
    "--expires",
    "1h",
    "--out",
    `${DIR}/token.jwt`,
  ]);
  // The hub must be listening before the agents try (they would retry anyway, with backoff).
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${api}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(
    `5. three agents:    scout agent --identity demo-N --provisioning-token token.jwt --checks checks.example`,
  );
  for (const id of AGENTS) {
    await start(id, "agent", [
      "agent",
      "--identity",
      id,
      "--checks",
      "checks.example",
      "--machines",
      "checks.example/machines",
      "--plugin-dir",
      "checks.example/plugins",
      "--state-dir",
      `${DIR}/${id}`,
      "--provisioning-token",
      `${DIR}/token.jwt`,
      "--announce",
      "1m",
      "--no-splay",
      "--quiet",
    ]);
  }

  const deadline = Date.now() + 60_000;
  let seen: NodeRow[] = [];
  while (Date.now() < deadline) {
    seen = (await nodes(api)).filter((n) => AGENTS.includes(n.identity) && n.checks > 0);
    if (seen.length === AGENTS.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (seen.length < AGENTS.length) {
    console.error(
      `\nOnly ${seen.length} of ${AGENTS.length} agents reached the fleet view in 60 s. Logs:`,
    );
    for (const n of ["broker", "hub", ...AGENTS]) console.error(await tail(n));
    await stopAll();
    return 1;
  }
  console.log(`\nAll ${AGENTS.length} agents enrolled and report to the hub:\n`);
  for (const n of seen) {
    const st = Object.entries(n.statuses).map(([s, c]) => `${c} ${s}`).join(", ");
    console.log(`  ${n.identity.padEnd(8)} ${n.checks} checks: ${st}`);
  }
  console.log(`\nFleet page: ${api}/   API: ${api}/api/v1/nodes   logs: .scout/demo/logs/`);
  if (values.exit) {
    await stopAll();
    return 0;
  }
  console.log("Ctrl-C stops the demo.");
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  await stopAll();
  return 0;
}

if (import.meta.main) {
  let code = 1;
  try {
    code = await main();
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    await stopAll();
  }
  Deno.exit(code);
}
