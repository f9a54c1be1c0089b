/**
 * Polling helpers for tests that wait on real processes, brokers and files. The timeouts are
 * generous bounds for a loaded CI machine: they only decide how long a failing test takes.
 * @module
 */

/** Sleeps ms. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or throws. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, everyMs = 50 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

/** Polls `condition` every 25 ms until it holds, or throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  condition: () => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(what, () => (condition() ? true : undefined), { timeoutMs, everyMs: 25 });
}
