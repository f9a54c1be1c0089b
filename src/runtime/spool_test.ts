import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { openSpool, type SpoolRecord } from "./spool.ts";

function rec(i: number, data = `payload-${i}`): SpoolRecord {
  return { id: String(i), subject: `scout.events.${i % 3}`, data };
}

function ids(records: SpoolRecord[]): string[] {
  return records.map((r) => r.id);
}

function range(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => String(from + i));
}

function segmentFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".jsonl")).sort();
}

function diskBytes(dir: string): number {
  return segmentFiles(dir).reduce((n, name) => n + Deno.statSync(`${dir}/${name}`).size, 0);
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "scout-spool-" });
}

Deno.test("spool keeps order across many appends and partial acks", async () => {
  const base = await tempDir();
  const spool = openSpool({ dir: `${base}/spool`, maxBytes: 1 << 20, segmentBytes: 512 });
  let next = 0, head = 0;
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 25; i++) spool.append(rec(next++));
    const got = spool.peek(17);
    deepEqual(ids(got), range(head, head + 17));
    spool.ack(11);
    head += 11;
  }
  equal(spool.size().records, next - head);
  deepEqual(ids(spool.peek(100_000)), range(head, next));
  equal(spool.dropped(), 0);
  const segments = segmentFiles(`${base}/spool`).length;
  ok(
    segments <= Math.ceil(spool.size().bytes / 400) + 2,
    `acked segments are removed (${segments})`,
  );
  spool.close();
  equal(Deno.statSync(`${base}/spool`).mode! & 0o777, 0o700);
  await Deno.remove(base, { recursive: true });
});

Deno.test("spool reopened after close keeps un-acked records and the dropped count", async () => {
  const base = await tempDir();
  const dir = `${base}/spool`;
  let spool = openSpool({ dir, maxBytes: 2000, segmentBytes: 400 });
  for (let i = 0; i < 100; i++) spool.append(rec(i));
  const dropped = spool.dropped();
  ok(dropped > 0);
  spool.peek(5);
  spool.ack(5);
  const before = spool.peek(1000);
  const size = spool.size();
  spool.close();
  spool = openSpool({ dir, maxBytes: 2000, segmentBytes: 400 });
  deepEqual(spool.peek(1000), before);
  deepEqual(spool.size(), size);
  equal(spool.dropped(), dropped);
  spool.close();
  await Deno.remove(base, { recursive: true });
});

Deno.test("an ack without persist is re-delivered after a crash until persist() or close writes it", async () => {
  const base = await tempDir();
  const dir = `${base}/spool`;
  const spool = openSpool({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 16 });
  for (let i = 0; i < 10; i++) spool.append(rec(i));
  const before = Deno.readTextFileSync(`${dir}/cursor.json`);
  spool.peek(4);
  spool.ack(4, { persist: false });
  deepEqual(ids(spool.peek(100)), range(4, 10), "gone from the spool at once");
  equal(Deno.readTextFileSync(`${dir}/cursor.json`), before, "the cursor file is untouched");
  // A crash now (a second open sees only the files): the 4 records come back, in order.
  const crashed = openSpool({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 16 });
  deepEqual(ids(crashed.peek(100)), range(0, 10));
  crashed.close();
  spool.persist();
  const reopened = openSpool({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 16 });
  deepEqual(ids(reopened.peek(100)), range(4, 10), "persist() made the ack stick");
  reopened.close();
  spool.peek(2);
  spool.ack(2, { persist: false });
  spool.close();
  const closed = openSpool({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 16 });
  deepEqual(ids(closed.peek(100)), range(6, 10), "close() persists too");
  closed.close();
  await Deno.remove(base, { recursive: true });
});

