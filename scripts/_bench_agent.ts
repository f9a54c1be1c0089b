/**
 * Benchmark helper (child of scripts/bench.ts): starts the REAL agent in-process with
 * startAgent() and the benchmark hooks, runs it for a while, stops it and prints one JSON line
 * on stdout. bench.ts runs it under the agent's own permission set (`deno run -P=agent`), not -A.
 *
 * Hooks used (AgentOverrides):
 * - `runner`: the real createDenoRunner() wrapped to count runs in flight (time-weighted mean
 *   and maximum over the measurement window, Little's law: the agent's effective concurrency);
 * - `onEvent`: counts nagios state events (one per check result);
 * - `observeLateness`: every interval run's start lateness, with when it happened.
 *
 * Options (one JSON argument): see {@link Options}. The check files are written by bench.ts.
 * @module
 */
import process from "node:process";
import { DEFAULT_PLUGIN_DIRS, startAgent } from "../src/agent.ts";
import { createConsoleLogger, createDenoRunner, type ProcessRunner } from "../src/runtime/mod.ts";

/** What bench.ts passes (as one JSON argument). */
export interface Options {
  /** Check files directory. */
  checksDir: string;
  /** An empty machines directory. */
  machinesDir: string;
  /** State directory. */
  stateDir: string;
  /** Textfile directory, or null. */
  textfileDir: string | null;
  /** Events file, or null. */
  eventsFile: string | null;
  /** Start every check at once (true) or after the agent's random splay (false). */
  noSplay: boolean;
  /** Time after start before the measurement window opens. */
  warmupMs: number;
  /** Length of the measurement window; the agent is stopped at its end. */
  windowMs: number;
  /** Return every lateness sample (timing) rather than only counts (throughput). */
  lateness: boolean;
}

/** What the child prints. */
export interface AgentResult {
  /** Check results (nagios state events) inside the window. */
  results: number;
  /** Results per second inside the window. */
  perSecond: number;
  /** Time-weighted mean of runs in flight inside the window. */
  meanInFlight: number;
  /** Most runs in flight at once inside the window. */
  maxInFlight: number;
  /** Runs ending inside the window other than "exited" with code 0 (timeouts, errors). */
  badRuns: number;
  /** An example of a bad run, for the report. */
  badExample: string | null;
  /** Runs started over the whole run. */
  runsStarted: number;
  /** Lateness samples: [ms since agent start, lateness ms], when asked for. */
  lateness: [number, number][];
  /** Time startAgent() took. */
  startMs: number;
  /** Time stop() took. */
  stopMs: number;
  /** CPU time of the agent process (all its threads) inside the window / window: cores used. */
  cpuCores: number;
  /** Deno.memoryUsage() at the end of the window. */
  memory: { rss: number; heapUsed: number; heapTotal: number };
}

const NAGIOS_STATE = "io.choria.machine.watcher.nagios.v1.state";

async function main(): Promise<void> {
  const opts = JSON.parse(Deno.args[0] ?? "{}") as Options;
  const real = createDenoRunner();

  let inFlight = 0;
  let maxInFlight = 0;
  let area = 0;
  let lastChange = performance.now();
  let measuring = false;
  let runsStarted = 0;
  let badRuns = 0;
  let badExample: string | null = null;
  const account = (delta: number) => {
    const now = performance.now();
    if (measuring) area += inFlight * (now - lastChange);
    lastChange = now;
    inFlight += delta;
    if (measuring && inFlight > maxInFlight) maxInFlight = inFlight;
  };
  const runner: ProcessRunner = {
    async run(req) {
      runsStarted++;
      account(+1);
      try {
        const r = await real.run(req);
        if (measuring && (r.kind !== "exited" || r.code !== 0)) {
          badRuns++;
          badExample ??= JSON.stringify({ ...r, stdout: r.stdout.slice(0, 200) });
        }
        return r;
      } finally {
        account(-1);
      }
    },
  };

  let results = 0;
  const lateness: [number, number][] = [];
  let t0 = performance.now();
  const handle = await startAgent({
    identity: "bench",
    checksDirs: [opts.checksDir],
    machinesDirs: [opts.machinesDir],
    stateDir: opts.stateDir,
    textfileDir: opts.textfileDir,
    eventsFile: opts.eventsFile,
    pluginDirs: [...DEFAULT_PLUGIN_DIRS],
    noSplay: opts.noSplay,
    maxOutputBytes: 65536,
    rescanMs: 30_000,
    maxConcurrent: 32,
    fleet: null,
    printEvents: false,
  }, {
    runner,
    logger: createConsoleLogger({ level: "warn" }),
    onEvent: (ev) => {
      if (measuring && ev.type === NAGIOS_STATE) results++;
    },
    ...(opts.lateness
      ? {
        observeLateness: (ms: number) => {
          lateness.push([Math.round(performance.now() - t0), ms]);
        },
      }
      : {}),
  });
  const startMs = performance.now() - t0;
  t0 = performance.now() - startMs;

  // Stop early (and still report) on SIGTERM/SIGINT from bench.ts.
  const early = Promise.withResolvers<void>();
  const onSignal = () => early.resolve();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  const wait = (ms: number) => {
    let id: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      new Promise<void>((r) => id = setTimeout(r, ms)),
      early.promise,
    ]).finally(() => clearTimeout(id));
  };

  await wait(opts.warmupMs);
  account(0);
  measuring = true;
  area = 0;
  maxInFlight = inFlight;
  const cpu0 = process.cpuUsage();
  const windowStart = performance.now();
  await wait(opts.windowMs);
  account(0);
  measuring = false;
  const windowMs = performance.now() - windowStart;
  const cpu = process.cpuUsage(cpu0);
  const mem = Deno.memoryUsage();

  const s0 = performance.now();
  await handle.stop();
  const stopMs = performance.now() - s0;
  Deno.removeSignalListener("SIGTERM", onSignal);
  Deno.removeSignalListener("SIGINT", onSignal);

  const result: AgentResult = {
    results,
    perSecond: results / (windowMs / 1000),
    meanInFlight: windowMs > 0 ? area / windowMs : 0,
    maxInFlight,
    badRuns,
    badExample,
    runsStarted,
    lateness,
    startMs,
    stopMs,
    cpuCores: windowMs > 0 ? (cpu.user + cpu.system) / 1000 / windowMs : 0,
    memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal },
  };
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
}

if (import.meta.main) await main();
