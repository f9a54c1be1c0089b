import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { createDenoStdinRunner } from "../runtime/mod.ts";
import {
  certInfo,
  createCa,
  fileCaSigner,
  fingerprintSha256,
  generateKeyAndCsr,
  inspectCsr,
  programSigner,
  type SignRequest,
  verifyIssuedBy,
} from "./mod.ts";

const NOW = new Date("2026-03-01T12:00:00Z");
const DAY = 86_400_000;
const root = new URL("../../", import.meta.url).pathname;
const SIGNER_SCRIPT = `${root}examples/signer/openssl-signer.sh`;

const hasOpenssl = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
/** openssl tests are skipped (shown as ignored) only outside CI; under CI=1 they must run. */
const NO_OPENSSL = !hasOpenssl && !Deno.env.get("CI");

async function openssl(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "scout-pki-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function req(csrPem: string, identity: string, extra: Partial<SignRequest> = {}): SignRequest {
  return { csrPem, identity, usage: "client", days: 30, now: NOW, ...extra };
}

async function refusal(p: Promise<unknown>, code: string, message: RegExp): Promise<ScoutError> {
  let caught: unknown;
  await rejects(p.catch((e) => {
    caught = e;
    throw e;
  }));
  ok(caught instanceof ScoutError, String(caught));
  equal(caught.code, code, caught.message);
  match(caught.message, message);
  ok(caught.hint, "a refusal carries a hint");
  return caught;
}

/** A CSR with any WebCrypto key, for the refusal tests. */
async function csrWith(
  alg: RsaHashedKeyGenParams | EcKeyGenParams,
  signing: Algorithm | EcdsaParams,
  cn: string,
  sans: string[] = [cn],
): Promise<string> {
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [cn] }],
    keys,
    signingAlgorithm: signing,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        sans.map((value) => ({ type: "dns" as const, value })),
      ),
    ],
  });
  return csr.toString("pem");
}

const P256 = { name: "ECDSA", namedCurve: "P-256" };

Deno.test("createCa makes a self-signed P-256 CA with critical CA:true and keyCertSign+cRLSign", async () => {
  const ca = await createCa({ name: "Fleet CA", days: 10, now: NOW });
  const cert = new x509.X509Certificate(ca.certPem);
  equal(cert.subject, "CN=Fleet CA");
  equal(cert.issuer, "CN=Fleet CA");
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  ok(bc?.ca && bc.critical, "basicConstraints CA:true, critical");
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  ok(ku?.critical);
  ok(cert.getExtension(x509.SubjectKeyIdentifierExtension));
  deepEqual(cert.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  equal(cert.notBefore.getTime(), NOW.getTime() - 5 * 60_000);
  equal(cert.notAfter.getTime(), NOW.getTime() + 10 * DAY);
  ok(await verifyIssuedBy(ca.certPem, ca.certPem, { now: NOW }));
  match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  const info = await certInfo(ca.certPem);
  equal(info.serial.length, 32, "16-byte serial");
});

Deno.test("generateKeyAndCsr makes a P-256 CSR with CN and SAN identity and an EKU clientAuth request", async () => {
  const made = await generateKeyAndCsr("node-1.example");
  const info = await inspectCsr(made.csrPem);
  equal(info.commonName, "node-1.example");
  deepEqual(info.dnsNames, ["node-1.example"]);
  equal(info.keyAlgorithm, "ECDSA P-256");
  ok(info.signatureValid);
  const csr = new x509.Pkcs10CertificateRequest(made.csrPem);
  const eku = csr.extensions.find((e) => e instanceof x509.ExtendedKeyUsageExtension) as
    | x509.ExtendedKeyUsageExtension
    | undefined;
  deepEqual(eku?.usages, [x509.ExtendedKeyUsage.clientAuth]);
  equal(made.privateKey.extractable, false);
  // The stored PEM is the same key: a signature by it verifies with the CSR's public key.
  const stored = await crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(made.keyPem),
    P256,
    false,
    ["sign"],
  );
  const data = new TextEncoder().encode("proof");
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, stored, data);
  const pub = await csr.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  ok(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, sig, data));
  await rejects(generateKeyAndCsr("bad_name"), /invalid identity/);
});

