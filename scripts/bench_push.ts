// deno-lint-ignore-file no-console -- a benchmark prints its table
/**
 * Network push at fleet scale: N simulated nodes (default 500) in one process, each running the
 * real push applier (verifyBundle: operator token, rights, ed25519 signature, sequence, expiry,
 * check-file validation; then apply through in-memory ports) and watching its own
 * `node.<token>` key of SCOUT_CHECKS on a real nats-server. The operator signs one bundle per
 * node and puts them; the clock stops when every node reports the bundle applied (target
 * < 10 s). Baseline in the same run: N plain KV watchers receiving a plain put of the same bytes.
 * Run: deno task bench:push [--nodes 500] [--connections 10]
 * @module
 */
import { parseArgs } from "node:util";
import { makeTestCa } from "../src/provisioning/_testing.ts";
import {
  CHECKS_BUCKET,
  createPushApplier,
  nodeKey,
  type PushApplier,
  signBundle,
} from "../src/push/mod.ts";
import {
  generateCallerKeyPair,
  importCallerPrivateKey,
  issueOperatorToken,
  type TrustedIssuer,
} from "../src/rpc/mod.ts";
import { type Broker, connectBroker, type Kv, type KvWatch } from "../src/transport/mod.ts";
import { makePki, startNatsServer } from "../tests/_nats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "500" },
    connections: { type: "string", default: "10" },
  },
});
const N = Number(values.nodes);
const CONNS = Math.max(1, Number(values.connections));
const TARGET_MS = 10_000;
const CHECKS = "checks:\n  - name: pushed_beat\n    builtin: heartbeat\n    interval: 1h\n";

const dir = await Deno.makeTempDir({ prefix: "scout-bench-push-" });
const pki = await makePki(`${dir}/pki`);
const server = await startNatsServer({ pki, dir: `${dir}/nats` });
const brokerOpts = {
  urls: [server.url],
  tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
};
const brokers: Broker[] = [];
const watches: KvWatch[] = [];
try {
  const operator = await connectBroker({ ...brokerOpts, name: "bench-operator" });
  brokers.push(operator);
  const kvOp = await operator.kv(CHECKS_BUCKET, { create: true, history: 5 });
  const nodeKvs: Kv[] = [];
  for (let i = 0; i < CONNS; i++) {
    const b = await connectBroker({ ...brokerOpts, name: `bench-nodes-${i}` });
    brokers.push(b);
    nodeKvs.push(await b.kv(CHECKS_BUCKET));
  }
  const ca = await makeTestCa("Bench Fleet CA");
  const trust: TrustedIssuer[] = [{ kind: "fleet-ca", certPem: ca.certPem }];
  const keys = await generateCallerKeyPair();
  const privateKey = await importCallerPrivateKey(keys.privatePem);
  const token = await issueOperatorToken({
    issuerKeyPem: ca.keyPem,
    subject: "bench",
    callerPublicKey: keys.publicJwk,
    actions: ["*"],
    nodes: "*",
    checks: "*",
    ttlMs: 3_600_000,
    now: Date.now() - 1000,
  });
  const ids = Array.from({ length: N }, (_, i) => `sim${String(i).padStart(4, "0")}.bench`);

  // ---- Baseline: plain watchers, plain puts of the same size.
  const baseline = async (): Promise<number> => {
    let got = 0;
    const all = Promise.withResolvers<void>();
    const seen = new Set<string>();
    for (const [i, id] of ids.entries()) {
      const key = `plain.${id.replaceAll(".", "_")}`;
      watches.push(
        await nodeKvs[i % CONNS]!.watch(key, (e) => {
          if (e.operation !== "PUT" || seen.has(key)) return;
          seen.add(key);
          if (++got === N) all.resolve();
        }),
      );
    }
    const sample = JSON.stringify(
      await signBundle({
        key: nodeKey(ids[0]!),
        seq: 1,
        checks: CHECKS,
        token,
        privateKey,
        now: 0,
      }),
    );
    const t0 = performance.now();
    await Promise.all(
      ids.map((id) =>
        kvOp.put(`plain.${id.replaceAll(".", "_")}`, new TextEncoder().encode(sample))
      ),
    );
    await all.promise;
    return performance.now() - t0;
  };

  // ---- Push: the real applier per node.
  const push = async (): Promise<{ ms: number; refused: number }> => {
    let applied = 0, refused = 0;
    const all = Promise.withResolvers<void>();
    const appliers: PushApplier[] = ids.map((id) =>
      createPushApplier({
        node: id,
        groups: () => [],
        trust: () => trust,
        now: () => Date.now(),
        state: {},
        ports: {
          writeChecks: () => Promise.resolve(),
          removeChecks: () => Promise.resolve(),
          saveState: () => Promise.resolve(),
          otherCheckNames: () => ["local_disk"],
          reload: () => Promise.resolve([]),
        },
        onOutcome: (o) => {
          if (o.kind === "applied") applied++;
          else if (o.kind === "refused") refused++;
          if (applied + refused === N) all.resolve();
        },
      })
    );
    for (const [i, id] of ids.entries()) {
      const a = appliers[i]!;
      watches.push(await nodeKvs[i % CONNS]!.watch(nodeKey(id), (e) => void a.handle(e)));
    }
    const t0 = performance.now();
    const bundles = await Promise.all(
      ids.map((id) =>
        signBundle({ key: nodeKey(id), seq: 1, checks: CHECKS, token, privateKey, now: Date.now() })
      ),
    );
    await Promise.all(
      bundles.map((b) => kvOp.put(b.key, new TextEncoder().encode(JSON.stringify(b)))),
    );
    await all.promise;
    return { ms: performance.now() - t0, refused };
  };

  const base = await baseline();
  const p = await push();
  const row = (a: string, b: string, c: string) =>
    console.log(`${a.padEnd(44)} ${b.padStart(10)} ${c}`);
  console.log(`\nscout push: ${N} simulated nodes, ${CONNS} connections, real nats-server\n`);
  row("case", "time", "");
  row(`baseline: ${N} plain KV watchers get a put`, `${base.toFixed(0)} ms`, "");
  row(
    `push: sign + put + verify + apply on ${N} nodes`,
    `${p.ms.toFixed(0)} ms`,
    `${
      p.ms < TARGET_MS && p.refused === 0 ? "ok" : "FAIL"
    } (target < ${TARGET_MS} ms; ${p.refused} refused)`,
  );
  if (p.ms >= TARGET_MS || p.refused > 0) Deno.exitCode = 1;
} finally {
  for (const w of watches) w.stop();
  for (const b of brokers) await b.close();
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
