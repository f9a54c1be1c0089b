import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import {
  DEFAULT_TOKEN_FILE,
  discoverProvisioning,
  type DiscoveryDeps,
  issueProvisioningToken,
  retrySchedule,
  searchDomains,
  type SrvRecord,
  srvUrls,
} from "./mod.ts";
import { makeTestCa } from "./_testing.ts";

const NOW = new Date("2026-07-01T12:00:00Z");
const ca = await makeTestCa();

async function token(where: { urls: string[] } | { srvDomain: string }, jti: string) {
  return await issueProvisioningToken({
    caKeyPem: ca.keyPem,
    caCertPem: ca.certPem,
    identityPattern: "*",
    ttlMs: 3_600_000,
    singleUse: false,
    now: NOW,
    jti,
    ...where,
  });
}

const flagTok = await token({ urls: ["https://flag.example.com/"] }, "flag");
const envTok = await token({ urls: ["https://env.example.com/"] }, "env");
const embTok = await token({ urls: ["https://emb.example.com/"] }, "embedded");
const fileTok = await token({ urls: ["https://file.example.com/"] }, "file");

function fakeDeps(
  files: Record<string, string>,
  srv: Record<string, SrvRecord[]> = {},
  extra: Partial<DiscoveryDeps> = {},
): DiscoveryDeps & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    readFile: (p) => Promise.resolve(files[p]),
    resolveSrv: (name) => {
      lookups.push(name);
      return Promise.resolve(srv[name] ?? []);
    },
    random: () => 0,
    ...extra,
  };
}

const allFiles = {
  "/flag.jwt": flagTok + "\n",
  "/env.jwt": envTok + "\n",
  [DEFAULT_TOKEN_FILE]: fileTok + "\n",
  "/other.jwt": fileTok,
};

Deno.test("discovery order: flag beats env beats embedded beats file", async () => {
  const deps = fakeDeps(allFiles);
  const all = { flag: "/flag.jwt", env: "/env.jwt", embedded: embTok };
  const a = await discoverProvisioning(all, deps);
  ok(a.kind === "enrol");
  equal(a.source, "flag");
  equal(a.claims.jti, "flag");
  equal(a.token, flagTok);
  deepEqual(a.urls, ["https://flag.example.com/"]);

  const b = await discoverProvisioning({ env: "/env.jwt", embedded: embTok }, deps);
  ok(b.kind === "enrol" && b.source === "env" && b.claims.jti === "env");

  const c = await discoverProvisioning({ embedded: embTok }, deps);
  ok(c.kind === "enrol" && c.source === "embedded" && c.claims.jti === "embedded");

  const d = await discoverProvisioning({ embedded: "" }, deps);
  ok(d.kind === "enrol" && d.source === "file" && d.claims.jti === "file");

  const e = await discoverProvisioning({ file: "/other.jwt" }, fakeDeps({ "/other.jwt": fileTok }));
  ok(e.kind === "enrol" && e.source === "file");
  equal(deps.lookups.length, 0, "a token with chu needs no DNS");
});

Deno.test("discovery without a token anywhere runs standalone and says why", async () => {
  const r = await discoverProvisioning({ embedded: "" }, fakeDeps({}));
  equal(r.kind, "standalone");
  ok(r.kind === "standalone");
  match(r.reason, /no provisioning token/);
  match(r.reason, /\/etc\/scout\/provisioning\.jwt/);
});

Deno.test("discovery refuses a flag or env path that does not exist instead of going standalone", async () => {
  for (const sources of [{ flag: "/missing.jwt" }, { env: "/missing.jwt" }]) {
    await rejects(
      discoverProvisioning(sources, fakeDeps(allFiles)),
      (e: unknown) =>
        e instanceof ScoutError && e.code === "USAGE" && /missing\.jwt/.test(e.message),
    );
  }
});

Deno.test("discovery refuses a malformed token and names where it came from", async () => {
  await rejects(
    discoverProvisioning({}, fakeDeps({ [DEFAULT_TOKEN_FILE]: "garbage\n" })),
    (e: unknown) =>
      e instanceof ScoutError && String(e.code) === "TOKEN_INVALID" &&
      e.message.startsWith(`${DEFAULT_TOKEN_FILE}: `) && e.context["source"] === "file",
  );
});

Deno.test("discovery resolves chsrv through SRV and orders the hubs", async () => {
  const tok = await token({ srvDomain: "fleet.test" }, "srv");
  const deps = fakeDeps({ "/t.jwt": tok }, {
    "_scout-provisioner._tcp.fleet.test": [
      { target: "backup.fleet.test.", port: 9443, priority: 20, weight: 0 },
      { target: "hub1.fleet.test.", port: 8443, priority: 10, weight: 5 },
    ],
  });
  const r = await discoverProvisioning({ flag: "/t.jwt" }, deps);
  ok(r.kind === "enrol");
  deepEqual(r.urls, ["https://hub1.fleet.test:8443/", "https://backup.fleet.test:9443/"]);
  deepEqual(deps.lookups, ["_scout-provisioner._tcp.fleet.test"]);
});

