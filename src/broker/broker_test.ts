import { deepEqual, equal, ok } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import {
  type BrokerConfigInput,
  nodeInboxPrefix,
  nodePermissions,
  parseFleet,
  renderBrokerConfig,
} from "./mod.ts";

const base: BrokerConfigInput = {
  listen: { host: "0.0.0.0", port: 4222 },
  tls: {
    certFile: "/etc/scout/server.pem",
    keyFile: "/etc/scout/server-key.pem",
    caFile: "/ca.pem",
  },
  jetstream: { storeDir: "/var/lib/nats", maxMemory: 1024, maxFile: 4096 },
  monitorPort: 8222,
  nodes: [{ identity: "n1.example", groups: ["web"] }, { identity: "n2", groups: [] }],
  hubs: ["hub.example"],
  operators: ["op.example"],
  denied: ["bad.example"],
};

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    ok(e instanceof ScoutError, String(e));
    ok(e.hint, "a ScoutError from the broker config carries a hint");
    return e.code;
  }
  throw new Error("did not throw");
}

Deno.test("broker config has a verify_and_map TLS listener, JetStream and a loopback monitor", () => {
  const text = renderBrokerConfig(base);
  ok(text.includes('listen: "0.0.0.0:4222"'));
  ok(/tls \{[^}]*verify_and_map: true[^}]*\}/s.test(text));
  ok(text.includes('ca_file: "/ca.pem"'));
  ok(text.includes('store_dir: "/var/lib/nats"'));
  ok(text.includes("max_memory_store: 1024") && text.includes("max_file_store: 4096"));
  ok(text.includes('http: "127.0.0.1:8222"'));
  ok(!renderBrokerConfig({ ...base, monitorPort: null }).includes("http:"));
});

Deno.test("broker config has one user per allowed identity and none for denied ones", () => {
  const text = renderBrokerConfig(base);
  const users = [...text.matchAll(/user: "([^"]+)"/g)].map((m) => m[1]);
  deepEqual(users, ["hub.example", "op.example", "n1.example", "n2", "_scout_no_one_"]);
  ok(!users.includes("bad.example"));
});

Deno.test("a node may publish only its own subjects and read only its own KV keys", () => {
  const p = nodePermissions("n1.example", ["web"]);
  ok(p.publish.includes("scout.node.n1_example.>"));
  ok(!p.publish.some((s) => s.startsWith("scout.node.*") || s === ">" || s.startsWith("_INBOX")));
  deepEqual(p.subscribe, ["scout.api.n1_example.>", "scout.api._all.>", "_INBOX_n1_example.>"]);
  ok(p.allowResponses);
  ok(p.publish.includes("$JS.API.DIRECT.GET.KV_SCOUT_CHECKS.$KV.SCOUT_CHECKS.node.n1_example"));
  ok(p.publish.includes("$JS.API.DIRECT.GET.KV_SCOUT_CHECKS.$KV.SCOUT_CHECKS.group.web"));
  ok(
    !p.publish.some((s) =>
      s.includes("$KV.SCOUT_CHECKS.>") || s.endsWith("DIRECT.GET.KV_SCOUT_CHECKS.>")
    ),
  );
  equal(nodeInboxPrefix("n1.example"), "_INBOX_n1_example");
});

Deno.test("broker config refuses duplicate and overlapping identities with a hint", () => {
  equal(code(() => renderBrokerConfig({ ...base, hubs: ["n2"] })), "CONFIG_DUPLICATE");
  equal(code(() => renderBrokerConfig({ ...base, denied: ["N1.example"] })), "CONFIG_DUPLICATE");
  equal(
    code(() => parseFleet({ nodes: [{ identity: "a", groups: ["g", "g"] }] })),
    "CONFIG_DUPLICATE",
  );
});

Deno.test("broker config refuses identities and groups that could inject configuration", () => {
  for (const bad of ['n1" }\n{ user: "x', "a_b", "a b", "x}", "-a", "a\nb"]) {
    equal(code(() => renderBrokerConfig({ ...base, operators: [bad] })), "IDENTITY_INVALID", bad);
  }
  for (const g of ["a.b", "a>", "*", 'w"'] as const) {
    equal(
      code(() => renderBrokerConfig({ ...base, nodes: [{ identity: "n9", groups: [g] }] })),
      "CONFIG_INVALID",
      g,
    );
  }
  equal(code(() => parseFleet({ nodes: [], extra: 1 })), "CONFIG_INVALID");
});

Deno.test("broker config quotes paths so quotes and backslashes stay inside the string", () => {
  const text = renderBrokerConfig({
    ...base,
    jetstream: { storeDir: 'C:\\x" } listen: "evil' },
  });
  ok(text.includes('store_dir: "C:\\\\x\\" }'), text);
  equal(
    code(() => renderBrokerConfig({ ...base, tls: { ...base.tls, caFile: "/a\nb" } })),
    "CONFIG_INVALID",
  );
});

Deno.test("a fleet with no one in it still has a user list nobody maps to (nats-server lets everyone in otherwise)", () => {
  const text = renderBrokerConfig({ ...base, nodes: [], hubs: [], operators: [], denied: [] });
  const users = [...text.matchAll(/user: "([^"]+)"/g)].map((m) => m[1]);
  deepEqual(users, ["_scout_no_one_"]);
  ok(/deny: \[">"\] \}, subscribe: \{ deny: \[">"\]/.test(text));
});
