import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { generateCallerKeyPair } from "../rpc/mod.ts";
import { cli } from "./mod.ts";
import {
  type FleetConnection,
  type FleetDeps,
  type NodeOutcome,
  parseFleetArgs,
  renderJson,
  renderTable,
  runFleet,
} from "./fleet.ts";
import { captureIo } from "../../tests/fakes/io.ts";

const dir = await Deno.makeTempDir({ prefix: "scout-fleet-" });
const keys = await generateCallerKeyPair();
await Deno.writeTextFile(`${dir}/ca.pem`, "-----BEGIN CERTIFICATE-----\nx\n");
await Deno.writeTextFile(`${dir}/op.creds`, "creds");
await Deno.writeTextFile(`${dir}/op.jwt`, "header.payload.sig\n");
await Deno.writeTextFile(`${dir}/op.key`, keys.privatePem);
const BASE = [
  "--fleet",
  "--broker",
  "tls://127.0.0.1:4222",
  "--tls-ca",
  `${dir}/ca.pem`,
  "--creds",
  `${dir}/op.creds`,
  "--token",
  `${dir}/op.jwt`,
  "--key",
  `${dir}/op.key`,
];

const enc = new TextEncoder();
const dec = new TextDecoder();

type Reply = Record<string, unknown>;
const okChecks = (identity: string, checks: unknown[] = []): Reply => ({
  ok: true,
  identity,
  result: { checks },
});
const okTrigger = (identity: string, transitioned: string[], failed: unknown[] = []): Reply => ({
  ok: true,
  identity,
  result: { transitioned, skipped: [], failed },
});

/** A fake broker: `answer` maps each sent request to the replies the fleet would send. */
function fakeDeps(
  answer: (req: { subject: string; body: Record<string, unknown> }) => Reply[],
  opts: { terminal?: boolean; hub?: { identity: string; stale: boolean }[] } = {},
): FleetDeps & { sent: { subject: string; body: Record<string, unknown> }[]; closed: boolean } {
  const deps = {
    sent: [] as { subject: string; body: Record<string, unknown> }[],
    closed: false,
    connect(): Promise<FleetConnection> {
      const conn: FleetConnection = {
        gather(requests, o) {
          const replies: Uint8Array[] = [];
          for (const r of requests) {
            const req = { subject: r.subject, body: JSON.parse(dec.decode(r.data)) };
            deps.sent.push(req);
            for (const reply of answer(req)) replies.push(enc.encode(JSON.stringify(reply)));
          }
          const got: Uint8Array[] = [];
          for (const data of replies) {
            if (o.signal?.aborted) {
              return Promise.resolve({ replies: got, noResponders: 0, ended: "aborted" });
            }
            got.push(data);
            o.onReply?.(data);
            if (o.expected !== undefined && got.length >= o.expected) {
              return Promise.resolve({ replies: got, noResponders: 0, ended: "expected" });
            }
          }
          if (o.signal?.aborted) {
            return Promise.resolve({ replies: got, noResponders: 0, ended: "aborted" });
          }
          return Promise.resolve({ replies: got, noResponders: 0, ended: "timeout" });
        },
        close() {
          deps.closed = true;
          return Promise.resolve();
        },
      };
      return Promise.resolve(conn);
    },
    readFile: (path: string) => Deno.readTextFile(path),
    now: (() => {
      let t = Date.parse("2030-01-01T00:00:00Z");
      return () => (t += 1000);
    })(),
    isTerminal: () => opts.terminal ?? false,
    interrupts: () => ({ signal: new AbortController().signal, dispose() {} }),
    hubNodes: (hub: string) =>
      opts.hub && hub === "http://hub.test"
        ? Promise.resolve(opts.hub)
        : Promise.reject(new ScoutError("USAGE", `no hub at ${hub}`)),
  };
  return deps;
}

Deno.test("fleet args: defaults, env twins of --token/--key, filters and positionals", () => {
  const io = captureIo({ SCOUT_OPERATOR_TOKEN: "/t.jwt", SCOUT_OPERATOR_KEY: "/k.pem" });
  const a = parseFleetArgs("trigger", [
    "--fleet",
    "web",
    "db",
    "--identity",
    "web-*",
    "--annotation",
    "team=ops",
    "--check",
    "web",
    "--expect",
    "3",
  ], io);
  deepEqual(a.checks, ["web", "db"]);
  equal(a.identity, "web-*");
  deepEqual(a.annotations, [["team", "ops"]]);
  deepEqual(a.checkFilter, ["web"]);
  equal(a.expect, 3);
  equal(a.timeoutMs, 5000);
  equal(a.json, false);
  equal(a.tokenPath, "/t.jwt");
  equal(a.keyPath, "/k.pem");
  const b = parseFleetArgs("checks", [...BASE, "--timeout", "250ms", "--json"], captureIo());
  equal(b.timeoutMs, 250);
  equal(b.json, true);
  equal(b.tokenPath, `${dir}/op.jwt`);
});

