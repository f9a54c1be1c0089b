/**
 * Benchmark helper (child of scripts/bench.ts): the memory BASELINE. Loads the same module
 * graph as main.ts (the CLI and, through it, the agent and every package it imports), then
 * does nothing until SIGTERM or SIGINT. bench.ts reads its VmRSS as the agent's.
 *
 * Run (by bench.ts): deno run -P=agent scripts/_bench_idle.ts
 * @module
 */
import "../src/cli/mod.ts";

if (import.meta.main) {
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGTERM", resolve);
    Deno.addSignalListener("SIGINT", resolve);
  });
}
