/**
 * Benchmark helper (child of scripts/bench_rpc.ts): the machine's floor for check-start
 * lateness. A bare Deno process (under the agent's V8 flags, started beside the agent) that does
 * nothing but arm a 10 ms timer again and again, recording when each was due (epoch ms) and how
 * late it fired (ms, from performance.now). On SIGTERM it prints the flat pairs as one JSON line.
 *
 * Run (by bench_rpc.ts): deno run scripts/_bench_timer_probe.ts
 * @module
 */
if (import.meta.main) {
  const pairs: number[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const due = performance.now() + 10;
    const dueEpoch = Date.now() + 10;
    timer = setTimeout(() => {
      pairs.push(dueEpoch, performance.now() - due);
      arm();
    }, 10);
  };
  arm();
  await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
  clearTimeout(timer);
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(pairs) + "\n"));
  Deno.exit(0);
}
