import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { fakeHost, fakeNow } from "../../tests/fixtures/goss/fake_host.ts";
import type { GossResource, GossSpec } from "./_model.ts";
import {
  countTests,
  formatRfc3339Nano,
  refusedMessage,
  resourceId,
  validate,
  type ValidateOptions,
} from "./_validate.ts";
import type { Attrs, GossResourceType } from "./types.ts";

/** A file-like type: gate `exists`, a text stream `contents`, id attribute `path`. */
function fileType(actual: Record<string, unknown>): GossResourceType {
  return {
    type: "file",
    resultType: "File",
    idAttr: "path",
    tested: ["exists", "mode", "contents", "linked-to"],
    options: [],
    required: ["exists"],
    streams: ["contents"],
    gate: "exists",
    system: (target) => ({
      get: (p) => {
        const v = actual[`${target}:${p}`];
        return v instanceof Error ? Promise.reject(v) : Promise.resolve(v);
      },
    }),
  };
}

const commandType: GossResourceType = {
  type: "command",
  resultType: "Command",
  idAttr: "exec",
  tested: ["exit-status", "stdout"],
  options: ["timeout"],
  required: ["exit-status"],
  streams: ["stdout"],
  runsCommands: true,
  system: () => ({ get: (p) => Promise.resolve(p === "exit-status" ? 0 : "hi\n") }),
};

function spec(resources: [string, string, Attrs][], untrusted = false): GossSpec {
  return {
    source: "test.yaml",
    resources: resources.map(([type, key, attrs]): GossResource => ({
      type,
      key,
      attrs,
      file: "test.yaml",
      line: 1,
    })),
    warnings: [],
    untrusted,
  };
}

function opts(resources: GossResourceType[], more: Partial<ValidateOptions> = {}): ValidateOptions {
  return { resources, host: fakeHost(), now: fakeNow(), utcOffsetMinutes: 60, ...more };
}

function brief(
  r: { "resource-id": string; property: string; result: number; err: string | null },
): string {
  return `${r["resource-id"]} ${r.property} ${r.result}${r.err ? ` (${r.err})` : ""}`;
}

Deno.test("each set attribute is one test; a passing gate lets the rest run", async () => {
  const res = await validate(
    spec([["file", "/etc/passwd", { exists: true, mode: "0644", contents: ["root"] }]]),
    opts([
      fileType({
        "/etc/passwd:exists": true,
        "/etc/passwd:mode": "0644",
        "/etc/passwd:contents": "root:x:0:0\n",
      }),
    ]),
  );
  deepEqual(res.results.map(brief), [
    "/etc/passwd exists 0",
    "/etc/passwd mode 0",
    "/etc/passwd contents 0",
  ]);
  deepEqual(
    [res.summary["test-count"], res.summary["failed-count"], res.summary["skipped-count"]],
    [3, 0, 0],
  );
});

Deno.test("a failing, erroring or false gate turns the later attributes into skips", async () => {
  const ft = fileType({
    "/a:exists": false,
    "/b:exists": new Error("permission denied"),
    "/c:exists": true,
  });
  const res = await validate(
    spec([
      ["file", "/a", { exists: false, mode: "0644" }],
      ["file", "/b", { exists: true, mode: "0644" }],
      ["file", "/c", { exists: false, mode: "0644" }],
    ]),
    opts([ft]),
  );
  deepEqual(res.results.map(brief), [
    "/a exists 0",
    "/a mode 2",
    "/b exists 1 (permission denied)",
    "/b mode 2",
    "/c exists 1",
    "/c mode 2",
  ]);
});

Deno.test("skip: true reports every set attribute as skipped without reading the system", async () => {
  const res = await validate(
    spec([["file", "/x", { exists: true, mode: "0700", skip: true }]]),
    opts([fileType({})]),
  );
  deepEqual(res.results.map(brief), ["/x exists 2", "/x mode 2"]);
  ok(res.results.every((r) => r.skipped && r.successful));
});

Deno.test("an empty list on a text stream is not a test; a missing required attribute is a failure", async () => {
  const res = await validate(
    spec([["file", "/y", { contents: [] }]]),
    opts([fileType({ "/y:exists": true })]),
  );
  deepEqual(res.results.map(brief), ["/y exists 1 (Syntax Error: Missing required attribute)"]);
});

Deno.test("the id shows an overriding id attribute, and goss's property names are used", async () => {
  const ft = fileType({ "/real:exists": true, "/real:linked-to": "/x" });
  const res = await validate(
    spec([["file", "alias", { path: "/real", exists: true, "linked-to": "/x" }]]),
    opts([ft]),
  );
  deepEqual(res.results.map((r) => `${r["resource-id"]}|${r.property}`), [
    "alias: /real|exists",
    "alias: /real|linkedto",
  ]);
  equal(resourceId(ft, "/same", { path: "/same" }), "/same");
});

