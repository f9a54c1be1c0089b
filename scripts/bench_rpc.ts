/**
 * Node API benchmark (`deno task bench:rpc`): the two performance targets of the node API
 * (issue 6), each against a baseline taken IN THE SAME RUN, on a throw-away local TLS
 * nats-server with JetStream (tests/_nats.ts) and a throw-away fleet CA.
 *
 *   1. Flood. One REAL agent (startAgent in fleet mode, in a child process of this script run
 *      under the agent's permission set `-P=agent` and the shipped V8 flags, so the callers'
 *      work does not share its event loop) runs 100 check_dummy checks
 *      (/usr/lib/nagios/plugins/check_dummy, the real runner) at `--interval` (default 1 s, i.e.
 *      100 check starts a second: enough samples for a p99) with the agent's random splay. The
 *      check-start lateness of every run (AgentOverrides.observeLateness) is recorded with the
 *      time the run was due.
 *      a) Default `--rpc-max-concurrent` (2, with up to 2,000 waiting): one flood (below) is sent
 *         and its answers counted (information).
 *      b) `--rpc-max-concurrent N` (`--concurrency N`, default the agent's default): a window
 *         without requests (the idle
 *         baseline), then a window of floods sent back to back. One flood = 20 callers, each
 *         with its own ed25519 key and operator token (issued by the fleet CA) and its own NATS
 *         connection, sending 50 signed `checks` requests each, all at once: 1,000 concurrent
 *         requests, 50 per caller, inside the default rate limit (`--rpc-rate` 120 a minute; a
 *         fresh set of callers per flood). Targets: every flood all 1,000 answered ok, the last
 *         answer within 5 s of the first request; p99 lateness of the check runs that were due
 *         while a flood was in flight within 1.2x the idle window's p99.
 *      The callers run in their own process (`--load`) at nice 19, and nats-server's threads
 *      are set to nice 19 too: in a fleet they are other machines, and on a 2-core box they
 *      would otherwise take the CPU the agent's check starts need. The events stream exists
 *      (made as the hub makes it), so the agent's events flow as in a fleet. The agent's CPU
 *      is read from /proc for its process and its live descendants. For information, the
 *      machine's floor: a bare Deno process beside the agent that only fires a 10 ms timer
 *      (scripts/_bench_timer_probe.ts), its lateness in the same idle and flood windows.
 *   2. Fleet trigger. In this process: 1,000 simulated nodes, each a real createRpcService (its
 *      own replay cache, rate limiter, trusted issuer, in-memory audit sink, real audit log)
 *      over a tiny in-memory control of 3 checks, each subscribed to `scout.api.<token>.*` and
 *      `scout.api._all.*` (spread over 4 connections). One operator signs a `trigger` to `_all`
 *      and gathers with Bus.gather (as `scout trigger --fleet` does) until 1,000 replies came.
 *      Target: < 5 s (median of the timed runs; each run a fresh request). Baseline: the same
 *      gather answered by 1,000 x 2 responders that reply a fixed payload without auth (the
 *      transport's share). A first, untimed `checks` gather warms every node (key import).
 *
 * Usage: deno task bench:rpc [--quick] [--interval 1s] [--concurrency 1000] [--json FILE]
 *
 * Prints the command and a markdown table (metric, value, baseline, ratio/target, result) on
 * stdout, progress on stderr. Exit code 0 every target met, 1 a target missed, 2 it could not
 * run, 130 interrupted. Everything started (nats-server, the agent child and its plugins,
 * connections) is stopped and the temporary directory removed, also on SIGINT/SIGTERM.
 * @module
 */
import os from "node:os";
import { parseArgs } from "node:util";
import {
  fmt,
  median,
  out,
  pct,
  printReport,
  progressLog,
  type ResultRow,
  rowLine,
  sleep,
} from "./_bench_report.ts";
import { DEFAULT_PLUGIN_DIRS, startAgent } from "../src/agent.ts";
import { identityToken } from "../src/events.ts";
import { EVENTS_STREAM, EVENTS_SUBJECTS } from "../src/hub/mod.ts";
import {
  createAuditLog,
  createRpcService,
  generateCallerKeyPair,
  importCallerPrivateKey,
  issueOperatorToken,
  parseTrustedIssuer,
  type RpcCheckInfo,
  type RpcControl,
  signRequest,
} from "../src/rpc/mod.ts";
import { createConsoleLogger, createDenoRunner, type ProcessRunner } from "../src/runtime/mod.ts";
import { type Broker, connectBroker } from "../src/transport/mod.ts";
import { V8_FLAGS } from "./build.ts";

const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
const SCRIPT = "scripts/bench_rpc.ts";
const CHECK_DUMMY = "/usr/lib/nagios/plugins/check_dummy";
const SETSID = "/usr/bin/setsid";
const AGENT_IDENTITY = "bench-agent.example";
const CALLERS = 20;
const PER_CALLER = 50;
const NODES = 1000;
const DEFAULT_RPC_RATE = 120;
const DEFAULT_RPC_CONCURRENCY = 2;

const enc = new TextEncoder();
const dec = new TextDecoder();

const log = progressLog("bench:rpc");

