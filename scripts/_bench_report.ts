/**
 * What every benchmark script prints with: the result on stdout, progress on stderr with the
 * seconds since start, percentiles and the markdown table. Shared by scripts/bench.ts and
 * scripts/bench_rpc.ts.
 * @module
 */

const enc = new TextEncoder();
const t0 = performance.now();

/** Result text (the table) on stdout. */
export function out(text: string): void {
  Deno.stdout.writeSync(enc.encode(text));
}

/** A progress logger on stderr whose lines start with `[<tag> <seconds since start>s]`. */
export function progressLog(tag: string): (text: string) => void {
  return (text) => {
    const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
    Deno.stderr.writeSync(enc.encode(`[${tag} ${s}s] ${text}\n`));
  };
}

/** Resolves after `ms` (benchmarks measure real time). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Nearest-rank percentile of already sorted numbers. */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

/** The median of unsorted numbers. */
export function median(xs: number[]): number {
  return pct([...xs].sort((a, b) => a - b), 0.5);
}

/** A number with `digits` decimals, or "n/a". */
export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

/** A markdown table with padded columns. */
export function markdownTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? "").padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)]
    .join("\n") + "\n";
}

/** One row of a benchmark's result table. */
export interface ResultRow {
  /** What was measured. */
  metric: string;
  /** The measured value. */
  value: string;
  /** The baseline measured in the same run ("" for none). */
  baseline: string;
  /** The ratio and the target, or "info". */
  target: string;
  /** true pass, false fail, null informational. */
  pass: boolean | null;
}

/** The console line of a table row as it is measured. */
export function rowLine(r: ResultRow): string {
  return `  ${r.metric}: ${r.value}${r.baseline ? ` (baseline ${r.baseline})` : ""} ${r.target} ${
    r.pass === null ? "" : r.pass ? "PASS" : "FAIL"
  }`;
}

/** Seconds since the benchmark started (since this module loaded). */
export function elapsedSeconds(): number {
  return (performance.now() - t0) / 1000;
}

/** What a benchmark run prints at the end (see printReport). */
export interface Report {
  /** Heading, e.g. "Scout benchmarks". */
  title: string;
  /** The command line that produced it. */
  command: string;
  /** When the run started. */
  started: Date;
  /** 1-minute load averages before and after the run. */
  loadBefore: number[];
  loadAfter: number[];
  /** Whether it was a --quick run. */
  quick: boolean;
  /** The result rows. */
  rows: ResultRow[];
  /** Printed after the result table (extra tables). */
  extra?: string;
  /** Notes; a warning about a loaded machine is added here. */
  notes: string[];
  /** `--json FILE`, and what goes into it besides command, times, rows and notes. */
  json?: { file: string; details: Record<string, unknown> };
  /** Parts that could not run. */
  failures: number;
}

/**
 * Prints the markdown report (command, machine and load, the result table, extra tables,
 * notes), writes the --json file and the summary line; returns the exit code: 2 a part could
 * not run, 1 a target missed, 0 all met.
 */
export async function printReport(r: Report): Promise<number> {
  const elapsed = elapsedSeconds();
  const cores = navigator.hardwareConcurrency;
  out(`\n## ${r.title}\n\n`);
  out("```sh\n" + r.command + "\n```\n\n");
  out(
    `${r.started.toISOString()}, ${
      fmt(elapsed)
    } s; deno ${Deno.version.deno}, ${cores} cores (${Deno.build.target}); ` +
      `load average ${r.loadBefore[0]!.toFixed(2)} before, ${r.loadAfter[0]!.toFixed(2)} after; ${
        r.quick ? "--quick" : "full run"
      }.\n\n`,
  );
  out(markdownTable(
    ["Metric", "Value", "Baseline (same run)", "Ratio / target", "Result"],
    r.rows.map((row) => [
      row.metric,
      row.value,
      row.baseline || "—",
      row.target,
      row.pass === null ? "info" : row.pass ? "PASS" : "FAIL",
    ]),
  ));
  if (r.extra) out(r.extra);
  const notes = [...r.notes];
  if (r.loadBefore[0]! > cores * 0.75) {
    notes.push(
      `the 1-minute load average was ${r.loadBefore[0]!.toFixed(2)} on ${cores} cores when the ` +
        "run began (other work, or an earlier run): absolute numbers suffer first; read the " +
        "same-run ratios.",
    );
  }
  if (notes.length) out(`\nNotes:\n${notes.map((n) => `- ${n}`).join("\n")}\n`);
  if (r.json) {
    const { command, started, loadBefore, loadAfter, rows } = r;
    await Deno.writeTextFile(
      r.json.file,
      JSON.stringify(
        { command, started, elapsed, loadBefore, loadAfter, ...r.json.details, rows, notes },
        null,
        2,
      ),
    );
  }
  const failed = r.rows.filter((row) => row.pass === false).length;
  out(
    `\n${r.rows.filter((row) => row.pass === true).length} passed, ${failed} failed, ${
      r.rows.filter((row) => row.pass === null).length
    } informational.\n`,
  );
  return r.failures ? 2 : failed ? 1 : 0;
}