Deno.test("fleet args: every mistake is a usage error (exit 2)", async () => {
  const usage = (action: "checks" | "trigger" | "maintenance", extra: string[]) =>
    throws(() => parseFleetArgs(action, [...BASE, ...extra], captureIo()), (e: unknown) => {
      ok(e instanceof ScoutError, String(e));
      ok(
        ["USAGE", "CONFIG_DURATION", "IDENTITY_INVALID"].includes(e.code),
        `${e.code}: ${e.message}`,
      );
      return true;
    });
  usage("trigger", ["--expect", "0"]);
  usage("trigger", ["--expect", "many"]);
  usage("trigger", ["--annotation", "novalue"]);
  usage("trigger", ["--timeout", "soon"]);
  usage("trigger", ["--identity", "bad_identity"]);
  usage("trigger", ["--identity", "web/*"]);
  usage("trigger", ["--for", "2h"]);
  usage("maintenance", ["--for", "soon"]);
  const m = parseFleetArgs(
    "maintenance",
    [...BASE, "--for", "2h", "--reason", "patching"],
    captureIo(),
  );
  equal(m.forMs, 7_200_000);
  equal(m.reason, "patching");
  usage("checks", ["web"]);
  usage("trigger", ["--state-dir", "/tmp"]);
  usage("trigger", ["--bogus"]);
  throws(() => parseFleetArgs("trigger", ["--fleet"], captureIo()), /--token/);
  // Through the CLI: exit code 2 and a hint.
  const io = captureIo();
  equal(await cli(["trigger", "--fleet", "--key", "/k"], io), 2);
  match(io.stderr, /--fleet needs --token FILE\n {2}hint: /);
  const io2 = captureIo();
  equal(await cli(["checks", "--fleet", "--token", "/t", "--key", "/k"], io2), 2);
  match(io2.stderr, /no --broker/);
  const io3 = captureIo();
  equal(await cli(["trigger", "--help"], io3), 0);
  match(io3.stdout, /--fleet .*\n[\s\S]*--expect N/);
});

const OUTCOMES: NodeOutcome[] = [
  { identity: "web-2.example.com", ok: true, result: { checks: [] }, error: null },
  {
    identity: "db-1.example.com",
    ok: false,
    result: null,
    error: { code: "AUTHZ_DENIED", reason: "action trigger not allowed" },
  },
  {
    identity: "web-1.example.com",
    ok: true,
    result: {
      checks: [
        { name: "web", state: "OK", status: null },
        { name: "disk", state: "CRITICAL", status: null },
        { name: "load", state: "OK", status: null },
      ],
    },
    error: null,
  },
];

Deno.test("fleet table: one row per node by identity, ok column and a summary", () => {
  equal(
    renderTable("checks", OUTCOMES),
    "IDENTITY           OK      SUMMARY\n" +
      "db-1.example.com   FAILED  AUTHZ_DENIED: action trigger not allowed\n" +
      "web-1.example.com  ok      3 checks: 2 OK, 1 CRITICAL\n" +
      "web-2.example.com  ok      0 checks\n",
  );
  match(
    renderTable("trigger", [{
      identity: "a",
      ok: true,
      result: {
        transitioned: ["web", "disk"],
        skipped: [{ name: "db", reason: "in MAINTENANCE" }],
      },
      error: null,
    }]),
    /\na {9}ok {2}2 transitioned \(web, disk\); 1 skipped \(db \(in MAINTENANCE\)\)\n$/,
  );
});

Deno.test("fleet --json: one array, one {identity, ok, result, error} per node", () => {
  const out = JSON.parse(renderJson(OUTCOMES));
  ok(Array.isArray(out));
  deepEqual(out.map((o: NodeOutcome) => o.identity), [
    "db-1.example.com",
    "web-1.example.com",
    "web-2.example.com",
  ]);
  for (const o of out) deepEqual(Object.keys(o), ["identity", "ok", "result", "error"]);
  deepEqual(out[0].error, { code: "AUTHZ_DENIED", reason: "action trigger not allowed" });
  equal(out[1].error, null);
});