Deno.test({
  name:
    "fileCaSigner issues a client cert that openssl verifies, with EKU clientAuth, AKI/SKI and now-5min..now+days",
  ignore: NO_OPENSSL,
  fn: () =>
    withDir(async (dir) => {
      const ca = await createCa({ now: NOW });
      const made = await generateKeyAndCsr("node1");
      const { certPem, chainPem } = await fileCaSigner(ca).sign(req(made.csrPem, "node1"));
      equal(chainPem, ca.certPem);
      await Deno.writeTextFile(`${dir}/ca.pem`, ca.certPem);
      await Deno.writeTextFile(`${dir}/cert.pem`, certPem);
      const at = String(Math.floor(NOW.getTime() / 1000));
      const v = await openssl([
        "verify",
        "-attime",
        at,
        "-purpose",
        "sslclient",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/cert.pem`,
      ]);
      equal(v.code, 0, v.out);
      match(v.out, /cert\.pem: OK/);
      // Not valid as a server certificate: the EKU is clientAuth only.
      const server = await openssl([
        "verify",
        "-attime",
        at,
        "-purpose",
        "sslserver",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/cert.pem`,
      ]);
      ok(server.code !== 0, server.out);
      const text = (await openssl(["x509", "-in", `${dir}/cert.pem`, "-noout", "-text"])).out;
      match(text, /X509v3 Extended Key Usage: *\n *TLS Web Client Authentication\n/);
      match(text, /DNS:node1\n/);
      match(text, /X509v3 Authority Key Identifier/);
      match(text, /X509v3 Subject Key Identifier/);
      match(text, /CA:FALSE/);
      const info = await certInfo(certPem);
      equal(info.subjectCn, "node1");
      equal(info.issuerCn, "Scout Fleet CA");
      deepEqual(info.dnsNames, ["node1"]);
      deepEqual(info.ipAddresses, []);
      equal(info.serial.length, 32);
      equal(info.notBefore.getTime(), NOW.getTime() - 5 * 60_000);
      equal(info.notAfter.getTime(), NOW.getTime() + 30 * DAY);
      const fp =
        (await openssl(["x509", "-in", `${dir}/cert.pem`, "-noout", "-fingerprint", "-sha256"]))
          .out.replace(/^.*=/, "").replace(/:/g, "").trim().toLowerCase();
      equal(info.fingerprintSha256, fp);
      equal(await fingerprintSha256(certPem), fp);
      const again = await fileCaSigner(ca).sign(req(made.csrPem, "node1"));
      ok((await certInfo(again.certPem)).serial !== info.serial, "serials are random");
    }),
});

Deno.test("fileCaSigner issues server certs with EKU serverAuth and the requested DNS and IP SANs", async () => {
  const ca = await createCa({ now: NOW });
  const made = await generateKeyAndCsr("hub");
  const { certPem } = await fileCaSigner(ca).sign(
    req(made.csrPem, "hub", {
      usage: "server",
      dnsNames: ["hub", "hub.example.net"],
      ipAddresses: ["127.0.0.1", "::1"],
    }),
  );
  const cert = new x509.X509Certificate(certPem);
  deepEqual(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages, [
    x509.ExtendedKeyUsage.serverAuth,
  ]);
  const info = await certInfo(certPem);
  deepEqual(info.dnsNames, ["hub", "hub.example.net"]);
  equal(info.ipAddresses.length, 2);
  equal(info.ipAddresses[0], "127.0.0.1");
});

