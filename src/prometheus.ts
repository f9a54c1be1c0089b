/**
 * Renders check states as Prometheus text exposition with Choria's metric names, for the
 * node-exporter textfile collector. Layer 1: pure (the caller writes the file atomically);
 * imports only errors.ts.
 *
 * Differences from go-choria, on purpose: a check in MAINTENANCE shows `status="MAINTENANCE"`
 * with value 4 (Choria exports it as OK), `checks_count` counts real check runs only (Choria also
 * counts state-change refreshes), `last_run_seconds` is omitted for a check that never ran, and
 * series are sorted by check name so the file is stable.
 * @module
 */
import { ScoutError } from "./errors.ts";

/** A check's exported status: the hard Nagios state, or MAINTENANCE. */
export type PromStatus = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN" | "MAINTENANCE";

/** One check's state as exported. */
export interface PromCheck {
  /** Check (machine) name; the `name` label. */
  name: string;
  /** Hard status, or MAINTENANCE. */
  status: PromStatus;
  /** When it last ran, unix ms; null when it never ran (the series is then omitted). */
  lastRunMs: number | null;
  /** Number of real check runs. */
  checksCount: number;
}

/** File name of the textfile, as Choria's. */
export const TEXTFILE_NAME = "choria_machine_nagios_watcher_status.prom";

/** Value of `choria_machine_nagios_watcher_status` for each status; MAINTENANCE is never 0. */
export const PROM_STATUS_VALUES: { readonly [S in PromStatus]: 0 | 1 | 2 | 3 | 4 } = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
  MAINTENANCE: 4,
};

/** Metric family names, as Choria's. */
export const PROM_FAMILIES = {
  startTime: "choria_machine_nagios_start_time",
  status: "choria_machine_nagios_watcher_status",
  lastRun: "choria_machine_nagios_watcher_last_run_seconds",
  checksCount: "choria_machine_nagios_watcher_checks_count",
} as const;

/** Escapes a label value per the text exposition format: backslash, double quote, newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

function seconds(ms: number, what: string, name?: string): number {
  if (!Number.isFinite(ms)) {
    throw new ScoutError("INTERNAL", `${what} is not a usable time: ${ms}`, {
      context: name === undefined ? { [what]: ms } : { name, [what]: ms },
    });
  }
  return Math.floor(ms / 1000);
}

function header(lines: string[], family: string, type: "gauge" | "counter", help: string): void {
  lines.push(`# HELP ${family} ${help}`, `# TYPE ${family} ${type}`);
}

/**
 * Renders the whole textfile: HELP and TYPE for all four families (even without series), checks
 * sorted by name (a repeated name keeps its last entry), times in unix seconds, ending in "\n".
 */
export function renderTextfile(startTimeMs: number, checks: PromCheck[]): string {
  const byName = new Map<string, PromCheck>();
  for (const c of checks) byName.set(c.name, c);
  const sorted = [...byName.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  );
  const label = (c: PromCheck) => `name="${escapeLabelValue(c.name)}"`;
  const lines: string[] = [];

  header(lines, PROM_FAMILIES.startTime, "gauge", "Time the Scout check subsystem started, unix s");
  lines.push(`${PROM_FAMILIES.startTime} ${seconds(startTimeMs, "startTimeMs")}`);

  header(
    lines,
    PROM_FAMILIES.status,
    "gauge",
    "Check status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, 4 MAINTENANCE",
  );
  for (const c of sorted) {
    lines.push(
      `${PROM_FAMILIES.status}{${label(c)},status="${c.status}"} ${PROM_STATUS_VALUES[c.status]}`,
    );
  }

  header(lines, PROM_FAMILIES.lastRun, "gauge", "Time the check last ran, unix s");
  for (const c of sorted) {
    if (c.lastRunMs === null) continue;
    lines.push(
      `${PROM_FAMILIES.lastRun}{${label(c)}} ${seconds(c.lastRunMs, "lastRunMs", c.name)}`,
    );
  }

  header(lines, PROM_FAMILIES.checksCount, "counter", "Number of check runs");
  for (const c of sorted) {
    const count = Number.isFinite(c.checksCount) ? Math.max(0, Math.floor(c.checksCount)) : 0;
    lines.push(`${PROM_FAMILIES.checksCount}{${label(c)}} ${count}`);
  }

  return lines.join("\n") + "\n";
}
