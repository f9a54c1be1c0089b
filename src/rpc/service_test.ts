import { deepEqual, equal, match, ok } from "node:assert/strict";
import { makeTestCa } from "../provisioning/_testing.ts";
import {
  type AuditEntry,
  createRpcService,
  issueOperatorToken,
  type MachineStateInfo,
  parseTrustedIssuer,
  RateLimiter,
  type RpcAction,
  type RpcArgs,
  type RpcControl,
  type RpcReply,
  signRequest,
} from "./mod.ts";

const NODE = "web-1.example.com";
const ca = await makeTestCa();
const key = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
  "sign",
  "verify",
]) as CryptoKeyPair;
const jwk = await crypto.subtle.exportKey("jwk", key.publicKey);

function fakeControl(): RpcControl & { calls: string[] } {
  const calls: string[] = [];
  const states: MachineStateInfo[] = ["web-a", "db-b"].map((name, i) => ({
    name,
    version: "1.0.0",
    state: "OK",
    path: `/etc/scout/checks/${name}.yaml`,
    id: `id-${i}`,
    start_time: 1,
    available_transitions: ["FORCE_CHECK", "MAINTENANCE"],
    scout: true,
  }));
  const result = (names: string[]) => ({
    transitioned: names.filter((n) => n !== "nope"),
    skipped: [],
    failed: names.filter((n) => n === "nope").map((name) => ({ name, reason: "unknown check" })),
  });
  return {
    calls,
    list: () =>
      states.map((s) => ({
        name: s.name,
        state: s.state,
        version: s.version,
        startTime: 1,
        status: null,
      })),
    trigger: (names) => {
      calls.push(`trigger ${names}`);
      return Promise.resolve(result(names));
    },
    maintenance: (names) => {
      calls.push(`maintenance ${names}`);
      return Promise.resolve(result(names));
    },
    resume: (names) => {
      calls.push(`resume ${names}`);
      return Promise.resolve(result(names));
    },
    states: () => states,
    transition: (name, t) => {
      calls.push(`transition ${name} ${t}`);
      return Promise.resolve({ ok: true });
    },
  };
}

function setup(
  over: { perMinute?: number; maxConcurrent?: number; maxQueued?: number; control?: RpcControl } =
    {},
) {
  let now = Date.parse("2030-01-01T00:00:00Z");
  const lines: AuditEntry[] = [];
  const control = over.control ?? fakeControl();
  const service = createRpcService({
    node: NODE,
    control,
    trust: () => [{ kind: "fleet-ca", certPem: ca.certPem }],
    policy: () => undefined,
    audit: {
      record: (e) => {
        lines.push(e);
        return Promise.resolve();
      },
    },
    clock: { now: () => now },
    rateLimit: { perCallerPerMinute: over.perMinute ?? 100 },
    maxConcurrent: over.maxConcurrent ?? 4,
    ...(over.maxQueued === undefined ? {} : { maxQueued: over.maxQueued }),
  });
  const token = (actions: string[], checks = "web-*") =>
    issueOperatorToken({
      issuerKeyPem: ca.keyPem,
      subject: "alice",
      callerPublicKey: jwk,
      actions,
      nodes: "web-*",
      checks,
      ttlMs: 3_600_000,
      now,
    });
  async function call<A extends RpcAction>(
    action: A,
    args: RpcArgs[A],
    opts: { token?: string; subject?: string } = {},
  ): Promise<RpcReply> {
    const req = await signRequest({
      action,
      target: NODE,
      args,
      token: opts.token ?? await token(["*"]),
      privateKey: key.privateKey,
      now,
    });
    const raw = new TextEncoder().encode(JSON.stringify(req));
    return JSON.parse(new TextDecoder().decode(await service.handle(opts.subject ?? action, raw)));
  }
  return { service, lines, control, call, token, advance: (ms: number) => (now += ms) };
}

Deno.test("rpc service lists only the checks the token's glob covers, in Choria's names", async () => {
  const t = setup();
  const r = await t.call("checks", {});
  ok(r.ok);
  deepEqual(r.result, {
    checks: [{ name: "web-a", state: "OK", version: "1.0.0", start_time: 1, status: null }],
  });
  equal(r.identity, NODE);
  const s = await t.call("machine_states", {});
  ok(s.ok);
  deepEqual(s.result["machine_ids"], ["id-0"]);
  deepEqual(s.result["machine_names"], ["web-a 1.0.0"]);
  equal(t.lines.length, 2);
  equal(t.lines[0]!.decision, "allow");
  equal(t.lines[0]!.outcome, "ok");
});

