/**
 * Zero-configuration enrolment of a real agent process: it holds nothing but a provisioning
 * token, enrols with the hub's provisioner over HTTPS, and joins a managed nats-server (the
 * configuration `scout broker` writes: mutual TLS mapped to identities, per-node permissions)
 * in the same process; its events reach the SCOUT_EVENTS stream. Restarted, it reuses its
 * stored certificate instead of enrolling again.
 */
import { equal, ok } from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { renderBrokerConfig } from "../src/broker/mod.ts";
import { createProvisioner, serveProvisioner } from "../src/hub/mod.ts";
import { createCa, fileCaSigner, generateKeyAndCsr, type Signer } from "../src/pki/mod.ts";
import { issueProvisioningToken } from "../src/provisioning/mod.ts";
import { createDenoFs, type Logger, systemClock } from "../src/runtime/mod.ts";
import { connectBroker } from "../src/transport/mod.ts";
import { freePort, SKIP_NATS } from "./_nats.ts";
import { AgentProcess } from "./_agent_harness.ts";
import { waitFor } from "./_wait.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function issue(signer: Signer, identity: string, server: boolean) {
  const { keyPem, csrPem } = await generateKeyAndCsr(identity);
  const r = await signer.sign({
    csrPem,
    identity,
    usage: server ? "server" : "client",
    ...(server ? { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] } : {}),
    days: 2,
    now: new Date(),
  });
  return { cert: r.certPem, key: keyPem };
}

function spawnAgent(dir: string, extra: string[]): AgentProcess {
  return new AgentProcess([
    "agent",
    "--identity",
    "n1.fleet.test",
    "--checks",
    `${dir}/checks`,
    "--machines",
    `${dir}/machines`,
    "--state-dir",
    `${dir}/state`,
    "--no-splay",
    "--quiet",
    ...extra,
  ], {});
}