Deno.test("untrusted rules: command resources fail with a refusal by default, or skip like Choria's deny list", async () => {
  const s = spec([["command", "echo hi", { "exit-status": 0, stdout: ["hi"] }], ["matching", "m", {
    content: 1,
    matches: 1,
  }]], true);
  const failed = await validate(s, opts([commandType]));
  deepEqual(failed.results.map(brief), [
    `echo hi exit-status 1 (${refusedMessage(commandType)})`,
    `echo hi stdout 1 (${refusedMessage(commandType)})`,
    "m matches 0",
  ]);
  const skipped = await validate(s, opts([commandType], { untrustedPolicy: "skip" }));
  deepEqual(skipped.results.map((r) => r.result), [2, 2, 0]);
  const trusted = await validate(
    spec(s.resources.map((r) => [r.type, r.key, r.attrs])),
    opts([commandType]),
  );
  deepEqual(trusted.results.map((r) => r.result), [0, 0, 0]);
});

Deno.test("a spec without tests and an unknown attribute are load errors (goss exits 78)", async () => {
  await rejects(
    validate(spec([["frob", "x", { on: true }]]), opts([])),
    /found 0 tests, source: test.yaml/,
  );
  await rejects(
    validate(spec([["matching", "m", { content: 1, matches: 1, nope: 1 }]]), opts([])),
    /invalid Attribute for Matching:m: nope/,
  );
});

Deno.test("times come from the injected clock: nanosecond durations, RFC3339 with offset, total = last end - first start", async () => {
  const res = await validate(
    spec([["matching", "a", { content: 1, matches: 1 }], ["matching", "b", {
      content: 1,
      matches: 2,
    }]]),
    opts([], { maxConcurrent: 1 }),
  );
  const [a, b] = res.results;
  equal(a!.duration, 1000);
  equal(a!["start-time"], "2026-01-01T11:00:00.000001+01:00");
  equal(a!["end-time"], "2026-01-01T11:00:00.000002+01:00");
  equal(b!.result, 1);
  equal(b!["matcher-result"].message, "to be numerically eq");
  equal(res.summary["total-duration"], 3000);
  equal(res.summary["summary-line"], "Count: 2, Failed: 1, Skipped: 0, Duration: 0.000s");
  equal(formatRfc3339Nano(1_767_261_600_000_000_000n, 0), "2026-01-01T10:00:00Z");
});

Deno.test("at most min(5 x cpus, max-concurrent) resources are checked at once", async () => {
  let running = 0;
  let peak = 0;
  const slow: GossResourceType = {
    type: "slow",
    resultType: "Slow",
    tested: ["ok"],
    options: [],
    system: () => ({
      get: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => queueMicrotask(r));
        await Promise.resolve();
        running--;
        return true;
      },
    }),
  };
  const many = spec(
    Array.from(
      { length: 30 },
      (_, i) => ["slow", `r${i}`, { ok: true }] as [string, string, Attrs],
    ),
  );
  await validate(many, opts([slow], { maxConcurrent: 3, cpus: 8 }));
  equal(peak, 3);
  peak = 0;
  await validate(many, opts([slow], { maxConcurrent: 50, cpus: 1 }));
  equal(peak, 5);
});

Deno.test("meta and title travel with every result of their resource", async () => {
  const res = await validate(
    spec([["matching", "m", { content: 1, matches: 1, title: "T", meta: { team: "ops" } }]]),
    opts([]),
  );
  equal(res.results[0]!.title, "T");
  deepEqual(res.results[0]!.meta, { team: "ops" });
});

Deno.test("matching with as-reader treats the content as a text stream", async () => {
  const res = await validate(
    spec([
      ["matching", "lines", {
        "as-reader": true,
        content: "foo bar\nmoo cow\n",
        matches: ["foo", "/^m.*w$/", "!ftw"],
      }],
      ["matching", "int", {
        "as-reader": true,
        content: "40",
        matches: { and: [{ le: 250 }, { ge: 20 }] },
      }],
      ["matching", "noreader", { content: "foo\nbar", matches: ["foo"] }],
    ]),
    opts([], { maxConcurrent: 1 }),
  );
  deepEqual(res.results.map((r) => r.result), [0, 0, 1]);
  ok(res.results[2]!.err!.startsWith("ContainElements matcher expects"));
});

Deno.test("untrusted rules refuse backtracking-prone regexes in matchers and line patterns", async () => {
  const res = await validate(
    spec([
      ["matching", "re", { content: "aaaa", matches: { "match-regexp": "(a+)+$" } }],
      ["matching", "lines", { "as-reader": true, content: "aaaa", matches: ["/(a|aa)+$/"] }],
    ], true),
    opts([], { maxConcurrent: 1 }),
  );
  ok(
    res.results.every((r) =>
      r.result === 1 && r.err!.startsWith("regular expression refused for untrusted rules")
    ),
    JSON.stringify(res.results.map((r) => r.err)),
  );
});

Deno.test("countTests counts the tests a spec will produce, matching included", () => {
  const s = spec([
    ["matching", "m", { content: 1, matches: 1 }],
    ["file", "/f", { exists: true, contents: [], mode: null }],
    ["frob", "x", { on: true }],
  ]);
  equal(countTests(s, [fileType({})]), 2);
});
