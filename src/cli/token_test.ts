import { deepEqual, equal, match, ok } from "node:assert/strict";
import { formatError } from "../errors.ts";
import { readProvisioningToken, verifyProvisioningToken } from "../provisioning/mod.ts";
import { makeTestCa } from "../provisioning/_testing.ts";
import { type CliIo, exitCodeFor } from "./_common.ts";
import { tokenCommand } from "./token.ts";

type Captured = CliIo & { stdout: string; stderr: string };

function capture(): Captured {
  const io: Captured = {
    stdout: "",
    stderr: "",
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    env: () => undefined,
  };
  return io;
}

/** Runs the command the way cli() does: errors become stderr text and an exit code. */
async function run(args: string[]): Promise<{ code: number } & Captured> {
  const io = capture();
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

Deno.test("scout token provisioning --srv-domain --identity --expires --single-use --json", async () => {
  const r = await run([
    "provisioning",
    "--ca",
    caDir,
    "--srv-domain",
    "fleet.example.com",
    "--identity",
    "web-*.example.com",
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
    [["operator", "--ca", caDir], /unknown token kind "operator"/],
    [["provisioning", "--url", "https://h/"], /--ca DIR is required/],
    [["provisioning", "--ca", caDir], /exactly one of --url and --srv-domain/],
    [
      ["provisioning", "--ca", caDir, "--url", "https://h/", "--srv-domain", "d.test"],
      /exactly one/,
    ],
    [["provisioning", "--ca", caDir, "--url", "http://h/"], /must be an https/],
    [["provisioning", "--ca", caDir, "--url", "https://h/", "--identity", "a_b"], /identity/],
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
