/**
 * Benchmark helper (child of scripts/bench.ts): the throughput BASELINE. A bare loop of
 * `new Deno.Command(check_dummy, {args: ["0", "ok"]}).output()` run by `concurrency` workers,
 * each starting the next spawn as soon as its previous one finished; optionally through
 * `/usr/bin/setsid --` as the agent's runner does, or through the agent's own runner
 * (createDenoRunner().run, which adds setsid, pipe capture and the group kill) with nothing
 * else of the agent around it. Counts completions in a window after a warm-up and prints one
 * JSON line on stdout.
 *
 * Run (by bench.ts): deno run -P=agent scripts/_bench_spawn.ts '<json options>'
 * Options: {"plugin": path, "concurrency": n, "warmupMs": ms, "windowMs": ms,
 *           "via": "bare" | "setsid" | "runner"}
 * @module
 */
import { createDenoRunner } from "../src/runtime/mod.ts";

/** How each run is spawned. */
export type Via = "bare" | "setsid" | "runner";

interface Options {
  plugin: string;
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  via: Via;
}

/** What the child prints: completions in the window and the rate. */
export interface SpawnResult {
  concurrency: number;
  via: Via;
  completed: number;
  failed: number;
  windowMs: number;
  perSecond: number;
}

async function main(): Promise<void> {
  const opts = JSON.parse(Deno.args[0] ?? "{}") as Options;
  const cmd = opts.via === "setsid" ? "/usr/bin/setsid" : opts.plugin;
  const args = opts.via === "setsid" ? ["--", opts.plugin, "0", "ok"] : ["0", "ok"];
  const runner = createDenoRunner();
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  const once = async (): Promise<boolean> => {
    if (opts.via !== "runner") return (await new Deno.Command(cmd, { args }).output()).code === 0;
    const r = await runner.run({
      cmd,
      args,
      env: { PATH: path },
      timeoutMs: 10_000,
      maxOutputBytes: 65536,
    });
    return r.kind === "exited" && r.code === 0;
  };
  const start = performance.now();
  const windowStart = start + opts.warmupMs;
  const windowEnd = windowStart + opts.windowMs;
  let completed = 0;
  let failed = 0;

  async function worker(): Promise<void> {
    while (performance.now() < windowEnd) {
      const ok = await once();
      const t = performance.now();
      if (t >= windowStart && t < windowEnd) {
        if (ok) completed++;
        else failed++;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  const result: SpawnResult = {
    concurrency: opts.concurrency,
    via: opts.via,
    completed,
    failed,
    windowMs: opts.windowMs,
    perSecond: completed / (opts.windowMs / 1000),
  };
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
}

if (import.meta.main) await main();
