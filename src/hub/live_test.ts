import { equal, match } from "node:assert/strict";
import { LiveFeed } from "./live.ts";

async function readUntil(r: ReadableStreamDefaultReader<string>, want: RegExp): Promise<string> {
  let text = "";
  while (!want.test(text)) {
    const { value, done } = await r.read();
    if (done) throw new Error(`ended before ${want}: ${text}`);
    text += value;
  }
  return text;
}

Deno.test("LiveFeed: hello, debounced changed pings, heartbeats, close ends streams", async () => {
  const feed = new LiveFeed({ debounceMs: 50, heartbeatMs: 200 });
  const res = feed.response();
  equal(res.status, 200);
  match(res.headers.get("content-type")!, /^text\/event-stream/);
  const r = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  await readUntil(r, /retry: 2000\nevent: hello\ndata: \{"seq":0\}\n\n/);
  equal(feed.clients, 1);
  feed.notify(1);
  feed.notify(2);
  feed.notify(3);
  const text = await readUntil(r, /event: changed\ndata: \{"seq":3\}\n\n/);
  equal((text.match(/event: changed/g) ?? []).length, 1, "three changes, one ping");
  await readUntil(r, /event: heartbeat\ndata: \{"seq":3\}\n\n/);
  feed.close();
  equal((await r.read()).done, true);
  equal(feed.clients, 0);
  equal(feed.response().status, 503);
});

Deno.test("LiveFeed: a client going away is dropped; HEAD gets headers only", async () => {
  const feed = new LiveFeed({ maxClients: 1 });
  const res = feed.response();
  equal(feed.response().status, 503, "over the limit");
  await res.body!.cancel();
  equal(feed.clients, 0);
  const head = feed.response("HEAD");
  equal(head.body, null);
  match(head.headers.get("content-type")!, /^text\/event-stream/);
  feed.close();
});
