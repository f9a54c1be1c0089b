/**
 * Benchmark helper (child of scripts/bench.ts): the memory BASELINE. Loads the modules the agent
 * runs with (the CLI and `scout agent`, and through it the agent and every package it imports
 * at start; the goss engine loads only for goss checks), then does nothing until SIGTERM or
 * SIGINT. bench.ts reads its VmRSS as the agent's.
 *
 * Run (by bench.ts): deno run -P=agent scripts/_bench_idle.ts
 * @module
 */
import "../src/cli/mod.ts";
import "../src/cli/agent.ts";

if (import.meta.main) {
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGTERM", resolve);
    Deno.addSignalListener("SIGINT", resolve);
  });
}
