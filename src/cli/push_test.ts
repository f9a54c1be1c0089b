import { deepEqual, rejects } from "node:assert/strict";
import { pushCommand, selectorKeys } from "./push.ts";

const nodes = () => Promise.resolve(["web1.example", "web2.example", "db1.example"]);

Deno.test("scout push --to expands identities, group:NAME and patterns into KV keys", async () => {
  deepEqual(await selectorKeys("web1.example", undefined, nodes), ["node.web1_example"]);
  deepEqual(await selectorKeys("group:edge", undefined, nodes), ["group.edge"]);
  deepEqual(await selectorKeys("web*", "https://hub", nodes), [
    "node.web1_example",
    "node.web2_example",
  ]);
  await rejects(selectorKeys("web*", undefined, nodes), /give --hub/);
  await rejects(selectorKeys("zzz*", "https://hub", nodes), /no node of the hub matches/);
  await rejects(selectorKeys("group:bad.name", undefined, nodes), /invalid group name/);
});

Deno.test("scout push refuses a command line without exactly one mode", async () => {
  const io = { out() {}, err() {}, env: () => undefined };
  await rejects(pushCommand.run([], io), /exactly one of/);
  await rejects(pushCommand.run(["f.yaml", "--list"], io), /exactly one of/);
});
