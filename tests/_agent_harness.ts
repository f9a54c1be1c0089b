/**
 * Shared helpers of the process-level agent tests: each test gets a Sandbox (unique temp dir
 * with checks, state, textfile and events paths), starts the REAL agent binary path
 * (`deno run -P=agent main.ts agent ...` from the repository root, under the "agent"
 * permission set, never -A), waits for events, runs CLI commands, stops the agent with a signal
 * and cleans up, killing any plugin process a failed test may have left behind.
 *
 * Every event read from the events file is validated with the project's own `parseEvent`, and
 * nagios state and transition events also against Choria's JSON schemas when
 * ../shared/choria-schemas is present (as src/events_test.ts does).
 * @module
 */
import { ok } from "node:assert/strict";
import { stringify } from "yaml";
import { parseEvent, type ScoutEvent } from "../src/events.ts";
import { CHORIA_SCHEMAS, type ChoriaValidator, choriaValidator, HAVE_CHORIA } from "./_choria.ts";
import { sleep, waitFor } from "./_wait.ts";

export { HAVE_CHORIA };
export { sleep, waitFor };

/** The repository root (no trailing slash): the agent runs from here, so deno.json applies. */
export const REPO: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The fault fixture plugins. */
export const FIXTURE_PLUGINS = `${REPO}/tests/fixtures/plugins`;
/** Where Debian installs the Nagios (monitoring-plugins) plugins. */
export const NAGIOS_PLUGINS = "/usr/lib/nagios/plugins";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** True when the real Nagios plugins the tests use are installed. */
export const HAVE_NAGIOS: boolean = ["check_dummy", "check_load", "check_disk"].every((p) =>
  isFile(`${NAGIOS_PLUGINS}/${p}`)
);
/** Tests needing the Nagios plugins are skipped only outside CI when they are missing. */
export const SKIP_NAGIOS: boolean = !HAVE_NAGIOS && !Deno.env.get("CI");
if (SKIP_NAGIOS) {
  // deno-lint-ignore no-console
  console.warn(
    `agent tests: skipping tests that need the Nagios plugins: none at ${NAGIOS_PLUGINS} ` +
      "(apt install monitoring-plugins-basic)",
  );
}

/** Environment variable that marks every plugin process a test starts. */
export const MARKER_VAR = "SCOUT_TEST_MARKER";

// ------------------------------------------------------------------------------------------------
// Choria's JSON schemas (only when ../shared/choria-schemas is present)

if (!HAVE_CHORIA) {
  // deno-lint-ignore no-console
  console.warn(
    `agent tests: not checking events against Choria's JSON schemas: none at ${CHORIA_SCHEMAS.pathname}`,
  );
}

let choria: Record<string, ChoriaValidator> | null = null;

function choriaValidators(): Record<string, ChoriaValidator> {
  choria ??= {
    "io.choria.machine.watcher.nagios.v1.state": choriaValidator(
      "choria/machine/watcher/nagios/v1/state.json",
    ),
    "io.choria.machine.v1.transition": choriaValidator("choria/machine/v1/transition.json"),
  };
  return choria;
}

/** Event type of nagios state events. */
export const NAGIOS_STATE = "io.choria.machine.watcher.nagios.v1.state";
/** Event type of transition events. */
export const TRANSITION = "io.choria.machine.v1.transition";

/**
 * Validates one events-file line: `parseEvent` must accept it and return it unchanged, and
 * Choria's schema (when present) must accept the data of nagios state and transition events.
 */
export function validateEventLine(line: string, where: string): ScoutEvent {
  let ev: ScoutEvent;
  try {
    ev = parseEvent(line);
  } catch (e) {
    throw new Error(`${where}: parseEvent rejected the event: ${(e as Error).message}\n${line}`);
  }
  if (HAVE_CHORIA) {
    const validate = choriaValidators()[ev.type];
    if (validate) {
      const errors = validate(ev.data);
      ok(
        errors.length === 0,
        `${where}: ${ev.type} fails Choria's schema: ${JSON.stringify(errors)}`,
      );
    }
  }
  return ev;
}