function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s.trim());
  if (!m) throw new Error(`bad duration "${s}" (use e.g. 500ms, 1s, 5s)`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

// ------------------------------------------------------------------------------------------------
// The agent child: `bench_rpc.ts --child '<json>'`. Starts the real agent in fleet mode, prints
// READY, runs until SIGTERM, stops the agent and prints one JSON line.

/** What the parent passes to the agent child. */
interface ChildOptions {
  checksDir: string;
  machinesDir: string;
  stateDir: string;
  url: string;
  ca: string;
  cert: string;
  key: string;
  fleetCaPem: string;
  rate: number;
  maxConcurrent: number;
}

/** What the agent child prints when it stops. */
interface ChildResult {
  /** Flat pairs: [due time (epoch ms), lateness ms, ...] of every interval run's start. */
  lateness: number[];
  /** Plugin runs started. */
  runs: number;
  /** Plugin runs that did not exit 0 (other than those stop() aborted). */
  badRuns: number;
  /** An example of a bad run. */
  badExample: string | null;
  /** Time stop() took. */
  stopMs: number;
}

async function child(opts: ChildOptions): Promise<void> {
  const real = createDenoRunner();
  let runs = 0, badRuns = 0;
  let badExample: string | null = null;
  const runner: ProcessRunner = {
    async run(req) {
      runs++;
      const r = await real.run(req);
      // "aborted": killed by stop() at the end of the run, not a failure of the plugin.
      if (r.kind !== "aborted" && (r.kind !== "exited" || r.code !== 0)) {
        badRuns++;
        badExample ??= JSON.stringify({ ...r, stdout: r.stdout.slice(0, 200) });
      }
      return r;
    },
  };
  const lateness: number[] = [];
  const stopped = Promise.withResolvers<void>();
  const onSignal = () => stopped.resolve();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  const handle = await startAgent({
    identity: AGENT_IDENTITY,
    checksDirs: [opts.checksDir],
    machinesDirs: [opts.machinesDir],
    stateDir: opts.stateDir,
    textfileDir: null,
    eventsFile: null,
    pluginDirs: [...DEFAULT_PLUGIN_DIRS],
    noSplay: false,
    maxOutputBytes: 65536,
    rescanMs: 3_600_000,
    maxConcurrent: 32,
    printEvents: false,
    fleet: {
      urls: [opts.url],
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      spoolBytes: 64 * 1024 * 1024,
      policy: "all",
      announceMs: 0,
    },
    rpc: {
      trust: [{ text: opts.fleetCaPem, where: "fleet-ca.pem" }],
      policyFile: null,
      perCallerPerMinute: opts.rate,
      maxConcurrent: opts.maxConcurrent,
    },
  }, {
    runner,
    logger: createConsoleLogger({ level: "warn" }),
    observeLateness: (ms) => {
      lateness.push(Date.now() - ms, ms);
    },
  });
  Deno.stdout.writeSync(enc.encode("READY\n"));
  await stopped.promise;
  const s0 = performance.now();
  await handle.stop();
  const result: ChildResult = {
    lateness,
    runs,
    badRuns,
    badExample,
    stopMs: performance.now() - s0,
  };
  Deno.stdout.writeSync(enc.encode(JSON.stringify(result) + "\n"));
}

// ------------------------------------------------------------------------------------------------
// Everything the parent starts is tracked and stopped.

const live = new Set<Deno.ChildProcess>();
const brokers = new Set<Broker>();
const cleanups: (() => Promise<void>)[] = [];
let aborting = false;

async function stopChild(c: Deno.ChildProcess, graceMs = 15_000): Promise<Deno.CommandStatus> {
  const signal = (sig: Deno.Signal, group: boolean) => {
    try {
      Deno.kill(group ? -c.pid : c.pid, sig);
    } catch { /* already gone */ }
  };
  signal("SIGTERM", false);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((r) => {
    timer = setTimeout(() => {
      signal("SIGKILL", true);
      r();
    }, graceMs);
  });
  const status = await Promise.race([c.status, killed.then(() => c.status)]);
  clearTimeout(timer);
  // Whatever is left of its process group (a plugin) goes too.
  signal("SIGKILL", true);
  return status;
}

/**
 * CPU seconds (user + system) a process and its live descendants (plugins still running) have
 * used so far, from /proc; NaN when unknown.
 */
function cpuSeconds(pid: number): number {
  const stat = (p: string) => {
    try {
      const s = Deno.readTextFileSync(`/proc/${p}/stat`);
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / 100 }; // USER_HZ 100
    } catch {
      return null;
    }
  };
  const all = new Map<number, { ppid: number; cpu: number }>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const st = stat(e.name);
    if (st) all.set(Number(e.name), st);
  }
  if (!all.has(pid)) return NaN;
  let total = 0;
  const tree = [pid];
  while (tree.length) {
    const p = tree.pop()!;
    total += all.get(p)?.cpu ?? 0;
    for (const [q, st] of all) if (st.ppid === p) tree.push(q);
  }
  return total;
}

/**
 * Gives every thread of process `pid` nice 19. The callers and the broker stand in for other
 * machines (in a fleet they are not on the node); on this 2-core box they would otherwise take
 * the CPU the agent's check starts need, and the lateness would measure the load generator.
 */
function niceAll(pid: number): void {
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) os.setPriority(Number(t.name), 19);
}

async function connect(url: string, tls: { ca: string; cert: string; key: string }, name: string) {
  const b = await connectBroker({ urls: [url], tls, name });
  brokers.add(b);
  return b;
}

async function closeBroker(b: Broker): Promise<void> {
  brokers.delete(b);
  await b.close().catch(() => {});
}

async function cleanupAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, 5000)));
  await Promise.all([...brokers].map(closeBroker));
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}

function onSignal(): void {
  if (aborting) return;
  aborting = true;
  log("interrupted: stopping everything and removing the temporary directory");
  cleanupAll().finally(() => Deno.exit(130));
}

// ------------------------------------------------------------------------------------------------
// Results

type Row = ResultRow;

const rows: Row[] = [];
const notes: string[] = [];
const details: Record<string, unknown> = {};

function row(r: Row): void {
  rows.push(r);
  log(rowLine(r));
}

// ------------------------------------------------------------------------------------------------
// Setup shared by both parts

