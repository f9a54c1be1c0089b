import { deepEqual, equal, ok } from "node:assert/strict";
import { importPKCS8, SignJWT } from "jose";
import { makeTestCa } from "../provisioning/_testing.ts";
import { generateCallerKeyPair, importCallerPrivateKey, type TrustedIssuer } from "../rpc/mod.ts";
import {
  type Bundle,
  createPushApplier,
  nodeKey,
  type PushState,
  signBundle,
  verifyBundle,
  type VerifyBundleOptions,
} from "./mod.ts";

const NOW = Date.UTC(2026, 0, 10, 12);
const CHECKS = "checks:\n  - name: pushed_beat\n    builtin: heartbeat\n    interval: 1h\n";

async function setup() {
  const ca = await makeTestCa("Fleet CA");
  const evil = await makeTestCa("Evil CA");
  const keys = await generateCallerKeyPair();
  const privateKey = await importCallerPrivateKey(keys.privatePem);
  const otherKey = await importCallerPrivateKey((await generateCallerKeyPair()).privatePem);
  const token = async (o: {
    actions?: string[];
    nodes?: string;
    checks?: string;
    groups?: string;
    ca?: typeof ca;
    exp?: number;
  } = {}) =>
    await new SignJWT({
      purpose: "scout-operator",
      cnf: { jwk: keys.publicJwk },
      scout_actions: o.actions ?? ["push"],
      scout_nodes: o.nodes ?? "web*",
      scout_checks: o.checks ?? "*",
      ...(o.groups ? { scout_groups: o.groups } : {}),
    }).setProtectedHeader({ alg: "ES256" }).setIssuer("scout").setSubject("alice")
      .setIssuedAt(Math.floor((NOW - 60_000) / 1000))
      .setExpirationTime(o.exp ?? Math.floor((NOW + 3_600_000) / 1000))
      .sign(await importPKCS8((o.ca ?? ca).keyPem, "ES256"));
  const trust: TrustedIssuer[] = [{ kind: "fleet-ca", certPem: ca.certPem }];
  return { ca, evil, privateKey, otherKey, token, trust };
}

Deno.test("push bundles: signed bundles verify; every attack of the issue is refused", async () => {
  const s = await setup();
  const good = await s.token();
  const key = nodeKey("web1.example");
  const base: VerifyBundleOptions = {
    key,
    node: "web1.example",
    groups: ["edge"],
    trust: s.trust,
    now: NOW,
    appliedSeq: 0,
  };
  const sign = (o: Partial<Parameters<typeof signBundle>[0]> = {}) =>
    signBundle({
      key,
      seq: 1,
      checks: CHECKS,
      token: good,
      privateKey: s.privateKey,
      now: NOW,
      ...o,
    });
  const str = (b: Bundle | Record<string, unknown>) => JSON.stringify(b);

  const ok1 = await verifyBundle(str(await sign()), base);
  ok(ok1.ok, JSON.stringify(ok1));
  deepEqual(ok1.value.specs.map((c) => c.name), ["pushed_beat"]);
  equal(ok1.value.bundle.author, "alice");

  const cases: [
    string,
    () => Promise<string | Uint8Array>,
    Partial<VerifyBundleOptions>,
    string,
  ][] = [
    ["not JSON", () => Promise.resolve("{nope"), {}, "shape"],
    ["unknown member", async () => str({ ...(await sign()), extra: 1 }), {}, "shape"],
    ["empty checks string", async () => str({ ...(await sign()), checks: "" }), {}, "shape"],
    [
      "token of an unknown signer (other CA)",
      async () => str(await sign({ token: await s.token({ ca: s.evil }) })),
      {},
      "token",
    ],
    [
      "no push right",
      async () => str(await sign({ token: await s.token({ actions: ["checks"] }) })),
      {},
      "rights",
    ],
    [
      "push right for other nodes only",
      async () => str(await sign({ token: await s.token({ nodes: "db*" }) })),
      {},
      "rights",
    ],
    [
      "check name outside scout_checks",
      async () => str(await sign({ token: await s.token({ checks: "web_*" }) })),
      {},
      "rights",
    ],
    [
      "group key without scout_nodes * or scout_groups",
      async () => str(await sign({ key: "group.edge" })),
      { key: "group.edge" },
      "rights",
    ],
    [
      "signed by another key than the token's",
      async () => str(await sign({ privateKey: s.otherKey })),
      {},
      "signature",
    ],
    [
      "checks altered in the bucket",
      async () => str({ ...(await sign()), checks: CHECKS.replace("1h", "1m") }),
      {},
      "signature",
    ],
    [
      "tombstone forged from a bundle",
      async () => str({ ...(await sign()), checks: null }),
      {},
      "signature",
    ],
    ["seq altered", async () => str({ ...(await sign()), seq: 9 }), {}, "signature"],
    [
      "key rewritten to another node",
      async () => str({ ...(await sign()), key: "node.web2_example" }),
      {},
      "key",
    ],
    [
      "stored under another key",
      async () => str(await sign()),
      { key: "node.web2_example" },
      "key",
    ],
    ["someone else's group", async () => str(await sign({ key: "group.core" })), {
      key: "group.core",
    }, "key"],
    ["replayed older seq", async () => str(await sign({ seq: 3 })), { appliedSeq: 4 }, "replay"],
    ["replayed same seq", async () => str(await sign({ seq: 4 })), { appliedSeq: 4 }, "replay"],
    ["expired", async () => str(await sign({ ttlMs: 1000 })), { now: NOW + 5000 }, "expired"],
    ["issued in the future", async () => str(await sign({ now: NOW + 3_600_000 })), {}, "expired"],
    [
      "token expired when signed",
      async () => str(await sign({ now: NOW + 2 * 3_600_000 })),
      { now: NOW + 2 * 3_600_000 },
      "token",
    ],
    [
      "invalid checks",
      async () => str(await sign({ checks: "checks:\n  - name: x y\n    intervall: 5m\n" })),
      {},
      "checks",
    ],
  ];
  for (const [name, make, o, step] of cases) {
    const r = await verifyBundle(await make(), { ...base, ...o });
    ok(!r.ok, `${name}: accepted`);
    equal(r.step, step, `${name}: ${r.reason}`);
    ok(r.reason.length > 0);
  }

  // Groups: scout_nodes "*" or a matching scout_groups claim.
  for (const t of [await s.token({ nodes: "*" }), await s.token({ groups: "ed*" })]) {
    const r = await verifyBundle(str(await sign({ key: "group.edge", token: t })), {
      ...base,
      key: "group.edge",
    });
    ok(r.ok, JSON.stringify(r));
  }
  // A tombstone verifies and carries no checks.
  const tomb = await verifyBundle(str(await sign({ checks: null, seq: 2 })), {
    ...base,
    appliedSeq: 1,
  });
  ok(tomb.ok);
  deepEqual(tomb.value.specs, []);
});

