import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { addr, parseAddr } from "./addr.ts";
import { parseHosts } from "./_resolve.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

Deno.test("addr keys: scheme optional (tcp), IPv6 in brackets", () => {
  deepEqual(parseAddr("tcp://example.com:443"), {
    transport: "tcp",
    host: "example.com",
    port: 443,
  });
  deepEqual(parseAddr("10.0.0.1:22"), { transport: "tcp", host: "10.0.0.1", port: 22 });
  deepEqual(parseAddr("udp://[::1]:53"), { transport: "udp", host: "::1", port: 53 });
});

Deno.test("addr with a malformed address is an error", async () => {
  match(
    await rejection(actual(addr, "http://x:80", {}, ctxOf(new FakeHost()), "reachable")),
    /invalid address/,
  );
  match(
    await rejection(actual(addr, "tcp://x", {}, ctxOf(new FakeHost()), "reachable")),
    /invalid address/,
  );
});

Deno.test("addr tcp dials with goss's 500 ms default, the timeout and local-address given", async () => {
  const seen: unknown[] = [];
  const host = new FakeHost({
    dial: (o) => (seen.push(o), o.port === 22 ? { ok: true } : { ok: false, error: "refused" }),
  });
  const ctx = ctxOf(host);
  equal(await actual(addr, "tcp://db:22", {}, ctx, "reachable"), true);
  equal(
    await actual(addr, "db:23", { timeout: 50, "local-address": "10.0.0.5" }, ctx, "reachable"),
    false,
  );
  deepEqual(seen, [
    { hostname: "db", port: 22, timeoutMs: 500 },
    { hostname: "db", port: 23, timeoutMs: 50, localAddress: "10.0.0.5" },
  ]);
});

Deno.test("addr udp is reachable when the host resolves (via /etc/hosts first)", async () => {
  const host = new FakeHost({
    files: { "/etc/hosts": { content: "127.0.0.1 localhost\n10.1.1.1 ntp.lan ntp # time\n" } },
    dns: (name) => (name === "dns.example" ? ["192.0.2.1"] : []),
  });
  const ctx = ctxOf(host);
  equal(await actual(addr, "udp://ntp:123", {}, ctx, "reachable"), true);
  equal(await actual(addr, "udp://dns.example:53", {}, ctx, "reachable"), true);
  equal(await actual(addr, "udp://nowhere.example:53", {}, ctx, "reachable"), false);
  equal(await actual(addr, "udp://192.0.2.7:53", {}, ctx, "reachable"), true);
});

Deno.test("hosts parser lowercases names, keeps aliases and skips comments", () => {
  const m = parseHosts(
    "# c\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.2 Web.Lan web\nbogus line\n",
  );
  deepEqual(m.get("localhost"), ["127.0.0.1", "::1"]);
  deepEqual(m.get("web.lan"), ["10.0.0.2"]);
  equal(m.has("bogus"), false);
});

Deno.test("addr reaches a real TCP listener on 127.0.0.1 and not a closed port", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  const accepted = (async () => {
    for await (const c of l) c.close();
  })();
  try {
    const ctx = ctxOf(createDenoGossHost());
    equal(await actual(addr, `tcp://127.0.0.1:${p}`, {}, ctx, "reachable"), true);
    equal(
      await actual(addr, `127.0.0.1:${p}`, { "local-address": "127.0.0.1" }, ctx, "reachable"),
      true,
    );
  } finally {
    l.close();
    await accepted.catch(() => {});
  }
  equal(
    await actual(addr, `tcp://127.0.0.1:${p}`, {}, ctxOf(createDenoGossHost()), "reachable"),
    false,
  );
});

Deno.test("addr reaches a real TCP listener on [::1] when the machine has IPv6", async () => {
  let l: Deno.Listener;
  try {
    l = Deno.listen({ hostname: "::1", port: 0 });
  } catch {
    return; // no IPv6 loopback here
  }
  try {
    const p = (l.addr as Deno.NetAddr).port;
    equal(
      await actual(addr, `tcp://[::1]:${p}`, {}, ctxOf(createDenoGossHost()), "reachable"),
      true,
    );
  } finally {
    l.close();
  }
});