// ------------------------------------------------------------------------------------------------
// processes marked by the test

/** Pids of live processes whose environment has MARKER_VAR starting with `marker`. */
export async function markedPids(marker: string): Promise<number[]> {
  const needle = `${MARKER_VAR}=${marker}`;
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const env = await Deno.readTextFile(`/proc/${entry.name}/environ`);
      if (env.includes(needle)) pids.push(Number(entry.name));
    } catch {
      // gone, or a zombie
    }
  }
  return pids;
}

/** Waits up to `graceMs` for every marked process to be gone; returns the survivors. */
export async function survivors(marker: string, graceMs = 1_000): Promise<number[]> {
  const until = performance.now() + graceMs;
  let pids = await markedPids(marker);
  while (pids.length && performance.now() < until) {
    await sleep(25);
    pids = await markedPids(marker);
  }
  return pids;
}

async function killMarked(marker: string): Promise<void> {
  for (const pid of await markedPids(marker)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

// ------------------------------------------------------------------------------------------------
// the agent process and the CLI

/** What a finished process printed and how it ended. */
export interface ProcessOutcome {
  /** Exit code (128 + n for a signal, as Deno reports). */
  code: number;
  /** Signal that ended it, or null. */
  signal: Deno.Signal | null;
  /** Captured stdout. */
  stdout: string;
  /** Captured stderr. */
  stderr: string;
}

/** A finished CLI command. */
export type CliResult = ProcessOutcome;

function scoutCommand(args: string[], env: Record<string, string>, stdio: "piped" | "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-P=agent", "main.ts", ...args],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: stdio,
    stderr: "piped",
  });
}

async function collect(stream: ReadableStream<Uint8Array> | null, into: string[]): Promise<void> {
  if (!stream) return;
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk, { stream: true }));
}

/** A running agent started by a Sandbox. */
export class AgentProcess {
  readonly #child: Deno.ChildProcess;
  readonly #out: string[] = [];
  readonly #err: string[] = [];
  readonly #reading: Promise<unknown>;
  readonly #status: Promise<Deno.CommandStatus>;
  #exited = false;
  /** performance.now() when it was spawned. */
  readonly startedAt: number = performance.now();

  constructor(args: string[], env: Record<string, string>) {
    this.#child = scoutCommand(args, env, "piped").spawn();
    this.#reading = Promise.all([
      collect(this.#child.stdout, this.#out),
      collect(this.#child.stderr, this.#err),
    ]);
    this.#status = this.#child.status.then((s) => {
      this.#exited = true;
      return s;
    });
  }

  /** The agent's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Everything printed on stderr so far. */
  get stderr(): string {
    return this.#err.join("");
  }

  /** Everything printed on stdout so far. */
  get stdout(): string {
    return this.#out.join("");
  }

  /** Sends a signal (ignored when it already exited). */
  signal(sig: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.#child.kill(sig);
    } catch {
      // exited meanwhile
    }
  }

  /** Waits for the exit and for both streams to end. */
  async wait(): Promise<ProcessOutcome> {
    const status = await this.#status;
    await this.#reading;
    return { code: status.code, signal: status.signal, stdout: this.stdout, stderr: this.stderr };
  }

  /**
   * Sends `sig` and waits for the exit; `elapsedMs` is from the signal to the exit. When it has
   * not exited after `killAfterMs`, it is SIGKILLed (so a failing test does not hang).
   */
  async stop(
    sig: Deno.Signal = "SIGTERM",
    killAfterMs = 15_000,
  ): Promise<ProcessOutcome & { elapsedMs: number }> {
    const t0 = performance.now();
    this.signal(sig);
    const timer = setTimeout(() => this.signal("SIGKILL"), killAfterMs);
    try {
      await this.#status;
    } finally {
      clearTimeout(timer);
    }
    const elapsedMs = performance.now() - t0;
    return { ...(await this.wait()), elapsedMs };
  }
}