interface Env {
  dir: string;
  url: string;
  tls: { ca: string; cert: string; key: string };
  fleetCa: { certPem: string; keyPem: string };
}

interface Caller {
  name: string;
  token: string;
  privateKey: CryptoKey;
}

async function makeCaller(env: Env, name: string, actions: string[]): Promise<Caller> {
  const keys = await generateCallerKeyPair();
  return {
    name,
    privateKey: await importCallerPrivateKey(keys.privatePem),
    token: await issueOperatorToken({
      issuerKeyPem: env.fleetCa.keyPem,
      subject: name,
      callerPublicKey: keys.publicJwk,
      actions,
      nodes: "*",
      checks: "*",
      ttlMs: 3_600_000,
      now: Date.now() - 1000,
    }),
  };
}

type Reply = {
  ok: boolean;
  identity?: string;
  result?: Record<string, unknown>;
  error?: { code: string; reason: string };
};

// ------------------------------------------------------------------------------------------------
// Part 1: the flood against one agent

interface AgentRun {
  child: Deno.ChildProcess;
  startedAt: number;
  finish(): Promise<ChildResult>;
}

async function startAgentChild(
  env: Env,
  name: string,
  o: { interval: string; checks: number; maxConcurrent: number; rate: number },
): Promise<AgentRun> {
  const base = `${env.dir}/${name}`;
  await Deno.mkdir(`${base}/checks`, { recursive: true });
  await Deno.mkdir(`${base}/machines`, { recursive: true });
  const lines = ["checks:"];
  for (let i = 0; i < o.checks; i++) {
    lines.push(
      `  - name: dummy_${String(i).padStart(3, "0")}`,
      "    plugin: check_dummy",
      `    arguments: "0 ok"`,
      `    interval: ${o.interval}`,
    );
  }
  await Deno.writeTextFile(`${base}/checks/bench.yaml`, lines.join("\n") + "\n");
  const opts: ChildOptions = {
    checksDir: `${base}/checks`,
    machinesDir: `${base}/machines`,
    stateDir: `${base}/state`,
    url: env.url,
    ...env.tls,
    fleetCaPem: env.fleetCa.certPem,
    rate: o.rate,
    maxConcurrent: o.maxConcurrent,
  };
  if (aborting) throw new Error("aborting");
  const c = new Deno.Command(SETSID, {
    args: [
      "--",
      Deno.execPath(),
      "run",
      "--quiet",
      "-P=agent",
      V8_FLAGS,
      SCRIPT,
      "--child",
      JSON.stringify(opts),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(c);
  void c.status.finally(() => live.delete(c));
  let text = "", errText = "";
  const ready = Promise.withResolvers<void>();
  const stdoutDone = (async () => {
    for await (const chunk of c.stdout) {
      text += dec.decode(chunk, { stream: true });
      if (text.includes("READY\n")) ready.resolve();
    }
  })();
  const stderrDone = (async () => {
    for await (const chunk of c.stderr) errText = (errText + dec.decode(chunk)).slice(-20_000);
  })();
  void c.status.then((s) => ready.reject(new Error(`agent child exited (${s.code}): ${errText}`)));
  const startTimer = setTimeout(
    () => ready.reject(new Error("agent child not ready in 60 s")),
    60_000,
  );
  try {
    await ready.promise;
  } finally {
    clearTimeout(startTimer);
  }
  return {
    child: c,
    startedAt: Date.now(),
    async finish() {
      const status = await stopChild(c);
      await Promise.all([stdoutDone, stderrDone]);
      const line = text.trim().split("\n").pop() ?? "";
      if (!status.success || !line.startsWith("{")) {
        throw new Error(`agent child failed (exit ${status.code}): ${errText.slice(-2000)}`);
      }
      const warn = errText.split("\n").filter((l) =>
        l.trim() !== "" && !l.includes("not connected to the broker yet")
      ).join("\n");
      if (warn) log(`agent stderr: ${warn.split("\n").slice(-3).join(" | ").slice(0, 500)}`);
      return JSON.parse(line) as ChildResult;
    },
  };
}

/** Waits until the agent answers a signed `checks` request listing every check. */
async function waitAnswering(env: Env, bus: Broker["bus"], checks: number): Promise<number> {
  const probe = await makeCaller(env, "probe", ["checks"]);
  const subject = `scout.api.${identityToken(AGENT_IDENTITY)}.checks`;
  const end = Date.now() + 60_000;
  let last = "";
  while (Date.now() < end) {
    try {
      const req = await signRequest({
        action: "checks",
        target: AGENT_IDENTITY,
        args: {},
        token: probe.token,
        privateKey: probe.privateKey,
        now: Date.now(),
      });
      const bytes = await bus.request(subject, enc.encode(JSON.stringify(req)), 2000);
      const r = JSON.parse(dec.decode(bytes)) as Reply;
      if (r.ok && (r.result?.["checks"] as unknown[] | undefined)?.length === checks) {
        return bytes.length;
      }
      last = JSON.stringify(r).slice(0, 200);
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`the agent did not answer checks within 60 s: ${last}`);
}

interface Flood {
  /** Per caller: its signed requests. */
  requests: Uint8Array[][];
}

/** 20 fresh callers (own key, own operator token) and 50 signed `checks` requests each. */
async function prepareFlood(env: Env, round: number): Promise<Flood> {
  const callers = await Promise.all(
    Array.from(
      { length: CALLERS },
      (_, i) => makeCaller(env, `flood-${round}-${i}`, ["checks"]),
    ),
  );
  const now = Date.now();
  const requests = await Promise.all(callers.map(async (c) => {
    const out: Uint8Array[] = [];
    for (let j = 0; j < PER_CALLER; j++) {
      const req = await signRequest({
        action: "checks",
        target: AGENT_IDENTITY,
        args: {},
        token: c.token,
        privateKey: c.privateKey,
        now,
      });
      out.push(enc.encode(JSON.stringify(req)));
    }
    return out;
  }));
  return { requests };
}

interface FloodResult {
  ok: number;
  busy: number;
  rateLimited: number;
  other: number;
  noAnswer: number;
  /** Time from the first request to the last answer, ms. */
  lastMs: number;
  /** Epoch ms of the first request and of the last answer. */
  from: number;
  to: number;
  example: string | null;
}

/** Sends every request at once, each caller on its own connection; counts the answers. */
async function sendFlood(
  callerBuses: Broker["bus"][],
  flood: Flood,
  checks: number,
): Promise<FloodResult> {
  const subject = `scout.api.${identityToken(AGENT_IDENTITY)}.checks`;
  const r: FloodResult = {
    ok: 0,
    busy: 0,
    rateLimited: 0,
    other: 0,
    noAnswer: 0,
    lastMs: 0,
    from: Date.now(),
    to: 0,
    example: null,
  };
  const start = performance.now();
  const all: Promise<void>[] = [];
  flood.requests.forEach((reqs, i) => {
    const bus = callerBuses[i % callerBuses.length]!;
    for (const data of reqs) {
      all.push(
        bus.request(subject, data, 15_000).then((bytes) => {
          r.lastMs = Math.max(r.lastMs, performance.now() - start);
          const reply = JSON.parse(dec.decode(bytes)) as Reply;
          const listed = (reply.result?.["checks"] as unknown[] | undefined)?.length;
          if (reply.ok && listed === checks) r.ok++;
          else if (reply.error?.code === "BUSY") r.busy++;
          else if (reply.error?.code === "RATE_LIMITED") r.rateLimited++;
          else {
            r.other++;
            r.example ??= JSON.stringify(reply).slice(0, 300);
          }
        }, (e) => {
          r.noAnswer++;
          r.example ??= String((e as Error).message).slice(0, 300);
        }),
      );
    }
  });
  await Promise.all(all);
  r.to = r.from + Math.ceil(r.lastMs);
  return r;
}

/** The callers' process: prepares and sends floods when the parent asks (JSON lines). */
interface Load {
  /** Makes the callers and signs the requests of flood `round`. */
  prepare(round: number): Promise<void>;
  /** Sends the prepared flood and counts its answers. */
  send(): Promise<FloodResult>;
  /** Ends the process. */
  stop(): Promise<void>;
}

/**
 * Starts the callers in their own process at nice 19 (`--load`): like the broker, they stand in
 * for other machines, so their CPU does not count against the agent's check starts.
 */
async function startLoad(env: Env, checks: number): Promise<Load> {
  const c = new Deno.Command("/usr/bin/nice", {
    args: [
      "-n",
      "19",
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      SCRIPT,
      "--load",
      JSON.stringify({ env, checks }),
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  live.add(c);
  void c.status.finally(() => live.delete(c));
  const writer = c.stdin.getWriter();
  const lines = c.stdout.pipeThrough(new TextDecoderStream()).values();
  let buffered = "";
  const ask = async (cmd: Record<string, unknown>): Promise<unknown> => {
    await writer.write(enc.encode(JSON.stringify(cmd) + "\n"));
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.next();
      if (done) throw new Error("the callers' process exited");
      buffered += value;
    }
    const nl = buffered.indexOf("\n");
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    return JSON.parse(line);
  };
  await ask({ cmd: "hello" });
  return {
    prepare: async (round) => void await ask({ cmd: "prepare", round }),
    send: async () => await ask({ cmd: "send" }) as FloodResult,
    async stop() {
      await writer.close().catch(() => {});
      await c.status;
    },
  };
}

/** `--load`: the callers' process (see startLoad). */
async function loadChild(o: { env: Env; checks: number }): Promise<void> {
  const buses: Broker["bus"][] = [];
  for (let i = 0; i < CALLERS; i++) {
    buses.push((await connect(o.env.url, o.env.tls, `bench caller ${i}`)).bus);
  }
  let next: Flood | null = null;
  let buffered = "";
  const reply = (v: unknown) => Deno.stdout.writeSync(enc.encode(JSON.stringify(v) + "\n"));
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const cmd = JSON.parse(buffered.slice(0, nl)) as { cmd: string; round?: number };
      buffered = buffered.slice(nl + 1);
      if (cmd.cmd === "prepare") next = await prepareFlood(o.env, cmd.round ?? 0);
      if (cmd.cmd === "send") reply(await sendFlood(buses, next!, o.checks));
      else reply({ ok: true });
    }
  }
  await cleanupAll();
}

function floodCounts(f: FloodResult): string {
  return `${f.ok} ok, ${f.busy} busy, ${f.rateLimited} rate-limited, ${f.other} other, ${f.noAnswer} unanswered`;
}

interface Plan {
  quick: boolean;
  interval: string;
  intervalMs: number;
  checks: number;
  concurrency: number;
  idleMs: number;
  floodMs: number;
  gapMs: number;
  fleetReps: number;
}

/**
 * Starts scripts/_bench_timer_probe.ts beside the agent (same V8 flags, nice 0): the lateness a
 * timer of a process that does nothing else sees, i.e. what the OS alone does during a flood.
 */
function startTimerProbe(): { finish(): Promise<number[]> } {
  const c = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", V8_FLAGS, "scripts/_bench_timer_probe.ts"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  live.add(c);
  void c.status.finally(() => live.delete(c));
  const text = new Response(c.stdout).text();
  return {
    async finish() {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
      await c.status;
      const line = (await text).trim();
      return line.startsWith("[") ? JSON.parse(line) as number[] : [];
    },
  };
}

async function benchFlood(env: Env, plan: Plan): Promise<void> {
  const admin = await connect(env.url, env.tls, "bench probe");
  // The events stream, as the hub makes it: in a fleet the agent's events have somewhere to go
  // (without it every publish fails and the agent keeps retrying its spool).
  await admin.stream.ensure(EVENTS_STREAM, [...EVENTS_SUBJECTS], { duplicateWindowMs: 600_000 });
  const probe = admin.bus;
  const load = await startLoad(env, plan.checks);
  const warmupMs = plan.intervalMs + 3000;

  // a) The default concurrency.
  {
    log(
      `1a. agent with the default --rpc-max-concurrent ${DEFAULT_RPC_CONCURRENCY}, ` +
        `--rpc-rate ${DEFAULT_RPC_RATE}: one flood of ${CALLERS * PER_CALLER} checks requests`,
    );
    const agent = await startAgentChild(env, "agent-default", {
      interval: plan.interval,
      checks: plan.checks,
      maxConcurrent: DEFAULT_RPC_CONCURRENCY,
      rate: DEFAULT_RPC_RATE,
    });
    let res: FloodResult;
    try {
      await waitAnswering(env, probe, plan.checks);
      await sleep(Math.max(0, agent.startedAt + warmupMs - Date.now()));
      await load.prepare(0);
      res = await load.send();
    } finally {
      await agent.finish().catch((e) => log(`agent (default) stop: ${(e as Error).message}`));
    }
    details.floodDefault = res;
    const answered = CALLERS * PER_CALLER - res.noAnswer;
    row({
      metric: `Flood, default concurrency ${DEFAULT_RPC_CONCURRENCY}: answers`,
      value: `${answered}/${CALLERS * PER_CALLER} answered in ${fmt(res.lastMs)} ms: ${
        floodCounts(res)
      }`,
      baseline: "",
      target: res.busy > 0
        ? "info: excess is shed as BUSY at once (load shedding by design)"
        : "info",
      pass: null,
    });
    if (res.busy > 0) {
      notes.push(
        `with the default --rpc-max-concurrent ${DEFAULT_RPC_CONCURRENCY} the agent answers ` +
          `${res.busy} of the ${CALLERS * PER_CALLER} concurrent requests BUSY (they arrive ` +
          `together; only ${DEFAULT_RPC_CONCURRENCY} are handled at once and the rest are refused ` +
          `at once, not queued). The targets below are measured with --rpc-max-concurrent ${plan.concurrency}.`,
      );
    }
  }

  // b) A concurrency that takes the whole flood: idle window, then floods back to back.
  log(
    `1b. agent with --rpc-max-concurrent ${plan.concurrency}: ${plan.idleMs / 1000} s idle, ` +
      `then ${plan.floodMs / 1000} s of floods`,
  );
  const agent = await startAgentChild(env, "agent-flood", {
    interval: plan.interval,
    checks: plan.checks,
    maxConcurrent: plan.concurrency,
    rate: DEFAULT_RPC_RATE,
  });
  const timerProbe = startTimerProbe();
  const floods: FloodResult[] = [];
  const floodCpu: number[] = [];
  let idle = { from: 0, to: 0 };
  let idleCpu = NaN;
  let replyBytes = NaN;
  let result: ChildResult;
  try {
    replyBytes = await waitAnswering(env, probe, plan.checks);
    await sleep(Math.max(0, agent.startedAt + warmupMs - Date.now()));
    idle = { from: Date.now(), to: Date.now() + plan.idleMs };
    const cpu0 = cpuSeconds(agent.child.pid);
    await sleep(plan.idleMs);
    idleCpu = (cpuSeconds(agent.child.pid) - cpu0) / (plan.idleMs / 1000);
    const phaseEnd = Date.now() + plan.floodMs;
    await load.prepare(1);
    for (let round = 1; Date.now() < phaseEnd || floods.length === 0; round++) {
      const c0 = cpuSeconds(agent.child.pid);
      const f = await load.send();
      floodCpu.push(cpuSeconds(agent.child.pid) - c0);
      floods.push(f);
      log(`  flood ${round}: ${floodCounts(f)}; last answer after ${fmt(f.lastMs)} ms`);
      if (Date.now() >= phaseEnd) break;
      const prep = load.prepare(round + 1);
      await sleep(plan.gapMs);
      await prep;
    }
  } finally {
    result = await agent.finish();
    await load.stop();
  }
  const probePairs = await timerProbe.finish();
  /** Flat (due epoch ms, lateness ms) pairs split into the idle window and the floods, sorted. */
  const windows = (pairs: number[]) => {
    const idleMs: number[] = [], floodMs: number[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const due = pairs[i]!, ms = pairs[i + 1]!;
      if (due >= idle.from && due < idle.to) idleMs.push(ms);
      else if (floods.some((f) => due >= f.from && due <= f.to)) floodMs.push(ms);
    }
    return { idleMs: idleMs.sort((a, b) => a - b), floodMs: floodMs.sort((a, b) => a - b) };
  };
  const { idleMs: idleSamples, floodMs: floodSamples } = windows(result.lateness);
  const total = floods.reduce(
    (a, f) => ({
      ok: a.ok + f.ok,
      busy: a.busy + f.busy,
      rateLimited: a.rateLimited + f.rateLimited,
      other: a.other + f.other,
      noAnswer: a.noAnswer + f.noAnswer,
    }),
    { ok: 0, busy: 0, rateLimited: 0, other: 0, noAnswer: 0 },
  );
  const n = floods.length * CALLERS * PER_CALLER;
  const allOk = total.ok === n;
  const example = floods.find((f) => f.example)?.example;
  details.flood = {
    floods: floods.map((f) => ({ ...f })),
    idleSamples: idleSamples.length,
    floodSamples: floodSamples.length,
    runs: result.runs,
    badRuns: result.badRuns,
    badExample: result.badExample,
    stopMs: result.stopMs,
  };
  row({
    metric:
      `Flood, --rpc-max-concurrent ${plan.concurrency}, --rpc-rate ${DEFAULT_RPC_RATE}: answered ok`,
    value: `${floods.length} floods x ${CALLERS * PER_CALLER}: ${
      floodCounts({ ...total, lastMs: 0, from: 0, to: 0, example: null })
    }${example ? ` (e.g. ${example.slice(0, 120)})` : ""}`,
    baseline: "",
    target: `all ${CALLERS * PER_CALLER} of each flood ok`,
    pass: allOk && floods.length > 0,
  });
  const lasts = floods.map((f) => f.lastMs);
  const worst = Math.max(...lasts);
  row({
    metric: "Flood: time until the last answer",
    value: `first ${fmt(lasts[0] ?? NaN)} ms; median ${fmt(median(lasts))} ms; worst ${
      fmt(worst)
    } ms`,
    baseline: "",
    target: "< 5000 ms (every flood)",
    pass: floods.length > 0 && worst < 5000 && total.noAnswer === 0,
  });
  const idleP99 = pct(idleSamples, 0.99);
  const floodP99 = pct(floodSamples, 0.99);
  const ratio = floodP99 / idleP99;
  const st = (s: number[]) =>
    `p50 ${fmt(pct(s, 0.5), 1)} / p99 ${fmt(pct(s, 0.99), 1)} / max ${
      fmt(s[s.length - 1] ?? NaN, 1)
    } ms (n ${s.length})`;
  row({
    metric: `Check-start lateness during the floods (${plan.checks} check_dummy @${plan.interval})`,
    value: st(floodSamples),
    baseline: `idle ${st(idleSamples)}`,
    target: `p99 ratio ${fmt(ratio, 2)}x; target <= 1.20x`,
    pass: floodSamples.length > 0 && idleSamples.length > 0 && ratio <= 1.2,
  });
  const floor = windows(probePairs);
  const floorRatio = pct(floor.floodMs, 0.99) / pct(floor.idleMs, 0.99);
  row({
    metric:
      "The machine's floor: a bare Deno timer (10 ms, another process, nice 0) in the same windows",
    value: st(floor.floodMs),
    baseline: `idle ${st(floor.idleMs)}`,
    target: `p99 ratio ${
      fmt(floorRatio, 2)
    }x (info: what the OS alone does to a timer during a flood)`,
    pass: null,
  });
  const cpuPerFlood = median(floodCpu);
  const floodCores = median(floods.map((f, i) => floodCpu[i]! / (f.lastMs / 1000)));
  details.agentCpu = { idleCores: idleCpu, floodCpuSeconds: floodCpu, replyBytes };
  row({
    metric: "Flood: agent CPU (its process, from /proc)",
    value: `${fmt(cpuPerFlood, 1)} s per flood = ${
      fmt(cpuPerFlood * 1000 / (CALLERS * PER_CALLER), 1)
    } ms per request (${fmt(floodCores, 2)} cores while answering); a checks reply is ${
      fmt(replyBytes / 1024, 1)
    } KiB`,
    baseline: `idle: ${fmt(idleCpu, 2)} cores`,
    target: "info",
    pass: null,
  });
  if (worst >= 5000 && floodCores > 0.8) {
    notes.push(
      `the agent's process used ${fmt(floodCores, 2)} cores for the whole of each flood ` +
        `(${fmt(cpuPerFlood * 1000 / (CALLERS * PER_CALLER), 1)} ms of CPU per checks request, ` +
        `idle ${fmt(idleCpu, 2)}): answering is CPU-bound on the agent's one JavaScript thread, ` +
        "which is also the thread that starts the checks, hence the lateness; the transport's " +
        "share is small (see the fleet baseline: 1,000 replies gathered in a few ms).",
    );
  }
  if (result.badRuns > 0) {
    notes.push(
      `${result.badRuns} of ${result.runs} plugin runs did not exit 0 (e.g. ${result.badExample})`,
    );
  }
  if (floodSamples.length < 200 || idleSamples.length < 200) {
    notes.push(
      `few lateness samples (idle ${idleSamples.length}, during floods ${floodSamples.length}): ` +
        "a p99 of few samples is close to the maximum; a longer run (without --quick) is steadier.",
    );
  }
  for (const b of [...brokers]) await closeBroker(b);
}

// ------------------------------------------------------------------------------------------------
// Part 2: a fleet trigger across 1,000 simulated nodes in this process

/** A tiny in-memory control: 3 checks that move to FORCE_CHECK and back. */
function memoryControl(): RpcControl {
  const startTime = Math.floor(Date.now() / 1000);
  const checks: RpcCheckInfo[] = ["disk", "load", "http"].map((name) => ({
    name,
    state: "OK",
    version: "1.0.0",
    startTime,
    status: { status: "OK", output: "fine", check_time: startTime },
  }));
  const pick = (names: string[]) => names.length ? names : checks.map((c) => c.name);
  const apply = (names: string[], state: string) => {
    const transitioned: string[] = [];
    const failed: { name: string; reason: string }[] = [];
    for (const n of pick(names)) {
      const c = checks.find((x) => x.name === n);
      if (!c) failed.push({ name: n, reason: "unknown check" });
      else {
        c.state = state;
        transitioned.push(n);
      }
    }
    return Promise.resolve({ transitioned, skipped: [], failed });
  };
  return {
    list: () => checks,
    trigger: (names) => apply(names, "OK"),
    maintenance: (names) => apply(names, "MAINTENANCE"),
    resume: (names) => apply(names, "OK"),
    states: () =>
      checks.map((c) => ({
        name: c.name,
        version: c.version,
        state: c.state,
        path: `/etc/scout/checks/${c.name}.yaml`,
        id: c.name,
        start_time: c.startTime,
        available_transitions: ["FORCE_CHECK", "MAINTENANCE"],
        scout: true,
      })),
    transition: () => Promise.resolve({ ok: true }),
  };
}

async function benchFleet(env: Env, plan: Plan): Promise<void> {
  log(`2. fleet trigger across ${NODES} simulated nodes in this process`);
  const conns: Broker[] = [];
  for (let i = 0; i < 4; i++) conns.push(await connect(env.url, env.tls, `bench nodes ${i}`));
  const operatorConn = await connect(env.url, env.tls, "bench operator");
  const operator = await makeCaller(env, "operator", ["checks", "trigger"]);
  const nodes = Array.from(
    { length: NODES },
    (_, i) => `sim-${String(i).padStart(4, "0")}.example.net`,
  );
  let auditBytes = 0, auditLines = 0;
  const memorySink = {
    append: (_p: string, d: string) => {
      auditBytes += d.length;
      auditLines++;
      return Promise.resolve();
    },
    size: () => Promise.resolve(auditBytes),
    rename: () => Promise.resolve(),
    remove: () => Promise.resolve(),
  };
  const clock = { now: () => Date.now() };

  const gather = async (action: "checks" | "trigger") => {
    const req = action === "checks"
      ? await signRequest({
        action: "checks",
        target: "_all",
        args: {},
        token: operator.token,
        privateKey: operator.privateKey,
        now: Date.now(),
      })
      : await signRequest({
        action: "trigger",
        target: "_all",
        args: {},
        token: operator.token,
        privateKey: operator.privateKey,
        now: Date.now(),
      });
    const data = enc.encode(JSON.stringify(req));
    const s = performance.now();
    const res = await operatorConn.bus.gather([{ subject: `scout.api._all.${action}`, data }], {
      maxWaitMs: 30_000,
      expected: NODES,
    });
    const ms = performance.now() - s;
    const replies = res.replies.map((r) => JSON.parse(dec.decode(r)) as Reply);
    const ok =
      replies.filter((r) =>
        r.ok && (action === "checks" || (r.result?.["transitioned"] as unknown[]).length === 3)
      ).length;
    const ids = new Set(replies.map((r) => r.identity)).size;
    const bad = replies.find((r) => !r.ok);
    return { ms, replies: replies.length, ok, ids, ended: res.ended, bad };
  };

  // Baseline: fixed replies, no auth.
  let subs: { unsubscribe(): void }[] = [];
  const subscribeAll = (
    handler: (i: number, action: string, data: Uint8Array) => Uint8Array | Promise<Uint8Array>,
  ) => {
    nodes.forEach((node, i) => {
      const bus = conns[i % conns.length]!.bus;
      for (const s of [`scout.api.${identityToken(node)}.*`, "scout.api._all.*"]) {
        subs.push(bus.subscribe(s, (m) => {
          const respond = m.respond;
          if (!respond) return;
          const action = m.subject.slice(m.subject.lastIndexOf(".") + 1);
          void Promise.resolve(handler(i, action, m.data)).then(respond);
        }));
      }
    });
  };
  const unsubscribeAll = async () => {
    for (const s of subs) s.unsubscribe();
    subs = [];
    for (const c of conns) await c.bus.flush();
  };
  const fixed = nodes.map((node) =>
    enc.encode(JSON.stringify({
      ok: true,
      identity: node,
      id: null,
      action: "trigger",
      result: { transitioned: ["disk", "load", "http"], failed: [], skipped: [], reasons: {} },
    }))
  );
  subscribeAll((i) => fixed[i]!);
  for (const c of conns) await c.bus.flush();
  const base: number[] = [];
  await gather("trigger"); // warm-up
  for (let k = 0; k < plan.fleetReps; k++) {
    const g = await gather("trigger");
    if (g.replies !== NODES) throw new Error(`baseline gather got ${g.replies}/${NODES} replies`);
    base.push(g.ms);
  }
  log(`  baseline (fixed replies): ${base.map((x) => fmt(x)).join(", ")} ms`);
  await unsubscribeAll();

  // The real node API services.
  const c0 = performance.now();
  const services = nodes.map((node) => {
    const trust = [parseTrustedIssuer(env.fleetCa.certPem, "fleet-ca.pem")];
    return createRpcService({
      node,
      control: memoryControl(),
      trust: () => trust,
      policy: () => undefined,
      audit: createAuditLog({ sink: memorySink, path: `/audit/${node}.log`, clock }),
      clock,
      rateLimit: { perCallerPerMinute: DEFAULT_RPC_RATE },
      maxConcurrent: DEFAULT_RPC_CONCURRENCY,
      onError: (m, d) => log(`  ${node}: ${m} ${JSON.stringify(d)}`),
    });
  });
  subscribeAll((i, action, data) => services[i]!.handle(action, data));
  for (const c of conns) await c.bus.flush();
  const setupMs = performance.now() - c0;
  const cold = await gather("checks");
  log(
    `  ${NODES} services created and subscribed in ${fmt(setupMs)} ms; cold checks gather: ` +
      `${cold.ok}/${NODES} ok in ${fmt(cold.ms)} ms`,
  );
  const runs: Awaited<ReturnType<typeof gather>>[] = [];
  for (let k = 0; k < plan.fleetReps; k++) {
    const g = await gather("trigger");
    runs.push(g);
    log(
      `  trigger ${k + 1}: ${g.ok}/${NODES} ok (${g.ids} identities) in ${
        fmt(g.ms)
      } ms (${g.ended})`,
    );
  }
  await unsubscribeAll();
  await closeBroker(operatorConn);
  for (const c of conns) await closeBroker(c);

  const ms = runs.map((r) => r.ms);
  const allOk = runs.every((r) => r.ok === NODES && r.ids === NODES);
  const med = median(ms), bmed = median(base);
  details.fleet = { base, runs: runs.map((r) => ({ ...r, bad: r.bad ?? null })), cold, setupMs };
  details.fleetAudit = { lines: auditLines, bytes: auditBytes };
  row({
    metric: `Fleet trigger to _all, ${NODES} simulated nodes (real RPC services, 1 process)`,
    value: `median ${fmt(med)} ms, worst ${fmt(Math.max(...ms))} ms (${
      ms.map((x) => fmt(x)).join(", ")
    }); ${runs.map((r) => r.ok).join("/")} of ${NODES} ok`,
    baseline: `fixed replies, no auth: median ${fmt(bmed)} ms`,
    target: `${fmt(med / bmed, 1)}x the transport; target < 5000 ms, all ${NODES} ok`,
    pass: allOk && Math.max(...ms) < 5000,
  });
  row({
    metric: "Fleet: first (cold) checks gather",
    value: `${fmt(cold.ms)} ms, ${cold.ok}/${NODES} ok (key import, JIT warm-up)`,
    baseline: "",
    target: "info",
    pass: null,
  });
  if (!allOk) {
    const bad = runs.find((r) => r.bad)?.bad;
    if (bad) notes.push(`a fleet reply was not ok: ${JSON.stringify(bad).slice(0, 300)}`);
  }
}

// ------------------------------------------------------------------------------------------------

const HELP =
  `Usage: deno task bench:rpc [--quick] [--interval 1s] [--concurrency 1000] [--json FILE]

  --quick          short run (< 2 min): 15 s idle and 15 s flood windows, 3 fleet runs
  --interval D     interval of the 100 check_dummy checks (default 1s)
  --concurrency N  --rpc-max-concurrent of the flood run (default 1000)
  --json FILE      also write every measurement as JSON to FILE
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      interval: { type: "string" },
      concurrency: { type: "string" },
      json: { type: "string" },
      child: { type: "string" },
      load: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.child !== undefined) {
    await child(JSON.parse(values.child) as ChildOptions);
    return 0;
  }
  if (values.load !== undefined) {
    await loadChild(JSON.parse(values.load));
    return 0;
  }
  if (values.help) {
    out(HELP);
    return 0;
  }
  const quick = values.quick ?? false;
  const interval = values.interval ?? "1s";
  const plan: Plan = {
    quick,
    interval,
    intervalMs: parseDurationMs(interval),
    checks: 100,
    concurrency: Number(values.concurrency ?? DEFAULT_RPC_CONCURRENCY),
    idleMs: quick ? 15_000 : 60_000,
    floodMs: quick ? 15_000 : 60_000,
    gapMs: 250,
    fleetReps: quick ? 3 : 7,
  };
  if (!(plan.concurrency >= 1)) throw new Error("--concurrency must be a positive number");
  const { HAVE_NATS_SERVER, makePki, startNatsServer } = await import("../tests/_nats.ts");
  const { makeTestCa } = await import("../src/provisioning/_testing.ts");
  for (const p of [CHECK_DUMMY, SETSID]) {
    try {
      Deno.statSync(p);
    } catch {
      throw new Error(`${p} is missing (apt install monitoring-plugins-basic util-linux)`);
    }
  }
  if (!HAVE_NATS_SERVER) throw new Error("nats-server is not on PATH");

  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const command = `cd ${ROOT} && deno task bench:rpc${
    Deno.args.length ? " " + Deno.args.join(" ") : ""
  }`;
  const loadBefore = Deno.loadavg();
  const started = new Date();
  log(command);
  log(
    `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, load ${
      loadBefore.map((x) => x.toFixed(2)).join(" ")
    }`,
  );
  const failures: string[] = [];
  try {
    const dir = await Deno.makeTempDir({ prefix: "scout-bench-rpc-" });
    cleanups.push(() => Deno.remove(dir, { recursive: true }));
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
    cleanups.push(() => server.stop());
    niceAll(server.pid()!);
    const fleetCa = await makeTestCa("Scout Bench Fleet CA");
    const env: Env = {
      dir,
      url: server.url,
      tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
      fleetCa,
    };
    for (const [name, fn] of [["flood", benchFlood], ["fleet", benchFleet]] as const) {
      if (aborting) break;
      try {
        await fn(env, plan);
      } catch (e) {
        if (aborting) break;
        const msg = e instanceof Error ? e.message : String(e);
        failures.push(`${name}: ${msg}`);
        log(`${name} FAILED TO RUN: ${msg}`);
        row({
          metric: `${name} benchmark`,
          value: "did not run",
          baseline: "",
          target: msg.slice(0, 160),
          pass: false,
        });
      }
    }
  } finally {
    await cleanupAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  if (aborting) await new Promise(() => {}); // onSignal exits 130
  const code = await printReport({
    title: "Scout node API benchmarks",
    command,
    started,
    loadBefore,
    loadAfter: Deno.loadavg(),
    quick,
    rows,
    notes,
    ...(values.json ? { json: { file: values.json, details: { plan, details } } } : {}),
    failures: failures.length,
  });
  if (values.json) log(`wrote ${values.json}`);
  return code;
}

if (import.meta.main) Deno.exit(await main());
