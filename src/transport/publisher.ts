import type { Spool } from "../runtime/mod.ts";
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
  /** Told about a failed publish, once per outage. */
  onError?(message: string): void;
  /** Told when publishing works again after an outage. */
  onRecovered?(): void;
}

/**
 * Moves records from the spool to the stream, oldest first, each with its id as `Nats-Msg-Id`
 * (so a record re-sent after a lost ack or a crash is a duplicate the stream drops). A record
 * is removed from the spool only after the stream acknowledged it; while the broker is away
 * records wait in the spool, and checks never wait for the network.
 */
export function startSpooledPublisher(options: SpooledPublisherOptions): SpooledPublisher {
  const { spool, stream, batch = 100, retryMs = 1000 } = options;
  const encoder = new TextEncoder();
  let stopped = false;
  let wake: (() => void) | null = null;
  let failing = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = null;
        resolve();
      };
    });

  const loop = (async () => {
    while (!stopped) {
      const records = spool.peek(batch);
      if (records.length === 0) {
        await sleep(60_000);
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
      if (done > 0) spool.ack(done);
      if (done < records.length && !stopped) await sleep(retryMs);
    }
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
