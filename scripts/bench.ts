/**
 * Scout benchmarks (`deno task bench`): each target of the performance issue, measured as a
 * ratio against a baseline taken IN THE SAME RUN, printed as a markdown table (metric, value,
 * baseline, ratio/target, pass/fail) preceded by the exact command.
 *
 * Usage:
 *   deno task bench [--quick] [throughput|memory|timing|startup ...] [flags]
 *
 *   --quick        a short run (under ~2 minutes): short windows, a 1-minute drift run
 *   --checks N     checks of the throughput benchmark (default 500, i.e. 1000 runs/s asked for)
 *   --minutes M    length of the 5 s-interval drift run (default 10, --quick 1)
 *   --json FILE    also write every measurement as JSON to FILE
 *
 * Benchmarks (all by default, in this order):
 *   throughput  N check_dummy checks at the 500 ms minimum interval, in-process agent (a child
 *               run with the agent's permission set -P=agent, hooks via AgentOverrides). The
 *               agent's effective concurrency is the time-weighted mean of runs in flight (its
 *               runner wrapped); the baseline is a bare `Deno.Command(check_dummy).output()`
 *               loop at that concurrency (rounded); for reference the same loop through
 *               /usr/bin/setsid (as the agent's runner spawns) and the agent's own runner
 *               (createDenoRunner) alone in a loop. Target: agent >= 0.8x the BARE loop. The full
 *               run does two rounds (agent, then loops) and reports means.
 *   memory      the real standalone agent (`deno run -P=agent main.ts agent --standalone ...`)
 *               with 10, 100 and 1000 checks (heartbeat + check_dummy, 5-30 s intervals), and
 *               100 checks under the build's V8 heap cap; VmRSS from /proc/<pid>/status after a
 *               warm-up, against an idle script importing the same module graph
 *               (scripts/_bench_idle.ts). Targets: 100 checks <= 1.3x idle and < 80 MiB.
 *   timing      500 check_dummy checks at a 5 s interval (the agent's default random splay):
 *               lateness of each interval run's start (AgentOverrides.observeLateness), p99 <
 *               50 ms, and no drift between the first and the last minute of a 10-minute run;
 *               the same at a 1 s interval. In-process agent in a child run with -P=agent.
 *   startup     `deno run -P=agent main.ts agent --standalone --no-splay` with one heartbeat
 *               check, warm cache: spawn to first result line on stdout, median of 5, < 300 ms,
 *               against `deno run` of an empty script; plus: no NATS client (@nats-io) in
 *               `deno info main.ts`.
 *
 * Exit code: 0 every target met, 1 a target missed, 2 a benchmark could not run, 130 interrupted.
 * Progress goes to stderr, the tables to stdout.
 *
 * Every process is started in its own process group (/usr/bin/setsid) and stopped with SIGTERM
 * (SIGKILL after a grace); temporary directories are removed; SIGINT/SIGTERM of the bench
 * stops everything it started.
 * @module
 */
import { parseArgs } from "node:util";
import {
  fmt,
  markdownTable,
  median,
  out,
  pct,
  printReport,
  progressLog,
  type ResultRow,
  rowLine,
  sleep,
} from "./_bench_report.ts";
import { V8_FLAGS } from "./build.ts";
import type { AgentResult, Options as AgentOptions } from "./_bench_agent.ts";
import type { SpawnResult, Via } from "./_bench_spawn.ts";

// ------------------------------------------------------------------------------------------------
// Setup

const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
const DENO = Deno.execPath();
const SETSID = "/usr/bin/setsid";
const CHECK_DUMMY = "/usr/lib/nagios/plugins/check_dummy";
const NAGIOS_STATE = "io.choria.machine.watcher.nagios.v1.state";
const BENCHES = ["throughput", "memory", "timing", "startup"] as const;
type Bench = typeof BENCHES[number];

const HELP = `Usage: deno task bench [--quick] [throughput|memory|timing|startup ...] [flags]

  --quick        short run (< 2 min): short windows, 1-minute drift run
  --checks N     checks in the throughput benchmark (default 500 at 500ms)
  --minutes M    length of the 5s-interval drift run (default 10, --quick 1)
  --json FILE    also write all measurements as JSON to FILE
`;

const enc = new TextEncoder();
const dec = new TextDecoder();
const log = progressLog("bench");

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

// ------------------------------------------------------------------------------------------------
// Processes and temporary directories: everything started is tracked and stopped.

const live = new Set<Deno.ChildProcess>();
const tempDirs = new Set<string>();
let aborting = false;

/**
 * Spawns `cmd args` from the repository root in its own process group (setsid execs it under
 * the same pid, so the pid is the program's and -pid its group).
 */
function spawn(
  cmd: string,
  args: string[],
  stdout: "piped" | "null" = "piped",
  env: Record<string, string> = {},
): Deno.ChildProcess {
  if (aborting) throw new Error("aborting");
  const child = new Deno.Command(SETSID, {
    args: ["--", cmd, ...args],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout,
    stderr: "piped",
  }).spawn();
  live.add(child);
  child.status.finally(() => live.delete(child));
  return child;
}

