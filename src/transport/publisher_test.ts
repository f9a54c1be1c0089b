import { deepEqual, equal, ok } from "node:assert/strict";
import { FakeClock, flush } from "../../tests/fakes/clock.ts";
import { openSpool, type Spool } from "../runtime/mod.ts";
import { startSpooledPublisher } from "./publisher.ts";
import type { Stream } from "./_nats.ts";

/** A stream that acknowledges every publish at once and records the ids. */
function ackingStream(): { stream: Stream; ids: string[] } {
  const ids: string[] = [];
  const stream = {
    publish(_subject: string, _data: Uint8Array, o: { msgId: string }) {
      ids.push(o.msgId);
      return Promise.resolve({ seq: ids.length, duplicate: false });
    },
  } as unknown as Stream;
  return { stream, ids };
}

/** A spool in a temporary directory, the inode of its cursor file, and a crash-like reopen. */
async function tempSpool() {
  const dir = await Deno.makeTempDir({ prefix: "scout-publisher-" });
  const open = () => openSpool({ dir: `${dir}/spool`, maxBytes: 1 << 20 });
  return {
    spool: open(),
    cursorIno: () => Deno.statSync(`${dir}/spool/cursor.json`).ino,
    /** What a new process would find in the files now. */
    onDisk(): string[] {
      const other = open();
      const ids = other.peek(1000).map((r) => r.id);
      other.close();
      return ids;
    },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

function append(spool: Spool, id: number): void {
  spool.append({ id: String(id), subject: "scout.node.n.x", data: "{}" });
}

Deno.test("the publisher rewrites the spool's cursor at most once per persistEveryMs, and on stop", async () => {
  const t = await tempSpool();
  try {
    const clock = new FakeClock();
    const { stream, ids } = ackingStream();
    const publisher = startSpooledPublisher({
      spool: t.spool,
      stream,
      persistEveryMs: 1000,
      clock,
    });
    const first = t.cursorIno();
    for (let i = 0; i < 50; i++) {
      append(t.spool, i);
      publisher.kick();
      await clock.advance(10); // 50 rounds in half a second
    }
    equal(ids.length, 50, "every record was published");
    equal(t.spool.size().records, 0, "and acknowledged");
    equal(t.cursorIno(), first, "no cursor write for 50 acks within persistEveryMs");
    await clock.advance(600);
    ok(t.cursorIno() !== first, "persisted once persistEveryMs passed");
    deepEqual(t.onDisk(), [], "a crash now re-sends nothing");
    const second = t.cursorIno();
    append(t.spool, 50);
    publisher.kick();
    await flush();
    equal(t.cursorIno(), second, "not yet: within persistEveryMs of the last write");
    deepEqual(t.onDisk(), ["50"], "a crash now would re-send the one record (a duplicate)");
    const stopping = publisher.stop();
    await clock.advance(0);
    await stopping;
    deepEqual(t.onDisk(), [], "stop persists the cursor");
    t.spool.close();
  } finally {
    await t.remove();
  }
});
