/** A cancellable timer handle returned by Clock.setTimer. */
export interface Timer {
  /** Stops the timer; calling it after it fired does nothing. */
  cancel(): void;
}

/** The Clock port: all time in Scout goes through it, so tests can move time by hand. */
export interface Clock {
  /** Milliseconds since the unix epoch. */
  now(): number;
  /** Calls fn once after ms milliseconds. */
  setTimer(ms: number, fn: () => void): Timer;
  /** Resolves after ms milliseconds, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Sleeps on any clock through its setTimer; shared by the real and fake clocks. */
export function sleepOn(
  clock: Pick<Clock, "setTimer">,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The real clock, backed by Date.now and setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const id = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(id) };
  },
  sleep(ms, signal) {
    return sleepOn(this, ms, signal);
  },
};
