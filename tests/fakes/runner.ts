import type { ProcessRunner, RunRequest, RunResult } from "../../src/runtime/mod.ts";
import type { FakeClock } from "./clock.ts";

/** A scripted result: exit code and stdout, optionally taking fake time. */
export interface Script {
  /** Exit code. @default 0 */
  code?: number;
  /** Stdout. @default "" */
  stdout?: string;
  /** Fake milliseconds the run takes. @default 0 */
  takesMs?: number;
}

/** A ProcessRunner that answers from a script per program, recording every request. */
export class FakeRunner implements ProcessRunner {
  /** Every request, in order. */
  readonly calls: RunRequest[] = [];
  /** Fake time at which each run started. */
  readonly startedAt: number[] = [];
  /** Runs in progress right now. */
  inFlight = 0;
  /** Most runs in progress at once. */
  maxInFlight = 0;
  #scripts = new Map<string, Script[]>();
  #clock: FakeClock;

  /** Uses the fake clock for runs that take time. */
  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  /** Queues results for a program (matched on the path's last segment); the last one repeats. */
  script(program: string, ...results: Script[]): this {
    this.#scripts.set(program, results);
    return this;
  }

  /** Calls made to one program. */
  callsTo(program: string): RunRequest[] {
    return this.calls.filter((c) => c.cmd.endsWith(`/${program}`) || c.cmd === program);
  }

  /** Answers a request from the script. */
  async run(request: RunRequest): Promise<RunResult> {
    this.calls.push(request);
    this.startedAt.push(this.#clock.now());
    const name = request.cmd.slice(request.cmd.lastIndexOf("/") + 1);
    const queue = this.#scripts.get(name) ?? [{ code: 0, stdout: "OK" }];
    const s = queue.length > 1 ? queue.shift()! : queue[0]!;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (s.takesMs) {
        try {
          await this.#clock.sleep(s.takesMs, request.signal);
        } catch {
          return { kind: "aborted", durationMs: 0, stdout: "", stderr: "", truncated: false };
        }
      }
      return {
        kind: "exited",
        code: s.code ?? 0,
        stdout: s.stdout ?? "",
        stderr: "",
        truncated: false,
        durationMs: s.takesMs ?? 1,
      };
    } finally {
      this.inFlight--;
    }
  }
}

/** A resolver that accepts every program as `/plugins/<name>`. */
export function fakeResolver(
  nameOrPath: string,
): Promise<{ ok: true; path: string }> {
  return Promise.resolve({
    ok: true,
    path: nameOrPath.startsWith("/") ? nameOrPath : `/plugins/${nameOrPath}`,
  });
}