Deno.test("rpc service triggers with Choria's transitioned/failed/skipped and aborts on unknown checks", async () => {
  const t = setup();
  const r = await t.call("trigger", { checks: ["web-a"] });
  ok(r.ok);
  deepEqual(r.result, { transitioned: ["web-a"], failed: [], skipped: [], reasons: {} });
  const bad = await t.call("trigger", { checks: ["web-a", "nope"] }, {
    token: await t.token(["*"], "*"),
  });
  ok(!bad.ok);
  equal(bad.error.code, "ABORTED");
  match(bad.error.reason, /Some checks could not be transitioned to FORCE_CHECK/);
  deepEqual(bad.result?.["failed"], ["nope"]);
});

Deno.test("rpc service refuses, audits and leaves checks alone: denied action, mismatch, auth", async () => {
  const t = setup();
  const denied = await t.call("trigger", { checks: ["web-a"] }, { token: await t.token([]) });
  ok(!denied.ok);
  equal(denied.error.code, "DENIED");
  const mismatch = await t.call("checks", {}, { subject: "trigger" });
  ok(!mismatch.ok);
  equal(mismatch.error.code, "MISMATCH");
  const raw = new TextEncoder().encode("{not json");
  const bad = JSON.parse(new TextDecoder().decode(await t.service.handle("checks", raw)));
  equal(bad.error.code, "AUTH_INVALID");
  match(bad.error.reason, /^json: malformed JSON/);
  deepEqual((t.control as ReturnType<typeof fakeControl>).calls, []);
  deepEqual(t.lines.map((l) => l.decision), ["deny", "deny", "deny"]);
  ok(t.lines.every((l) => l.outcome === "refused" && l.reason !== ""));
});

Deno.test("rpc service rate-limits each caller with a clock-driven token bucket", async () => {
  const t = setup({ perMinute: 2 });
  ok((await t.call("checks", {})).ok);
  ok((await t.call("checks", {})).ok);
  const r = await t.call("checks", {});
  ok(!r.ok);
  equal(r.error.code, "RATE_LIMITED");
  t.advance(30_000);
  ok((await t.call("checks", {})).ok);
});

Deno.test("rate limiter refills continuously and forgets callers beyond its bound", () => {
  const l = new RateLimiter(60, 2);
  ok(l.take("a", 0));
  for (let i = 0; i < 59; i++) l.take("a", 0);
  ok(!l.take("a", 0));
  ok(l.take("a", 1000));
  ok(l.take("b", 1000));
  ok(l.take("c", 1000));
});

Deno.test("rpc service queues requests beyond its concurrency bound, and answers busy at once beyond the queue", async () => {
  const control = fakeControl();
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  control.trigger = async (names) => {
    await gate;
    return { transitioned: names, skipped: [], failed: [] };
  };
  const t = setup({ maxConcurrent: 1, maxQueued: 1, control });
  const slow = t.call("trigger", { checks: ["web-a"] });
  // Let the first request get into its action.
  for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 1));
  // One after the other (signing is async, so wait until the first one is queued).
  let queuedDone = false;
  const queued = t.call("checks", {}).then((r) => (queuedDone = true, r));
  for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 1));
  const busy = await t.call("checks", {});
  ok(!busy.ok);
  equal(busy.error.code, "BUSY");
  equal(queuedDone, false, "the queued request waits for the slot");
  release();
  ok((await slow).ok);
  ok((await queued).ok, "then it is answered");
  ok((await t.call("checks", {})).ok);
});

Deno.test("rpc service refuses goss_validate when no goss engine is wired", async () => {
  const t = setup();
  const r = await t.call("goss_validate", { file: "/etc/goss.yaml" });
  ok(!r.ok);
  equal(r.error.code, "UNSUPPORTED");
});

Deno.test("trusted issuer texts: a CA PEM or a JWKS document with an issuer", () => {
  equal(parseTrustedIssuer(ca.certPem, "ca.pem").kind, "fleet-ca");
  const j = parseTrustedIssuer(
    JSON.stringify({ issuer: "https://sso", audience: "scout", keys: [] }),
    "sso.json",
  );
  deepEqual(j, { kind: "jwks", issuer: "https://sso", jwks: { keys: [] }, audience: "scout" });
  let threw = false;
  try {
    parseTrustedIssuer(JSON.stringify({ keys: [] }), "x.json");
  } catch (e) {
    threw = true;
    match(String(e), /x\.json: not a JWKS document with an issuer/);
  }
  ok(threw);
});
