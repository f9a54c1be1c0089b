/**
 * goss conformance: goss's own matcher specs (testdata/matching_*.yaml) run through
 * `scout goss validate -o sort -o pretty` must print goss's golden tap / rspecish / nagios
 * outputs byte for byte (durations and trailing spaces stripped, as goss's test does) with the
 * exit code in the golden file's name; goss's integration gossfiles (bullseye entry point with
 * vars, inline vars, an OS env var, glob includes and templates) must load into 127 tests with
 * 5 skips. Needs shared/goss-gossfiles beside the repository; skipped with a note otherwise.
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createGossCommand, gossCommand } from "../src/cli/goss.ts";
import { fakeResourceTypes } from "./fixtures/goss/fake_host.ts";
import { captureIo } from "./fakes/io.ts";

const SHARED = new URL("../../shared/goss-gossfiles/", import.meta.url).pathname;

function sharedFiles(): string[] | null {
  try {
    return [...Deno.readDirSync(SHARED)].map((e) => e.name).sort();
  } catch {
    return null;
  }
}

const FILES = sharedFiles();
const MISSING = FILES === null;
const SKIP_NOTE = MISSING ? ` (skipped: ${SHARED} not found)` : "";

/** What goss's matcher test strips before comparing: durations and trailing spaces. */
function sanitize(s: string): string {
  return s.replace(/\d\.\d\d\ds/g, "").replace(/ +\n/g, "\n");
}

const GOLDEN = (FILES ?? []).filter((f) =>
  /^testdata__out_matching_.+\.\d+\.(tap|rspecish|nagios)$/.test(f)
);

Deno.test({
  name: `goss conformance: the shared folder has goss's golden outputs${SKIP_NOTE}`,
  ignore: MISSING,
  fn() {
    equal(GOLDEN.length, 7, `golden files: ${GOLDEN.join(", ")}`);
  },
});

for (const golden of MISSING ? ["testdata__out_matching_basic.0.tap"] : GOLDEN) {
  const m = /^testdata__out_(matching_.+)\.(\d+)\.(\w+)$/.exec(golden)!;
  const [, spec, code, format] = m as unknown as [string, string, string, string];
  Deno.test({
    name:
      `goss conformance: ${spec}.yaml in ${format} matches goss's golden output and exit code ${code}${SKIP_NOTE}`,
    ignore: MISSING,
    async fn() {
      const io = captureIo();
      const exit = await gossCommand.run(
        [
          "validate",
          "-g",
          `${SHARED}testdata__${spec}.yaml`,
          "--format",
          format,
          "-o",
          "sort",
          "-o",
          "pretty",
        ],
        io,
      );
      const want = await Deno.readTextFile(`${SHARED}${golden}`);
      equal(sanitize(io.stdout), sanitize(want));
      equal(exit, Number(code));
      equal(io.stderr, "");
    },
  });
}

const FAILING_EXITS: [string, number][] = [
  ["documentation", 1],
  ["json", 1],
  ["junit", 1],
  ["prometheus", 1],
  ["silent", 1],
  ["structured", 0],
];

Deno.test({
  name: `goss conformance: a failing spec exits like goss in every other format${SKIP_NOTE}`,
  ignore: MISSING,
  async fn() {
    for (const [format, code] of FAILING_EXITS) {
      const io = captureIo();
      const exit = await gossCommand.run(
        ["validate", "-g", `${SHARED}testdata__matching_basic_failing.yaml`, "-f", format],
        io,
      );
      equal(exit, code, format);
      if (format === "json") {
        const doc = JSON.parse(io.stdout);
        deepEqual(
          [doc.summary["test-count"], doc.summary["failed-count"], doc.summary["skipped-count"]],
          [27, 27, 0],
        );
      }
    }
  },
});

/** Recreates goss's integration-tests/goss layout (file names use __ for /) in a temp dir. */
async function integrationTree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "scout-goss-it-" });
  for (const f of FILES ?? []) {
    if (!f.startsWith("integration-tests__")) continue;
    const rel = f.replaceAll("__", "/");
    const target = `${dir}/${rel}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${SHARED}${f}`, target);
  }
  return dir;
}

/** Actual values for expectations written as matchers or regex line patterns. */
const BULLSEYE_OVERRIDES: Record<string, unknown> = {
  "mount:/:usage": 42,
  "interface:eth0:addrs": ["172.17.0.2/16", "fe80::42:acff:fe11:2/64"],
  "http:http://httpbin/headers:body":
    '{"headers": {\n"Foo": "bar",\n"User-Agent": "goss/v0.4.9"\n}}',
};

