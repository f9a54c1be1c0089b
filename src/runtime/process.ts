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