Deno.test("verifyIssuedBy checks the signature and the validity at now", async () => {
  const ca = await createCa({ now: NOW });
  const other = await createCa({ name: "Scout Fleet CA", now: NOW }); // same name, other key
  const made = await generateKeyAndCsr("node1");
  const { certPem } = await fileCaSigner(ca).sign(req(made.csrPem, "node1", { days: 2 }));
  ok(await verifyIssuedBy(certPem, ca.certPem, { now: NOW }));
  equal(await verifyIssuedBy(certPem, other.certPem, { now: NOW }), false);
  equal(
    await verifyIssuedBy(certPem, ca.certPem, { now: new Date(NOW.getTime() + 3 * DAY) }),
    false,
  );
  equal(
    await verifyIssuedBy(certPem, ca.certPem, { now: new Date(NOW.getTime() - 10 * 60_000) }),
    false,
  );
});

Deno.test("fileCaSigner refuses a CSR for another identity", async () => {
  const ca = await createCa({ now: NOW });
  const made = await generateKeyAndCsr("node1");
  const e = await refusal(
    fileCaSigner(ca).sign(req(made.csrPem, "node2")),
    "CSR_REFUSED",
    /CN "node1" is not the identity "node2"/,
  );
  equal(e.context.identity, "node2");
});

Deno.test("fileCaSigner refuses a CSR whose signature was tampered with", async () => {
  const ca = await createCa({ now: NOW });
  const made = await generateKeyAndCsr("node1");
  const der = new Uint8Array(x509.PemConverter.decodeFirst(made.csrPem));
  der[der.length - 1]! ^= 0x01; // last byte of the signature value
  const tampered = x509.PemConverter.encode(der.buffer, "CERTIFICATE REQUEST");
  equal((await inspectCsr(tampered)).signatureValid, false);
  await refusal(
    fileCaSigner(ca).sign(req(tampered, "node1")),
    "CSR_REFUSED",
    /signature does not verify/,
  );
});

Deno.test("fileCaSigner refuses RSA and P-384 keys", async () => {
  const ca = await createCa({ now: NOW });
  const signer = fileCaSigner(ca);
  const rsa = await csrWith(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as Algorithm,
    "node1",
  );
  equal((await inspectCsr(rsa)).keyAlgorithm, "RSA 2048");
  await refusal(signer.sign(req(rsa, "node1")), "CSR_REFUSED", /RSA 2048, not ECDSA P-256/);
  const p384 = await csrWith({ name: "ECDSA", namedCurve: "P-384" }, {
    name: "ECDSA",
    hash: "SHA-384",
  } as EcdsaParams, "node1");
  await refusal(signer.sign(req(p384, "node1")), "CSR_REFUSED", /ECDSA P-384, not ECDSA P-256/);
});

Deno.test("fileCaSigner refuses a client CSR with extra names, and text that is no CSR", async () => {
  const ca = await createCa({ now: NOW });
  const extra = await csrWith(P256, { name: "ECDSA", hash: "SHA-256" } as EcdsaParams, "node1", [
    "node1",
    "hub.example.net",
  ]);
  await refusal(
    fileCaSigner(ca).sign(req(extra, "node1")),
    "CSR_REFUSED",
    /not exactly dNSName=identity/,
  );
  await refusal(fileCaSigner(ca).sign(req("hello", "node1")), "CSR_REFUSED", /cannot be read/);
});

Deno.test("fileCaSigner refuses a CA key that does not belong to the CA certificate", async () => {
  const ca = await createCa({ now: NOW });
  const other = await createCa({ now: NOW });
  const made = await generateKeyAndCsr("node1");
  await refusal(
    fileCaSigner({ certPem: ca.certPem, keyPem: other.keyPem }).sign(req(made.csrPem, "node1")),
    "PKI_INVALID",
    /does not belong/,
  );
});

// ---- the external program signer -------------------------------------------------------

const PATH_ENV = { PATH: "/usr/local/bin:/usr/bin:/bin" };

