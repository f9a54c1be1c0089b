/**
 * Real DNS: a throw-away dnsmasq on loopback serves SRV records; the Deno resolver and
 * discoverProvisioning find the hub through it end to end. Skipped (with a message) when
 * dnsmasq is missing, unless CI is set: then a missing dnsmasq fails.
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { createDenoSrvResolver } from "../runtime/mod.ts";
import { discoverProvisioning, type DiscoveryDeps, issueProvisioningToken } from "./mod.ts";
import { makeTestCa } from "./_testing.ts";

function findDnsmasq(): string | undefined {
  const dirs = ["/usr/sbin", "/usr/local/sbin", ...(Deno.env.get("PATH") ?? "").split(":")];
  for (const dir of dirs) {
    try {
      if (dir && Deno.statSync(`${dir}/dnsmasq`).isFile) return `${dir}/dnsmasq`;
    } catch { /* not here */ }
  }
  return undefined;
}

const DNSMASQ = findDnsmasq();
const CI = (Deno.env.get("CI") ?? "") !== "";
const SKIP = DNSMASQ === undefined && !CI;
const NAME = "discovery finds the hub through real DNS SRV answers from dnsmasq" +
  (SKIP
    ? " (SKIPPED: dnsmasq not installed; apt-get install dnsmasq-base; CI=1 makes this fail)"
    : "");

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts dnsmasq on 127.0.0.1:port with the given SRV records; waits until it answers. */
async function startDnsmasq(srvHosts: string[], localZones: string[]) {
  const port = freePort();
  const args = [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--bind-interfaces",
    "--listen-address=127.0.0.1",
    `--port=${port}`,
    "--pid-file=",
    "--log-facility=-",
    ...(Deno.uid() === 0 ? ["--user=root"] : []),
    ...localZones.map((z) => `--local=/${z}/`),
    ...srvHosts.map((s) => `--srv-host=${s}`),
  ];
  const child = new Deno.Command(DNSMASQ!, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((s) => exited = s);
  const stop = async () => {
    if (exited === undefined) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await child.status;
    return await stderr;
  };
  const resolve = createDenoSrvResolver({ nameServer: { ipAddr: "127.0.0.1", port } });
  // Readiness: dnsmasq also listens on TCP; a refused connect answers at once, whereas a UDP
  // query sent before it binds waits out the resolver's 5 s timeout.
  for (let i = 0;; i++) {
    if (exited !== undefined) throw new Error(`dnsmasq exited ${exited.code}: ${await stop()}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i >= 250) {
        const log = await stop();
        throw new Error(`dnsmasq on port ${port} did not start: ${e}\n${log}`);
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, resolve, stop };
}

Deno.test({ name: NAME, ignore: SKIP }, async (t) => {
  if (DNSMASQ === undefined) {
    throw new Error("dnsmasq is required under CI=1 (apt-get install dnsmasq-base)");
  }
  const dns = await startDnsmasq([
    "_scout-provisioner._tcp.fleet.test,hub2.fleet.test,8443,10,1",
    "_scout-provisioner._tcp.fleet.test,hub1.fleet.test,8443,10,9",
    "_scout-provisioner._tcp.fleet.test,backup.fleet.test,9443,20,0",
  ], ["fleet.test", "empty.test"]);
  const dir = await Deno.makeTempDir();
  try {
    await t.step("the Deno resolver returns every SRV record without trailing dots", async () => {
      const records = await dns.resolve("_scout-provisioner._tcp.fleet.test");
      deepEqual(
        records.map((r) => `${r.priority} ${r.weight} ${r.target}:${r.port}`).sort(),
        ["10 1 hub2.fleet.test:8443", "10 9 hub1.fleet.test:8443", "20 0 backup.fleet.test:9443"],
      );
    });

    await t.step("the Deno resolver answers [] for a name that does not exist", async () => {
      deepEqual(await dns.resolve("_scout-provisioner._tcp.empty.test"), []);
    });

    const ca = await makeTestCa();
    const issue = async (srvDomain: string) =>
      await issueProvisioningToken({
        caKeyPem: ca.keyPem,
        caCertPem: ca.certPem,
        srvDomain,
        identityPattern: "*",
        ttlMs: 3_600_000,
        singleUse: false,
        now: new Date("2026-07-01T12:00:00Z"),
      });
    const deps: DiscoveryDeps = {
      readFile: async (p) => {
        try {
          return await Deno.readTextFile(p);
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) return undefined;
          throw e;
        }
      },
      resolveSrv: dns.resolve,
      random: () => 0,
    };

    await t.step(
      "a token naming chsrv fleet.test enrols at the SRV hubs in RFC 2782 order",
      async () => {
        const tokenFile = `${dir}/provisioning.jwt`;
        const jwt = await issue("fleet.test");
        await Deno.writeTextFile(tokenFile, jwt + "\n");
        const r = await discoverProvisioning({ file: tokenFile }, deps);
        ok(r.kind === "enrol", JSON.stringify(r));
        equal(r.source, "file");
        equal(r.token, jwt);
        equal(r.claims.chsrv, "fleet.test");
        deepEqual(r.urls, [
          "https://hub1.fleet.test:8443/",
          "https://hub2.fleet.test:8443/",
          "https://backup.fleet.test:9443/",
        ]);
      },
    );

    await t.step(
      "a token whose SRV domain has no hub fails with PROVISIONER_NOT_FOUND",
      async () => {
        const tokenFile = `${dir}/empty.jwt`;
        await Deno.writeTextFile(tokenFile, await issue("empty.test"));
        await rejects(
          discoverProvisioning({ flag: tokenFile }, deps),
          (e: unknown) => e instanceof ScoutError && String(e.code) === "PROVISIONER_NOT_FOUND",
        );
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await dns.stop();
  }
});
