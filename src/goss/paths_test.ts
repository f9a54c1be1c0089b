import { deepEqual, equal, ok } from "node:assert/strict";
import { cleanPath, dirName, globPaths, joinPath, matchGlobSegment } from "./_paths.ts";

Deno.test("paths are cleaned like Go's filepath.Clean/Join/Dir", () => {
  equal(cleanPath("a/b/../c/./d/"), "a/c/d");
  equal(cleanPath("/../x"), "/x");
  equal(cleanPath("../x/.."), "..");
  equal(joinPath("bullseye", "../goss-s*.yaml"), "goss-s*.yaml");
  equal(dirName("/a/b.yaml"), "/a");
  equal(dirName("b.yaml"), ".");
  equal(dirName("/b.yaml"), "/");
});

Deno.test("glob segments match like filepath.Match", () => {
  ok(matchGlobSegment("goss-s*.yaml", "goss-shared.yaml"));
  ok(!matchGlobSegment("goss-s*.yaml", "goss-dummy.yaml"));
  ok(matchGlobSegment("?.y[a-z]ml", "a.yaml"));
  ok(matchGlobSegment("[^x]*", "abc"));
  ok(matchGlobSegment("\\*", "*"));
});

Deno.test("globPaths expands each segment through the lister and returns sorted existing paths", async () => {
  const tree: Record<string, string[]> = {
    "/it": ["goss", "x"],
    "/it/goss": ["goss-shared.yaml", "goss-serve.yaml", "dummy.yaml"],
  };
  const got = await globPaths(
    "/it/*/goss-s*.yaml",
    (d) => Promise.resolve(tree[d] ?? []),
    () => Promise.resolve(true),
  );
  deepEqual(got, ["/it/goss/goss-serve.yaml", "/it/goss/goss-shared.yaml"]);
  deepEqual(
    await globPaths("/it/none.yaml", () => Promise.resolve([]), () => Promise.resolve(false)),
    [],
  );
});
