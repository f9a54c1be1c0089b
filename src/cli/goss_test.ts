import { deepEqual, equal, ok } from "node:assert/strict";
import {
  contentTypeOf,
  createGossCommand,
  createResultCache,
  gossCommand,
  negotiateFormat,
  parseListenAddr,
} from "./goss.ts";
import type { GossResourceType, GossResults } from "../goss/mod.ts";
import { fakeNow } from "../../tests/fixtures/goss/fake_host.ts";
import { captureIo } from "../../tests/fakes/io.ts";

const PASS = "matching:\n  one:\n    content: 1\n    matches: 1\n";
const FAIL = "matching:\n  one:\n    content: 1\n    matches: 2\n";

async function withFiles<T>(
  files: Record<string, string>,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "scout-goss-cli-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function validate(
  files: Record<string, string>,
  args: string[],
  env: Record<string, string> = {},
) {
  return await withFiles(files, async (dir) => {
    const io = captureIo(env);
    const code = await gossCommand.run([
      "validate",
      "-g",
      `${dir}/goss.yaml`,
      ...args.map((a) => a.replace("$DIR", dir)),
    ], io);
    return { code, out: io.stdout, err: io.stderr.replaceAll(dir, "$DIR") };
  });
}

Deno.test("scout goss validate prints rspecish by default and exits 0 when all pass", async () => {
  const r = await validate({ "goss.yaml": PASS }, []);
  equal(r.code, 0);
  ok(r.out.startsWith(".\n\nTotal Duration: "));
  ok(r.out.endsWith("Count: 1, Failed: 0, Skipped: 0\n"));
  equal(r.err, "");
});

Deno.test("failures exit 1, or 2 with nagios; structured always exits 0", async () => {
  equal((await validate({ "goss.yaml": FAIL }, [])).code, 1);
  equal((await validate({ "goss.yaml": FAIL }, ["-f", "tap"])).code, 1);
  const n = await validate({ "goss.yaml": FAIL }, ["--format", "nagios", "-o", "perfdata"]);
  equal(n.code, 2);
  ok(n.out.startsWith("GOSS CRITICAL - Count: 1, Failed: 1, Skipped: 0, Duration: "));
  ok(n.out.includes("|total=1 failed=1 skipped=0 duration="));
  equal((await validate({ "goss.yaml": FAIL }, ["-f", "structured"])).code, 0);
});

Deno.test("GOSS_FILE, GOSS_FMT, GOSS_VARS and GOSS_VARS_INLINE stand in for the flags", async () => {
  await withFiles({
    "goss.yaml": "matching:\n  v:\n    content: '{{ .Vars.a }}{{ .Vars.b }}'\n    matches: '12'\n",
    "vars.yaml": "a: 1\nb: 9\n",
  }, async (dir) => {
    const io = captureIo({
      GOSS_FILE: `${dir}/goss.yaml`,
      GOSS_FMT: "tap",
      GOSS_VARS: `${dir}/vars.yaml`,
      GOSS_VARS_INLINE: "b: 2",
    });
    equal(await gossCommand.run(["validate"], io), 0);
    equal(io.stdout, '1..1\nok 1 - Matching: v: matches: matches expectation: "12"\n');
  });
});

Deno.test("flags may come before the subcommand, and -o may repeat", async () => {
  await withFiles({ "goss.yaml": PASS }, async (dir) => {
    const io = captureIo();
    equal(
      await gossCommand.run([
        "-g",
        `${dir}/goss.yaml`,
        "validate",
        "-f",
        "json",
        "-o",
        "pretty",
        "-o",
        "sort",
      ], io),
      0,
    );
    ok(io.stdout.startsWith('{\n    "results": ['));
  });
});