Deno.test("push applier: applies, ignores unsigned deletes, refuses clashes and replays, keeps the last good", async () => {
  const s = await setup();
  const good = await s.token();
  const key = nodeKey("web1.example");
  const files = new Map<string, string>();
  let saved: PushState = {};
  let reloads = 0;
  const applier = createPushApplier({
    node: "web1.example",
    groups: () => [],
    trust: () => s.trust,
    now: () => NOW,
    state: {},
    ports: {
      writeChecks: (k, t) => Promise.resolve(void files.set(k, t)),
      removeChecks: (k) => Promise.resolve(void files.delete(k)),
      saveState: (st) => Promise.resolve(void (saved = st)),
      otherCheckNames: () => ["local_disk"],
      reload: () => Promise.resolve((reloads++, [])),
    },
  });
  const enc = new TextEncoder();
  const put = async (o: { seq: number; checks?: string | null }) => ({
    key,
    operation: "PUT" as const,
    value: enc.encode(JSON.stringify(
      await signBundle({
        key,
        seq: o.seq,
        checks: o.checks === undefined ? CHECKS : o.checks,
        token: good,
        privateKey: s.privateKey,
        now: NOW,
      }),
    )),
  });
  const first = await put({ seq: 1 });
  equal((await applier.handle(first)).kind, "applied");
  equal(files.get(key), CHECKS);
  equal(saved[key]?.seq, 1);
  equal((await applier.handle(first)).kind, "unchanged");
  equal(
    (await applier.handle({ key, operation: "DEL", value: new Uint8Array() })).kind,
    "ignored-delete",
  );
  equal(
    (await applier.handle({ key, operation: "PURGE", value: new Uint8Array() })).kind,
    "ignored-delete",
  );
  equal(files.get(key), CHECKS);
  const clash = await applier.handle(
    await put({ seq: 2, checks: CHECKS.replace("pushed_beat", "local_disk") }),
  );
  equal(clash.kind, "refused");
  ok(clash.kind === "refused" && /local_disk already defined/.test(clash.refused.reason));
  equal(files.get(key), CHECKS);
  const bad = await applier.handle(await put({ seq: 3, checks: "checks: 12\n" }));
  equal(bad.kind, "refused");
  equal(files.get(key), CHECKS);
  deepEqual(applier.report().refused.map((r) => r.seq), [3]);
  equal((await applier.handle(await put({ seq: 4, checks: null }))).kind, "applied");
  equal(files.has(key), false);
  equal((await applier.handle(first)).kind, "refused"); // replay of seq 1
  deepEqual(applier.report().applied.map((a) => [a.seq, a.removed]), [[4, true]]);
  equal(reloads, 2);
});
