/**
 * Enrolment end to end over real HTTPS on loopback: the hub's provisioner (file CA signer)
 * behind Deno.serve with a server certificate from the fleet CA, and the agent's enrol/renew
 * with a client that trusts only the CA its token pins.
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../src/errors.ts";
import { createProvisioner, type Provisioner, serveProvisioner } from "../src/hub/mod.ts";
import {
  certInfo,
  createCa,
  fileCaSigner,
  generateKeyAndCsr,
  programSigner,
  signWithKey,
  verifyIssuedBy,
} from "../src/pki/mod.ts";
import {
  enrol,
  type EnrolDeps,
  EST_PATHS,
  issueProvisioningToken,
  pinnedCa,
  readProvisioningToken,
  renew,
  renewAtMs,
} from "../src/provisioning/mod.ts";
import {
  createDenoStdinRunner,
  createPinnedHttps,
  type Logger,
  type PinnedHttps,
} from "../src/runtime/mod.ts";
import { MemoryFs } from "./fakes/fs.ts";

const NOW = new Date();
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function fleet(name = "Test Fleet CA") {
  const ca = await createCa({ name, now: NOW });
  const signer = fileCaSigner(ca);
  const { keyPem, csrPem } = await generateKeyAndCsr("hub.test");
  const server = await signer.sign({
    csrPem,
    identity: "hub.test",
    usage: "server",
    dnsNames: ["hub.test", "localhost"],
    ipAddresses: ["127.0.0.1"],
    days: 30,
    now: NOW,
  });
  return { ca, signer, serverCert: server.certPem + server.chainPem, serverKey: keyPem };
}

interface Hub {
  url: string;
  provisioner: Provisioner;
  fs: MemoryFs;
  sent: string[];
  stop(): Promise<void>;
}

async function startHub(f: Awaited<ReturnType<typeof fleet>>, certDays = 30): Promise<Hub> {
  const fs = new MemoryFs();
  let now = Date.now();
  const provisioner = await createProvisioner({
    caCertPem: f.ca.certPem,
    signer: f.signer,
    certDays,
    nodeConfig: () => ({ brokers: ["tls://127.0.0.1:4222"], groups: ["web"] }),
    stateDir: "/state/provisioner",
    fs,
    clock: { now: () => now, setTimer: () => ({ cancel() {} }), sleep: async () => {} },
    logger: quiet,
  });
  const sent: string[] = [];
  const listener = serveProvisioner({
    handle: async (req) => {
      sent.push(await req.clone().text());
      return provisioner.handle(req);
    },
    setDenied: provisioner.setDenied,
    state: provisioner.state,
  }, { hostname: "127.0.0.1", port: 0, certPem: f.serverCert, keyPem: f.serverKey });
  now = Date.now();
  return { url: `https://127.0.0.1:${listener.port}/`, provisioner, fs, sent, stop: listener.stop };
}

const deps: EnrolDeps = { https: (ca) => createPinnedHttps(ca, 10_000), now: () => new Date() };

async function token(
  f: Awaited<ReturnType<typeof fleet>>,
  url: string,
  over: Partial<Parameters<typeof issueProvisioningToken>[0]> = {},
): Promise<string> {
  return await issueProvisioningToken(
    {
      caKeyPem: f.ca.keyPem,
      caCertPem: f.ca.certPem,
      urls: [url],
      identityPattern: "*.fleet.test",
      ttlMs: 3_600_000,
      singleUse: false,
      now: new Date(),
      ...over,
    } as Parameters<typeof issueProvisioningToken>[0],
  );
}

async function enrolWith(jwt: string, identity: string) {
  const claims = readProvisioningToken(jwt);
  return await enrol(
    { identity, token: jwt, urls: claims.chu!, caPem: await pinnedCa(claims) },
    deps,
  );
}

async function refusedWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await rejects(p, (e: unknown) => {
    ok(e instanceof ScoutError, String(e));
    equal(e.code, code, e.message);
    match(e.message, re);
    return true;
  });
}

Deno.test("an agent with only a token enrols: its key stays on the device, the cert chains to the CA", async () => {
  const f = await fleet();
  const hub = await startHub(f);
  try {
    const jwt = await token(f, hub.url);
    const e = await enrolWith(jwt, "n1.fleet.test");
    equal(e.identity, "n1.fleet.test");
    deepEqual(e.brokers, ["tls://127.0.0.1:4222"]);
    deepEqual(e.groups, ["web"]);
    deepEqual(e.issuers, [f.ca.certPem], "the fleet CA issues operator tokens for its RPC API");
    ok(await verifyIssuedBy(e.certPem, f.ca.certPem, { now: new Date() }));
    equal((await certInfo(e.certPem)).subjectCn, "n1.fleet.test");
    const keyBody = e.keyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    ok(hub.sent.length === 1 && !hub.sent[0]!.includes(keyBody), "no request carries the key");
    ok(!hub.sent[0]!.includes("PRIVATE KEY"));
    ok(hub.provisioner.state().nodes["n1.fleet.test"], "the hub records the node");
  } finally {
    await hub.stop();
  }
});

Deno.test("a hub whose certificate is from another CA is refused before the token is sent", async () => {
  const f = await fleet();
  const rogue = await fleet("Rogue CA");
  const hub = await startHub(rogue);
  try {
    const jwt = await token(f, hub.url);
    await refusedWith(enrolWith(jwt, "n1.fleet.test"), "ENROL_UNREACHABLE", /certificate/i);
    equal(hub.sent.length, 0, "the rogue hub saw no request, so no token");
  } finally {
    await hub.stop();
  }
});

Deno.test("the provisioner refuses expired, forged, reused and wrong-identity tokens", async () => {
  const f = await fleet();
  const other = await fleet("Other CA");
  const hub = await startHub(f);
  try {
    const expired = await token(f, hub.url, { now: new Date(Date.now() - 7_200_000) });
    await refusedWith(enrolWith(expired, "n1.fleet.test"), "ENROL_REFUSED", /expired/);

    // Signed by another CA's key but pinning ours: the signature does not verify.
    const forged = await issueProvisioningToken({
      caKeyPem: other.ca.keyPem,
      caCertPem: f.ca.certPem,
      urls: [hub.url],
      identityPattern: "*",
      ttlMs: 3_600_000,
      singleUse: false,
      now: new Date(),
    });
    await refusedWith(enrolWith(forged, "n1.fleet.test"), "ENROL_REFUSED", /bad signature/);

    const once = await token(f, hub.url, { singleUse: true });
    await enrolWith(once, "n2.fleet.test");
    await refusedWith(enrolWith(once, "n3.fleet.test"), "ENROL_REFUSED", /used already/);

    const narrow = await token(f, hub.url, { identityPattern: "web-*.fleet.test" });
    await refusedWith(enrolWith(narrow, "db-1.fleet.test"), "ENROL_REFUSED", /does not allow/);
    equal(hub.provisioner.state().nodes["db-1.fleet.test"], undefined);
    ok(hub.fs.files.get("/state/provisioner/state.json")?.includes("n2.fleet.test"));
  } finally {
    await hub.stop();
  }
});

async function rawPost(
  hub: Hub,
  f: Awaited<ReturnType<typeof fleet>>,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const https: PinnedHttps = createPinnedHttps(f.ca.certPem);
  try {
    return await https.postJson(new URL(path, hub.url).toString(), body, headers);
  } finally {
    https.close();
  }
}

Deno.test("a CSR for another identity, a denied identity and junk are refused", async () => {
  const f = await fleet();
  const hub = await startHub(f);
  try {
    const jwt = await token(f, hub.url, { identityPattern: "n1.fleet.test" });
    const theirs = await generateKeyAndCsr("n9.fleet.test");
    const r1 = await rawPost(hub, f, EST_PATHS.enrol, { csr: theirs.csrPem }, {
      authorization: `Bearer ${jwt}`,
    });
    equal(r1.status, 403);
    match(String((r1.body as { error: string }).error), /does not allow identity "n9.fleet.test"/);

    await hub.provisioner.setDenied("n1.fleet.test", true);
    await refusedWith(enrolWith(jwt, "n1.fleet.test"), "ENROL_REFUSED", /denied/);

    equal(
      (await rawPost(hub, f, EST_PATHS.enrol, { csr: "junk" }, { authorization: `Bearer ${jwt}` }))
        .status,
      400,
    );
    equal((await rawPost(hub, f, EST_PATHS.enrol, { csr: theirs.csrPem })).status, 401);
    equal((await rawPost(hub, f, EST_PATHS.enrol, { csr: "x".repeat(70_000) })).status, 413);
    deepEqual(Object.keys(hub.provisioner.state().nodes), []);
  } finally {
    await hub.stop();
  }
});

Deno.test("renewal uses the current certificate, needs no token, and proves possession of the key", async () => {
  const f = await fleet();
  const hub = await startHub(f);
  try {
    const first = await enrolWith(await token(f, hub.url), "n1.fleet.test");
    ok(renewAtMs(first) > first.notBeforeMs && renewAtMs(first) < first.notAfterMs);
    const second = await renew(first, deps);
    equal(second.identity, "n1.fleet.test");
    ok(second.keyPem !== first.keyPem, "a new key");
    ok(await verifyIssuedBy(second.certPem, f.ca.certPem, { now: new Date() }));

    // Someone with the certificate but not the key cannot renew it.
    const thief = await generateKeyAndCsr("n1.fleet.test");
    const r = await rawPost(hub, f, EST_PATHS.reenrol, {
      csr: thief.csrPem,
      certificate: second.certPem,
      signature: await signWithKey(thief.keyPem, thief.csrPem),
    });
    equal(r.status, 401);
    match(String((r.body as { error: string }).error), /possession/);

    await hub.provisioner.setDenied("n1.fleet.test", true);
    await refusedWith(renew(second, deps), "ENROL_REFUSED", /denied/);
  } finally {
    await hub.stop();
  }
});

Deno.test("a token's groups reach the node at enrolment, stay through renewal, and a new token replaces them", async () => {
  const f = await fleet();
  const hub = await startHub(f);
  try {
    const first = await enrolWith(
      await token(f, hub.url, { groups: ["edge", "db", "edge"] }),
      "n1.fleet.test",
    );
    deepEqual(first.groups, ["db", "edge", "web"], "the token's and the hub's, once each, sorted");
    deepEqual(hub.provisioner.state().nodes["n1.fleet.test"]?.groups, ["db", "edge"]);
    const renewed = await renew(first, deps);
    deepEqual(renewed.groups, ["db", "edge", "web"], "renewal (no token) keeps them");
    const again = await enrolWith(await token(f, hub.url, { groups: ["db"] }), "n1.fleet.test");
    deepEqual(again.groups, ["db", "web"]);
    deepEqual(hub.provisioner.state().nodes["n1.fleet.test"]?.groups, ["db"]);
    // A token with a group name the broker could not use is never issued.
    await rejects(
      token(f, hub.url, { groups: ["bad.group"] }),
      (e: unknown) => e instanceof ScoutError && e.code === "USAGE" && /groups/.test(e.message),
    );
  } finally {
    await hub.stop();
  }
});

const HAVE_OPENSSL = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "enrolment through the external-program signer (the openssl example) works end to end",
  ignore: !HAVE_OPENSSL && !Deno.env.get("CI"),
  async fn() {
    const f = await fleet();
    const dir = await Deno.makeTempDir({ prefix: "scout-signer-" });
    try {
      await Deno.writeTextFile(`${dir}/ca.pem`, f.ca.certPem);
      await Deno.writeTextFile(`${dir}/ca.key`, f.ca.keyPem, { mode: 0o600 });
      const external = programSigner({
        program: new URL("../examples/signer/openssl-signer.sh", import.meta.url).pathname,
        env: {
          PATH: "/usr/bin:/bin",
          SCOUT_SIGNER_CA_CERT: `${dir}/ca.pem`,
          SCOUT_SIGNER_CA_KEY: `${dir}/ca.key`,
        },
        runner: createDenoStdinRunner(),
      });
      const hub = await startHub({ ...f, signer: external });
      try {
        const e = await enrolWith(await token(f, hub.url), "n1.fleet.test");
        ok(await verifyIssuedBy(e.certPem, f.ca.certPem, { now: new Date() }));
        equal((await certInfo(e.certPem)).subjectCn, "n1.fleet.test");
      } finally {
        await hub.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("while the hub is down enrolment fails as unreachable (the agent retries), and the same token works once it is back", async () => {
  const f = await fleet();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const url = `https://127.0.0.1:${port}/`;
  const jwt = await token(f, url);
  const { retrySchedule } = await import("../src/provisioning/mod.ts");
  // What the agent's loop does: discover, enrol, and on failure wait retrySchedule(attempt).
  let attempts = 0;
  const agent = (async () => {
    for (;;) {
      try {
        return await enrolWith(jwt, "n1.fleet.test");
      } catch (e) {
        ok(e instanceof ScoutError && e.code === "ENROL_UNREACHABLE", String(e));
        await new Promise((r) => setTimeout(r, Math.min(retrySchedule(attempts++, () => 0), 200)));
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 700));
  ok(attempts >= 2, `the agent kept trying (${attempts} attempts)`);
  const fs = new MemoryFs();
  const provisioner = await createProvisioner({
    caCertPem: f.ca.certPem,
    signer: f.signer,
    certDays: 30,
    nodeConfig: () => ({ brokers: ["tls://127.0.0.1:4222"], groups: [] }),
    stateDir: null,
    fs,
    clock: { now: () => Date.now(), setTimer: () => ({ cancel() {} }), sleep: async () => {} },
    logger: quiet,
  });
  const listener = serveProvisioner(provisioner, {
    hostname: "127.0.0.1",
    port,
    certPem: f.serverCert,
    keyPem: f.serverKey,
  });
  try {
    const e = await agent;
    equal(e.identity, "n1.fleet.test");
  } finally {
    await listener.stop();
  }
});