Deno.test("load problems exit 78 with file:line and goss's wording", async () => {
  const attr = await validate({
    "goss.yaml": "matching:\n  one:\n    content: 1\n    matches: 1\n    bogus: 1\n",
  }, []);
  equal(attr.code, 78);
  equal(
    attr.err,
    "scout goss: $DIR/goss.yaml:5:1: invalid Attribute for Matching:one: bogus\n  hint: matching takes: as-reader, content, matches, meta, skip, title\n",
  );
  const yaml = await validate({ "goss.yaml": "matching:\n  one: [\n" }, []);
  equal(yaml.code, 78);
  ok(/\$DIR\/goss\.yaml:\d+:\d+: invalid gossfile: /.test(yaml.err), yaml.err);
  const tpl = await validate({
    "goss.yaml": "matching:\n  one:\n    content: {{ .Vars.nope }}\n    matches: 1\n",
  }, []);
  equal(tpl.code, 78);
  ok(
    tpl.err.startsWith(
      'scout goss: $DIR/goss.yaml:3:17: template: map has no entry for key "nope"',
    ),
    tpl.err,
  );
  const missing = await validate({ "goss.yaml": "gossfile:\n  other.yaml: {}\n" }, []);
  equal(missing.code, 78);
  ok(missing.err.includes("cannot read gossfile $DIR/other.yaml"), missing.err);
  const cycle = await validate({
    "goss.yaml": "gossfile:\n  b.yaml: {}\n",
    "b.yaml": "gossfile:\n  goss.yaml: {}\n",
  }, []);
  equal(cycle.code, 78);
  ok(
    cycle.err.includes("gossfile include cycle: $DIR/goss.yaml -> $DIR/b.yaml -> $DIR/goss.yaml"),
    cycle.err,
  );
  const none = await validate({ "goss.yaml": "" }, []);
  equal(none.code, 78);
  ok(none.err.includes("found 0 tests, source: $DIR/goss.yaml"));
  const absent = await withFiles(
    {},
    async (dir) => await gossCommand.run(["validate", "-g", `${dir}/nope.yaml`], captureIo()),
  );
  equal(absent, 78);
});

Deno.test("unknown resource types are ignored with a warning, like goss's decoder", async () => {
  const r = await validate({ "goss.yaml": "frobnicator:\n  x: {on: true}\n" + PASS }, []);
  equal(r.code, 0);
  ok(r.err.startsWith('WARNING: unknown resource type "frobnicator" ignored'), r.err);
  const only = await validate({ "goss.yaml": "frobnicator:\n  x: {on: true}\n" }, []);
  equal(only.code, 78, "nothing left to test");
});

Deno.test("an invalid regex fails its test with a clear error instead of stopping the run", async () => {
  const r = await validate({
    "goss.yaml": "matching:\n  re:\n    content: abc\n    matches: {match-regexp: '(abc'}\n" +
      "  ok:\n    content: 1\n    matches: 1\n",
  }, ["-f", "tap", "-o", "sort"]);
  equal(r.code, 1);
  equal(
    r.out,
    "1..2\nok 1 - Matching: ok: matches: matches expectation: 1\nnot ok 2 - Matching: re: matches: Error RegExp match failed to compile with error: error parsing regexp: missing closing ): `(abc`\n",
  );
});

Deno.test("usage mistakes exit 1 like goss's setup errors", async () => {
  for (
    const args of [["validate", "-f", "xml"], ["validate", "-o", "fancy"], ["frob"], [], [
      "validate",
      "--max-concurrent",
      "0",
    ], ["validate", "-l", ":80"]]
  ) {
    const io = captureIo();
    equal(await gossCommand.run(args, io), 1, args.join(" "));
    ok(io.stderr.startsWith("scout goss: "), io.stderr);
  }
});

Deno.test("-r retries a failing suite and exits 3 when the timeout passes", async () => {
  await withFiles({ "goss.yaml": FAIL }, async (dir) => {
    let now = 0;
    const slept: number[] = [];
    const cmd = createGossCommand({
      clockMs: () => now,
      sleep: (ms) => (slept.push(ms), now += ms, Promise.resolve()),
    });
    const io = captureIo();
    equal(
      await cmd.run(
        ["validate", "-g", `${dir}/goss.yaml`, "-r", "3s", "-s", "1s", "-f", "silent"],
        io,
      ),
      3,
    );
    deepEqual(slept, [1000, 1000, 1000]);
    ok(
      io.stderr.includes("ERROR: Timeout of 3s reached before tests entered a passing state"),
      io.stderr,
    );
  });
});

Deno.test("render prints the merged, templated gossfile", async () => {
  await withFiles({
    "goss.yaml": "gossfile:\n  inc.yaml: {}\n",
    "inc.yaml": "matching:\n  m:\n    content: '{{ upper \"x\" }}'\n    matches: X\n",
  }, async (dir) => {
    const io = captureIo();
    equal(await gossCommand.run(["render", "-g", `${dir}/goss.yaml`], io), 0);
    equal(io.stdout, "matching:\n  m:\n    content: X\n    matches: X\n");
  });
});

