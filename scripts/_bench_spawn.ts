/**
 * Benchmark helper (child of scripts/bench.ts): the throughput BASELINE. A bare loop of
 * `new Deno.Command(check_dummy, {args: ["0", "ok"]}).output()` run by `concurrency` workers,
 * each starting the next spawn as soon as its previous one finished; optionally through
 * `/usr/bin/setsid --` as the agent's runner does. Counts completions in a window after a
 * warm-up and prints one JSON line on stdout.
 *
 * Run (by bench.ts): deno run -P=agent scripts/_bench_spawn.ts '<json options>'
 * Options: {"plugin": path, "concurrency": n, "warmupMs": ms, "windowMs": ms, "setsid": bool}
 * @module
 */

interface Options {
  plugin: string;
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  setsid: boolean;
}

/** What the child prints: completions in the window and the rate. */
export interface SpawnResult {
  concurrency: number;
  setsid: boolean;
  completed: number;
  failed: number;
  windowMs: number;
  perSecond: number;
}

async function main(): Promise<void> {
  const opts = JSON.parse(Deno.args[0] ?? "{}") as Options;
  const cmd = opts.setsid ? "/usr/bin/setsid" : opts.plugin;
  const args = opts.setsid ? ["--", opts.plugin, "0", "ok"] : ["0", "ok"];
  const start = performance.now();
  const windowStart = start + opts.warmupMs;
  const windowEnd = windowStart + opts.windowMs;
  let completed = 0;
  let failed = 0;

  async function worker(): Promise<void> {
    while (performance.now() < windowEnd) {
      const r = await new Deno.Command(cmd, { args }).output();
      const t = performance.now();
      if (t >= windowStart && t < windowEnd) {
        if (r.code === 0) completed++;
        else failed++;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  const result: SpawnResult = {
    concurrency: opts.concurrency,
    setsid: opts.setsid,
    completed,
    failed,
    windowMs: opts.windowMs,
    perSecond: completed / (opts.windowMs / 1000),
  };
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
}

if (import.meta.main) await main();