Deno.test("fleet checks: all nodes ok exits 0; the request is signed for _all", async () => {
  const deps = fakeDeps(() => [okChecks("a.example.com"), okChecks("b.example.com")]);
  const io = captureIo();
  equal(await runFleet("checks", [...BASE, "--json"], io, deps), 0, io.stderr);
  equal(deps.sent.length, 1);
  equal(deps.sent[0]!.subject, "scout.api._all.checks");
  const body = deps.sent[0]!.body;
  deepEqual(Object.keys(body).sort(), ["action", "args", "id", "sig", "target", "token", "ts"]);
  equal(body.target, "_all");
  equal(body.token, "header.payload.sig");
  deepEqual(body.args, {});
  match(String(body.sig), /^[A-Za-z0-9+/]{86}==$/);
  equal(JSON.parse(io.stdout).length, 2);
  ok(deps.closed);
});

Deno.test("fleet: a node's error or failed checks exits 1 and is listed", async () => {
  const deps = fakeDeps(() => [
    okTrigger("a.example.com", ["web"]),
    { ok: false, identity: "b.example.com", error: { code: "AUTHZ_DENIED", reason: "no" } },
    okTrigger("c.example.com", [], [{ name: "web", reason: "unknown check" }]),
    { garbage: true },
  ]);
  const io = captureIo();
  equal(await runFleet("trigger", [...BASE, "web"], io, deps), 1);
  deepEqual(deps.sent[0]!.body.args, { checks: ["web"] });
  match(io.stdout, /^IDENTITY +OK +SUMMARY\na\.example\.com +ok +1 transitioned \(web\)\n/);
  match(io.stderr, /3 nodes: 1 ok, 2 failed/);
  match(io.stderr, /failed b\.example\.com: AUTHZ_DENIED: no/);
  match(io.stderr, /failed c\.example\.com: CHECKS_FAILED: failed: web \(unknown check\)/);
  match(io.stderr, /1 reply could not be read/);
});

Deno.test("fleet: no answer at all exits 1", async () => {
  const io = captureIo();
  equal(await runFleet("checks", [...BASE, "--timeout", "10ms"], io, fakeDeps(() => [])), 1);
  match(io.stderr, /no node answered within 10 ms/);
  const io2 = captureIo();
  equal(await runFleet("checks", [...BASE, "--json"], io2, fakeDeps(() => [])), 1);
  equal(io2.stdout, "[]\n");
});

Deno.test("fleet --expect: stops at N answers, and fewer than N exits 1", async () => {
  const three = () => ["a", "b", "c"].map((n) => okChecks(`${n}.example.com`));
  const io = captureIo();
  equal(await runFleet("checks", [...BASE, "--expect", "2", "--json"], io, fakeDeps(three)), 0);
  equal(JSON.parse(io.stdout).length, 2);
  const io2 = captureIo();
  equal(await runFleet("checks", [...BASE, "--expect", "4"], io2, fakeDeps(three)), 1);
  match(io2.stderr, /expected 4 nodes, 3 answered/);
});

Deno.test("fleet --identity without *: only that node's subject; silence is NO_REPLY", async () => {
  const deps = fakeDeps(() => []);
  const io = captureIo();
  equal(
    await runFleet("resume", [...BASE, "--identity", "web-1.example.com", "--json"], io, deps),
    1,
  );
  equal(deps.sent[0]!.subject, "scout.api.web-1_example_com.resume");
  equal(deps.sent[0]!.body.target, "web-1.example.com");
  deepEqual(JSON.parse(io.stdout), [{
    identity: "web-1.example.com",
    ok: false,
    result: null,
    error: { code: "NO_REPLY", reason: "no answer within 5000 ms" },
  }]);
});

Deno.test("fleet trigger with a glob and filters asks for checks first, then only the matches", async () => {
  const checks = [
    { name: "web", state: "OK", status: { annotations: { team: "ops" } } },
    { name: "disk", state: "OK", status: null },
  ];
  const deps = fakeDeps((req) => {
    if (req.body.action === "checks") {
      return [
        okChecks("web-1.example.com", checks),
        okChecks("web-2.example.com", [{ name: "disk", state: "OK", status: null }]),
        okChecks("db-1.example.com", checks),
        { ok: false, identity: "web-3.example.com", error: { code: "BUSY", reason: "later" } },
      ];
    }
    return [okTrigger(String(req.body.target), ["web"])];
  });
  const io = captureIo();
  const code = await runFleet(
    "trigger",
    [
      ...BASE,
      "web",
      "--identity",
      "web-*",
      "--annotation",
      "team=ops",
      "--json",
    ],
    io,
    deps,
  );
  equal(code, 1); // web-3 failed discovery
  deepEqual(deps.sent.map((s) => s.subject), [
    "scout.api._all.checks",
    "scout.api.web-1_example_com.trigger",
  ]);
  const out = JSON.parse(io.stdout) as NodeOutcome[];
  deepEqual(out.map((o) => [o.identity, o.ok]), [
    ["web-1.example.com", true],
    ["web-3.example.com", false],
  ]);
  equal(out[1]!.error?.reason, "discovery: later");
});

