/** Severity of a log record. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured fields attached to a log record. */
export type LogFields = Record<string, unknown>;

/** The Logger port: one method per level, message plus structured fields. */
export interface Logger {
  /** Detail for developers. */
  debug(msg: string, fields?: LogFields): void;
  /** Normal operation. */
  info(msg: string, fields?: LogFields): void;
  /** Something is wrong but Scout carries on. */
  warn(msg: string, fields?: LogFields): void;
  /** Something failed. */
  error(msg: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of createConsoleLogger. */
export interface ConsoleLoggerOptions {
  /** Lowest level printed. @default "info" */
  level?: LogLevel;
  /** Where lines go. @default stderr */
  write?: (line: string) => void;
}

function renderFields(fields: LogFields | undefined): string {
  if (!fields) return "";
  const parts = Object.entries(fields).map(([k, v]) =>
    `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`
  );
  return parts.length ? " " + parts.join(" ") : "";
}

/** A logger that writes `LEVEL message k=v` lines to stderr. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const { level = "info" } = options;
  const encoder = new TextEncoder();
  const write = options.write ??
    ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const at = (l: LogLevel) => (msg: string, fields?: LogFields) => {
    if (ORDER[l] >= ORDER[level]) {
      write(`${l.toUpperCase().padEnd(5)} ${msg}${renderFields(fields)}`);
    }
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that drops everything. */
export const nullLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