/** Stops a child's whole group: SIGTERM, then SIGKILL after graceMs; waits for it. */
async function stop(child: Deno.ChildProcess, graceMs = 15_000): Promise<Deno.CommandStatus> {
  const signal = (sig: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, sig);
    } catch { /* already gone */ }
  };
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((r) => {
    timer = setTimeout(() => {
      signal("SIGKILL");
      r();
    }, graceMs);
  });
  const status = await Promise.race([child.status, killed.then(() => child.status)]);
  clearTimeout(timer);
  return status;
}

async function tempDir(): Promise<string> {
  if (aborting) throw new Error("aborting");
  const d = await Deno.makeTempDir({ prefix: "scout-bench-" });
  if (aborting) {
    await Deno.remove(d, { recursive: true }).catch(() => {});
    throw new Error("aborting");
  }
  tempDirs.add(d);
  return d;
}

async function removeDir(d: string): Promise<void> {
  await Deno.remove(d, { recursive: true }).catch(() => {});
  tempDirs.delete(d);
}

async function cleanupAll(): Promise<void> {
  // Loop: a benchmark may still start something while the first ones stop (spawn and
  // tempDir refuse once aborting is set, but one may be half-way through).
  while (live.size || tempDirs.size) {
    await Promise.all([...live].map((c) => stop(c, 5000)));
    await Promise.all([...tempDirs].map(removeDir));
  }
}

function onSignal(): void {
  if (aborting) return;
  aborting = true;
  log(`interrupted: stopping ${live.size} process(es) and removing temporary directories`);
  cleanupAll().finally(() => Deno.exit(130));
}

/** Reads a whole stream as text. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return dec.decode(all);
}

/**
 * Runs a bench helper script under the agent's permission set (and `v8Flags`, for the agent:
 * the shipped ones) and parses its JSON line.
 */
async function runHelper<T>(
  script: string,
  options: unknown,
  deadlineMs: number,
  v8Flags: string[] = [],
): Promise<T> {
  const child = spawn(DENO, [
    "run",
    "--quiet",
    "-P=agent",
    ...v8Flags,
    script,
    JSON.stringify(options),
  ]);
  const [stdout, stderr] = [readAll(child.stdout), readAll(child.stderr)];
  const deadline = setTimeout(() => {
    log(`${script} overran ${deadlineMs} ms: stopping it`);
    void stop(child);
  }, deadlineMs);
  const status = await child.status;
  clearTimeout(deadline);
  const text = await stdout;
  const err = (await stderr).trim();
  const line = text.trim().split("\n").pop() ?? "";
  if (!status.success || !line.startsWith("{")) {
    throw new Error(`${script} failed (exit ${status.code}): ${err.slice(-2000) || text}`);
  }
  if (err) log(`${script} stderr: ${err.split("\n").slice(-5).join(" | ").slice(0, 600)}`);
  return JSON.parse(line) as T;
}

/** Memory of a process from /proc/<pid>/status, bytes (threads: a count). */
interface ProcMemory {
  rss: number;
  hwm: number;
  anon: number;
  file: number;
  threads: number;
}

