import { type Clock, type Spool, systemClock } from "../runtime/mod.ts";
import type { Stream } from "./_nats.ts";

/** A running spooled publisher. */
export interface SpooledPublisher {
  /** Says new records are in the spool. */
  kick(): void;
  /** Stops after the publish in flight; records not yet acknowledged stay in the spool. */
  stop(): Promise<void>;
}

/** Options of startSpooledPublisher. */
export interface SpooledPublisherOptions {
  /** Where records wait; they leave it only once the stream acknowledged them. */
  spool: Spool;
  /** The durable stream. */
  stream: Stream;
  /** Records published per round before the spool's cursor moves. @default 100 */
  batch?: number;
  /** Wait after a failed publish (broker down) before trying again, ms. @default 1000 */
  retryMs?: number;
  /**
   * Longest time acknowledged records may stay un-persisted in the spool's cursor, ms: the
   * cursor file is rewritten at most this often, not once per round. @default 1000
   */
  persistEveryMs?: number;
  /** Time; default the system clock. */
  clock?: Clock;
  /** Told about a failed publish, once per outage. */
  onError?(message: string): void;
  /** Told when publishing works again after an outage. */
  onRecovered?(): void;
}

/**
 * Moves records from the spool to the stream, oldest first, each with its id as `Nats-Msg-Id`
 * (so a record re-sent after a lost ack or a crash is a duplicate the stream drops). A record
 * is removed from the spool only after the stream acknowledged it; while the broker is away
 * records wait in the spool, and checks never wait for the network. The spool's cursor is
 * persisted at most every `persistEveryMs`, when the publisher goes idle and on stop: a crash
 * re-sends at most that much, as duplicates the stream drops.
 */
export function startSpooledPublisher(options: SpooledPublisherOptions): SpooledPublisher {
  const { spool, stream, batch = 100, retryMs = 1000, persistEveryMs = 1000 } = options;
  const clock = options.clock ?? systemClock;
  let persistedAt = clock.now();
  const persist = () => {
    spool.persist();
    persistedAt = clock.now();
  };
  const encoder = new TextEncoder();
  let stopped = false;
  let wake: (() => void) | null = null;
  let failing = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = clock.setTimer(ms, () => {
        wake = null;
        resolve();
      });
      wake = () => {
        t.cancel();
        wake = null;
        resolve();
      };
    });

  const loop = (async () => {
    while (!stopped) {
      const records = spool.peek(batch);
      if (records.length === 0) {
        // Idle: the last acks are persisted once persistEveryMs has passed (a kick wakes the
        // loop earlier, and the records it brings are acked before that write).
        const wait = persistEveryMs - (clock.now() - persistedAt);
        if (wait > 0) await sleep(wait);
        else {
          persist();
          await sleep(60_000);
        }
        continue;
      }
      let done = 0;
      try {
        for (const r of records) {
          if (stopped) break;
          await stream.publish(r.subject, encoder.encode(r.data), { msgId: r.id });
          done++;
        }
        if (failing) {
          failing = false;
          options.onRecovered?.();
        }
      } catch (e) {
        if (!failing) {
          failing = true;
          options.onError?.(e instanceof Error ? e.message : String(e));
        }
      }
      if (done > 0) {
        spool.ack(done, { persist: false });
        if (clock.now() - persistedAt >= persistEveryMs) persist();
      }
      if (done < records.length && !stopped) await sleep(retryMs);
    }
    persist();
  })();

  return {
    kick() {
      wake?.();
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
