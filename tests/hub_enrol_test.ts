/**
 * The hub's enrolment path as `scout-hub hub` runs it (runHub, in process): a fleet CA from
 * createCa in <state-dir>/ca, a real nats-server for the hub's broker connection, the HTTPS
 * provisioner with a server certificate the hub issues at start, an agent-side enrol() with a
 * provisioning token, the broker's fleet file the hub writes, and `scout-hub hub deny|allow`
 * reaching the running hub through the deny list file. Skipped (with a message) only when
 * nats-server is missing and CI is unset.
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { type Fleet, parseFleet } from "../src/broker/mod.ts";
import { editDenyList, hubCommand, type HubReady, runHub } from "../src/cli/hub.ts";
import type { CliIo } from "../src/cli/mod.ts";
import { ScoutError } from "../src/errors.ts";
import { fleetFromState } from "../src/hub/mod.ts";
import { createCa, verifyIssuedBy } from "../src/pki/mod.ts";
import {
  enrol,
  type EnrolDeps,
  issueProvisioningToken,
  pinnedCa,
  readProvisioningToken,
} from "../src/provisioning/mod.ts";
import { createPinnedHttps } from "../src/runtime/mod.ts";
import { brokerArgs, SKIP_NATS, startTestBroker } from "./_nats.ts";

function io(): CliIo & { text: string[] } {
  const text: string[] = [];
  return {
    text,
    out: (t) => void text.push(t),
    err: (t) => void text.push(t),
    env: () => undefined,
  };
}

async function readFleet(file: string): Promise<Fleet> {
  return parseFleet(JSON.parse(await Deno.readTextFile(file)));
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null>,
  ms = 8000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

const deps: EnrolDeps = { https: (ca) => createPinnedHttps(ca, 10_000), now: () => new Date() };

Deno.test({
  name: "the hub enrols an agent over its HTTPS listener and keeps the broker's fleet file current",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-hub-enrol-" });
    const { pki, server } = await startTestBroker(`${dir}/broker`, "unused");
    const stateDir = `${dir}/state`;
    const ca = await createCa({ name: "Hub Enrol Test CA", now: new Date() });
    await Deno.mkdir(`${stateDir}/ca`, { recursive: true });
    await Deno.writeTextFile(`${stateDir}/ca/ca.pem`, ca.certPem);
    await Deno.writeTextFile(`${stateDir}/ca/ca.key`, ca.keyPem, { mode: 0o600 });
    const stop = new AbortController();
    const ready = Promise.withResolvers<HubReady>();
    const out = io();
    const running = runHub(
      [
        ...brokerArgs(server.url, pki),
        "--listen",
        "127.0.0.1:0",
        "--enrol-listen",
        "127.0.0.1:0",
        "--state-dir",
        stateDir,
        "--advertise-broker",
        "tls://broker.fleet.test:4222",
        "--operator",
        "op.fleet.test",
        "--log-level",
        "error",
      ],
      out,
      { signal: stop.signal, onReady: ready.resolve },
    );
    running.catch((e) => ready.reject(e));
    try {
      const hub = await ready.promise;
      ok(hub.enrolUrl !== null && hub.fleetFile === `${stateDir}/fleet.json`);
      // At start: the hub (CN of its --tls-cert) and the operator, no nodes yet.
      deepEqual(await readFleet(hub.fleetFile!), {
        nodes: [],
        hubs: ["client1"],
        operators: ["op.fleet.test"],
        denied: [],
      });

      const jwt = await issueProvisioningToken({
        caKeyPem: ca.keyPem,
        caCertPem: ca.certPem,
        urls: [hub.enrolUrl!],
        identityPattern: "*.fleet.test",
        ttlMs: 3_600_000,
        singleUse: false,
        now: new Date(),
      });
      const claims = readProvisioningToken(jwt);
      const agentEnrol = async (identity: string) =>
        await enrol(
          { identity, token: jwt, urls: claims.chu!, caPem: await pinnedCa(claims) },
          deps,
        );

      // The agent trusts only the CA its token pins: the hub's listener certificate chains to it.
      const e = await agentEnrol("n1.fleet.test");
      equal(e.identity, "n1.fleet.test");
      deepEqual(e.brokers, ["tls://broker.fleet.test:4222"]);
      ok(await verifyIssuedBy(e.certPem, ca.certPem, { now: new Date() }));
      // The fleet file is written before the reply leaves.
      deepEqual((await readFleet(hub.fleetFile!)).nodes, [
        { identity: "n1.fleet.test", groups: [] },
      ]);

      // `scout-hub hub deny` edits the deny list; the running hub applies it within a second.
      const denyIo = io();
      equal(await hubCommand.run(["deny", "n1.fleet.test", "--state-dir", stateDir], denyIo), 0);
      ok(denyIo.text.join("").includes("denied n1.fleet.test"), denyIo.text.join(""));
      const denied = await waitFor("n1 denied in fleet.json", async () => {
        const f = await readFleet(hub.fleetFile!);
        return f.denied.includes("n1.fleet.test") ? f : null;
      });
      deepEqual(denied.nodes, []);
      deepEqual(denied.hubs, ["client1"]);
      await rejects(
        () => agentEnrol("n1.fleet.test"),
        (err) => err instanceof ScoutError && /denied/.test(err.message),
      );

      await editDenyList(stateDir, "n1.fleet.test", false);
      const allowed = await waitFor("n1 allowed again", async () => {
        const f = await readFleet(hub.fleetFile!);
        return f.denied.length === 0 ? f : null;
      });
      deepEqual(allowed.nodes, [{ identity: "n1.fleet.test", groups: [] }]);
      stop.abort();
      equal(await running, 0);
    } finally {
      stop.abort();
      await running.catch(() => {});
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("the fleet from the provisioner's state lists each identity once with its groups, denied before nodes", () => {
  const at = { serial: "01", notAfterMs: 1, enrolledAtMs: 0, groups: [] };
  const fleet = fleetFromState(
    {
      nodes: {
        "n2.x": { ...at, groups: ["web", "edge", "web", "bad.group"] },
        "n1.x": at,
        "gone.x": at,
        "hub.x": at,
        "bad_name": at,
      },
      denied: ["gone.x", "hub.x"],
    },
    { hubs: ["hub.x"], operators: ["op.x", "GONE.x"] },
  );
  deepEqual(fleet, {
    nodes: [{ identity: "n1.x", groups: [] }, { identity: "n2.x", groups: ["edge", "web"] }],
    hubs: ["hub.x"],
    operators: ["op.x"],
    denied: ["gone.x"],
  });
  deepEqual(parseFleet(fleet), fleet, "scout broker accepts it");
});

Deno.test("scout-hub hub deny starts from the provisioner's deny list and refuses bad identities", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/provisioner`);
    await Deno.writeTextFile(
      `${dir}/provisioner/state.json`,
      JSON.stringify({ usedTokens: {}, nodes: {}, denied: ["old.x"] }),
    );
    const out = io();
    equal(await hubCommand.run(["deny", "n1.x", "--state-dir", dir, "--json"], out), 0);
    deepEqual(JSON.parse(out.text.join("")), {
      identity: "n1.x",
      denied: true,
      list: ["n1.x", "old.x"],
    });
    deepEqual(await editDenyList(dir, "old.x", false), ["n1.x"]);
    deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/provisioner/denied.json`)), {
      denied: ["n1.x"],
    });
    await rejects(
      () => hubCommand.run(["deny", "bad_name", "--state-dir", dir], io()),
      (e) => e instanceof ScoutError && e.code === "IDENTITY_INVALID",
    );
    await rejects(
      () => hubCommand.run(["deny", "--state-dir", dir], io()),
      (e) => e instanceof ScoutError && e.code === "USAGE",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

if (SKIP_NATS) {
  // deno-lint-ignore no-console -- tell the reader why the real-server test did not run
  console.warn("hub_enrol_test: nats-server not installed and CI unset: skipped");
}