Deno.test("-g - reads the gossfile from stdin", async () => {
  const io = captureIo();
  const cmd = createGossCommand({ readStdin: () => Promise.resolve(PASS) });
  equal(await cmd.run(["validate", "-g", "-", "-f", "tap"], io), 0);
  equal(io.stdout, "1..1\nok 1 - Matching: one: matches: matches expectation: 1\n");
});

Deno.test("Accept negotiation picks vnd.goss-<format> or json, else the server's format", () => {
  equal(negotiateFormat("application/vnd.goss-nagios", "rspecish"), "nagios");
  equal(negotiateFormat("text/html, application/json;q=0.9", "rspecish"), "json");
  equal(negotiateFormat("text/json", "tap"), "json");
  equal(negotiateFormat("application/vnd.goss-bogus", "tap"), "tap");
  equal(negotiateFormat(null, "tap"), "tap");
  equal(contentTypeOf("json"), "application/json");
  equal(contentTypeOf("prometheus"), "text/plain; version=0.0.4");
  equal(contentTypeOf("tap"), "application/vnd.goss-tap");
});

Deno.test("listen addresses: host:port, :port (all interfaces, as goss) and [v6]:port", () => {
  deepEqual(parseListenAddr("127.0.0.1:8080"), { hostname: "127.0.0.1", port: 8080 });
  deepEqual(parseListenAddr(":8080"), { hostname: "0.0.0.0", port: 8080 });
  deepEqual(parseListenAddr("[::1]:9000"), { hostname: "::1", port: 9000 });
});

Deno.test("the result cache runs the suite once for concurrent requests and again after it expires", async () => {
  let runs = 0;
  let now = 0;
  const results = { results: [], summary: {} } as unknown as GossResults;
  const get = createResultCache(
    () => (runs++, new Promise((r) => setTimeout(() => r(results), 5))),
    5000,
    () => now,
  );
  await Promise.all([get(), get(), get()]);
  equal(runs, 1);
  now = 4999;
  await get();
  equal(runs, 1);
  now = 5001;
  await get();
  equal(runs, 2);
});

Deno.test("serve answers the health endpoint with 200 or 503 and negotiates the format", async () => {
  let pass = true;
  let reads = 0;
  const toggle: GossResourceType = {
    type: "toggle",
    resultType: "Toggle",
    tested: ["ok"],
    options: [],
    system: () => ({ get: () => (reads++, Promise.resolve(pass)) }),
  };
  await withFiles({ "goss.yaml": "toggle:\n  t:\n    ok: true\n" }, async (dir) => {
    const controller = new AbortController();
    let port = 0;
    const listening = Promise.withResolvers<void>();
    const cmd = createGossCommand({
      resources: [toggle],
      now: fakeNow(),
      signal: controller.signal,
      onListen: (a) => {
        port = a.port;
        listening.resolve();
      },
    });
    const io = captureIo();
    const served = cmd.run([
      "serve",
      "-g",
      `${dir}/goss.yaml`,
      "-l",
      "127.0.0.1:0",
      "-c",
      "0s",
      "-f",
      "tap",
    ], io);
    await listening.promise;
    const url = `http://127.0.0.1:${port}/healthz`;
    const ok1 = await fetch(url);
    equal(ok1.status, 200);
    equal(ok1.headers.get("content-type"), "application/vnd.goss-tap");
    equal(await ok1.text(), "1..1\nok 1 - Toggle: t: ok: matches expectation: true\n");
    pass = false;
    const bad = await fetch(url, { headers: { accept: "application/vnd.goss-nagios" } });
    equal(bad.status, 503);
    ok((await bad.text()).startsWith("GOSS CRITICAL - Count: 1, Failed: 1"));
    const js = await fetch(url, { headers: { accept: "application/json" } });
    equal(js.headers.get("content-type"), "application/json");
    equal(JSON.parse(await js.text()).summary["failed-count"], 1);
    const other = await fetch(`http://127.0.0.1:${port}/other`);
    equal(other.status, 404);
    await other.body?.cancel();
    controller.abort();
    equal(await served, 0);
    equal(reads, 3, "the cache of 0s runs the suite on each request");
    ok(io.stderr.includes(`Starting to listen on: 127.0.0.1:${port}`));
  });
});

Deno.test("serve's default listen address is loopback, safer than goss's :8080", () => {
  ok(gossCommand.help.includes("default 127.0.0.1:8080"));
});
