/**
 * Benchmark helper (child of scripts/bench.ts): an empty program, the start-up BASELINE
 * (`deno run` start and exit, on a warm cache, with the same deno.json).
 * @module
 */
export {};
