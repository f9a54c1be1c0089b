import { deepEqual, equal, throws } from "node:assert/strict";
import { checkedTypes, RESOURCE_TYPES, resultProperty } from "./mod.ts";
import { file } from "./file.ts";

Deno.test("resource list holds every Linux goss type but matching and gossfile, once each", () => {
  deepEqual(
    RESOURCE_TYPES.map((t) => t.type).sort(),
    [
      "addr",
      "command",
      "dns",
      "file",
      "group",
      "http",
      "interface",
      "kernel-param",
      "mount",
      "package",
      "port",
      "process",
      "service",
      "user",
    ],
  );
});

Deno.test("resource list rejects two types with the same key or result name", () => {
  throws(() => checkedTypes([file, file]), /duplicate goss resource type "file"/);
  throws(
    () => checkedTypes([file, { ...file, type: "file2" }]),
    /duplicate goss result type "File"/,
  );
});

Deno.test("resource declarations are consistent: gate, required and streams are tested attributes", () => {
  for (const t of RESOURCE_TYPES) {
    const tested = new Set(t.tested);
    if (t.gate !== undefined) equal(t.tested[0], t.gate, `${t.type}: the gate comes first`);
    for (const a of [...(t.required ?? []), ...(t.streams ?? [])]) {
      equal(tested.has(a), true, `${t.type}.${a}`);
    }
    for (const o of t.options) equal(tested.has(o), false, `${t.type}.${o} is both`);
  }
});

Deno.test("only command runs arbitrary commands", () => {
  deepEqual(RESOURCE_TYPES.filter((t) => t.runsCommands).map((t) => t.type), ["command"]);
});

Deno.test("result property names follow goss where they differ from the attribute", () => {
  deepEqual(
    [
      resultProperty("file", "linked-to"),
      resultProperty("package", "versions"),
      resultProperty("http", "body"),
      resultProperty("file", "mode"),
    ],
    ["linkedto", "version", "Body", "mode"],
  );
});
