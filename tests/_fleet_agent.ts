/**
 * The configuration of an in-process agent in fleet mode for tests: checks under
 * `<base>/checks`, state under `<base>/state`, no splay, heartbeat-friendly defaults, the test
 * broker's client certificate, and trusted RPC issuers. Tests override what they exercise.
 */
import type { AgentConfig } from "../src/agent.ts";
import type { Pki } from "./_nats.ts";

/** A fleet-mode AgentConfig for `identity`, rooted at `base`, on the broker at `url`. */
export function fleetAgentConfig(o: {
  identity: string;
  base: string;
  url: string;
  pki: Pki;
  /** Trusted issuers of operator tokens: CA PEM or JWKS texts. */
  trust: { text: string; where: string }[];
  over?: Partial<AgentConfig>;
}): AgentConfig {
  return {
    identity: o.identity,
    checksDirs: [`${o.base}/checks`],
    machinesDirs: [`${o.base}/machines`],
    stateDir: `${o.base}/state`,
    textfileDir: null,
    eventsFile: null,
    pluginDirs: [],
    noSplay: true,
    maxOutputBytes: 65536,
    rescanMs: 3_600_000,
    maxConcurrent: 4,
    printEvents: false,
    fleet: {
      urls: [o.url],
      ca: o.pki.ca,
      cert: o.pki.client.cert,
      key: o.pki.client.key,
      spoolBytes: 1 << 20,
      policy: "all",
      announceMs: 0,
    },
    rpc: { trust: o.trust, policyFile: null },
    ...o.over,
  };
}

/** A check file of heartbeat checks named `names`, each every hour (they run once at start). */
export function heartbeatChecks(...names: string[]): string {
  return "checks:\n" +
    names.map((n) => `  - name: ${n}\n    builtin: heartbeat\n    interval: 1h\n`).join("");
}
