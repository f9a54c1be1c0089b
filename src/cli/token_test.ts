import { deepEqual, equal, match, ok } from "node:assert/strict";
import { formatError } from "../errors.ts";
import { readProvisioningToken, verifyProvisioningToken } from "../provisioning/mod.ts";
import { makeTestCa } from "../provisioning/_testing.ts";
import { exitCodeFor } from "./_common.ts";
import { tokenCommand } from "./token.ts";
import {
  authenticateRequest,
  authorize,
  importCallerPrivateKey,
  ReplayCache,
  signRequest,
} from "../rpc/mod.ts";
import { type CapturedIo, captureIo } from "../../tests/fakes/io.ts";

type Captured = CapturedIo;

/** Runs the command the way cli() does: errors become stderr text and an exit code. */
async function run(args: string[]): Promise<{ code: number } & Captured> {
  const io = captureIo();
  let code: number;
  try {
    code = await tokenCommand.run(args, io);
  } catch (e) {
    io.err(`scout token: ${formatError(e)}\n`);
    code = exitCodeFor(e);
  }
  return Object.assign(io, { code });
}

const ca = await makeTestCa();
const caDir = await Deno.makeTempDir();
await Deno.writeTextFile(`${caDir}/ca.pem`, ca.certPem);
await Deno.writeTextFile(`${caDir}/ca.key`, ca.keyPem);
globalThis.addEventListener("unload", () => Deno.removeSync(caDir, { recursive: true }));

Deno.test("scout token provisioning prints a JWT the hub accepts", async () => {
  const r = await run(["provisioning", "--ca", caDir, "--url", "https://hub.example.com:8443/"]);
  equal(r.code, 0, r.stderr);
  const jwt = r.stdout.trim();
  const claims = await verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: new Date() });
  deepEqual(claims.chu, ["https://hub.example.com:8443/"]);
  equal(claims.identity, "*");
  equal(claims.single_use, false);
  equal(claims.exp - claims.iat, 24 * 3600, "default lifetime 24h");
});

Deno.test("scout token provisioning --srv-domain --identity --group --expires --single-use --json", async () => {
  const r = await run([
    "provisioning",
    "--ca",
    caDir,
    "--srv-domain",
    "fleet.example.com",
    "--identity",
    "web-*.example.com",
    "--group",
    "web",
    "--group",
    "edge",
    "--expires",
    "2h",
    "--single-use",
    "--json",
  ]);
  equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  deepEqual(out.claims, readProvisioningToken(out.token));
  equal(out.claims.chsrv, "fleet.example.com");
  equal(out.claims.identity, "web-*.example.com");
  equal(out.claims.single_use, true);
  deepEqual(out.claims.groups, ["edge", "web"]);
  equal(out.claims.purpose, "scout-provisioning");
  equal(out.claims.exp - out.claims.iat, 7200);
});

