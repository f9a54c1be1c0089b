/** What to run: a program path (never a shell line), its arguments and its whole environment. */
export interface RunRequest {
  /** Absolute path of the program, already resolved and allowed. */
  cmd: string;
  /** Arguments, passed as they are. */
  args: string[];
  /** The child's complete environment; nothing of the agent's is inherited. */
  env: Record<string, string>;
  /** Working directory. @default the agent's */
  cwd?: string;
  /** After this the whole process group is killed. */
  timeoutMs: number;
  /** Bytes of stdout (and, separately, stderr) kept; the rest is read and dropped. */
  maxOutputBytes: number;
  /** Aborting kills the whole process group, as a timeout does. */
  signal?: AbortSignal;
}

/** Fields every RunResult carries. */
interface RunCommon {
  /** Wall time from spawn to exit, in milliseconds. */
  durationMs: number;
  /** Captured stdout, decoded as UTF-8 with invalid bytes replaced, capped, with a marker when cut. */
  stdout: string;
  /** Captured stderr, same rules. */
  stderr: string;
  /** True when stdout or stderr was cut at maxOutputBytes. */
  truncated: boolean;
}

/** How a run ended: a discriminated union on `kind`. */
export type RunResult =
  | (RunCommon & { kind: "exited"; code: number })
  | (RunCommon & { kind: "signaled"; signal: string })
  | (RunCommon & { kind: "timeout" })
  | (RunCommon & { kind: "aborted" })
  | (RunCommon & { kind: "spawn_error"; message: string });

/** The ProcessRunner port: one method, as sensu-go's executor. */
export interface ProcessRunner {
  /** Runs a program to completion; never throws for the program's own failures. */
  run(request: RunRequest): Promise<RunResult>;
}

/** Options of createDenoRunner. */
export interface DenoRunnerOptions {
  /**
   * How long stdout and stderr may stay open after the program itself exited (a background
   * grandchild can hold them) before the rest of its process group is killed. @default 100
   */
  pipeGraceMs?: number;
  /**
   * How each program is made the leader of its own process group. A path to `setsid`
   * (util-linux or busybox): the runner spawns `setsid -- cmd args`, which calls setsid(2)
   * and execs the program under the same pid. `null`: Deno's `detached: true`, which forks
   * the whole agent per spawn (1-4 ms, growing with the agent's RSS, where setsid costs one
   * extra exec of a small binary). @default "/usr/bin/setsid" when it exists, else null
   */
  setsidPath?: string | null;
}

/** Largest delay setTimeout accepts. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Bytes asked for per read: plugins print a few hundred bytes; 100 MB just takes more reads. */
const READ_CHUNK = 16 * 1024;

/** Most idle read buffers kept for reuse (two per run in flight, for the default 32 runs). */
const POOL_MAX = 64;

/**
 * Read buffers shared by every run. Without it each run allocated two fresh buffers, and at a
 * thousand runs a second that churn of external memory drove V8 into back-to-back GCs under
 * the agent's heap cap.
 */
const bufferPool: ArrayBuffer[] = [];

function takeBuffer(): ArrayBuffer {
  return bufferPool.pop() ?? new ArrayBuffer(READ_CHUNK);
}

