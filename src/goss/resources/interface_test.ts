import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { interfaceType, parseIpAddr } from "./interface.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

/** Real tests may skip for a missing tool only outside CI (under CI=1 they must fail). */
const ignore = (await createDenoGossHost().which("ip")) === null && !Deno.env.get("CI");

const IP = JSON.stringify([
  {
    ifindex: 1,
    ifname: "lo",
    mtu: 65536,
    addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }, {
      family: "inet6",
      local: "::1",
      prefixlen: 128,
    }],
  },
  {
    ifindex: 7,
    ifname: "eth0",
    mtu: 1500,
    addr_info: [
      { family: "inet", local: "172.17.0.2", prefixlen: 16 },
      { family: "inet6", local: "fe80::42:acff:fe11:2", prefixlen: 64 },
    ],
  },
  { ifindex: 8, ifname: "dummy0", mtu: 1500, addr_info: [] },
]);

Deno.test("ip -j addr parser gives CIDR addresses and MTU per interface", () => {
  deepEqual(parseIpAddr(IP)[1], {
    name: "eth0",
    mtu: 1500,
    addrs: ["172.17.0.2/16", "fe80::42:acff:fe11:2/64"],
  });
  deepEqual(parseIpAddr(IP)[2]!.addrs, []);
});

Deno.test("interface reports exists, addrs and mtu; an unknown one does not exist", async () => {
  const ctx = ctxOf(new FakeHost({ programs: { ip: { stdout: IP } } }));
  equal(await actual(interfaceType, "eth0", {}, ctx, "exists"), true);
  deepEqual(await actual(interfaceType, "eth0", {}, ctx, "addrs"), [
    "172.17.0.2/16",
    "fe80::42:acff:fe11:2/64",
  ]);
  equal(await actual(interfaceType, "eth0", {}, ctx, "mtu"), 1500);
  equal(await actual(interfaceType, "wlan0", {}, ctx, "exists"), false);
  match(await rejection(actual(interfaceType, "wlan0", {}, ctx, "mtu")), /does not exist/);
});

Deno.test("interface without ip is an error naming iproute2", async () => {
  match(
    await rejection(actual(interfaceType, "lo", {}, ctxOf(new FakeHost()), "exists")),
    /ip is not installed.*iproute2/,
  );
});

Deno.test(
  { name: "interface reads the real loopback: 127.0.0.1/8 and an MTU", ignore },
  async () => {
    const ctx = ctxOf(createDenoGossHost());
    equal(await actual(interfaceType, "lo", {}, ctx, "exists"), true);
    const addrs = await actual(interfaceType, "lo", {}, ctx, "addrs") as string[];
    equal(addrs.includes("127.0.0.1/8"), true);
    equal(typeof await actual(interfaceType, "lo", {}, ctx, "mtu"), "number");
    equal(await actual(interfaceType, "nosuchif0", {}, ctx, "exists"), false);
  },
);
