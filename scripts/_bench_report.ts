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

/** The console line of a table row as it is measured. */
export function rowLine(
  r: { metric: string; value: string; baseline: string; target: string; pass: boolean | null },
): string {
  return `  ${r.metric}: ${r.value}${r.baseline ? ` (baseline ${r.baseline})` : ""} ${r.target} ${
    r.pass === null ? "" : r.pass ? "PASS" : "FAIL"
  }`;
}

/** Seconds since the benchmark started (since this module loaded). */
export function elapsedSeconds(): number {
  return (performance.now() - t0) / 1000;
}