Deno.test({
  name: "an agent with only a provisioning token enrols and joins the managed broker over mTLS",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-enrol-" });
    const ca = await createCa({ name: "Enrol Test CA", now: new Date() });
    const signer = fileCaSigner(ca);
    const brokerTls = await issue(signer, "broker.fleet.test", true);
    const hubTls = await issue(signer, "hub.fleet.test", false);
    await Deno.writeTextFile(`${dir}/ca.pem`, ca.certPem);
    await Deno.writeTextFile(`${dir}/broker.pem`, brokerTls.cert);
    await Deno.writeTextFile(`${dir}/broker.key`, brokerTls.key);
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/nats.conf`,
      renderBrokerConfig({
        listen: { host: "127.0.0.1", port },
        tls: {
          certFile: `${dir}/broker.pem`,
          keyFile: `${dir}/broker.key`,
          caFile: `${dir}/ca.pem`,
        },
        jetstream: { storeDir: `${dir}/js` },
        nodes: [{ identity: "n1.fleet.test", groups: [] }],
        hubs: ["hub.fleet.test"],
      }),
    );
    const nats = new Deno.Command("nats-server", {
      args: ["-c", `${dir}/nats.conf`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const enrolTls = await issue(signer, "hub.fleet.test", true);
    await Deno.mkdir(`${dir}/hub`);
    let enrolments = 0;
    const provisioner = await createProvisioner({
      caCertPem: ca.certPem,
      signer: {
        sign: (req) => {
          enrolments++;
          return signer.sign(req);
        },
      },
      certDays: 1,
      nodeConfig: () => ({ brokers: [`tls://127.0.0.1:${port}`], groups: [] }),
      stateDir: `${dir}/hub`,
      fs: createDenoFs({ writeRoots: [`${dir}/hub`] }),
      clock: systemClock,
      logger: quiet,
    });
    const listener = serveProvisioner(provisioner, {
      hostname: "127.0.0.1",
      port: 0,
      certPem: enrolTls.cert + ca.certPem,
      keyPem: enrolTls.key,
    });
    await Deno.mkdir(`${dir}/checks`);
    await Deno.writeTextFile(
      `${dir}/checks/beat.yaml`,
      "checks:\n  - name: beat\n    builtin: heartbeat\n    interval: 1s\n",
    );
    await Deno.writeTextFile(
      `${dir}/token.jwt`,
      await issueProvisioningToken({
        caKeyPem: ca.keyPem,
        caCertPem: ca.certPem,
        urls: [`https://127.0.0.1:${listener.port}/`],
        identityPattern: "*.fleet.test",
        ttlMs: 600_000,
        singleUse: true,
        now: new Date(),
      }),
    );
    let hub: Awaited<ReturnType<typeof connectBroker>> | null = null;
    let agent: AgentProcess | null = null;
    try {
      hub = await waitFor("the broker", async () => {
        try {
          return await connectBroker({
            urls: [`tls://127.0.0.1:${port}`],
            tls: { ca: ca.certPem, cert: hubTls.cert, key: hubTls.key },
            name: "test-hub",
          });
        } catch {
          return undefined;
        }
      });
      await hub.stream.ensure("SCOUT_EVENTS", ["scout.node.*.>"], { duplicateWindowMs: 600_000 });
      const types = new Set<string>();
      hub.bus.subscribe("scout.node.n1_fleet_test.>", (m) => {
        types.add(JSON.parse(new TextDecoder().decode(m.data)).type);
      });

      agent = spawnAgent(dir, ["--provisioning-token", `${dir}/token.jwt`]);
      await waitFor(
        "a provisioned event and a result from the enrolled node",
        () =>
          Promise.resolve(
            types.has("io.choria.lifecycle.v1.provisioned") &&
              types.has("io.choria.machine.watcher.nagios.v1.state")
              ? true
              : undefined,
          ),
      );
      equal(enrolments, 1);
      // Stored in JetStream: the publish acks reached the node through its own inbox prefix.
      const nc = await connect({
        servers: `127.0.0.1:${port}`,
        tls: { ca: ca.certPem, cert: hubTls.cert, key: hubTls.key },
      });
      try {
        const jsm = await jetstream(nc).jetstreamManager();
        await waitFor(
          "events stored in SCOUT_EVENTS",
          async () =>
            (await jsm.streams.info("SCOUT_EVENTS")).state.messages >= 3 ? true : undefined,
        );
      } finally {
        await nc.close();
      }
      equal((await Deno.stat(`${dir}/state/tls/key.pem`)).mode! & 0o777, 0o600);
      agent.signal("SIGTERM");
      equal((await agent.wait()).code, 0);

      // Restarted (with a second, reusable token at hand): the stored certificate is used.
      await Deno.writeTextFile(
        `${dir}/token2.jwt`,
        await issueProvisioningToken({
          caKeyPem: ca.keyPem,
          caCertPem: ca.certPem,
          urls: [`https://127.0.0.1:${listener.port}/`],
          identityPattern: "n1.fleet.test",
          ttlMs: 600_000,
          singleUse: false,
          now: new Date(),
        }),
      );
      types.clear();
      agent = spawnAgent(dir, ["--provisioning-token", `${dir}/token2.jwt`]);
      await waitFor(
        "results after the restart",
        () =>
          Promise.resolve(
            types.has("io.choria.machine.watcher.nagios.v1.state") ? true : undefined,
          ),
      );
      equal(enrolments, 1, "no second enrolment");
      ok(!types.has("io.choria.lifecycle.v1.provisioned"));

      // An operator forces re-provisioning: a new key, a new certificate, a provisioned event.
      const oldKey = await Deno.readTextFile(`${dir}/state/tls/key.pem`);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "-P=agent",
          "main.ts",
          "reprovision",
          "--state-dir",
          `${dir}/state`,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      equal(out.code, 0, new TextDecoder().decode(out.stderr));
      await waitFor("a second enrolment", () =>
        Promise.resolve(
          enrolments === 2 && types.has("io.choria.lifecycle.v1.provisioned") ? true : undefined,
        ));
      ok((await Deno.readTextFile(`${dir}/state/tls/key.pem`)) !== oldKey, "a new key");
    } finally {
      if (agent) {
        try {
          agent.signal("SIGTERM");
        } catch { /* gone */ }
        await agent.wait();
      }
      await hub?.close();
      await listener.stop();
      nats.kill("SIGTERM");
      await nats.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("an agent whose hub is down keeps trying and enrols when the hub comes up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scout-enrol-late-" });
  const ca = await createCa({ name: "Late Hub CA", now: new Date() });
  const signer = fileCaSigner(ca);
  const enrolTls = await issue(signer, "hub.fleet.test", true);
  const port = freePort();
  await Deno.mkdir(`${dir}/checks`);
  await Deno.writeTextFile(
    `${dir}/checks/beat.yaml`,
    "checks:\n  - name: beat\n    builtin: heartbeat\n    interval: 1s\n",
  );
  await Deno.writeTextFile(
    `${dir}/token.jwt`,
    await issueProvisioningToken({
      caKeyPem: ca.keyPem,
      caCertPem: ca.certPem,
      urls: [`https://127.0.0.1:${port}/`],
      identityPattern: "*.fleet.test",
      ttlMs: 600_000,
      singleUse: false,
      now: new Date(),
    }),
  );
  const agent = spawnAgent(dir, ["--provisioning-token", `${dir}/token.jwt`]);
  let listener: ReturnType<typeof serveProvisioner> | null = null;
  const enrolled = async () => {
    try {
      await Deno.stat(`${dir}/state/tls/enrolment.json`);
      return true;
    } catch {
      return undefined;
    }
  };
  try {
    // The hub is down for a while: the agent runs its checks standalone meanwhile.
    await waitFor("the agent's first result", async () => {
      try {
        return (await Deno.readTextFile(`${dir}/state/machines/beat.json`)).length > 0
          ? true
          : undefined;
      } catch {
        return undefined;
      }
    });
    await new Promise((r) => setTimeout(r, 3000));
    equal(await enrolled(), undefined, "not enrolled while the hub is down");
    const provisioner = await createProvisioner({
      caCertPem: ca.certPem,
      signer,
      certDays: 1,
      nodeConfig: () => ({ brokers: ["tls://127.0.0.1:1"], groups: [] }),
      stateDir: null,
      fs: createDenoFs({ writeRoots: [dir] }),
      clock: systemClock,
      logger: quiet,
    });
    listener = serveProvisioner(provisioner, {
      hostname: "127.0.0.1",
      port,
      certPem: enrolTls.cert + ca.certPem,
      keyPem: enrolTls.key,
    });
    await waitFor("enrolment once the hub is up", enrolled);
  } finally {
    agent.signal("SIGTERM");
    await agent.wait();
    await listener?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