Deno.test("scout token provisioning --out writes a 0600 file and prints nothing secret", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/provisioning.jwt`;
    await Deno.writeTextFile(file, "old\n", { mode: 0o644 });
    const r = await run(["provisioning", "--ca", caDir, "--url", "https://h/", "--out", file]);
    equal(r.code, 0, r.stderr);
    equal(r.stdout, "");
    match(r.stderr, /wrote provisioning token to .*provisioning\.jwt/);
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    readProvisioningToken(await Deno.readTextFile(file));
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["provisioning.jwt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scout token refuses bad usage with exit 2 and a hint", async () => {
  const cases: [string[], RegExp][] = [
    [[], /missing token kind/],
    [["server", "--ca", caDir], /unknown token kind "server"/],
    [["provisioning", "--url", "https://h/"], /--ca DIR is required/],
    [["provisioning", "--ca", caDir], /exactly one of --url and --srv-domain/],
    [
      ["provisioning", "--ca", caDir, "--url", "https://h/", "--srv-domain", "d.test"],
      /exactly one/,
    ],
    [["provisioning", "--ca", caDir, "--url", "http://h/"], /must be an https/],
    [["provisioning", "--ca", caDir, "--url", "https://h/", "--identity", "a_b"], /identity/],
    [["provisioning", "--ca", caDir, "--url", "https://h/", "--group", "a.b"], /group names/],
    [
      ["provisioning", "--ca", caDir, "--url", "https://h/", "--expires", "soon"],
      /invalid duration/,
    ],
    [["provisioning", "--ca", `${caDir}/nope`, "--url", "https://h/"], /Cannot read .*ca\.pem/],
    [["provisioning", "--ca", caDir, "--url", "https://h/", "--bogus"], /--bogus/],
  ];
  for (const [args, why] of cases) {
    const r = await run(args);
    equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    match(r.stderr, why);
    match(r.stderr, /hint: /);
  }
});

Deno.test("scout token refuses a CA folder whose key does not belong to its certificate", async () => {
  const other = await makeTestCa("Other");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, ca.certPem);
    await Deno.writeTextFile(`${dir}/ca.key`, other.keyPem);
    const r = await run(["provisioning", "--ca", dir, "--url", "https://h/"]);
    equal(r.code, 2);
    match(r.stderr, /ca\.key does not match ca\.pem/);
    equal(r.stdout, "");
    ok(tokenCommand.help.includes("--srv-domain"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scout token keypair and operator make a token whose key signs accepted requests", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const k = await run([
      "keypair",
      "--out-private",
      `${dir}/alice.key`,
      "--out-public",
      `${dir}/alice.pub`,
    ]);
    equal(k.code, 0, k.stderr);
    equal((await Deno.stat(`${dir}/alice.key`)).mode! & 0o777, 0o600);
    const r = await run([
      "operator",
      "--ca",
      caDir,
      "--name",
      "alice",
      "--public-key",
      `${dir}/alice.pub`,
      "--actions",
      "trigger,resume",
      "--nodes",
      "web-*",
      "--checks",
      "http-*",
      "--expires",
      "2h",
      "--json",
    ]);
    equal(r.code, 0, r.stderr);
    const { token, claims } = JSON.parse(r.stdout);
    deepEqual(
      [
        claims.purpose,
        claims.sub,
        claims.scout_actions,
        claims.scout_nodes,
        claims.scout_checks,
        claims.exp - claims.iat,
      ],
      ["scout-operator", "alice", ["trigger", "resume"], "web-*", "http-*", 7200],
    );
    const now = Date.now();
    const privateKey = await importCallerPrivateKey(await Deno.readTextFile(`${dir}/alice.key`));
    const req = await signRequest({
      action: "trigger",
      target: "web-1",
      args: { checks: ["http-a"] },
      token,
      privateKey,
      now,
    });
    const a = await authenticateRequest(new TextEncoder().encode(JSON.stringify(req)), {
      trust: [{ kind: "fleet-ca", certPem: ca.certPem }],
      now,
      seen: new ReplayCache(),
      node: "web-1",
    });
    ok(a.ok, JSON.stringify(a));
    deepEqual(
      authorize({ claims: a.claims, action: "trigger", node: "web-1", checks: ["http-a"] }),
      { allow: true },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scout token operator refuses missing flags, unknown actions, bad keys and stray flags", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.pub`, "not a key");
    const k = await run(["keypair", "--out-private", `${dir}/k`, "--out-public", `${dir}/k.pub`]);
    equal(k.code, 0);
    const cases: [string[], RegExp][] = [
      [["operator", "--name", "a", "--public-key", `${dir}/k.pub`], /--ca DIR is required/],
      [["operator", "--ca", caDir, "--public-key", `${dir}/k.pub`], /--name CALLER is required/],
      [["operator", "--ca", caDir, "--name", "a"], /--public-key FILE is required/],
      [
        ["operator", "--ca", caDir, "--name", "a", "--public-key", `${dir}/bad.pub`],
        /no ed25519 public key/,
      ],
      [[
        "operator",
        "--ca",
        caDir,
        "--name",
        "a",
        "--public-key",
        `${dir}/k.pub`,
        "--actions",
        "shell",
      ], /unknown action/],
      [[
        "operator",
        "--ca",
        caDir,
        "--name",
        "a",
        "--public-key",
        `${dir}/k.pub`,
        "--url",
        "https://h/",
      ], /--url does not apply/],
      [["keypair", "--out-private", `${dir}/x`], /--out-public FILE are required/],
    ];
    for (const [args, why] of cases) {
      const r = await run(args);
      equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      match(r.stderr, why);
      match(r.stderr, /hint: /);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
