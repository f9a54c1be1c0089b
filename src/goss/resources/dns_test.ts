import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { dns, parseDnsKey, parseServer, renderRecord, reverseName } from "./dns.ts";
import { actual, ctxOf, type DnsZone, FakeHost, rejection, startDnsServer } from "./_testing.ts";

Deno.test("dns keys: an uppercase TYPE: prefix is a record type, anything else is the host", () => {
  deepEqual(parseDnsKey("MX:example.com"), { type: "MX", host: "example.com" });
  deepEqual(parseDnsKey("example.com"), { type: undefined, host: "example.com" });
  deepEqual(parseDnsKey("mx:example.com"), { type: undefined, host: "mx:example.com" });
});

Deno.test("dns server attribute: host, host:port, [v6]:port and bare v6 (port 53)", () => {
  deepEqual(parseServer("8.8.8.8"), { host: "8.8.8.8", port: 53 });
  deepEqual(parseServer("127.0.0.1:5353"), { host: "127.0.0.1", port: 5353 });
  deepEqual(parseServer("[::1]:5353"), { host: "::1", port: 5353 });
  deepEqual(parseServer("::1"), { host: "::1", port: 53 });
});

Deno.test("dns reverse names for PTR questions", () => {
  equal(reverseName("192.0.2.10"), "10.2.0.192.in-addr.arpa.");
  equal(
    reverseName("2001:db8::1"),
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
  );
});

Deno.test("dns answers render as goss prints them", () => {
  deepEqual(renderRecord("MX", { preference: 10, exchange: "mx.example." }), ["10 mx.example."]);
  deepEqual(renderRecord("SRV", { priority: 1, weight: 2, port: 3, target: "t." }), ["1 2 3 t."]);
  deepEqual(renderRecord("CAA", { critical: true, tag: "issue", value: "ca.example" }), [
    "128 issue ca.example",
  ]);
  deepEqual(renderRecord("TXT", ["a", "b"]), ["a", "b"]);
});

Deno.test("dns plain lookups use /etc/hosts before DNS and sort the answers", async () => {
  const host = new FakeHost({
    files: { "/etc/hosts": { content: "10.0.0.9 db.lan\n10.0.0.8 db.lan\n" } },
    dns: (
      name,
      type,
    ) => (name === "web.example"
      ? (type === "A" ? ["192.0.2.2", "192.0.2.1"] : ["2001:db8::1"])
      : []),
  });
  const ctx = ctxOf(host);
  deepEqual(await actual(dns, "db.lan", {}, ctx, "addrs"), ["10.0.0.8", "10.0.0.9"]);
  equal(host.questions.length, 0, "no DNS question for a hosts entry");
  deepEqual(await actual(dns, "web.example", {}, ctx, "addrs"), [
    "192.0.2.1",
    "192.0.2.2",
    "2001:db8::1",
  ]);
  equal(await actual(dns, "nx.example", {}, ctx, "resolvable"), false);
  equal(await actual(dns, "nx.example", {}, ctx, "resolveable"), false);
  deepEqual(await actual(dns, "nx.example", {}, ctx, "addrs"), []);
});

Deno.test("dns retries lookups that fail three times, then reports the error", async () => {
  let calls = 0;
  const host = new FakeHost({
    dns: () => {
      calls++;
      throw new Error("DNS lookup timed out (500 ms)");
    },
  });
  match(
    await rejection(
      actual(dns, "MX:example.com", { server: "10.0.0.53" }, ctxOf(host), "resolvable"),
    ),
    /timed out/,
  );
  equal(calls, 3);
});

Deno.test("dns SSHFP is an error, not a silent false", async () => {
  match(
    await rejection(actual(dns, "SSHFP:h.example", {}, ctxOf(new FakeHost()), "resolvable")),
    /SSHFP/,
  );
});

const ZONE: DnsZone = {
  "svc.test|A": ["10.0.0.2", "10.0.0.1"],
  "svc.test|AAAA": ["fd00::1"],
  "svc.test|MX": [{ preference: 20, exchange: "mx2.svc.test" }, {
    preference: 10,
    exchange: "mx1.svc.test",
  }],
  "svc.test|TXT": [["v=spf1 -all"], ["a", "b"]],
  "svc.test|NS": ["ns1.svc.test"],
  "svc.test|CAA": [{ critical: false, tag: "issue", value: "ca.test" }],
  "www.svc.test|CNAME": ["svc.test"],
  "_http._tcp.svc.test|SRV": [{ priority: 0, weight: 5, port: 8080, target: "svc.test" }],
  "2.0.0.10.in-addr.arpa|PTR": ["svc.test"],
};

Deno.test("dns asks a real server on loopback for each record type", async () => {
  const srv = await startDnsServer(ZONE, ["slow.test"]);
  try {
    const ctx = ctxOf(createDenoGossHost());
    const at = { server: `127.0.0.1:${srv.port}` };
    const addrs = (key: string) => actual(dns, key, at, ctx, "addrs");
    deepEqual(await addrs("A:svc.test"), ["10.0.0.1", "10.0.0.2"]);
    deepEqual(await addrs("AAAA:svc.test"), ["fd00::1"]);
    deepEqual(await addrs("svc.test"), ["10.0.0.1", "10.0.0.2", "fd00::1"]);
    deepEqual(await addrs("MX:svc.test"), ["10 mx1.svc.test.", "20 mx2.svc.test."]);
    deepEqual(await addrs("TXT:svc.test"), ["a", "b", "v=spf1 -all"]);
    deepEqual(await addrs("NS:svc.test"), ["ns1.svc.test."]);
    deepEqual(await addrs("CAA:svc.test"), ["0 issue ca.test"]);
    deepEqual(await addrs("CNAME:www.svc.test"), ["svc.test."]);
    deepEqual(await addrs("SRV:_http._tcp.svc.test"), ["0 5 8080 svc.test."]);
    deepEqual(await addrs("PTR:10.0.0.2"), ["svc.test."]);
    equal(await actual(dns, "A:nx.test", at, ctx, "resolvable"), false);
    equal(await actual(dns, "MX:www.svc.test", at, ctx, "resolvable"), false);
    match(
      await rejection(actual(dns, "A:slow.test", { ...at, timeout: 100 }, ctx, "resolvable")),
      /timed out/,
    );
  } finally {
    await srv.close();
  }
});

Deno.test("dns resolves localhost through the real /etc/hosts", async () => {
  const ctx = ctxOf(createDenoGossHost());
  equal(await actual(dns, "localhost", {}, ctx, "resolvable"), true);
  const addrs = await actual(dns, "localhost", {}, ctx, "addrs");
  equal(Array.isArray(addrs) && addrs.includes("127.0.0.1"), true);
});