async function procMemory(pid: number): Promise<ProcMemory | null> {
  try {
    const s = await Deno.readTextFile(`/proc/${pid}/status`);
    const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
    return {
      rss: field("VmRSS") * 1024,
      hwm: field("VmHWM") * 1024,
      anon: field("RssAnon") * 1024,
      file: field("RssFile") * 1024,
      threads: field("Threads"),
    };
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------------
// Check files

interface CheckDef {
  name: string;
  plugin?: string;
  args?: string;
  builtin?: string;
  interval: string;
}

function checkFile(defs: CheckDef[]): string {
  const lines = ["checks:"];
  for (const d of defs) {
    lines.push(`  - name: ${d.name}`);
    if (d.builtin) lines.push(`    builtin: ${d.builtin}`);
    if (d.plugin) lines.push(`    plugin: ${d.plugin}`);
    if (d.args) lines.push(`    arguments: ${JSON.stringify(d.args)}`);
    lines.push(`    interval: ${d.interval}`);
  }
  return lines.join("\n") + "\n";
}

interface Sandbox {
  dir: string;
  checks: string;
  machines: string;
  state: string;
  textfile: string;
  events: string;
}

async function sandbox(defs: CheckDef[]): Promise<Sandbox> {
  const dir = await tempDir();
  const s: Sandbox = {
    dir,
    checks: `${dir}/checks`,
    machines: `${dir}/machines`,
    state: `${dir}/state`,
    textfile: `${dir}/textfile`,
    events: `${dir}/events.jsonl`,
  };
  await Deno.mkdir(s.checks);
  await Deno.mkdir(s.machines);
  await Deno.writeTextFile(`${s.checks}/bench.yaml`, checkFile(defs));
  return s;
}

function dummyChecks(n: number, interval: string, prefix: string): CheckDef[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}_${String(i).padStart(4, "0")}`,
    plugin: "check_dummy",
    args: "0 ok",
    interval,
  }));
}

/** The memory benchmark's mix: 1 in 5 heartbeat, the rest check_dummy OK/WARNING/CRITICAL. */
function mixedChecks(n: number): CheckDef[] {
  const intervals = ["5s", "10s", "15s", "30s"];
  return Array.from({ length: n }, (_, i) => {
    const name = `mem_${String(i).padStart(4, "0")}`;
    const interval = intervals[i % intervals.length]!;
    if (i % 5 === 0) return { name, builtin: "heartbeat", interval };
    return { name, plugin: "check_dummy", args: `${i % 3} check ${i}`, interval };
  });
}

// ------------------------------------------------------------------------------------------------
// Results

/** One row of the final table. */
interface Row extends ResultRow {
  bench: Bench;
}

const rows: Row[] = [];
const details: Record<string, unknown> = {};
const notes: string[] = [];

function row(r: Row): void {
  rows.push(r);
  log(rowLine(r));
}

// ------------------------------------------------------------------------------------------------
// Plan

interface Plan {
  quick: boolean;
  tp: {
    checks: number;
    warmupMs: number;
    windowMs: number;
    baseWarmupMs: number;
    baseWindowMs: number;
    extra: number[];
    rounds: number;
  };
  mem: { warmupMs: number; sampleMs: number; parallel: boolean; startTimeoutMs: number };
  timing: {
    checks: number;
    spanMs: number;
    edgeMs: number;
    oneSecWindowMs: number;
  };
  startup: { reps: number };
}

function makePlan(quick: boolean, checks?: number, minutes?: number): Plan {
  return {
    quick,
    tp: {
      checks: checks ?? 500,
      warmupMs: quick ? 2500 : 5000,
      windowMs: quick ? 5000 : 20_000,
      baseWarmupMs: quick ? 500 : 1000,
      baseWindowMs: quick ? 2500 : 10_000,
      extra: quick ? [] : [1, 2],
      rounds: quick ? 1 : 2,
    },
    mem: {
      warmupMs: quick ? 6000 : 20_000,
      sampleMs: quick ? 2000 : 10_000,
      parallel: quick,
      startTimeoutMs: 120_000,
    },
    timing: {
      checks: 500,
      // --quick: a 1-minute agent run (start-up + one interval of warm-up + 50 s measured).
      spanMs: minutes !== undefined ? minutes * 60_000 : quick ? 50_000 : 600_000,
      edgeMs: quick ? 15_000 : 60_000,
      oneSecWindowMs: quick ? 10_000 : 120_000,
    },
    startup: { reps: 5 },
  };
}

// ------------------------------------------------------------------------------------------------
// 1. Throughput

async function runAgentChild(
  s: Sandbox,
  o: Omit<AgentOptions, "checksDir" | "machinesDir" | "stateDir" | "textfileDir" | "eventsFile">,
): Promise<AgentResult> {
  const opts: AgentOptions = {
    checksDir: s.checks,
    machinesDir: s.machines,
    stateDir: s.state,
    textfileDir: s.textfile,
    eventsFile: s.events,
    ...o,
  };
  // Deadline: start-up (which grows with the check count) + warm-up + window + stop.
  return await runHelper<AgentResult>(
    "scripts/_bench_agent.ts",
    opts,
    opts.warmupMs + opts.windowMs + 180_000,
    [V8_FLAGS],
  );
}

function spawnLoop(concurrency: number, via: Via, plan: Plan): Promise<SpawnResult> {
  return runHelper<SpawnResult>("scripts/_bench_spawn.ts", {
    plugin: CHECK_DUMMY,
    concurrency,
    via,
    warmupMs: plan.tp.baseWarmupMs,
    windowMs: plan.tp.baseWindowMs,
  }, plan.tp.baseWarmupMs + plan.tp.baseWindowMs + 60_000);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

async function benchThroughput(plan: Plan): Promise<void> {
  const n = plan.tp.checks;
  const rounds = plan.tp.rounds;
  log(
    `throughput: ${n} check_dummy checks at 500ms (${n * 2} runs/s asked for), in-process ` +
      `agent, then the spawn loops at its concurrency; ${rounds} round(s)`,
  );
  const agents: AgentResult[] = [];
  const loops: Record<Via, SpawnResult[]> = { bare: [], setsid: [], runner: [] };
  for (let r = 0; r < rounds; r++) {
    const s = await sandbox(dummyChecks(n, "500ms", "tp"));
    let agent: AgentResult;
    try {
      agent = await runAgentChild(s, {
        noSplay: false, // the 500 ms splay: start-up stays short, the load is the same
        warmupMs: plan.tp.warmupMs,
        windowMs: plan.tp.windowMs,
        lateness: false,
      });
    } finally {
      await removeDir(s.dir);
    }
    agents.push(agent);
    const k = Math.max(1, Math.round(agent.meanInFlight));
    log(
      `  agent: ${fmt(agent.perSecond)}/s, in flight mean ${
        fmt(agent.meanInFlight, 1)
      } max ${agent.maxInFlight}, ` +
        `agent CPU ${fmt(agent.cpuCores, 2)} cores, startAgent ${
          fmt(agent.startMs)
        } ms, bad runs ${agent.badRuns}`,
    );
    for (const via of ["bare", "setsid", "runner"] as const) {
      const l = await spawnLoop(k, via, plan);
      log(`  ${via} loop @ concurrency ${k}: ${fmt(l.perSecond)}/s`);
      loops[via].push(l);
    }
  }
  const extra: SpawnResult[] = [];
  for (const c of plan.tp.extra) {
    for (const via of ["bare", "setsid"] as const) {
      const l = await spawnLoop(c, via, plan);
      log(`  reference: ${via} loop @ concurrency ${c}: ${fmt(l.perSecond)}/s`);
      extra.push(l);
    }
  }
  details.throughput = {
    checks: n,
    agents: agents.map((a) => ({ ...a, lateness: undefined })),
    loops,
    extra,
  };

  const rate = mean(agents.map((a) => a.perSecond));
  const base = (via: Via) => mean(loops[via].map((l) => l.perSecond));
  const ks = [...new Set(loops.bare.map((l) => l.concurrency))].join("/");
  const each = (xs: number[]) => (xs.length > 1 ? ` (${xs.map((x) => fmt(x)).join(", ")})` : "");
  const bare = base("bare");
  const ratio = rate / bare;
  const agentMetric = `Check results/s, ${n} check_dummy @500ms (in-process agent, -P=agent)`;
  row({
    bench: "throughput",
    metric: agentMetric + (rounds > 1 ? `, mean of ${rounds} rounds` : ""),
    value: `${fmt(rate)}/s${each(agents.map((a) => a.perSecond))}`,
    baseline: `${fmt(bare)}/s bare Deno.Command loop @ concurrency ${ks}${
      each(loops.bare.map((l) => l.perSecond))
    }`,
    target: `${fmt(ratio, 2)}x (>= 0.80x bare)`,
    pass: ratio >= 0.8,
  });
  row({
    bench: "throughput",
    metric: "Same, against the loop through /usr/bin/setsid (as the runner spawns)",
    value: `${fmt(rate)}/s`,
    baseline: `${fmt(base("setsid"))}/s setsid loop @ concurrency ${ks}`,
    target: `${fmt(rate / base("setsid"), 2)}x (info)`,
    pass: null,
  });
  row({
    bench: "throughput",
    metric: "Same, against the agent's runner alone (createDenoRunner in a loop)",
    value: `${fmt(rate)}/s`,
    baseline: `${fmt(base("runner"))}/s runner loop @ concurrency ${ks}`,
    target: `${fmt(rate / base("runner"), 2)}x (info)`,
    pass: null,
  });
  const badRuns = agents.reduce((a, b) => a + b.badRuns, 0);
  row({
    bench: "throughput",
    metric: "Agent effective concurrency (runs in flight, time-weighted mean / max)",
    value: `${fmt(mean(agents.map((a) => a.meanInFlight)), 1)} / ${
      Math.max(...agents.map((a) => a.maxInFlight))
    }`,
    baseline: "",
    target: `info: agent process CPU ${fmt(mean(agents.map((a) => a.cpuCores)), 2)} cores; ` +
      `startAgent ${fmt(mean(agents.map((a) => a.startMs)))} ms; ${badRuns} failed runs`,
    pass: null,
  });
  if (rate > 0.9 * n * 2) {
    notes.push(
      `throughput: the agent delivered ${fmt(rate)}/s of the ${n * 2}/s asked for: ` +
        "demand-limited, so the ratio understates its capacity; raise --checks.",
    );
  }
  if (badRuns > 0) {
    notes.push(
      `throughput: ${badRuns} runs in the window did not exit 0, e.g. ${
        agents.find((a) => a.badExample)?.badExample
      }`,
    );
  }
  for (const e of extra) {
    row({
      bench: "throughput",
      metric: `Reference: ${e.via} loop @ concurrency ${e.concurrency}`,
      value: `${fmt(e.perSecond)}/s`,
      baseline: "",
      target: "info",
      pass: null,
    });
  }
}

// ------------------------------------------------------------------------------------------------
// 2. Memory

interface MemRun {
  label: string;
  checks: number;
  rssMedian: number;
  rssMax: number;
  hwm: number;
  /** The last sample, for the anonymous/file split and the thread count. */
  last: ProcMemory;
  startedAfterMs: number | null;
  results: number;
}

/** Waits for a line matching `re` on a stream (consumed in the background afterwards). */
function watchLines(stream: ReadableStream<Uint8Array>, re: RegExp): {
  seen: Promise<number>;
  tail: () => string;
} {
  const start = performance.now();
  const found = Promise.withResolvers<number>();
  let buf = "";
  let tail = "";
  (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      tail = (tail + chunk).slice(-2000);
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (re.test(line)) found.resolve(performance.now() - start);
      }
    }
    found.reject(new Error("stream ended"));
  })().catch((e) => found.reject(e));
  found.promise.catch(() => {});
  return { seen: found.promise, tail: () => tail };
}

async function countResults(eventsFile: string): Promise<number> {
  try {
    const text = await Deno.readTextFile(eventsFile);
    return text.split("\n").filter((l) => l.includes(NAGIOS_STATE)).length;
  } catch {
    return 0;
  }
}

async function memRun(
  label: string,
  checks: number | null,
  plan: Plan,
  v8Flags: string[] = [],
  env: Record<string, string> = {},
): Promise<MemRun> {
  const s = await sandbox(checks === null ? [] : mixedChecks(checks));
  const args = checks === null
    ? ["run", "--quiet", "-P=agent", ...v8Flags, "scripts/_bench_idle.ts"]
    : [
      "run",
      "--quiet",
      "-P=agent",
      ...v8Flags,
      "main.ts",
      "agent",
      "--standalone",
      "--no-splay",
      "--quiet",
      "--identity",
      "bench",
      "--checks",
      s.checks,
      "--machines",
      s.machines,
      "--state-dir",
      s.state,
      "--textfile-dir",
      s.textfile,
      "--events-file",
      s.events,
    ];
  const child = spawn(DENO, args, "null", env);
  try {
    let startedAfterMs: number | null = null;
    const lines = watchLines(child.stderr, /agent started/);
    if (checks !== null) {
      const timeout = sleep(plan.mem.startTimeoutMs).then(() => null);
      startedAfterMs = await Promise.race([lines.seen, timeout, child.status.then(() => null)]);
      if (startedAfterMs === null) {
        throw new Error(`${label}: the agent did not start: ${lines.tail()}`);
      }
    }
    await sleep(plan.mem.warmupMs);
    const comm = (await Deno.readTextFile(`/proc/${child.pid}/comm`).catch(() => "?")).trim();
    if (comm !== "deno") throw new Error(`${label}: process ${child.pid} is "${comm}", not deno`);
    const samples: number[] = [];
    let last: ProcMemory | null = null;
    const until = performance.now() + plan.mem.sampleMs;
    do {
      const m = await procMemory(child.pid);
      if (!m) throw new Error(`${label}: process ${child.pid} is gone: ${lines.tail()}`);
      samples.push(m.rss);
      last = m;
      await sleep(500);
    } while (performance.now() < until);
    const results = checks === null ? 0 : await countResults(s.events);
    return {
      label,
      checks: checks ?? 0,
      rssMedian: median(samples),
      rssMax: Math.max(...samples),
      hwm: last!.hwm,
      last: last!,
      startedAfterMs,
      results,
    };
  } finally {
    await stop(child);
    await removeDir(s.dir);
  }
}

async function benchMemory(plan: Plan): Promise<void> {
  // "Shipped" = the V8 flags of `deno task scout`, `deno task start` and the compiled binary.
  const shipped = [V8_FLAGS];
  const jobs: [string, number | null, string[], Record<string, string>][] = [
    ["idle (same module graph), shipped flags", null, shipped, {}],
    ["10 checks, shipped flags", 10, shipped, {}],
    ["100 checks, shipped flags", 100, shipped, {}],
    ["1000 checks, shipped flags", 1000, shipped, {}],
    ["idle (same module graph), V8 defaults", null, [], {}],
    ["100 checks, V8 defaults", 100, [], {}],
  ];
  log(
    `memory: standalone agent subprocesses (${
      plan.mem.parallel ? "in parallel" : "one at a time"
    }), warm-up ${plan.mem.warmupMs / 1000}s after "agent started", then VmRSS for ${
      plan.mem.sampleMs / 1000
    }s`,
  );
  let runs: MemRun[];
  if (plan.mem.parallel) {
    const settled = await Promise.allSettled(jobs.map(([l, n, f, e]) => memRun(l, n, plan, f, e)));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    runs = settled.map((r) => (r as PromiseFulfilledResult<MemRun>).value);
  } else {
    runs = [];
    for (const [l, n, f, e] of jobs) {
      log(`  ${l}`);
      runs.push(await memRun(l, n, plan, f, e));
    }
  }
  details.memory = runs;
  const [idle, m10, m100, m1000, idleDefault, mDefault] = runs as [
    MemRun,
    MemRun,
    MemRun,
    MemRun,
    MemRun,
    MemRun,
  ];
  const idleS = `${mib(idle.rssMedian)} MiB idle`;
  const r100 = m100.rssMedian / idle.rssMedian;
  row({
    bench: "memory",
    metric: `RSS, standalone agent, 100 checks (${V8_FLAGS})`,
    value: `${mib(m100.rssMedian)} MiB`,
    baseline: idleS,
    target: `${fmt(r100, 2)}x (<= 1.30x)`,
    pass: r100 <= 1.3,
  });
  row({
    bench: "memory",
    metric: "RSS, standalone agent, 100 checks (absolute)",
    value: `${mib(m100.rssMedian)} MiB`,
    baseline: "",
    target: "< 80 MiB",
    pass: m100.rssMedian < 80 * 1048576,
  });
  for (const m of [m10, m1000]) {
    row({
      bench: "memory",
      metric: `RSS, standalone agent, ${m.label}`,
      value: `${mib(m.rssMedian)} MiB`,
      baseline: idleS,
      target: `${fmt(m.rssMedian / idle.rssMedian, 2)}x (info)`,
      pass: null,
    });
  }
  row({
    bench: "memory",
    metric: "RSS growth per check, 10 -> 1000 checks",
    value: `${fmt((m1000.rssMedian - m10.rssMedian) / 990 / 1024, 1)} KiB/check`,
    baseline: "",
    target: "info",
    pass: null,
  });
  row({
    bench: "memory",
    metric: "RSS, 100 checks, V8 default flags (plain deno run -P=agent)",
    value: `${mib(mDefault.rssMedian)} MiB`,
    baseline: `${mib(idleDefault.rssMedian)} MiB idle, V8 defaults`,
    target: `${fmt(mDefault.rssMedian / idleDefault.rssMedian, 2)}x (info)`,
    pass: null,
  });
  row({
    bench: "memory",
    metric: "Private (anonymous) RSS, 100 checks, without the deno binary's file pages",
    value: `${mib(m100.last.anon)} MiB`,
    baseline: `${mib(idle.last.anon)} MiB idle`,
    target: `${fmt(m100.last.anon / idle.last.anon, 2)}x (info)`,
    pass: null,
  });
  memoryTable = markdownTable(
    [
      "Process",
      "RSS median",
      "RSS max",
      "peak (VmHWM)",
      "anon",
      "file",
      "threads",
      "results",
      "started after",
    ],
    runs.map((m) => [
      m.label,
      `${mib(m.rssMedian)} MiB`,
      `${mib(m.rssMax)} MiB`,
      `${mib(m.hwm)} MiB`,
      `${mib(m.last.anon)} MiB`,
      `${mib(m.last.file)} MiB`,
      String(m.last.threads),
      m.checks ? String(m.results) : "—",
      m.startedAfterMs === null ? "—" : `${fmt(m.startedAfterMs)} ms`,
    ]),
  );
  for (const m of runs) {
    if (m.checks > 0 && m.results < m.checks) {
      notes.push(`memory: ${m.label}: only ${m.results} results seen (expected >= ${m.checks})`);
    }
  }
}

let memoryTable = "";

// ------------------------------------------------------------------------------------------------
// 3. Timing

interface LatStats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function latStats(samples: number[]): LatStats {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s[s.length - 1] ?? NaN };
}

function statStr(s: LatStats): string {
  return `p50 ${fmt(s.p50)} / p99 ${fmt(s.p99)} / max ${fmt(s.max)} ms`;
}

async function timingRun(
  intervalS: number,
  plan: Plan,
  windowMs: number,
): Promise<{ agent: AgentResult; warmupMs: number }> {
  const s = await sandbox(dummyChecks(plan.timing.checks, `${intervalS}s`, "tm"));
  const warmupMs = intervalS * 1000 + 1000; // the splay spreads the first runs over one interval
  try {
    const agent = await runAgentChild(s, { noSplay: false, warmupMs, windowMs, lateness: true });
    return { agent, warmupMs };
  } finally {
    await removeDir(s.dir);
  }
}

async function benchTiming(plan: Plan): Promise<void> {
  const n = plan.timing.checks;
  const span = plan.timing.spanMs;
  const edge = Math.min(plan.timing.edgeMs, span / 2);
  log(
    `timing: ${n} check_dummy checks @5s for ${fmt(span / 1000)} s (+ warm-up), in-process agent ` +
      `(-P=agent), default splay; first vs last ${edge / 1000}s`,
  );
  const five = await timingRun(5, plan, span);
  const lat5 = five.agent.lateness.filter(([t]) => t >= five.agent.startMs + five.warmupMs);
  const all5 = latStats(lat5.map(([, ms]) => ms));
  const firstFrom = five.agent.startMs + five.warmupMs;
  const lastTo = firstFrom + span;
  const first = latStats(lat5.filter(([t]) => t < firstFrom + edge).map(([, ms]) => ms));
  const last = latStats(lat5.filter(([t]) => t >= lastTo - edge).map(([, ms]) => ms));
  // Per-minute (or per-10s in short runs) table, for the drift picture.
  const bucket = span >= 180_000 ? 60_000 : 10_000;
  const buckets: string[][] = [];
  for (let b = firstFrom; b < lastTo - 1; b += bucket) {
    const st = latStats(lat5.filter(([t]) => t >= b && t < b + bucket).map(([, ms]) => ms));
    buckets.push([
      `${fmt((b - firstFrom) / 1000)}-${fmt((b - firstFrom + bucket) / 1000)} s`,
      String(st.n),
      fmt(st.p50),
      fmt(st.p99),
      fmt(st.max),
    ]);
  }
  details.timingDrift = { bucketMs: bucket, buckets };
  log(
    `  5s: ${statStr(all5)}; first ${statStr(first)}; last ${statStr(last)}; startAgent ${
      fmt(five.agent.startMs)
    } ms`,
  );

  log(`timing: ${n} check_dummy checks @1s for ${plan.timing.oneSecWindowMs / 1000}s`);
  const one = await timingRun(1, plan, plan.timing.oneSecWindowMs);
  const lat1 = latStats(
    one.agent.lateness.filter(([t]) => t >= one.agent.startMs + one.warmupMs).map(([, ms]) => ms),
  );
  details.timing = {
    five: { ...five.agent, lateness: undefined, all: all5, first, last },
    one: { ...one.agent, lateness: undefined, all: lat1 },
  };

  const where = "in-process agent, -P=agent";
  row({
    bench: "timing",
    metric: `Check start lateness, ${n} checks @5s, ${
      span >= 60_000 ? `${fmt(span / 60_000, 1)} min` : `${fmt(span / 1000)} s`
    } (${where})`,
    value: statStr(all5),
    baseline: "",
    target: "p99 < 50 ms",
    pass: all5.p99 < 50,
  });
  const driftOk = last.p50 <= first.p50 + 5 && last.p99 <= first.p99 + 10 && last.p99 < 50;
  row({
    bench: "timing",
    metric: `Drift: first vs last ${edge / 1000}s of the @5s run`,
    value: `last p50 ${fmt(last.p50)} / p99 ${fmt(last.p99)} ms`,
    baseline: `first p50 ${fmt(first.p50)} / p99 ${fmt(first.p99)} ms`,
    target: "last <= first +5 ms (p50), +10 ms (p99)",
    pass: driftOk,
  });
  row({
    bench: "timing",
    metric: `Results/s, ${n} checks @5s (schedule kept)`,
    value: `${fmt(five.agent.perSecond, 1)}/s`,
    baseline: `${fmt(n / 5)}/s scheduled`,
    target: `${fmt(five.agent.perSecond / (n / 5), 3)}x (info; CPU ${
      fmt(five.agent.cpuCores, 2)
    } cores)`,
    pass: null,
  });
  row({
    bench: "timing",
    metric: `Check start lateness, ${n} checks @1s, ${
      plan.timing.oneSecWindowMs / 1000
    }s (${where})`,
    value: statStr(lat1),
    baseline: "",
    target: "p99 < 50 ms",
    pass: lat1.p99 < 50,
  });
  row({
    bench: "timing",
    metric: `Results/s, ${n} checks @1s (schedule kept)`,
    value: `${fmt(one.agent.perSecond, 1)}/s`,
    baseline: `${fmt(n)}/s scheduled`,
    target: `${fmt(one.agent.perSecond / n, 3)}x (info; CPU ${fmt(one.agent.cpuCores, 2)} cores)`,
    pass: null,
  });
}

// ------------------------------------------------------------------------------------------------
// 4. Start-up

/** A result line of the agent's terminal output ("12:00:00 OK       heartbeat: ..."). */
const RESULT_LINE = /^\d\d:\d\d:\d\d (OK|WARNING|CRITICAL|UNKNOWN) /m;

/** Spawns, waits for the first result line on stdout (or exit), returns ms; stops the process. */
async function timeFirstLine(cmd: string, args: string[], waitExit: boolean): Promise<number> {
  const start = performance.now();
  const child = spawn(cmd, args);
  const stderr = readAll(child.stderr);
  try {
    if (waitExit) {
      await child.stdout.cancel();
      const st = await child.status;
      if (!st.success) throw new Error(`${args.join(" ")} exited ${st.code}: ${await stderr}`);
      return performance.now() - start;
    }
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const timeout = setTimeout(() => void stop(child), 30_000);
    try {
      while (!RESULT_LINE.test(text)) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`no result line: ${text} ${await stderr}`);
        text += value;
      }
    } finally {
      clearTimeout(timeout);
    }
    const ms = performance.now() - start;
    reader.cancel().catch(() => {});
    return ms;
  } finally {
    await stop(child);
  }
}

async function benchStartup(plan: Plan): Promise<void> {
  const reps = plan.startup.reps;
  log(`startup: spawn to first result line, ${reps} runs (+1 warm-up), fresh state dir each`);
  const s = await sandbox([{ name: "heartbeat", builtin: "heartbeat", interval: "10s" }]);
  const agentArgs = (state: string) => [
    "agent",
    "--standalone",
    "--no-splay",
    "--identity",
    "bench",
    "--checks",
    s.checks,
    "--machines",
    s.machines,
    "--state-dir",
    state,
    "--textfile-dir",
    s.textfile,
  ];
  const direct: number[] = [];
  const viaTask: number[] = [];
  const empty: number[] = [];
  try {
    for (let i = 0; i <= reps; i++) {
      const a = await timeFirstLine(
        DENO,
        // The shipped V8 flags, as the task: V8's code cache is keyed by the flags, so runs
        // with other flags would throw away each other's cache.
        [
          "run",
          "--quiet",
          "-P=agent",
          V8_FLAGS,
          "main.ts",
          ...agentArgs(`${s.dir}/state-run-${i}`),
        ],
        false,
      );
      const t = await timeFirstLine(
        DENO,
        ["task", "--quiet", "scout", ...agentArgs(`${s.dir}/state-task-${i}`)],
        false,
      );
      const e = await timeFirstLine(
        DENO,
        ["run", "--quiet", "-P=agent", "scripts/_bench_empty.ts"],
        true,
      );
      if (i === 0) continue; // warm-up
      direct.push(a);
      viaTask.push(t);
      empty.push(e);
    }
  } finally {
    await removeDir(s.dir);
  }
  const med = median(direct);
  const base = median(empty);
  details.startup = { direct, viaTask, empty };
  log(
    `  deno run: ${direct.map((x) => fmt(x)).join(", ")} ms; empty: ${
      empty.map((x) => fmt(x)).join(", ")
    } ms`,
  );
  row({
    bench: "startup",
    metric:
      `Start-up to first result line, median of ${reps} (deno run -P=agent, shipped V8 flags, main.ts agent)`,
    value: `${fmt(med)} ms`,
    baseline: `${fmt(base)} ms deno run of an empty script`,
    target: `${fmt(med / base, 2)}x; < 300 ms`,
    pass: med < 300,
  });
  row({
    bench: "startup",
    metric: `Same through \`deno task scout\`, median of ${reps}`,
    value: `${fmt(median(viaTask))} ms`,
    baseline: `${fmt(base)} ms`,
    target: `${fmt(median(viaTask) / base, 2)}x (info)`,
    pass: null,
  });

  log("startup: deno info main.ts, looking for @nats-io");
  const info = await new Deno.Command(DENO, { args: ["info", "--json", "main.ts"], cwd: ROOT })
    .output();
  if (!info.success) throw new Error(`deno info failed: ${dec.decode(info.stderr)}`);
  const graph = JSON.parse(dec.decode(info.stdout)) as {
    roots: string[];
    modules?: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
    redirects?: Record<string, string>;
  };
  // What standalone start-up loads: the modules reachable through static imports from main.ts
  // and the `scout agent` command module it loads (fleet mode and the goss engine are dynamic
  // imports, loaded only when used).
  const byId = new Map((graph.modules ?? []).map((m) => [m.specifier, m]));
  const resolve = (spec: string) => graph.redirects?.[spec] ?? spec;
  const seen = new Set<string>();
  const agentCommand = new URL("../src/cli/agent.ts", import.meta.url).href;
  const todo = [...graph.roots.map(resolve), agentCommand];
  while (todo.length) {
    const spec = todo.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const d of byId.get(spec)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) todo.push(resolve(d.code.specifier));
    }
  }
  const specs = [...seen];
  const nats = specs.filter((x) => x.includes("@nats-io"));
  details.moduleGraph = { modules: graph.modules?.length ?? 0, nats };
  row({
    bench: "startup",
    metric: "NATS client modules statically imported by main.ts (`deno info --json main.ts`)",
    value: `${nats.length} @nats-io of ${specs.length} statically reachable modules`,
    baseline: "",
    target: "none",
    pass: nats.length === 0,
  });
}