async function script(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test({
  name: "programSigner with the openssl example script issues a cert that verifies against the CA",
  ignore: NO_OPENSSL,
  fn: () =>
    withDir(async (dir) => {
      const ca = await createCa({ now: new Date() }); // openssl signs at the real time
      await Deno.writeTextFile(`${dir}/ca.pem`, ca.certPem);
      await Deno.writeTextFile(`${dir}/ca.key`, ca.keyPem, { mode: 0o600 });
      const signer = programSigner({
        program: SIGNER_SCRIPT,
        env: {
          ...PATH_ENV,
          SCOUT_SIGNER_CA_CERT: `${dir}/ca.pem`,
          SCOUT_SIGNER_CA_KEY: `${dir}/ca.key`,
        },
        runner: createDenoStdinRunner(),
        timeoutMs: 20_000,
      });
      const made = await generateKeyAndCsr("node7.example");
      const client = await signer.sign(
        req(made.csrPem, "node7.example", { now: new Date(), days: 7 }),
      );
      // openssl's notBefore is its own signing second, not backdated: check validity after it.
      const now = new Date();
      ok(await verifyIssuedBy(client.certPem, ca.certPem, { now }));
      equal(
        (await certInfo(client.chainPem)).fingerprintSha256,
        await fingerprintSha256(ca.certPem),
      );
      const cert = new x509.X509Certificate(client.certPem);
      deepEqual(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages, [
        x509.ExtendedKeyUsage.clientAuth,
      ]);
      const server = await signer.sign(
        req(made.csrPem, "node7.example", {
          now,
          usage: "server",
          dnsNames: ["node7.example", "alt.example"],
          ipAddresses: ["10.0.0.7"],
        }),
      );
      const info = await certInfo(server.certPem);
      deepEqual(info.dnsNames.sort(), ["alt.example", "node7.example"]);
      deepEqual(info.ipAddresses, ["10.0.0.7"]);
      // The script applies its own policy too: a too long validity is refused with its reason.
      const e = await refusal(
        signer.sign(req(made.csrPem, "node7.example", { now, days: 5000 })),
        "SIGNER_FAILED",
        /exited 1: openssl-signer: days must be 1 to 397/,
      );
      match(String(e.context.stderr), /days must be/);
    }),
});

Deno.test("programSigner reports a program that exits 1, with its stderr", () =>
  withDir(async (dir) => {
    const made = await generateKeyAndCsr("node1");
    const program = await script(dir, "fail.sh", "cat >/dev/null\necho 'CA offline' >&2\nexit 1");
    const e = await refusal(
      programSigner({ program, env: PATH_ENV, runner: createDenoStdinRunner() })
        .sign(req(made.csrPem, "node1")),
      "SIGNER_FAILED",
      /exited 1: CA offline/,
    );
    equal(e.context.stderr, "CA offline\n");
    equal(e.context.code, 1);
  }));

Deno.test("programSigner kills a program that does not answer within the timeout", () =>
  withDir(async (dir) => {
    const made = await generateKeyAndCsr("node1");
    const program = await script(dir, "sleep.sh", "sleep 30");
    const started = performance.now();
    await refusal(
      programSigner({ program, env: PATH_ENV, runner: createDenoStdinRunner(), timeoutMs: 300 })
        .sign(req(made.csrPem, "node1")),
      "SIGNER_FAILED",
      /no answer within 300 ms; killed/,
    );
    ok(performance.now() - started < 10_000, "the sleeping child did not hold the run");
  }));

Deno.test("programSigner refuses output that is not the JSON reply", () =>
  withDir(async (dir) => {
    const made = await generateKeyAndCsr("node1");
    const runner = createDenoStdinRunner();
    const garbage = await script(dir, "garbage.sh", "cat >/dev/null\necho 'here is your cert!'");
    await refusal(
      programSigner({ program: garbage, env: PATH_ENV, runner }).sign(req(made.csrPem, "node1")),
      "SIGNER_FAILED",
      /not one JSON object/,
    );
    const partial = await script(dir, "partial.sh", `cat >/dev/null\necho '{"certificate":"x"}'`);
    await refusal(
      programSigner({ program: partial, env: PATH_ENV, runner }).sign(req(made.csrPem, "node1")),
      "SIGNER_FAILED",
      /lacks "certificate" or "chain"/,
    );
    const notPem = await script(
      dir,
      "notpem.sh",
      `cat >/dev/null\necho '{"certificate":"x","chain":"y"}'`,
    );
    await refusal(
      programSigner({ program: notPem, env: PATH_ENV, runner }).sign(req(made.csrPem, "node1")),
      "SIGNER_FAILED",
      /no PEM certificate/,
    );
  }));

Deno.test("programSigner refuses a certificate for another key, other names or another issuer", () =>
  withDir(async (dir) => {
    const ca = await createCa({ now: NOW });
    const other = await createCa({ now: NOW });
    const mine = await generateKeyAndCsr("node1");
    const theirs = await generateKeyAndCsr("node1");
    const runner = createDenoStdinRunner();
    const replying = async (name: string, certPem: string, chainPem: string) => {
      await Deno.writeTextFile(
        `${dir}/${name}.json`,
        JSON.stringify({ certificate: certPem, chain: chainPem }),
      );
      return programSigner({
        program: await script(dir, `${name}.sh`, `cat >/dev/null\ncat '${dir}/${name}.json'`),
        env: PATH_ENV,
        runner,
      });
    };
    const forOtherKey = await fileCaSigner(ca).sign(req(theirs.csrPem, "node1"));
    await refusal(
      (await replying("key", forOtherKey.certPem, forOtherKey.chainPem))
        .sign(req(mine.csrPem, "node1")),
      "SIGNER_FAILED",
      /not for the CSR's key/,
    );
    const asServer = await fileCaSigner(ca).sign(
      req(mine.csrPem, "node1", { usage: "server", dnsNames: ["node1", "x.example"] }),
    );
    await refusal(
      (await replying("names", asServer.certPem, asServer.chainPem)).sign(
        req(mine.csrPem, "node1"),
      ),
      "SIGNER_FAILED",
      /names .* differ from the request/,
    );
    const wrongEku = await fileCaSigner(ca).sign(req(mine.csrPem, "node1", { usage: "server" }));
    await refusal(
      (await replying("eku", wrongEku.certPem, wrongEku.chainPem)).sign(req(mine.csrPem, "node1")),
      "SIGNER_FAILED",
      /lacks EKU clientAuth/,
    );
    const good = await fileCaSigner(ca).sign(req(mine.csrPem, "node1"));
    await refusal(
      (await replying("chain", good.certPem, other.certPem)).sign(req(mine.csrPem, "node1")),
      "SIGNER_FAILED",
      /no certificate of the chain signed/,
    );
    // And the same reply with the right chain is accepted: the checks above are what failed.
    const accepted = await (await replying("ok", good.certPem, good.chainPem))
      .sign(req(mine.csrPem, "node1"));
    equal(accepted.certPem, good.certPem);
  }));

Deno.test("programSigner refuses a bad CSR before running the program", async () => {
  let ran = false;
  const signer = programSigner({
    program: "/nonexistent",
    runner: {
      run() {
        ran = true;
        return Promise.resolve({ code: 0, stdout: "", stderr: "", timedOut: false });
      },
    },
  });
  const made = await generateKeyAndCsr("node1");
  await refusal(signer.sign(req(made.csrPem, "node9")), "CSR_REFUSED", /not the identity/);
  equal(ran, false);
});

Deno.test("every PEM text ends with a newline, so a certificate and its chain concatenate into valid PEM", async () => {
  const ca = await createCa({ name: "Newline CA", now: new Date() });
  const k = await generateKeyAndCsr("n1.example");
  const signed = await fileCaSigner(ca).sign({
    csrPem: k.csrPem,
    identity: "n1.example",
    usage: "client",
    days: 1,
    now: new Date(),
  });
  for (const pem of [ca.certPem, ca.keyPem, k.keyPem, k.csrPem, signed.certPem, signed.chainPem]) {
    ok(pem.endsWith("-----\n"), pem.slice(-40));
  }
  ok(!(signed.certPem + signed.chainPem).includes("----------"));
});
