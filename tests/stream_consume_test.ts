/**
 * Stream.consume against a real nats-server: in-order batches acked only after the handler
 * returned, a throwing handler gets its batch again, and a new consumer of the same durable
 * resumes right after the last ack, at once and in order, even when deliveries were never acked.
 */
import { deepEqual, ok } from "node:assert/strict";
import { type Broker, connectBroker, type StreamMessage } from "../src/transport/mod.ts";
import { makePki, SKIP_NATS, startNatsServer } from "./_nats.ts";
import { waitUntil } from "./_wait.ts";

async function publish(b: Broker, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    await b.stream.publish(`t.${i % 3}`, new TextEncoder().encode(String(i)), { msgId: `m${i}` });
  }
}

const numbers = (batch: StreamMessage[]) =>
  batch.map((m) => Number(new TextDecoder().decode(m.data)));

Deno.test({
  name: "Stream.consume: ordered batches, retry on a throwing handler, resume after the last ack",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-consume-" });
    const pki = await makePki(`${dir}/pki`);
    const server = await startNatsServer({ pki, dir: `${dir}/nats` });
    const opts = {
      urls: [server.url],
      tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
      name: "consume-test",
    };
    const b1 = await connectBroker(opts);
    try {
      await b1.stream.ensure("T", ["t.>"], {});
      await publish(b1, 1, 20);
      const got: number[] = [];
      const sizes: number[] = [];
      let failures = 1;
      const c1 = await b1.stream.consume("T", "d", (batch) => {
        if (numbers(batch).includes(7) && failures-- > 0) {
          return Promise.reject(new Error("boom"));
        }
        sizes.push(batch.length);
        got.push(...numbers(batch));
        return Promise.resolve();
      }, { batch: 5, retryMs: 50 });
      await waitUntil("20 messages", () => got.length >= 20);
      deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1));
      ok(sizes.every((s) => s <= 5));
      await c1.stop();

      // A handler that never finishes its batch: the connection goes away without an ack.
      await publish(b1, 21, 30);
      const b2 = await connectBroker(opts);
      const held = Promise.withResolvers<void>();
      let seen = 0;
      const c2 = await b2.stream.consume("T", "d", async (batch) => {
        seen += batch.length;
        await held.promise;
      }, { batch: 5 });
      await waitUntil("a delivery", () => seen > 0);
      await b2.close();
      held.resolve();
      const ts = Date.now();
      await c2.stop();
      ok(Date.now() - ts < 2000, "a closed connection does not wait for an ack");

      // The next consumer resumes right after 20, in order, without waiting for the ack wait.
      const again: number[] = [];
      const t0 = Date.now();
      const c3 = await b1.stream.consume("T", "d", (batch) => {
        again.push(...numbers(batch));
        ok(batch.every((m) => !m.replay));
        return Promise.resolve();
      }, { batch: 4 });
      await waitUntil("the unacked messages", () => again.length >= 10, 10_000);
      ok(Date.now() - t0 < 10_000);
      deepEqual(again, Array.from({ length: 10 }, (_, i) => i + 21));
      await c3.stop();

      // fromSeq earlier than the acks: a replay, flagged as such.
      const replayed: StreamMessage[] = [];
      const c4 = await b1.stream.consume("T", "d", (batch) => {
        replayed.push(...batch);
        return Promise.resolve();
      }, { fromSeq: 28 });
      await waitUntil("the replay", () => replayed.length >= 3);
      deepEqual(replayed.map((m) => [m.seq, m.replay]), [[28, true], [29, true], [30, true]]);
      await c4.stop();
    } finally {
      await b1.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