// ------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      quick: { type: "boolean" },
      checks: { type: "string" },
      minutes: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const unknown = positionals.filter((p) => !(BENCHES as readonly string[]).includes(p));
  if (unknown.length) {
    Deno.stderr.writeSync(enc.encode(`bench: unknown benchmark ${unknown.join(", ")}\n${HELP}`));
    return 2;
  }
  const selected: Bench[] = positionals.length
    ? BENCHES.filter((b) => positionals.includes(b))
    : [...BENCHES];
  const num = (v: string | undefined, what: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`--${what} must be a positive number`);
    return n;
  };
  const plan = makePlan(
    values.quick ?? false,
    num(values.checks, "checks"),
    num(values.minutes, "minutes"),
  );
  for (const p of [CHECK_DUMMY, SETSID]) {
    try {
      Deno.statSync(p);
    } catch {
      throw new Error(`${p} is missing (apt install monitoring-plugins-basic util-linux)`);
    }
  }

  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const command = `cd ${ROOT} && deno task bench${
    Deno.args.length ? " " + Deno.args.join(" ") : ""
  }`;
  const loadBefore = Deno.loadavg();
  const started = new Date();
  log(`${command}`);
  log(
    `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, load ${
      loadBefore.map((x) => x.toFixed(2)).join(" ")
    }`,
  );

  const failures: string[] = [];
  const runners: Record<Bench, (p: Plan) => Promise<void>> = {
    throughput: benchThroughput,
    memory: benchMemory,
    timing: benchTiming,
    startup: benchStartup,
  };
  try {
    for (const b of selected) {
      try {
        await runners[b](plan);
      } catch (e) {
        if (aborting) break;
        const msg = e instanceof Error ? e.message : String(e);
        failures.push(`${b}: ${msg}`);
        log(`${b} FAILED TO RUN: ${msg}`);
        row({
          bench: b,
          metric: `${b} benchmark`,
          value: "did not run",
          baseline: "",
          target: msg.slice(0, 120),
          pass: false,
        });
      }
    }
  } finally {
    await cleanupAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  if (aborting) {
    // onSignal stops everything and exits 130; nothing to print.
    await new Promise(() => {});
  }
  let extra = "";
  if (memoryTable) {
    extra +=
      `\nMemory per process (VmRSS sampled every 0.5 s after the warm-up; anon/file/threads at the end):\n\n${memoryTable}`;
  }
  const drift = details.timingDrift as { bucketMs: number; buckets: string[][] } | undefined;
  if (drift) {
    extra += `\nLateness of the @5s run per ${drift.bucketMs / 1000} s:\n\n` +
      markdownTable(["Window", "Runs", "p50 ms", "p99 ms", "max ms"], drift.buckets);
  }
  const code = await printReport({
    title: "Scout benchmarks",
    command,
    started,
    loadBefore,
    loadAfter: Deno.loadavg(),
    quick: plan.quick,
    rows,
    extra,
    notes,
    ...(values.json ? { json: { file: values.json, details: { details } } } : {}),
    failures: failures.length,
  });
  if (values.json) log(`wrote ${values.json}`);
  return code;
}

if (import.meta.main) Deno.exit(await main());