Deno.test("discovery with chsrv but no SRV answer throws a retryable PROVISIONER_NOT_FOUND", async () => {
  const tok = await token({ srvDomain: "fleet.test" }, "srv");
  await rejects(
    discoverProvisioning({ flag: "/t.jwt" }, fakeDeps({ "/t.jwt": tok })),
    (e: unknown) =>
      e instanceof ScoutError && String(e.code) === "PROVISIONER_NOT_FOUND" &&
      /_scout-provisioner\._tcp\.fleet\.test/.test(e.message),
  );
});

Deno.test('chsrv "." tries each resolv.conf search domain in order', async () => {
  const tok = await token({ srvDomain: "." }, "search");
  const deps = fakeDeps({ "/t.jwt": tok }, {
    "_scout-provisioner._tcp.b.test": [{
      target: "hub.b.test",
      port: 8443,
      priority: 0,
      weight: 0,
    }],
  }, { readResolvConf: () => Promise.resolve("nameserver 10.0.0.1\nsearch a.test b.test\n") });
  const r = await discoverProvisioning({ flag: "/t.jwt" }, deps);
  ok(r.kind === "enrol");
  deepEqual(r.urls, ["https://hub.b.test:8443/"]);
  deepEqual(deps.lookups, ["_scout-provisioner._tcp.a.test", "_scout-provisioner._tcp.b.test"]);
  await rejects(
    discoverProvisioning({ flag: "/t.jwt" }, fakeDeps({ "/t.jwt": tok })),
    /resolv\.conf has no search domains/,
  );
});

Deno.test("SRV ordering: priority ascending, then weighted random within a priority", () => {
  const records: SrvRecord[] = [
    { target: "c", port: 1, priority: 20, weight: 0 },
    { target: "light", port: 1, priority: 10, weight: 1 },
    { target: "heavy", port: 1, priority: 10, weight: 9 },
    { target: "zero", port: 1, priority: 10, weight: 0 },
    { target: "first", port: 1, priority: 0, weight: 0 },
    { target: ".", port: 1, priority: 0, weight: 0 },
  ];
  const hosts = (urls: string[]) => urls.map((u) => new URL(u).hostname);
  deepEqual(hosts(srvUrls(records, () => 0)), ["first", "heavy", "light", "zero", "c"]);
  // 0.95 of a total weight of 10 falls in "light"'s share (9..10).
  deepEqual(hosts(srvUrls(records, () => 0.95)), ["first", "light", "heavy", "zero", "c"]);
  deepEqual(srvUrls([], () => 0), []);
  // Over many picks, the weight-9 record comes first about 90% of the time.
  let seed = 42;
  const lcg = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let heavyFirst = 0;
  for (let i = 0; i < 1000; i++) {
    if (hosts(srvUrls(records, lcg))[1] === "heavy") heavyFirst++;
  }
  ok(heavyFirst > 850 && heavyFirst < 950, `heavy first ${heavyFirst}/1000`);
});

Deno.test("retry schedule doubles from 1 s to a 5 min cap with jitter in [d/2, d)", () => {
  const lo = () => 0, hi = () => 0.999999;
  equal(retrySchedule(0, lo), 500);
  ok(retrySchedule(0, hi) < 1000 && retrySchedule(0, hi) >= 999);
  equal(retrySchedule(1, lo), 1000);
  equal(retrySchedule(3, lo), 4000);
  equal(retrySchedule(8, lo), 128_000);
  equal(retrySchedule(9, lo), 150_000, "capped at 5 min");
  for (const attempt of [9, 20, 1000, Number.MAX_SAFE_INTEGER, Infinity]) {
    const d = retrySchedule(attempt, hi);
    ok(d >= 150_000 && d < 300_000, `attempt ${attempt}: ${d}`);
  }
  equal(retrySchedule(-3, lo), 500);
  equal(retrySchedule(Number.NaN, lo), 500);
  equal(retrySchedule(2, () => 5), retrySchedule(2, hi), "random is clamped");
});

Deno.test("searchDomains reads search and domain lines; the last one wins", () => {
  deepEqual(searchDomains("nameserver 1.1.1.1\nsearch a.test b.test.\n"), ["a.test", "b.test"]);
  deepEqual(searchDomains("search a.test\ndomain c.test\n"), ["c.test"]);
  deepEqual(searchDomains("domain c.test\nsearch x.test y.test\n"), ["x.test", "y.test"]);
  deepEqual(searchDomains("# search no.test\n; domain no.test\nsearch . ok.test # tail\n"), [
    "ok.test",
  ]);
  deepEqual(searchDomains(""), []);
  deepEqual(searchDomains("options ndots:5\r\nsearch   s.test\r\n"), ["s.test"]);
});
