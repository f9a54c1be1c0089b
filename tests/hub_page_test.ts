/**
 * The hub's web status page against a real nats-server: `GET /` is self-contained under a strict
 * Content-Security-Policy with a fresh nonce, `GET /api/v1/events` streams `changed` after the
 * view changes, and stopping the hub ends the open streams instead of hanging on them. In
 * headless Chromium (driven over CDP, tests/_chromium.ts) the page shows the fleet, marks a stale
 * node, and a check going OK -> CRITICAL after the page loaded shows up without a reload; a
 * screenshot is left in /tmp/scout-page.png.
 */
import { equal, match, notEqual, ok } from "node:assert/strict";
import { type NagiosStatus, type ScoutEvent, scoutSubject } from "../src/events.ts";
import { type HubHandle, startHub } from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, type BrokerOptions, connectBroker } from "../src/transport/mod.ts";
import { Browser, SKIP_CHROMIUM } from "./_chromium.ts";
import { makePki, type NatsServer, SKIP_NATS, startNatsServer } from "./_nats.ts";
import { testNagios } from "./_events.ts";

const SCREENSHOT = "/tmp/scout-page.png";

function nagios(
  identity: string,
  machine: string,
  status: NagiosStatus,
  output = `${machine} ${status}`,
): ScoutEvent {
  return testNagios(identity, machine, status, { output });
}

/** Publishes as an agent does: durable publish on the node's own subject, id as Nats-Msg-Id. */
async function send(b: Broker, ev: ScoutEvent): Promise<void> {
  await b.stream.publish(
    scoutSubject(ev.subject, ev),
    new TextEncoder().encode(JSON.stringify(ev)),
    { msgId: ev.id },
  );
}