Deno.test({
  name:
    `goss conformance: bullseye/goss.yaml with vars, inline vars, OS=bullseye, glob includes and templates loads into 127 tests with 5 skips${SKIP_NOTE}`,
  ignore: MISSING,
  async fn() {
    const dir = await integrationTree();
    try {
      const calls: string[] = [];
      const cmd = createGossCommand({ resources: fakeResourceTypes(BULLSEYE_OVERRIDES, calls) });
      const io = captureIo({ OS: "bullseye" });
      const exit = await cmd.run([
        "validate",
        "--vars",
        `${dir}/integration-tests/goss/vars.yaml`,
        "--vars-inline",
        "{inline: bar, overwrite: bar}",
        "-g",
        `${dir}/integration-tests/goss/bullseye/goss.yaml`,
        "-o",
        "sort",
      ], io);
      const out = io.stdout;
      ok(out.includes("Count: 127, Failed: 0, Skipped: 5"), out);
      equal(exit, 0);
      // Templates rendered: toLower over mkSlice, the package from .Vars per .Env.OS, Sprig upper|repeat.
      ok(calls.includes("file:/etc/passwd:exists"));
      ok(calls.includes("package:apache2:installed"));
      ok(
        calls.includes("http:http://httpbin/anything:status"),
        "proxy block from index .Vars .Env.OS",
      );
      // The glob pulled goss-serve, goss-service (skippable) and goss-shared; bypath pulled goss-dummy.
      ok(
        calls.includes("command:echo 'hi':exit-status"),
        "includetest (goss-dummy) and hello world (goss-serve)",
      );
      ok(out.includes("Service: skippable: enabled: skipped"));
      ok(out.includes("File: /does/not/exist: exists: skipped"));
      ok(out.includes("Command: commandskip: false: exit-status: skipped"), out);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `goss conformance: the rendered integration gossfile has the matching resources with inline vars${SKIP_NOTE}`,
  ignore: MISSING,
  async fn() {
    const dir = await integrationTree();
    try {
      const io = captureIo({ OS: "bullseye" });
      const exit = await createGossCommand({ resources: fakeResourceTypes() }).run([
        "render",
        "--vars",
        `${dir}/integration-tests/goss/vars.yaml`,
        "--vars-inline",
        "{inline: bar, overwrite: bar}",
        "-g",
        `${dir}/integration-tests/goss/bullseye/goss.yaml`,
      ], io);
      equal(exit, 0);
      const out = io.stdout;
      ok(out.includes("content: HELLO!HELLO!HELLO!HELLO!HELLO!"), "sping_basic: upper | repeat 5");
      ok(
        /vars_inline_overwrite:\n\s+content: bar/.test(out),
        "inline vars replace the file's overwrite: foo",
      );
      ok(out.includes("/etc/passwd:"), "toLower of /etc/PAsswD");
      ok(!out.includes("httpd"), "goss-service chose apache2 for OS=bullseye");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// The integration gossfiles describe goss's own test container (apache, a DNS zone, eth0,
// /goss/hellogoss.txt). Run with the REAL resource checkers, the resources this machine can
// satisfy must give goss's verdicts; the network-only types (http, dns, addr) are left out so
// that nothing leaves this machine.
Deno.test({
  name:
    `goss conformance: the integration gossfiles' satisfiable resources pass with the real checkers${SKIP_NOTE}`,
  ignore: MISSING,
  async fn() {
    const { loadGossfile, RESOURCE_TYPES, validate } = await import("../src/goss/mod.ts");
    const { createDenoGossHost } = await import("../src/runtime/mod.ts");
    const dir = await integrationTree();
    try {
      const base = await createDenoGossHost();
      const host = Object.assign(Object.create(base), {
        env: (n: string) => (n === "OS" ? "bullseye" : base.env(n)),
      });
      const spec = await loadGossfile(`${dir}/integration-tests/goss/bullseye/goss.yaml`, {
        host,
        resources: RESOURCE_TYPES,
        vars: [`${dir}/integration-tests/goss/vars.yaml`],
        varsInline: "{inline: bar, overwrite: bar}",
      });
      const satisfiable = (r: { type: string; key: string }) =>
        r.type === "matching" || r.type === "command" ||
        (r.type === "file" &&
          ["/etc/passwd", "/etc/group", "/tmp", "/dev/random", "/does/not/exist"].includes(
            r.key,
          )) ||
        (r.type === "user" || r.type === "group") && r.key === "foobar" ||
        (r.type === "user" && r.key === "root");
      spec.resources = spec.resources.filter(satisfiable);
      const results = await validate(spec, { resources: RESOURCE_TYPES, host });
      const failures = results.results.filter((r) => r.result === 1).map((r) =>
        `${r["resource-type"]}: ${r["resource-id"]}: ${r.property}: ${
          r.err ?? r["matcher-result"].message
        }`
      );
      deepEqual(failures, []);
      const types = new Set(results.results.map((r) => r["resource-type"]));
      for (const t of ["Command", "File", "User", "Group", "Matching"]) ok(types.has(t), t);
      ok(
        results.results.some((r) => r["resource-id"] === "foobar" && r.property === "exit-status"),
      );
      ok(
        results.results.filter((r) => r.result === 2).length >= 3,
        "commandskip and /does/not/exist skip",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
