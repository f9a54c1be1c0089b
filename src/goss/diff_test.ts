import { equal } from "node:assert/strict";
import fc from "fast-check";
import { splitLines, unifiedDiff } from "./_diff.ts";

Deno.test("a one-line change is a single hunk against 'test'", () => {
  equal(unifiedDiff("x", "foo"), "--- test\n+++ actual\n@@ -1 +1 @@\n-x\n+foo\n");
});

Deno.test("changes keep one line of context like goss's diff", () => {
  equal(
    unifiedDiff("a\nb\nc\nd\ne\nf\n", "a\nb\nX\nd\ne\nf\n"),
    "--- test\n+++ actual\n@@ -2,3 +2,3 @@\n b\n-c\n+X\n d\n",
  );
  equal(unifiedDiff("same", "same"), "");
});

Deno.test("property: applying the diff's - and + lines reconstructs both texts when context covers all", () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 6 }),
      fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 6 }),
      (x, y) => {
        const a = x.join("\n");
        const b = y.join("\n");
        const d = unifiedDiff(a, b, 100);
        if (a === b) return equal(d, "");
        const body = d.split("\n").slice(3, -1);
        equal(
          body.filter((l) => !l.startsWith("+")).map((l) => l.slice(1) + "\n").join(""),
          splitLines(a).join(""),
        );
        equal(
          body.filter((l) => !l.startsWith("-")).map((l) => l.slice(1) + "\n").join(""),
          splitLines(b).join(""),
        );
      },
    ),
  );
});
