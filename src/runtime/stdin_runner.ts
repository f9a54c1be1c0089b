/**
 * A small runner for programs that take their input on stdin (the external certificate
 * signer): the whole environment is given, output is capped, and a timeout kills the
 * program's whole process group. Structurally it is the StdinRunner port of pki/.
 * @module
 */

/** One run: program, arguments, complete environment, stdin text and timeout. */
export interface StdinRunRequest {
  /** Absolute path of the program. */
  cmd: string;
  /** Its arguments. */
  args: string[];
  /** Its complete environment; nothing of the caller's is inherited. */
  env: Record<string, string>;
  /** Written to stdin, which is then closed. */
  stdin: string;
  /** After this the program's process group is killed. */
  timeoutMs: number;
}

/** How a run ended. */
export interface StdinRunResult {
  /** Exit code, or null when killed by a signal, timed out or not started. */
  code: number | null;
  /** stdout as UTF-8, capped. */
  stdout: string;
  /** stderr as UTF-8, capped; a start failure is described here. */
  stderr: string;
  /** True when the timeout killed the program. */
  timedOut: boolean;
}

/** Runs a program with text on stdin. */
export interface StdinRunner {
  /** Runs to completion; never throws for the program's own failures. */
  run(request: StdinRunRequest): Promise<StdinRunResult>;
}

/** Options of createDenoStdinRunner. */
export interface DenoStdinRunnerOptions {
  /** Bytes of stdout (and, separately, stderr) kept; the rest is read and dropped. @default 65536 */
  maxOutputBytes?: number;
  /** How long pipes may stay open after the program exited (a grandchild holds them). @default 200 */
  pipeGraceMs?: number;
}

async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  max: number,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let kept = 0, cut = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = max - kept;
      if (value.length > room) cut = true;
      if (room > 0) {
        const part = value.subarray(0, Math.min(room, value.length));
        chunks.push(part.slice());
        kept += part.length;
      }
    }
  } catch {
    // cancelled or broken: keep what was read
  }
  const all = new Uint8Array(kept);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const text = new TextDecoder().decode(all);
  return cut ? `${text}\n[output truncated at ${max} bytes]` : text;
}

function killGroup(child: Deno.ChildProcess): void {
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    // the group is gone already, or scoped --allow-run refuses a group kill
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // already exited
  }
}

/**
 * The Deno StdinRunner: spawns the program as leader of its own process group with a cleared
 * environment, writes stdin, reads stdout and stderr up to the cap, kills the whole group on
 * timeout (and after the program exits, so nothing it started outlives it).
 */
export function createDenoStdinRunner(options: DenoStdinRunnerOptions = {}): StdinRunner {
  const max = options.maxOutputBytes ?? 64 * 1024;
  const graceMs = options.pipeGraceMs ?? 200;
  return {
    async run(req) {
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(req.cmd, {
          args: req.args,
          env: req.env,
          clearEnv: true,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          detached: true,
        }).spawn();
      } catch (e) {
        return {
          code: null,
          stdout: "",
          stderr: `cannot start ${req.cmd}: ${(e as Error).message}`,
          timedOut: false,
        };
      }
      const readers = [child.stdout.getReader(), child.stderr.getReader()] as const;
      const out = drain(readers[0], max), err = drain(readers[1], max);
      const stopReading = () => {
        for (const r of readers) r.cancel().catch(() => {});
      };
      // A program that does not read its stdin makes this write fail: that is its business.
      const writer = child.stdin.getWriter();
      writer.write(new TextEncoder().encode(req.stdin)).then(() => writer.close()).catch(() => {});

      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, Math.max(0, Math.min(req.timeoutMs, 2 ** 31 - 1)));
      let status: Deno.CommandStatus;
      try {
        status = await child.status;
      } finally {
        clearTimeout(timer);
      }
      // Something the program started may hold the pipes: give it a grace, then end it all.
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => graceTimer = setTimeout(resolve, graceMs));
      await Promise.race([Promise.all([out, err]), grace]);
      clearTimeout(graceTimer);
      killGroup(child);
      stopReading();
      const [stdout, stderr] = await Promise.all([out, err]);
      return { code: timedOut ? null : status.code, stdout, stderr, timedOut };
    },
  };
}
