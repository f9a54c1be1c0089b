import { deepEqual, equal, match, ok } from "node:assert/strict";
import { formatError } from "../errors.ts";
import { certInfo, fingerprintSha256, generateKeyAndCsr, verifyIssuedBy } from "../pki/mod.ts";
import { exitCodeFor } from "./_common.ts";
import { caCommand } from "./ca.ts";
import { type CapturedIo, captureIo } from "../../tests/fakes/io.ts";

type Io = CapturedIo;

/** Runs `scout ca ...` as cli() in mod.ts does: a thrown error becomes a message and exit code. */
async function scoutCa(args: string[], io: Io = captureIo()): Promise<{ code: number; io: Io }> {
  try {
    return { code: await caCommand.run(args, io), io };
  } catch (e) {
    io.err(`scout ca: ${formatError(e)}\n`);
    return { code: exitCodeFor(e), io };
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "scout-ca-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("scout ca init writes ca.pem 0644 and ca.key 0600 and prints the fingerprint", () =>
  withDir(async (dir) => {
    const { code, io } = await scoutCa(["init", "--dir", `${dir}/ca`, "--name", "Test Fleet"]);
    equal(code, 0, io.stderr);
    equal((await Deno.stat(`${dir}/ca/ca.key`)).mode! & 0o777, 0o600);
    equal((await Deno.stat(`${dir}/ca/ca.pem`)).mode! & 0o777, 0o644);
    const certPem = await Deno.readTextFile(`${dir}/ca/ca.pem`);
    match(await Deno.readTextFile(`${dir}/ca/ca.key`), /^-----BEGIN PRIVATE KEY-----/);
    equal((await certInfo(certPem)).subjectCn, "Test Fleet");
    match(io.stdout, new RegExp(`SHA-256 fingerprint: ${await fingerprintSha256(certPem)}\\n`));
  }));

Deno.test("scout ca init refuses to overwrite an existing CA without --force (exit 2, hint)", () =>
  withDir(async (dir) => {
    equal((await scoutCa(["init", "--dir", dir])).code, 0);
    const before = await Deno.readTextFile(`${dir}/ca.key`);
    const { code, io } = await scoutCa(["init", "--dir", dir]);
    equal(code, 2);
    match(io.stderr, /ca\.pem exists; not overwriting the CA/);
    match(io.stderr, /hint: .*--force/);
    equal(await Deno.readTextFile(`${dir}/ca.key`), before, "the old key is untouched");
    // A lone key file is protected too.
    await Deno.remove(`${dir}/ca.pem`);
    equal((await scoutCa(["init", "--dir", dir])).code, 2);
    // --force replaces both, and the key is 0600 even where the old file was not.
    await Deno.chmod(`${dir}/ca.key`, 0o644);
    const forced = await scoutCa(["init", "--dir", dir, "--force", "--json"]);
    equal(forced.code, 0, forced.io.stderr);
    ok((await Deno.readTextFile(`${dir}/ca.key`)) !== before);
    equal((await Deno.stat(`${dir}/ca.key`)).mode! & 0o777, 0o600);
    const out = JSON.parse(forced.io.stdout);
    deepEqual(Object.keys(out).sort(), ["cert", "fingerprint_sha256", "key"]);
    equal(out.cert, `${dir}/ca.pem`);
    equal(out.key, `${dir}/ca.key`);
    equal(out.fingerprint_sha256, await fingerprintSha256(await Deno.readTextFile(out.cert)));
  }));

Deno.test("scout ca sign issues client and server certificates from the file CA", () =>
  withDir(async (dir) => {
    equal((await scoutCa(["init", "--dir", dir, "--days", "30"])).code, 0);
    const caPem = await Deno.readTextFile(`${dir}/ca.pem`);
    const made = await generateKeyAndCsr("node1");
    await Deno.writeTextFile(`${dir}/node1.csr`, made.csrPem);
    const client = await scoutCa([
      "sign",
      "--dir",
      dir,
      "--csr",
      `${dir}/node1.csr`,
      "--out",
      `${dir}/node1.pem`,
      "--days",
      "7",
    ]);
    equal(client.code, 0, client.io.stderr);
    match(client.io.stdout, /wrote .*node1\.pem for node1/);
    const certPem = await Deno.readTextFile(`${dir}/node1.pem`);
    ok(await verifyIssuedBy(certPem, caPem, { now: new Date() }));
    const info = await certInfo(certPem);
    equal(info.subjectCn, "node1");
    const validity = info.notAfter.getTime() - info.notBefore.getTime();
    equal(validity, 7 * 86_400_000 + 5 * 60_000);

    const server = await scoutCa([
      "sign",
      "--dir",
      dir,
      "--csr",
      `${dir}/node1.csr`,
      "--out",
      `${dir}/server.pem`,
      "--server",
      "--dns",
      "node1",
      "--dns",
      "node1.example.net",
      "--ip",
      "192.0.2.1",
      "--json",
    ]);
    equal(server.code, 0, server.io.stderr);
    equal(JSON.parse(server.io.stdout).identity, "node1");
    const s = await certInfo(await Deno.readTextFile(`${dir}/server.pem`));
    deepEqual(s.dnsNames, ["node1", "node1.example.net"]);
    deepEqual(s.ipAddresses, ["192.0.2.1"]);
  }));

Deno.test("scout ca sign refuses a CSR for another identity and exits 1 with a hint", () =>
  withDir(async (dir) => {
    equal((await scoutCa(["init", "--dir", dir])).code, 0);
    await Deno.writeTextFile(`${dir}/n.csr`, (await generateKeyAndCsr("node1")).csrPem);
    const { code, io } = await scoutCa([
      "sign",
      "--dir",
      dir,
      "--csr",
      `${dir}/n.csr`,
      "--identity",
      "node2",
      "--out",
      `${dir}/n.pem`,
    ]);
    equal(code, 1);
    match(io.stderr, /CN "node1" is not the identity "node2"\n {2}hint: /);
    await Deno.stat(`${dir}/n.pem`).then(
      () => ok(false, "no certificate may be written"),
      (e) => ok(e instanceof Deno.errors.NotFound),
    );
  }));

Deno.test("scout ca rejects missing flags and unknown subcommands with exit 2", async () => {
  equal((await scoutCa(["init"])).code, 2);
  equal((await scoutCa(["sign", "--dir", "/tmp"])).code, 2);
  equal((await scoutCa(["frob"])).code, 2);
  equal((await scoutCa([])).code, 2);
  const { code, io } = await scoutCa(["init", "--dir", "/tmp/x", "--days", "soon"]);
  equal(code, 2);
  match(io.stderr, /--days must be a whole number/);
});
