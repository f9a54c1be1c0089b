import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { groupsOf, parseGroup, parsePasswd } from "./_passwd.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";
import { user } from "./user.ts";

const PASSWD = [
  "# comment",
  "root:x:0:0:root:/root:/bin/bash",
  "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin",
  "broken:x:notanumber:1::/:/bin/sh",
  "+nisuser::::::",
  "alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh",
  "",
].join("\n");
const GROUP =
  "root:x:0:\nalice:x:1000:\nwww-data:x:33:\nsudo:x:27:alice,bob\ndocker:x:999: alice \n";

function ctx() {
  return ctxOf(
    new FakeHost({
      files: { "/etc/passwd": { content: PASSWD }, "/etc/group": { content: GROUP } },
    }),
  );
}

Deno.test("passwd parser keeps well-formed entries and skips comments, NIS and broken lines", () => {
  deepEqual(parsePasswd(PASSWD).map((e) => e.name), ["root", "www-data", "alice"]);
  deepEqual(parsePasswd(PASSWD)[2], {
    name: "alice",
    uid: 1000,
    gid: 1000,
    home: "/home/alice",
    shell: "/bin/zsh",
  });
});

Deno.test("group parser splits and trims members", () => {
  deepEqual(parseGroup(GROUP).find((g) => g.name === "docker"), {
    name: "docker",
    gid: 999,
    members: ["alice"],
  });
  deepEqual(parseGroup(GROUP).find((g) => g.name === "root")?.members, []);
});

Deno.test("user groups are the primary group plus memberships, sorted", () => {
  const alice = parsePasswd(PASSWD).find((e) => e.name === "alice")!;
  deepEqual(groupsOf(alice, parseGroup(GROUP)), ["alice", "docker", "sudo"]);
});

Deno.test("user reports uid, gid, home, shell and groups of an existing user", async () => {
  const c = ctx();
  equal(await actual(user, "alice", {}, c, "exists"), true);
  equal(await actual(user, "alice", {}, c, "uid"), 1000);
  equal(await actual(user, "alice", {}, c, "gid"), 1000);
  equal(await actual(user, "alice", {}, c, "home"), "/home/alice");
  equal(await actual(user, "alice", {}, c, "shell"), "/bin/zsh");
  deepEqual(await actual(user, "alice", {}, c, "groups"), ["alice", "docker", "sudo"]);
});

Deno.test("user exists is false for an unknown user and its other properties reject", async () => {
  equal(await actual(user, "mallory", {}, ctx(), "exists"), false);
  match(await rejection(actual(user, "mallory", {}, ctx(), "uid")), /does not exist/);
});

Deno.test("user reads the real /etc/passwd: root is uid 0 with home /root", async () => {
  const c = ctxOf(createDenoGossHost());
  equal(await actual(user, "root", {}, c, "exists"), true);
  equal(await actual(user, "root", {}, c, "uid"), 0);
  equal(await actual(user, "root", {}, c, "home"), "/root");
  const groups = await actual(user, "root", {}, c, "groups");
  equal(Array.isArray(groups) && groups.includes("root"), true);
  equal(await actual(user, "no-such-user-scout", {}, c, "exists"), false);
});