function returnBuffer(buffer: ArrayBuffer): void {
  // A buffer a cancelled read still holds comes back detached (length 0): let it go.
  if (buffer.byteLength === READ_CHUNK && bufferPool.length < POOL_MAX) bufferPool.push(buffer);
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Keeps the first `max` bytes of a stream and notes whether more came. */
class Capture {
  #buf = new Uint8Array(0);
  #len = 0;
  /** True once a byte beyond the cap was seen. */
  truncated = false;

  constructor(readonly max: number) {}

  push(chunk: Uint8Array): void {
    const room = this.max - this.#len;
    if (chunk.length > room) this.truncated = true;
    const n = Math.min(room, chunk.length);
    if (n <= 0) return;
    const need = this.#len + n;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.min(this.max, Math.max(need, this.#buf.length * 2, 1024)));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    // Copied: the chunk is a view of the read buffer, which is reused for the next read.
    this.#buf.set(n === chunk.length ? chunk : chunk.subarray(0, n), this.#len);
    this.#len = need;
  }

  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  text(): string {
    // A multi-byte character cut at the cap decodes as U+FFFD, as invalid bytes do.
    const text = decoder.decode(this.bytes());
    if (!this.truncated) return text;
    const sep = text === "" || text.endsWith("\n") ? "" : "\n";
    return `${text}${sep}[output truncated at ${this.max} bytes]`;
  }
}

/**
 * Reads a stream to its end (or until cancelled), feeding the capture. It reads into one
 * pooled buffer (a BYOB reader), so neither a plugin printing 100 MB nor a thousand runs a
 * second make garbage. Never rejects.
 */
async function pump(reader: ReadableStreamBYOBReader, capture: Capture): Promise<void> {
  let buffer = takeBuffer();
  try {
    while (true) {
      const { done, value } = await reader.read(new Uint8Array(buffer));
      // Each read transfers the buffer into `value`: take it back for the next read.
      if (value !== undefined) buffer = value.buffer as ArrayBuffer;
      if (done || value === undefined) return;
      capture.push(value);
    }
  } catch {
    // The stream errored or was cancelled: keep what was read.
  } finally {
    returnBuffer(buffer);
  }
}

/** Resolves after ms; cancel() clears the timer so nothing outlives the run. */
function delay(ms: number): { done: Promise<void>; cancel: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((resolve) => {
    id = setTimeout(resolve, ms);
  });
  return { done, cancel: () => clearTimeout(id) };
}

/**
 * Sends SIGKILL to the child's whole process group (the child leads one). With `leaderToo`
 * the child itself is killed first: until `setsid` has run the group does not exist yet, and
 * a killed leader starts nothing more, so the group kill after it catches everything it
 * started. Also the fallback when scoped --allow-run refuses the group kill. Errors for
 * things already gone are ignored.
 */
function killGroup(child: Deno.ChildProcess, leaderToo: boolean): void {
  if (leaderToo) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    // ESRCH: the group is gone (or not made yet); NotCapable: scoped --allow-run.
  }
}

function spawnMessage(cmd: string, cwd: string | undefined, e: unknown): string {
  if (e instanceof Deno.errors.NotFound) {
    if (cwd !== undefined && /cwd/i.test(e.message)) {
      return `Cannot start "${cmd}": working directory "${cwd}" does not exist`;
    }
    return `Cannot start "${cmd}": no such file`;
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return `Cannot start "${cmd}": permission denied (is it executable, and its directory searchable?)`;
  }
  if (e instanceof Deno.errors.NotCapable) {
    return `Cannot start "${cmd}": Deno's --allow-run does not permit it`;
  }
  return `Cannot start "${cmd}": ${e instanceof Error ? e.message : String(e)}`;
}

/**
 * When setsid could not exec the program it exits 126/127 after printing
 * `setsid: failed to execute <cmd>: <reason>`; turn that into the spawn_error message
 * Deno would have given, or undefined when the program itself ran.
 */
function setsidFailure(cmd: string, code: number, stderr: Capture): string | undefined {
  if (code !== 126 && code !== 127) return undefined;
  const text = decoder.decode(stderr.bytes());
  const m = /^setsid: failed to execute .*: ([^\n]*)\n?$/.exec(text);
  if (!m) return undefined;
  const reason = m[1] ?? "";
  if (/no such file/i.test(reason)) return `Cannot start "${cmd}": no such file`;
  if (/permission denied/i.test(reason)) {
    return `Cannot start "${cmd}": permission denied (is it executable, and its directory searchable?)`;
  }
  return `Cannot start "${cmd}": ${reason}`;
}

function timerMs(ms: number): number {
  if (Number.isNaN(ms)) return 0;
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}

function defaultSetsid(): string | null {
  try {
    return Deno.statSync("/usr/bin/setsid").isFile ? "/usr/bin/setsid" : null;
  } catch {
    return null; // absent, or no read permission: use Deno's detached spawn
  }
}

/**
 * The real ProcessRunner over Deno.Command. Each program leads its own process group;
 * a timeout or an abort kills the whole group (grandchildren included) and stops reading
 * at once. When the program exits by itself, its group is killed as soon as the pipes
 * close, or after `pipeGraceMs` when something it started holds them, so nothing it started
 * outlives the run. The group kill needs unscoped --allow-run (deno-environment.md §8).
 */