Deno.test("fleet checks --check narrows the listed checks and the nodes", async () => {
  const deps = fakeDeps(() => [
    okChecks("a.example.com", [{ name: "web", state: "OK" }, { name: "disk", state: "OK" }]),
    okChecks("b.example.com", [{ name: "disk", state: "OK" }]),
  ]);
  const io = captureIo();
  equal(await runFleet("checks", [...BASE, "--check", "web", "--json"], io, deps), 0);
  deepEqual(JSON.parse(io.stdout), [{
    identity: "a.example.com",
    ok: true,
    result: { checks: [{ name: "web", state: "OK" }] },
    error: null,
  }]);
});

Deno.test("fleet progress shows on a terminal only, and is cleared", async () => {
  const replies = () => [okChecks("a.example.com"), okChecks("b.example.com")];
  const tty = captureIo();
  equal(await runFleet("checks", BASE, tty, fakeDeps(replies, { terminal: true })), 0);
  ok(tty.stderr.includes("\r\x1b[K2 nodes answered…"), tty.stderr);
  ok(tty.stderr.endsWith("\r\x1b[K2 nodes: 2 ok, 0 failed\n"), tty.stderr);
  const pipe = captureIo();
  equal(await runFleet("checks", BASE, pipe, fakeDeps(replies)), 0);
  ok(!pipe.stderr.includes("answered…"), pipe.stderr);
  ok(!pipe.stderr.includes("\x1b"), pipe.stderr);
});

Deno.test("fleet refuses an unreadable key or a key that is not ed25519 (exit 2)", async () => {
  await rejects(
    runFleet("checks", [...BASE, "--key", `${dir}/missing.pem`], captureIo(), fakeDeps(() => [])),
    (e: unknown) => e instanceof ScoutError && e.code === "USAGE",
  );
  const io = captureIo();
  equal(await cli(["checks", ...BASE, "--key", `${dir}/op.jwt`], io), 2);
  match(io.stderr, /no PEM private key/);
});

Deno.test("fleet with --hub waits for the hub's fresh matching nodes and lists each silent one as failed", async () => {
  const hub = [
    { identity: "web-1", stale: false },
    { identity: "web-2", stale: false },
    { identity: "web-3", stale: true },
    { identity: "db-1", stale: false },
  ];
  const answering = ["web-1", "db-1"];
  // `_all` reaches every answering node; a node's own subject only that node.
  const deps = fakeDeps((req) => {
    const target = req.subject.split(".")[2];
    return answering.filter((id) => target === "_all" || target === id).map((id) =>
      req.subject.endsWith(".checks") ? okChecks(id) : okTrigger(id, ["a"])
    );
  }, { hub });
  const io = captureIo();
  const code = await runFleet(
    "trigger",
    [...BASE, "--hub", "http://hub.test", "--identity", "web-*", "a"],
    io,
    deps,
  );
  equal(code, 1, io.stderr);
  const outcomes = (io.stdout.trim().split("\n").slice(1)).join("\n");
  match(outcomes, /web-1/);
  match(io.stderr, /failed web-2: NO_REPLY/);
  ok(!/web-3: NO_REPLY/.test(io.stderr), "stale nodes are not waited for");
  match(io.stderr, /not waiting for 1 node the hub lists as stale/);
  // Every listed node answers: exit 0, and nothing is listed as missing.
  answering.push("web-2");
  const io2 = captureIo({ SCOUT_HUB: "http://hub.test" });
  equal(await runFleet("trigger", [...BASE, "--identity", "web-*", "a"], io2, deps), 0, io2.stderr);
  match(io2.stderr, /2 nodes: 2 ok, 0 failed/);
  // Without --hub the silent node is not known, so nothing is missing.
  answering.splice(answering.indexOf("web-2"), 1);
  const io3 = captureIo();
  equal(await runFleet("trigger", [...BASE, "--identity", "web-*", "a"], io3, deps), 0, io3.stderr);
  // A hub that cannot be asked is a usage error before anything is sent.
  const sentBefore = deps.sent.length;
  await rejects(
    runFleet("trigger", [...BASE, "--hub", "http://nowhere.test", "a"], captureIo(), deps),
    /no hub at/,
  );
  equal(deps.sent.length, sentBefore);
});