Deno.test("an ack without persist that empties a segment writes the cursor anyway", async () => {
  const base = await tempDir();
  const dir = `${base}/spool`;
  const spool = openSpool({ dir, maxBytes: 1 << 20, segmentBytes: 200 });
  for (let i = 0; i < 20; i++) spool.append(rec(i));
  ok(segmentFiles(dir).length > 2);
  spool.peek(15);
  spool.ack(15, { persist: false });
  // Segments were removed, so the cursor on disk had to move past them: a crash keeps the ack.
  const crashed = openSpool({ dir, maxBytes: 1 << 20, segmentBytes: 200 });
  deepEqual(ids(crashed.peek(100)), range(15, 20));
  crashed.close();
  spool.close();
  await Deno.remove(base, { recursive: true });
});

Deno.test("spool ignores a torn last line on reopen", async () => {
  const base = await tempDir();
  const dir = `${base}/spool`;
  let spool = openSpool({ dir, maxBytes: 1 << 20 });
  for (let i = 0; i < 3; i++) spool.append(rec(i));
  spool.close();
  const last = segmentFiles(dir).at(-1)!;
  Deno.writeTextFileSync(`${dir}/${last}`, '{"id":"3","subj', { append: true });
  spool = openSpool({ dir, maxBytes: 1 << 20 });
  deepEqual(ids(spool.peek(10)), range(0, 3));
  equal(spool.dropped(), 0);
  spool.append(rec(3));
  spool.close();
  spool = openSpool({ dir, maxBytes: 1 << 20 });
  deepEqual(ids(spool.peek(10)), range(0, 4));
  spool.close();
  await Deno.remove(base, { recursive: true });
});

Deno.test("spool drops the oldest records when full and counts them", async () => {
  const base = await tempDir();
  const dir = `${base}/spool`;
  const spool = openSpool({ dir, maxBytes: 1000, segmentBytes: 200 });
  for (let i = 0; i < 200; i++) {
    spool.append(rec(i));
    ok(diskBytes(dir) <= 1000);
  }
  const kept = ids(spool.peek(1000));
  equal(kept.length + spool.dropped(), 200);
  deepEqual(kept, range(200 - kept.length, 200));
  ok(kept.length >= 10, `keeps most of the bound, kept ${kept.length}`);
  spool.close();
  await Deno.remove(base, { recursive: true });
});

Deno.test("spool counts a record larger than the whole spool as dropped", async () => {
  const base = await tempDir();
  const spool = openSpool({ dir: `${base}/spool`, maxBytes: 100 });
  spool.append(rec(0, "x"));
  spool.append(rec(1, "y".repeat(200)));
  deepEqual(ids(spool.peek(10)), ["0"]);
  equal(spool.dropped(), 1);
  spool.close();
  await Deno.remove(base, { recursive: true });
});

Deno.test("spool ack does not count records of the peek that were dropped meanwhile", async () => {
  const base = await tempDir();
  const spool = openSpool({ dir: `${base}/spool`, maxBytes: 600, segmentBytes: 150 });
  for (let i = 0; i < 8; i++) spool.append(rec(i));
  const peeked = spool.peek(3);
  deepEqual(ids(peeked), ["0", "1", "2"]);
  let n = 8;
  while (spool.dropped() === 0) spool.append(rec(n++));
  const first = spool.dropped(); // no peek here: it would start a new batch
  ok(first > 0);
  spool.ack(3); // the in-flight batch: only its survivors are removed
  deepEqual(ids(spool.peek(1000)), range(Math.max(first, 3), n));
  spool.close();
  await Deno.remove(base, { recursive: true });
});

type Op =
  | { op: "append"; len: number }
  | { op: "peek"; max: number }
  | { op: "ack"; count: number }
  | { op: "reopen" };

