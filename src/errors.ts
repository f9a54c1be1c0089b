/**
 * Scout's one error type and its renderer. Layer 0: imports nothing.
 * Every error carries a stable code, a context, and a hint that says how to fix it.
 * @module
 */

/** Stable error codes; callers match on these, never on messages. */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_YAML"
  | "CONFIG_UNKNOWN_KEY"
  | "CONFIG_DUPLICATE"
  | "CONFIG_DURATION"
  | "CONFIG_STATE"
  | "IDENTITY_INVALID"
  | "PLUGIN_NOT_FOUND"
  | "PLUGIN_NOT_ALLOWED"
  | "PLUGIN_NOT_EXECUTABLE"
  | "WRITE_NOT_ALLOWED"
  | "USAGE"
  | "NO_AGENT"
  | "UNKNOWN_CHECK"
  | "CONTROL"
  | "BROKER_TLS_REQUIRED"
  | "BROKER_CONNECT"
  | "TOKEN_INVALID"
  | "PROVISIONER_NOT_FOUND"
  | "CSR_REFUSED"
  | "SIGNER_FAILED"
  | "PKI_INVALID"
  | "ENROL_REFUSED"
  | "ENROL_UNREACHABLE"
  | "ENROL_BAD_REPLY"
  | "STATE_UNREADABLE"
  | "AUTH_INVALID"
  | "AUTH_DENIED"
  | "AUDIT_FAILED"
  | "INTERNAL";

/** Where in a file an error was found; lines and columns start at 1. */
export interface SourceLocation {
  /** File path as the user gave it. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
}

/** Options of a ScoutError beyond code and message. */
export interface ScoutErrorOptions {
  /** What to do about it, one sentence. */
  hint?: string;
  /** Data that identifies the failing thing (machine, watcher, path). */
  context?: Record<string, unknown>;
  /** File location, printed first as compilers do. */
  location?: SourceLocation;
  /** The underlying error. */
  cause?: unknown;
}

/** The error every Scout module throws or returns for expected failures. */
export class ScoutError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** How to fix it. */
  readonly hint: string | undefined;
  /** Identifying data. */
  readonly context: Record<string, unknown>;
  /** File location when the error is about a file. */
  readonly location: SourceLocation | undefined;

  /** Creates an error with a code, a message and options. */
  constructor(code: ErrorCode, message: string, options: ScoutErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ScoutError";
    this.code = code;
    this.hint = options.hint;
    this.context = options.context ?? {};
    this.location = options.location;
  }
}

/** Renders a location as `file:line:col`. */
export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}

/**
 * Renders any thrown value for people: `file:line:col: message` then `  hint: ...`.
 * Used by the CLI, the logs and RPC replies alike.
 */
export function formatError(err: unknown): string {
  if (err instanceof ScoutError) {
    const where = err.location ? `${formatLocation(err.location)}: ` : "";
    return err.hint ? `${where}${err.message}\n  hint: ${err.hint}` : `${where}${err.message}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A JSON-safe form of an error, for `--json` output and RPC replies. */
export function errorToJson(err: unknown): { code: string; message: string; hint?: string } {
  if (err instanceof ScoutError) {
    const where = err.location ? `${formatLocation(err.location)}: ` : "";
    return err.hint === undefined
      ? { code: err.code, message: where + err.message }
      : { code: err.code, message: where + err.message, hint: err.hint };
  }
  return { code: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
}