async function waitUntil(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with how long `p` took, or rejects when it takes longer than `ms`. */
async function within(what: string, p: Promise<unknown>, ms: number): Promise<number> {
  const t0 = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      p,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - t0;
}

interface Rig {
  dir: string;
  server: NatsServer;
  agent: Broker;
  hub: HubHandle;
  close(): Promise<void>;
}

async function rig(staleAfterMs: number): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "scout-hub-page-" });
  const pki = await makePki(`${dir}/pki`);
  const server = await startNatsServer({ pki, dir: `${dir}/nats` });
  const broker: BrokerOptions = {
    urls: [server.url],
    tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    name: "scout-hub-page-test",
  };
  const agent = await connectBroker({ ...broker, name: "fake-agent" });
  const hub = await startHub({
    broker,
    listen: "127.0.0.1:0",
    staleAfterMs,
    stateDir: null,
    logger: nullLogger,
  });
  return {
    dir,
    server,
    agent,
    hub,
    async close() {
      await hub.stop();
      await agent.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Reads an event stream until `want` matches the text so far; returns that text. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  want: RegExp,
  ms = 10_000,
): Promise<string> {
  let text = "";
  await within(
    `the event stream to show ${want}`,
    (async () => {
      while (!want.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${want}: ${text}`);
        text += value;
      }
    })(),
    ms,
  );
  return text;
}

Deno.test({
  name: "hub page: CSP with a fresh nonce, SSE change pings, stop() ends open streams",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await rig(60_000);
    let stopped = false;
    try {
      const res = await fetch(`${r.hub.url}/`);
      equal(res.status, 200);
      match(res.headers.get("content-type") ?? "", /^text\/html/);
      const csp = res.headers.get("content-security-policy") ?? "";
      const html = await res.text();
      const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
      ok(nonce, `no script nonce in ${csp}`);
      match(csp, /default-src 'none'/);
      match(csp, /connect-src 'self'/);
      ok(csp.includes(`style-src 'nonce-${nonce}'`), csp);
      ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), csp);
      ok(html.includes(`<script nonce="${nonce}">`), "the script does not carry the nonce");
      ok(html.includes(`<style nonce="${nonce}">`), "the style does not carry the nonce");
      // Self-contained: no external resource anywhere.
      ok(!/https?:\/\/|\bsrc=|<link\b|@import/.test(html), "the page references something");
      const again = await fetch(`${r.hub.url}/`);
      await again.body?.cancel();
      notEqual(/'nonce-([^']+)'/.exec(again.headers.get("content-security-policy")!)?.[1], nonce);

      // The event stream: hello, then one changed ping after events reach the view.
      const sse = await fetch(`${r.hub.url}/api/v1/events`);
      equal(sse.status, 200);
      match(sse.headers.get("content-type") ?? "", /^text\/event-stream/);
      const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
      await readUntil(reader, /event: hello\ndata: \{"seq":0\}\n\n/);
      for (let i = 0; i < 5; i++) await send(r.agent, nagios("web1.example", `c${i}`, "OK"));
      await waitUntil("five events in the view", () => r.hub.lastSeq() >= 5);
      const text = await readUntil(reader, /event: changed\ndata: \{"seq":5\}\n\n/);
      // Debounced: five events in quick succession are a handful of pings, not five.
      ok((text.match(/event: changed/g) ?? []).length <= 3, text);

      // stop() with the stream still open: it returns promptly and the stream ends.
      const took = await within("hub.stop() with an open event stream", r.hub.stop(), 5_000);
      stopped = true;
      ok(took < 5_000);
      await within(
        "the event stream to end",
        (async () => {
          while (!(await reader.read()).done) { /* drain */ }
        })(),
        5_000,
      );
    } finally {
      if (!stopped) await r.hub.stop();
      await r.close();
    }
  },
});

Deno.test({
  name: "hub page: headless Chromium shows the fleet and a new CRITICAL without a reload",
  ignore: SKIP_NATS || SKIP_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const staleAfterMs = 3_000;
    const r = await rig(staleAfterMs);
    let browser: Browser | null = null;
    try {
      // old.example reports once and then falls silent: stale.
      await send(r.agent, nagios("old.example", "ntp", "OK", "NTP OK: offset 0.002 s"));
      await waitUntil("old.example in the view", () => r.hub.view.nodes.has("old.example"));
      await new Promise((res) => setTimeout(res, staleAfterMs + 300));
      await send(r.agent, nagios("web1.example", "disk", "OK", "DISK OK - free space: / 41 GB"));
      await send(r.agent, nagios("web1.example", "load", "OK", "OK - load average: 0.2"));
      await send(
        r.agent,
        nagios("db1.example", "replication", "WARNING", "WARNING: lag 12 s\nsecond line\n"),
      );
      await waitUntil("four events in the view", () => r.hub.lastSeq() >= 4);

      browser = await Browser.launch();
      const page = await browser.newPage();
      await page.goto(`${r.hub.url}/`);
      const row = (node: string, check: string) =>
        `document.querySelector('tr[data-node="${node}"][data-check="${check}"]')`;
      await page.waitFor("the page to render", `document.body.dataset.ready === "true"`);
      await page.waitFor("the live feed", `document.getElementById("conn").textContent === "live"`);
      equal(await page.evaluate(`${row("web1.example", "disk")}?.dataset.status`), "OK");
      equal(await page.evaluate(`${row("db1.example", "replication")}?.dataset.status`), "WARNING");
      equal(
        await page.evaluate(
          `${row("db1.example", "replication")}.querySelector(".out").textContent`,
        ),
        "WARNING: lag 12 s",
        "the output's first line only",
      );
      equal(
        await page.evaluate(
          `document.querySelector('section[data-node="old.example"]').dataset.stale`,
        ),
        "true",
      );
      ok(
        await page.evaluate<boolean>(
          `document.querySelector('section[data-node="old.example"] .badge')?.textContent === "STALE"`,
        ),
      );
      match(
        await page.evaluate<string>(
          `${row("web1.example", "disk")}.querySelector(".age").textContent`,
        ),
        /^\d+s ago$/,
      );

      // Mark this document: a reload would lose the mark.
      await page.evaluate(`window.__scoutMark = "same document"`);
      const t0 = Date.now();
      await send(
        r.agent,
        nagios("web1.example", "disk", "CRITICAL", "DISK CRITICAL - free space: / 1 GB"),
      );
      await page.waitFor(
        "web1 disk CRITICAL on the open page",
        `${row("web1.example", "disk")}?.dataset.status === "CRITICAL"`,
        5_000,
      );
      const latency = Date.now() - t0;
      equal(await page.evaluate(`window.__scoutMark`), "same document", "the page reloaded");
      equal(
        await page.evaluate(`${row("web1.example", "disk")}.querySelector(".pill").textContent`),
        "CRITICAL",
      );
      equal(
        await page.evaluate(
          `document.querySelector('#summary .chip[data-status="CRITICAL"] .n').textContent`,
        ),
        "1",
      );
      equal(
        await page.evaluate(
          `getComputedStyle(${row("web1.example", "disk")}.querySelector(".pill")).backgroundColor`,
        ),
        "rgb(214, 69, 69)",
        "the CRITICAL colour (the inline style applied under the CSP)",
      );
      await page.screenshot(SCREENSHOT);
      ok((await Deno.stat(SCREENSHOT)).size > 1000);

      // Nothing was blocked by the Content-Security-Policy, nothing threw.
      const problems = page.events().filter((e) =>
        e.method === "Runtime.exceptionThrown" ||
        (e.method === "Log.entryAdded" &&
          /Content Security Policy|Refused/i.test(
            String((e.params["entry"] as { text?: string })?.text),
          ))
      );
      equal(problems.length, 0, JSON.stringify(problems));
      ok(latency < 5_000, `took ${latency} ms`);

      // Stopping the hub with the page's event stream open does not hang.
      await within("hub.stop() with the page open", r.hub.stop(), 5_000);
    } finally {
      await browser?.close();
      await r.close();
    }
  },
});
