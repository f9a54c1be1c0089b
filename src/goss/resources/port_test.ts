import { deepEqual, equal, match } from "node:assert/strict";
import dgram from "node:dgram";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { listeners, parsePortKey, parseSs, port } from "./port.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

/** Real tests may skip for a missing tool only outside CI (under CI=1 they must fail). */
const ignore = (await createDenoGossHost().which("ss")) === null && !Deno.env.get("CI");

const SS4 = `Netid State     Recv-Q Send-Q      Local Address:Port    Peer Address:Port Process
udp   UNCONN    0      0           127.0.0.53%lo:53           0.0.0.0:*
udp   ESTAB     0      0               10.0.0.5:40000       10.0.0.1:53
tcp   LISTEN    0      128               0.0.0.0:22           0.0.0.0:*
tcp   LISTEN    0      511             127.0.0.1:8080         0.0.0.0:*
tcp   ESTAB     0      0               10.0.0.5:22          10.0.0.9:51000
tcp   TIME-WAIT 0      0             127.0.0.1:9000       127.0.0.1:41234
`;
const SS6 = `udp   UNCONN 0      0      [fe80::1]%eth0:123          [::]:*
tcp   LISTEN 0      511                  *:80                 *:*
tcp   LISTEN 0      128               [::]:22              [::]:*
tcp   LISTEN 0      128              [::1]:8080            [::]:*
`;

Deno.test("port keys: tcp/tcp6/udp/udp6 with a number, a bare number is tcp", () => {
  deepEqual(parsePortKey("tcp:22"), { proto: "tcp", port: 22 });
  deepEqual(parsePortKey("udp6:53"), { proto: "udp6", port: 53 });
  deepEqual(parsePortKey("8080"), { proto: "tcp", port: 8080 });
  for (const bad of ["tcp4:22", "http", "tcp:70000", "tcp:"]) {
    let threw = false;
    try {
      parsePortKey(bad);
    } catch {
      threw = true;
    }
    equal(threw, true, bad);
  }
});

Deno.test("ss parser: zones and brackets stripped, * is the family's any address, IPv6 uppercase", () => {
  const v4 = parseSs(SS4, 4);
  deepEqual(v4[0], { proto: "udp", state: "UNCONN", ip: "127.0.0.53", port: 53 });
  const v6 = parseSs(SS6, 6);
  deepEqual(v6.map((s) => [s.proto, s.ip, s.port]), [["udp6", "FE80::1", 123], ["tcp6", "::", 80], [
    "tcp6",
    "::",
    22,
  ], [
    "tcp6",
    "::1",
    8080,
  ]]);
});

Deno.test("port counts TCP sockets only in LISTEN state and UDP sockets in any state", () => {
  const all = [...parseSs(SS4, 4), ...parseSs(SS6, 6)];
  equal(listeners(all, "tcp", 22).length, 1);
  equal(listeners(all, "tcp", 9000).length, 0, "TIME-WAIT is not listening");
  equal(listeners(all, "udp", 40000).length, 1, "a connected UDP socket counts");
  equal(listeners(all, "tcp", 80).length, 0, "dual-stack shows only as tcp6");
  equal(listeners(all, "tcp6", 80).length, 1);
});

Deno.test("port reports listening and the local IPs through ss", async () => {
  const host = new FakeHost({
    programs: { ss: (argv) => ({ stdout: argv.includes("-4") ? SS4 : SS6 }) },
  });
  const ctx = ctxOf(host);
  equal(await actual(port, "tcp:8080", {}, ctx, "listening"), true);
  deepEqual(await actual(port, "tcp:8080", {}, ctx, "ip"), ["127.0.0.1"]);
  deepEqual(await actual(port, "tcp6:8080", {}, ctx, "ip"), ["::1"]);
  equal(await actual(port, "udp:5353", {}, ctx, "listening"), false);
});

Deno.test("port without ss is an error naming iproute2", async () => {
  match(
    await rejection(actual(port, "tcp:22", {}, ctxOf(new FakeHost()), "listening")),
    /ss is not installed.*iproute2/,
  );
});

Deno.test({
  name: "port sees real TCP listeners on 127.0.0.1 and ::1 and not a closed port",
  ignore,
}, async () => {
  const v4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let v6: Deno.Listener | undefined;
  try {
    v6 = Deno.listen({ hostname: "::1", port: 0 });
  } catch {
    // no IPv6 on this machine
  }
  try {
    const ctx = ctxOf(createDenoGossHost());
    const p4 = (v4.addr as Deno.NetAddr).port;
    equal(await actual(port, `tcp:${p4}`, {}, ctx, "listening"), true);
    deepEqual(await actual(port, `tcp:${p4}`, {}, ctx, "ip"), ["127.0.0.1"]);
    equal(await actual(port, `tcp6:${p4}`, {}, ctx, "listening"), false);
    equal(await actual(port, String(p4), {}, ctx, "listening"), true);
    if (v6) {
      const p6 = (v6.addr as Deno.NetAddr).port;
      deepEqual(await actual(port, `tcp6:${p6}`, {}, ctx, "ip"), ["::1"]);
    }
    const closed = p4;
    v4.close();
    equal(await actual(port, `tcp:${closed}`, {}, ctxOf(createDenoGossHost()), "listening"), false);
  } finally {
    try {
      v4.close();
    } catch {
      // closed above
    }
    v6?.close();
  }
});

Deno.test({ name: "port sees a real UDP socket bound on 127.0.0.1", ignore }, async () => {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  try {
    const p = sock.address().port;
    const ctx = ctxOf(createDenoGossHost());
    equal(await actual(port, `udp:${p}`, {}, ctx, "listening"), true);
    deepEqual(await actual(port, `udp:${p}`, {}, ctx, "ip"), ["127.0.0.1"]);
    equal(await actual(port, `tcp:${p}`, {}, ctx, "listening"), false);
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
  }
});
