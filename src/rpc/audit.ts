/**
 * The node API's audit log: one JSON line per request, allowed or denied, rotated by size
 * (`path` -> `path.1` -> ... -> `path.<keep>`). File access goes through the small AuditSink
 * port (the Fs port has no size or rename); runtime/ has its Deno implementation.
 * @module
 */
import type { Clock } from "../runtime/mod.ts";
import { ScoutError } from "../errors.ts";

/** The file operations the audit log needs. */
export interface AuditSink {
  /** Appends text to a file, creating it (mode 0600). */
  append(path: string, data: string): Promise<void>;
  /** Size of a file in bytes; 0 when it does not exist. */
  size(path: string): Promise<number>;
  /** Renames a file over another; does nothing when `from` does not exist. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; does nothing when it does not exist. */
  remove(path: string): Promise<void>;
}

/** What the caller records for one request; `time` is added from the clock. */
export interface AuditEntry {
  /** Request id, when known. */
  id: string | null;
  /** Caller (`sub`), when authenticated. */
  caller: string | null;
  /** Token issuer (`iss`), when authenticated. */
  issuer: string | null;
  /** Requested action, when readable. */
  action: string | null;
  /** Requested target (identity or `_all`), when readable. */
  target: string | null;
  /** Check names the request names (empty: all or none). */
  checks: string[];
  /** The authentication + authorization decision. */
  decision: "allow" | "deny";
  /** Why (the refusal reason, or "" when allowed). */
  reason: string;
  /** What happened: e.g. "ok", "error: ...", or "refused" for denied requests. */
  outcome: string;
}

/** One line of the audit log. */
export type AuditLine = { time: string } & AuditEntry;

/** Options of createAuditLog. */
export interface AuditLogOptions {
  /** The file port. */
  sink: AuditSink;
  /** The log file. */
  path: string;
  /** Rotate before a line would make the file larger than this; default 10 MiB. */
  maxBytes?: number;
  /** How many rotated files to keep (`path.1` newest); default 5; 0 keeps none. */
  keep?: number;
  /** Clock for `time`. */
  clock: Pick<Clock, "now">;
}

/** The audit log handle. */
export interface AuditLog {
  /** Writes one line; rejects with ScoutError(AUDIT_FAILED) when the sink fails. */
  record(entry: AuditEntry): Promise<void>;
}

/** Creates an audit log; writes are serialized, so lines never interleave with a rotation. */
export function createAuditLog(opts: AuditLogOptions): AuditLog {
  const maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  const keep = opts.keep ?? 5;
  let size: number | null = null;
  let queue: Promise<void> = Promise.resolve();

  async function rotate(): Promise<void> {
    if (keep === 0) {
      await opts.sink.remove(opts.path);
    } else {
      await opts.sink.remove(`${opts.path}.${keep}`);
      for (let i = keep - 1; i >= 1; i--) {
        await opts.sink.rename(`${opts.path}.${i}`, `${opts.path}.${i + 1}`);
      }
      await opts.sink.rename(opts.path, `${opts.path}.1`);
    }
    size = 0;
  }

  async function write(entry: AuditEntry): Promise<void> {
    const line: AuditLine = { time: new Date(opts.clock.now()).toISOString(), ...entry };
    const text = JSON.stringify(line) + "\n";
    const bytes = new TextEncoder().encode(text).byteLength;
    size ??= await opts.sink.size(opts.path);
    if (size > 0 && size + bytes > maxBytes) await rotate();
    await opts.sink.append(opts.path, text);
    size += bytes;
  }

  return {
    record(entry) {
      const next = queue.then(() => write(entry)).catch((e) => {
        size = null; // re-read the size after a failure
        throw new ScoutError(
          "AUDIT_FAILED",
          `cannot write the audit log: ${(e as Error).message}`,
          {
            hint: `check that ${opts.path} is writable`,
            context: { path: opts.path },
            cause: e,
          },
        );
      });
      queue = next.catch(() => {});
      return next;
    },
  };
}
