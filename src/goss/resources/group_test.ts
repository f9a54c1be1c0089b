import { equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";
import { group } from "./group.ts";

const c = () =>
  ctxOf(new FakeHost({ files: { "/etc/group": { content: "root:x:0:\nsudo:x:27:alice\n" } } }));

Deno.test("group reports exists and gid from /etc/group", async () => {
  equal(await actual(group, "sudo", {}, c(), "exists"), true);
  equal(await actual(group, "sudo", {}, c(), "gid"), 27);
});

Deno.test("group exists is false for an unknown group and gid rejects", async () => {
  equal(await actual(group, "wheel", {}, c(), "exists"), false);
  match(await rejection(actual(group, "wheel", {}, c(), "gid")), /does not exist/);
});

Deno.test("group reads the real /etc/group: root is gid 0", async () => {
  const ctx = ctxOf(createDenoGossHost());
  equal(await actual(group, "root", {}, ctx, "gid"), 0);
  equal(await actual(group, "no-such-group-scout", {}, ctx, "exists"), false);
});
