import type { CliIo } from "../../src/cli/mod.ts";

/** A CliIo whose output is collected in `stdout` and `stderr`. */
export type CapturedIo = CliIo & { stdout: string; stderr: string };

/** A CliIo that collects what a command prints; `env` is its whole environment. */
export function captureIo(env: Record<string, string> = {}): CapturedIo {
  const io: CapturedIo = {
    stdout: "",
    stderr: "",
    out: (t) => void (io.stdout += t),
    err: (t) => void (io.stderr += t),
    env: (n) => env[n],
  };
  return io;
}