export function createDenoRunner(options: DenoRunnerOptions = {}): ProcessRunner {
  const pipeGraceMs = options.pipeGraceMs ?? 100;
  const setsid = options.setsidPath === undefined ? defaultSetsid() : options.setsidPath;

  function spawn(req: RunRequest): Deno.ChildProcess {
    const common = {
      env: req.env,
      clearEnv: true,
      ...(req.cwd === undefined ? {} : { cwd: req.cwd }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    } as const;
    if (setsid === null) {
      return new Deno.Command(req.cmd, { ...common, args: req.args, detached: true }).spawn();
    }
    return new Deno.Command(setsid, { ...common, args: ["--", req.cmd, ...req.args] }).spawn();
  }

  async function run(req: RunRequest): Promise<RunResult> {
    const start = performance.now();
    const out = new Capture(Math.max(0, req.maxOutputBytes));
    const err = new Capture(Math.max(0, req.maxOutputBytes));
    const common = (durationMs: number) => ({
      durationMs,
      stdout: out.text(),
      stderr: err.text(),
      truncated: out.truncated || err.truncated,
    });
    if (req.signal?.aborted) return { kind: "aborted", ...common(0) };

    let child: Deno.ChildProcess;
    try {
      child = spawn(req);
    } catch (e) {
      return {
        kind: "spawn_error",
        message: spawnMessage(req.cmd, req.cwd, e),
        ...common(performance.now() - start),
      };
    }

    const readers = [
      child.stdout.getReader({ mode: "byob" }),
      child.stderr.getReader({ mode: "byob" }),
    ];
    let pipesClosed = false;
    const pumps = Promise.all([pump(readers[0]!, out), pump(readers[1]!, err)]).then(() => {
      pipesClosed = true;
    });
    const stopReading = () => {
      for (const r of readers) r.cancel().catch(() => {});
    };

    let ended: "timeout" | "aborted" | undefined;
    const end = (why: "timeout" | "aborted") => {
      if (ended !== undefined) return;
      ended = why;
      killGroup(child, true);
      stopReading();
    };
    const timer = setTimeout(() => end("timeout"), timerMs(req.timeoutMs));
    const onAbort = () => end("aborted");
    req.signal?.addEventListener("abort", onAbort, { once: true });

    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
    const durationMs = performance.now() - start;

    if (ended === undefined) {
      // The program exited by itself. Let the pipes drain; if something it started still
      // holds them after the grace, kill the group (which closes them) and read what is left.
      if (!pipesClosed) {
        const grace = delay(pipeGraceMs);
        await Promise.race([pumps, grace.done]);
        grace.cancel();
      }
      killGroup(child, false);
      if (!pipesClosed) {
        // A process that left the group (its own setsid) can still hold them: stop reading.
        const grace = delay(pipeGraceMs);
        await Promise.race([pumps, grace.done]);
        grace.cancel();
        stopReading();
      }
    }
    await pumps;

    if (ended !== undefined) return { kind: ended, ...common(durationMs) };
    if (status.signal !== null) {
      return { kind: "signaled", signal: status.signal, ...common(durationMs) };
    }
    const failed = setsid === null ? undefined : setsidFailure(req.cmd, status.code, err);
    if (failed !== undefined) {
      out.truncated = err.truncated = false;
      return { kind: "spawn_error", message: failed, ...common(durationMs), stderr: "" };
    }
    return { kind: "exited", code: status.code, ...common(durationMs) };
  }

  return { run };
}

/**
 * Limits how many programs run at once: a run past the limit waits for a free slot (its
 * timeout starts when it really starts). Keeps a small device from forking hundreds of
 * plugins when many checks fall due together.
 */
export function limitConcurrency(runner: ProcessRunner, max: number): ProcessRunner {
  if (!Number.isInteger(max) || max < 1) {
    throw new RangeError(`max must be a positive integer: ${max}`);
  }
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    async run(request) {
      if (running >= max) {
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else running++;
      try {
        if (request.signal?.aborted) {
          return { kind: "aborted", durationMs: 0, stdout: "", stderr: "", truncated: false };
        }
        return await runner.run(request);
      } finally {
        const next = waiting.shift();
        if (next) next(); // hand the slot over
        else running--;
      }
    },
  };
}