/** Runs a `scout` CLI command from the repository root under the agent permission set. */
export async function scout(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out = await scoutCommand(args, env, "piped").output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** One check of `scout checks --json`. */
export interface CheckRow {
  name: string;
  state: string;
  version: string;
  instanceId: string;
  startTime: number;
  maintenance: { reason: string; untilMs: number | null } | null;
  nagios: {
    hardStatus: string | null;
    lastStatus: string | null;
    lastRunMs: number | null;
    checksCount: number;
    attempt: number;
    attempts: number;
  } | null;
  status: Record<string, unknown> | null;
}

/** A check file entry, written as YAML. */
export type CheckEntry = Record<string, unknown>;

/** Options of Sandbox.start. */
export interface StartOptions {
  /** Pass --standalone. @default true */
  standalone?: boolean;
  /** Pass --no-splay. @default true */
  noSplay?: boolean;
  /** --plugin-dir values. @default [FIXTURE_PLUGINS] */
  pluginDirs?: string[];
  /** More flags. */
  extraArgs?: string[];
  /** More environment for the agent process. */
  env?: Record<string, string>;
  /** Pass --quiet. @default false */
  quiet?: boolean;
}

/** One test's private directories, agents and marker. */
export class Sandbox {
  /** Unique marker; checks started with `markerEnv` carry it in their environment. */
  readonly marker: string = `scout-agent-test-${crypto.randomUUID()}`;
  /** Identity given to the agent. */
  readonly identity = "agent-test.example.net";
  readonly #agents: AgentProcess[] = [];

  private constructor(
    /** The sandbox root. */
    readonly dir: string,
  ) {}

  /** Creates a sandbox under the system temp dir. */
  static async create(prefix: string): Promise<Sandbox> {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: `scout-${prefix}-` }));
    const box = new Sandbox(dir);
    await Deno.mkdir(box.checksDir, { recursive: true });
    return box;
  }

  /** --checks directory. */
  get checksDir(): string {
    return `${this.dir}/checks`;
  }
  /** --state-dir directory. */
  get stateDir(): string {
    return `${this.dir}/state`;
  }
  /** --textfile-dir directory. */
  get textfileDir(): string {
    return `${this.dir}/textfile`;
  }
  /** --events-file path. */
  get eventsFile(): string {
    return `${this.dir}/events.jsonl`;
  }
  /** The Prometheus textfile the agent writes. */
  get textfile(): string {
    return `${this.textfileDir}/choria_machine_nagios_watcher_status.prom`;
  }

  /** Environment entry that marks a check's plugin processes (`<marker>-<check>`). */
  markerEnv(check: string): Record<string, string> {
    return { [MARKER_VAR]: `${this.marker}-${check}` };
  }

  /** The marker of one check's processes, for markedPids/survivors. */
  checkMarker(check: string): string {
    return `${this.marker}-${check}`;
  }

  /** Writes a check file (YAML text as is, or a list of entries under `checks:`). */
  async writeChecks(file: string, checks: CheckEntry[] | string): Promise<string> {
    const path = `${this.checksDir}/${file}`;
    const text = typeof checks === "string" ? checks : stringify({ checks });
    // Written beside and renamed, so the agent's watcher never reads half a file.
    const tmp = `${this.checksDir}/.${file}.tmp`;
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
    return path;
  }

  /** The agent's argument list. */
  agentArgs(opts: StartOptions = {}): string[] {
    const args = ["agent"];
    if (opts.standalone ?? true) args.push("--standalone");
    args.push(
      "--checks",
      this.checksDir,
      "--machines",
      `${this.dir}/machines`,
      "--state-dir",
      this.stateDir,
      "--textfile-dir",
      this.textfileDir,
      "--events-file",
      this.eventsFile,
      "--identity",
      this.identity,
    );
    for (const d of opts.pluginDirs ?? [FIXTURE_PLUGINS]) args.push("--plugin-dir", d);
    if (opts.noSplay ?? true) args.push("--no-splay");
    if (opts.quiet) args.push("--quiet");
    args.push(...(opts.extraArgs ?? []));
    return args;
  }

  /** Starts the agent on this sandbox. */
  start(opts: StartOptions = {}): AgentProcess {
    const agent = new AgentProcess(this.agentArgs(opts), opts.env ?? {});
    this.#agents.push(agent);
    return agent;
  }

  /** Runs a scout CLI command with `--state-dir` of this sandbox appended. */
  cli(args: string[]): Promise<CliResult> {
    return scout([...args, "--state-dir", this.stateDir]);
  }

  /** `scout checks --json`, parsed; throws when the command fails. */
  async checks(): Promise<CheckRow[]> {
    const r = await this.cli(["checks", "--json"]);
    if (r.code !== 0) throw new Error(`scout checks --json exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as CheckRow[];
  }

  /** Waits until `scout checks --json` answers (the control socket is up). */
  async waitForControl(timeoutMs = 15_000): Promise<CheckRow[]> {
    return await waitFor("the agent's control socket", async () => {
      const r = await this.cli(["checks", "--json"]);
      return r.code === 0 ? JSON.parse(r.stdout) as CheckRow[] : undefined;
    }, { timeoutMs, everyMs: 100 });
  }

  /**
   * Every complete line of the events file, each validated (parseEvent and, when present,
   * Choria's schemas); a missing file reads as no events.
   */
  async events(): Promise<ScoutEvent[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.eventsFile);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    const end = text.lastIndexOf("\n");
    if (end < 0) return [];
    return text.slice(0, end).split("\n").map((line, i) =>
      validateEventLine(line, `${this.eventsFile}:${i + 1}`)
    );
  }

  /** Nagios state events of one check. */
  async stateEvents(check: string): Promise<ScoutEvent[]> {
    return (await this.events()).filter((e) => e.type === NAGIOS_STATE && e.data.machine === check);
  }

  /** Waits until `pred` holds for the events read so far; returns them. */
  async waitForEvents(
    what: string,
    pred: (events: ScoutEvent[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<ScoutEvent[]> {
    return await waitFor(what, async () => {
      const evs = await this.events();
      return pred(evs) ? evs : undefined;
    }, { timeoutMs });
  }

  /** Waits until `check` has at least `n` nagios state events; returns them. */
  async waitForStates(check: string, n = 1, timeoutMs = 15_000): Promise<ScoutEvent[]> {
    const evs = await this.waitForEvents(
      `${n} state event(s) of ${check}`,
      (all) => all.filter((e) => e.type === NAGIOS_STATE && e.data.machine === check).length >= n,
      timeoutMs,
    );
    return evs.filter((e) => e.type === NAGIOS_STATE && e.data.machine === check);
  }

  /** Parses every STATE/machines/*.json; throws naming the file that is not whole JSON. */
  async stateFiles(): Promise<Record<string, Record<string, unknown>>> {
    const out: Record<string, Record<string, unknown>> = {};
    const dir = `${this.stateDir}/machines`;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return out;
      throw e;
    }
    for (const e of entries) {
      if (!e.name.endsWith(".json")) continue;
      const text = await Deno.readTextFile(`${dir}/${e.name}`);
      try {
        out[e.name.slice(0, -5)] = JSON.parse(text);
      } catch (err) {
        throw new Error(
          `${dir}/${e.name} is not whole JSON (${(err as Error).message}): ${
            JSON.stringify(text.slice(0, 200))
          }`,
        );
      }
    }
    return out;
  }

  /** Kills every agent still running, every marked process, and removes the directory. */
  async cleanup(): Promise<void> {
    for (const a of this.#agents) {
      if (!a.exited) a.signal("SIGKILL");
      await a.wait();
    }
    await killMarked(this.marker);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Asserts that stderr shows no stack trace and no uncaught error. */
export function assertNoStackTrace(stderr: string): void {
  const bad = stderr.split("\n").filter((l) => /^\s{4}at /.test(l) || l.includes("Uncaught"));
  ok(bad.length === 0, `stderr has a stack trace or an uncaught error:\n${stderr}`);
}

/** Runs `fn` with a fresh sandbox and always cleans it up. */
export async function withSandbox(
  prefix: string,
  fn: (box: Sandbox) => Promise<void>,
): Promise<void> {
  const box = await Sandbox.create(prefix);
  try {
    await fn(box);
  } finally {
    await box.cleanup();
  }
}