Deno.test("spool behaves like a bounded in-memory queue under any operation sequence", async () => {
  const base = await tempDir();
  const maxBytes = 700, segmentBytes = 160;
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.integer({ min: 0, max: 80 }).map((len): Op => ({ op: "append", len })),
    },
    {
      weight: 2,
      arbitrary: fc.integer({ min: 0, max: 12 }).map((max): Op => ({ op: "peek", max })),
    },
    {
      weight: 2,
      arbitrary: fc.integer({ min: 0, max: 12 }).map((count): Op => ({ op: "ack", count })),
    },
    { weight: 1, arbitrary: fc.constant({ op: "reopen" } as const) },
  );
  let run = 0;
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const dir = `${base}/run-${run++}`;
      const open = () => openSpool({ dir, maxBytes, segmentBytes });
      let spool = open();
      // Model: the queue, ordinals of its head and of the head at the last peek, drops.
      let queue: SpoolRecord[] = [];
      let headOrd = 0, peekOrd = 0, dropped = 0, next = 0;
      const lineBytes = (r: SpoolRecord) =>
        new TextEncoder().encode(JSON.stringify(r) + "\n").length;
      const queueBytes = () => queue.reduce((n, r) => n + lineBytes(r), 0);
      try {
        for (const o of ops) {
          switch (o.op) {
            case "append": {
              const r = rec(next++, "d".repeat(o.len));
              const before = queueBytes();
              spool.append(r);
              queue.push(r);
              const k = spool.dropped() - dropped;
              ok(k >= 0);
              if (k > 0) {
                ok(before + lineBytes(r) + segmentBytes > maxBytes, "drops only when full");
                queue = queue.slice(k);
                headOrd += k;
                dropped += k;
              }
              ok(diskBytes(dir) <= maxBytes, "disk use stays within the bound");
              break;
            }
            case "peek":
              deepEqual(spool.peek(o.max), queue.slice(0, o.max));
              peekOrd = headOrd;
              break;
            case "ack": {
              const n = Math.min(Math.max(peekOrd + o.count - headOrd, 0), queue.length);
              spool.ack(o.count);
              queue = queue.slice(n);
              headOrd += n;
              peekOrd = headOrd;
              break;
            }
            case "reopen":
              spool.close();
              spool = open();
              peekOrd = headOrd;
              break;
          }
          deepEqual(spool.size(), { records: queue.length, bytes: queueBytes() });
          equal(spool.dropped(), dropped);
        }
        deepEqual(spool.peek(1000), queue);
      } finally {
        spool.close();
      }
    }),
    { numRuns: 150 },
  );
  await Deno.remove(base, { recursive: true });
});

Deno.test("spool after SIGKILL mid-append reopens to a gap-free, duplicate-free sequence", async () => {
  const base = await tempDir();
  const dir = `${base}/spool`;
  const script = `${base}/child.ts`;
  const spoolUrl = new URL("./spool.ts", import.meta.url).href;
  Deno.writeTextFileSync(
    script,
    `import { openSpool } from ${JSON.stringify(spoolUrl)};
const spool = openSpool({ dir: ${JSON.stringify(dir)}, maxBytes: 1 << 30, segmentBytes: 2048 });
const all = spool.peek(1e9);
let next = all.length ? Number(all.at(-1).id) + 1 : 0;
await Deno.stdout.write(new TextEncoder().encode("ready\\n"));
const stop = Date.now() + 3000;
while (Date.now() < stop) {
  spool.append({ id: String(next), subject: "s", data: "x".repeat(next % 97) });
  next++;
  if (next % 40 === 0) { spool.peek(25); spool.ack(25); }
}
`,
  );
  let lastFirst = 0, lastEnd = 0;
  for (let round = 0; round < 5; round++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", script],
      cwd: base,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 150)));
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    const spool = openSpool({ dir, maxBytes: 1 << 30, segmentBytes: 2048 });
    const got = ids(spool.peek(1e9));
    spool.close();
    ok(got.length > 0);
    const first = Number(got[0]), end = Number(got.at(-1)) + 1;
    deepEqual(got, range(first, end), `round ${round}: contiguous, in order, no duplicates`);
    // The child acks 25 records each time its counter reaches a multiple of 40; the last ack
    // may have been cut off by the kill. Anything else means lost or resurrected records.
    const acks = Math.floor(end / 40) - Math.floor(lastEnd / 40);
    ok(
      first - lastFirst === 25 * acks || first - lastFirst === 25 * (acks - 1),
      `round ${round}: head moved by ${first - lastFirst}, ${acks} acks expected`,
    );
    ok(end > lastEnd, `round ${round}: the child appended`);
    lastFirst = first;
    lastEnd = end;
  }
  await Deno.remove(base, { recursive: true });
});
