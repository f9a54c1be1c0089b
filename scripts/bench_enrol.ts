// deno-lint-ignore-file no-console -- a benchmark prints its table
/**
 * Enrolment benchmark (`deno task bench:enrol [--agents N] [--concurrency C]`): the hub's
 * provisioner (file CA signer, state on disk) behind the real HTTPS listener on loopback, and N
 * simulated agents in this process, each with its own P-256 key and CSR (made before the clock
 * starts: on a real fleet each device makes its own), each on its own TLS connection that
 * trusts only the pinned CA, POSTing its CSR with the token. Target: 1,000 enrolments in under
 * 10 s on 2 cores. Baselines from the same run: the same number of HTTPS POSTs to a listener
 * that answers at once (the transport's share). For information: the whole agent side too
 * (`enrol()`: key, CSR, request and the checks of the reply), all in this one process.
 * @module
 */
import { parseArgs } from "node:util";
import { createProvisioner, serveProvisioner } from "../src/hub/mod.ts";
import { createCa, fileCaSigner, generateKeyAndCsr } from "../src/pki/mod.ts";
import {
  enrol,
  EST_PATHS,
  issueProvisioningToken,
  pinnedCa,
  readProvisioningToken,
} from "../src/provisioning/mod.ts";
import { createDenoFs, createPinnedHttps, type Logger, systemClock } from "../src/runtime/mod.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function pool(n: number, concurrency: number, job: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { agents: { type: "string" }, concurrency: { type: "string" } },
  });
  const n = Number(values.agents ?? 1000);
  const c = Number(values.concurrency ?? 32);
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-enrol-" });
  try {
    const ca = await createCa({ name: "Bench CA", now: new Date() });
    const signer = fileCaSigner(ca);
    const hubKeys = await generateKeyAndCsr("hub.bench");
    const hubCert = await signer.sign({
      csrPem: hubKeys.csrPem,
      identity: "hub.bench",
      usage: "server",
      ipAddresses: ["127.0.0.1"],
      days: 1,
      now: new Date(),
    });
    const tls = { certPem: hubCert.certPem + ca.certPem, keyPem: hubKeys.keyPem };
    const provisioner = await createProvisioner({
      caCertPem: ca.certPem,
      signer,
      certDays: 30,
      nodeConfig: () => ({ brokers: ["tls://127.0.0.1:4222"], groups: [] }),
      stateDir: dir,
      fs: createDenoFs({ writeRoots: [dir] }),
      clock: systemClock,
      logger: quiet,
    });
    const hub = serveProvisioner(provisioner, { hostname: "127.0.0.1", port: 0, ...tls });
    const echo = serveProvisioner({
      handle: () => Promise.resolve(Response.json({ ok: true })),
      setDenied: () => Promise.resolve([]),
      state: () => ({ usedTokens: {}, nodes: {}, denied: [] }),
    }, { hostname: "127.0.0.1", port: 0, ...tls });
    const token = await issueProvisioningToken({
      caKeyPem: ca.keyPem,
      caCertPem: ca.certPem,
      urls: [`https://127.0.0.1:${hub.port}/`],
      identityPattern: "*",
      ttlMs: 3_600_000,
      singleUse: false,
      now: new Date(),
    });
    const claims = readProvisioningToken(token);
    const caPem = await pinnedCa(claims);
    const deps = { https: (pem: string) => createPinnedHttps(pem), now: () => new Date() };
    console.error(`making ${n} keys and CSRs ...`);
    const csrs: string[] = [];
    for (let i = 0; i < n; i++) csrs.push((await generateKeyAndCsr(`node-${i}.bench`)).csrPem);
    console.error(`enrolling ${n} agents, ${c} at a time ...`);
    const url = new URL(EST_PATHS.enrol, claims.chu![0]!).toString();
    let refused = 0;
    const enrolMs = await timed(() =>
      pool(n, c, async (i) => {
        const https = createPinnedHttps(caPem); // one device, one connection
        try {
          const r = await https.postJson(url, { csr: csrs[i] }, {
            authorization: `Bearer ${token}`,
          });
          if (r.status !== 200) refused++;
        } finally {
          https.close();
        }
      })
    );
    const enrolled = Object.keys(provisioner.state().nodes).length;
    const postMs = await timed(() =>
      pool(n, c, async () => {
        const https = createPinnedHttps(caPem); // a new connection each, as for the enrolments
        try {
          await https.postJson(`https://127.0.0.1:${echo.port}/`, { csr: csrs[0] });
        } finally {
          https.close();
        }
      })
    );
    const agentMs = await timed(() =>
      pool(n, c, async (i) => {
        await enrol({ identity: `agent-${i}.bench`, token, urls: claims.chu!, caPem }, deps);
      })
    );
    await hub.stop();
    await echo.stop();
    const pass = enrolled === n && refused === 0 && enrolMs < 10_000;
    const f = (ms: number) => `${(ms / 1000).toFixed(2)} s (${(ms / n).toFixed(2)} ms each)`;
    console.log(`deno task bench:enrol --agents ${n} --concurrency ${c}\n`);
    console.log("| Metric | Value | Baseline (same run) | Ratio / target | Result |");
    console.log("|---|---|---|---|---|");
    console.log(
      `| ${n} enrolments through the real HTTPS endpoint, ${c} at a time | ${f(enrolMs)} | ${
        f(postMs)
      } plain HTTPS POSTs, one connection each | ${(enrolMs / postMs).toFixed(1)}x; < 10 s | ${
        pass ? "PASS" : "FAIL"
      } |`,
    );
    console.log(
      `| for information: ${n} whole agent-side enrolments (key, CSR, request, reply checks) in this one process | ${
        f(agentMs)
      } | — | info | info |`,
    );
    console.log(
      `| certificates issued and recorded | ${enrolled} (${refused} refused) | ${n} asked | — | info |`,
    );
    return pass ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
