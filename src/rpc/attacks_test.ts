import { deepEqual, equal, match, ok } from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { issueProvisioningToken } from "../provisioning/mod.ts";
import { makeTestCa } from "../provisioning/_testing.ts";
import {
  authenticateRequest,
  authorize,
  type IssueOperatorOptions,
  issueOperatorToken,
  type LocalPolicy,
  parsePolicy,
  ReplayCache,
  requestScope,
  type RpcAction,
  signRequest,
  type TrustedIssuer,
} from "./mod.ts";

const NOW = Date.parse("2030-01-01T00:00:00Z");
const NODE = "web-1.example.com";
const SSO = "https://sso.example.com";

const ca = await makeTestCa();
const otherCa = await makeTestCa("Evil CA");
const caller = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
  "sign",
  "verify",
]) as CryptoKeyPair;
const callerJwk = await crypto.subtle.exportKey("jwk", caller.publicKey);
const stranger = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
  "sign",
  "verify",
]) as CryptoKeyPair;

const rsa = await generateKeyPair("RS256", { extractable: true });
const ed = await generateKeyPair("EdDSA", { extractable: true });
const jwks = {
  keys: [
    { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
    { ...(await exportJWK(ed.publicKey)), kid: "ed-1", alg: "EdDSA", use: "sig" },
  ],
};
const trust: TrustedIssuer[] = [
  { kind: "fleet-ca", certPem: ca.certPem },
  { kind: "jwks", issuer: SSO, jwks, audience: "scout" },
];

function caToken(over: Partial<IssueOperatorOptions> = {}): Promise<string> {
  return issueOperatorToken({
    issuerKeyPem: ca.keyPem,
    subject: "alice",
    callerPublicKey: callerJwk,
    actions: ["trigger", "maintenance", "resume", "goss_validate"],
    nodes: "web-*",
    checks: "web-*",
    ttlMs: 3_600_000,
    now: NOW - 60_000,
    ...over,
  });
}

function ssoToken(
  claims: JWTPayload = {},
  header: { alg: string; kid?: string } = { alg: "RS256", kid: "rsa-1" },
): Promise<string> {
  const key = header.alg === "RS256" ? rsa.privateKey : ed.privateKey;
  return new SignJWT({
    purpose: "scout-operator",
    iss: SSO,
    sub: "bob@example.com",
    aud: "scout",
    iat: Math.floor(NOW / 1000) - 60,
    exp: Math.floor(NOW / 1000) + 3600,
    cnf: { jwk: { kty: "OKP", crv: "Ed25519", x: callerJwk.x } },
    scout_actions: ["trigger"],
    scout_nodes: "*",
    scout_checks: "*",
    ...claims,
  }).setProtectedHeader({ ...header, typ: "JWT" }).sign(key);
}

interface ReqOptions {
  action?: RpcAction | string;
  target?: string;
  args?: Record<string, unknown>;
  token?: string;
  key?: CryptoKey;
  ts?: number;
  id?: string;
}

async function envelope(o: ReqOptions = {}): Promise<Record<string, unknown>> {
  return await signRequest({
    action: (o.action ?? "trigger") as "trigger",
    target: o.target ?? NODE,
    args: (o.args ?? { checks: ["web-http"] }) as { checks: string[] },
    token: o.token ?? await caToken(),
    privateKey: o.key ?? caller.privateKey,
    now: o.ts ?? NOW,
    ...(o.id === undefined ? {} : { id: o.id }),
  }) as unknown as Record<string, unknown>;
}

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

type Verdict = { allow: true } | { allow: false; step: string; reason: string };

/** The node's gate: authenticate, then authorize, exactly as the agent will. */
async function gate(
  raw: Uint8Array,
  o: { policy?: LocalPolicy; seen?: ReplayCache; now?: number } = {},
): Promise<Verdict> {
  const a = await authenticateRequest(raw, {
    trust,
    now: o.now ?? NOW,
    skewMs: 30_000,
    maxBytes: 8192,
    seen: o.seen ?? new ReplayCache(),
    node: NODE,
  });
  if (!a.ok) return { allow: false, step: a.step, reason: a.reason };
  const scope = requestScope(a.request);
  const d = authorize({
    claims: a.claims,
    action: a.request.action,
    node: NODE,
    checks: scope.checks,
    sentRules: scope.sentRules,
    ...(o.policy === undefined ? {} : { policy: o.policy }),
  });
  return d.allow ? { allow: true } : { allow: false, step: "authorize", reason: d.reason };
}

function refused(v: Verdict, step: string, reason: RegExp): void {
  ok(!v.allow, `expected a refusal at ${step}, got allow`);
  equal(v.step, step, `refused at ${v.step}: ${v.reason}`);
  match(v.reason, reason);
}

// ---- allowed paths (the baselines every attack below mutates) ----

Deno.test("rpc gate allows a fleet-CA token's trigger of a granted check", async () => {
  deepEqual(await gate(bytes(await envelope())), { allow: true });
});

Deno.test("rpc gate allows listing checks with a token that grants no actions", async () => {
  const token = await caToken({ actions: [] });
  deepEqual(await gate(bytes(await envelope({ action: "checks", args: {}, token }))), {
    allow: true,
  });
});

Deno.test("rpc gate allows an SSO RS256 token verified through a JWKS document", async () => {
  const token = await ssoToken();
  deepEqual(await gate(bytes(await envelope({ token, target: "_all" }))), { allow: true });
});

Deno.test("rpc gate allows an SSO EdDSA token verified through a JWKS document", async () => {
  const token = await ssoToken({}, { alg: "EdDSA", kid: "ed-1" });
  deepEqual(await gate(bytes(await envelope({ token }))), { allow: true });
});

Deno.test("rpc gate allows goss_validate with sent rules when the policy says sent_rules", async () => {
  const policy = parsePolicy(
    "rules:\n  - effect: allow\n    callers: alice\n    actions: [goss_validate]\n    sent_rules: true\n",
    "policy.yaml",
  );
  const raw = bytes(
    await envelope({ action: "goss_validate", args: { yaml_rules: "file:\n  /etc: {}\n" } }),
  );
  deepEqual(await gate(raw, { policy }), { allow: true });
});

// ---- attacks ----

Deno.test("rpc gate refuses a request without a token", async () => {
  const e = await envelope();
  delete e["token"];
  refused(await gate(bytes(e)), "token", /^no token/);
});

Deno.test("rpc gate refuses a token signed by another CA under the fleet's issuer name", async () => {
  const token = await caToken({ issuerKeyPem: otherCa.keyPem });
  refused(await gate(bytes(await envelope({ token }))), "token", /bad signature/);
});

Deno.test("rpc gate refuses a token from an unknown issuer", async () => {
  const token = await caToken({ issuer: "mallory" });
  refused(await gate(bytes(await envelope({ token }))), "token", /unknown issuer "mallory"/);
});

Deno.test("rpc gate refuses an expired token", async () => {
  const token = await caToken({ now: NOW - 7_200_000, ttlMs: 3_600_000 });
  refused(await gate(bytes(await envelope({ token }))), "token", /expired/);
});

Deno.test("rpc gate refuses a token for other nodes", async () => {
  const token = await caToken({ nodes: "db-*" });
  refused(
    await gate(bytes(await envelope({ token }))),
    "authorize",
    /token is for nodes "db-\*", which does not include web-1/,
  );
});

Deno.test("rpc gate refuses an action the token does not grant", async () => {
  const token = await caToken({ actions: ["resume"] });
  refused(
    await gate(bytes(await envelope({ token }))),
    "authorize",
    /does not grant action trigger/,
  );
});

Deno.test("rpc gate refuses a check outside the token's checks glob", async () => {
  const raw = bytes(await envelope({ args: { checks: ["web-http", "db-backup"] } }));
  refused(await gate(raw), "authorize", /not allowed: db-backup/);
});

Deno.test("rpc gate refuses 'all checks' when the token limits checks", async () => {
  refused(await gate(bytes(await envelope({ args: {} }))), "authorize", /names no checks/);
});

Deno.test("rpc gate refuses a request signed by a key other than the token's", async () => {
  const raw = bytes(await envelope({ key: stranger.privateKey }));
  refused(await gate(raw), "signature", /bad signature/);
});

Deno.test("rpc gate refuses a request whose args were altered after signing", async () => {
  const e = await envelope();
  e["args"] = { checks: ["web-http", "web-db"] };
  refused(await gate(bytes(e)), "signature", /altered after signing/);
});

Deno.test("rpc gate refuses a request whose action was altered after signing", async () => {
  const e = await envelope();
  e["action"] = "maintenance";
  refused(await gate(bytes(e)), "signature", /bad signature/);
});

Deno.test("rpc gate refuses a request re-targeted to _all after signing", async () => {
  const e = await envelope();
  e["target"] = "_all";
  refused(await gate(bytes(e)), "signature", /bad signature/);
});

Deno.test("rpc gate refuses someone else's token on a request signed by another key", async () => {
  const token = await caToken({
    subject: "carol",
    callerPublicKey: await crypto.subtle.exportKey("jwk", stranger.publicKey),
  });
  refused(await gate(bytes(await envelope({ token }))), "signature", /bad signature/);
});

Deno.test("rpc gate refuses a replayed request", async () => {
  const seen = new ReplayCache();
  const raw = bytes(await envelope({ id: "req-00000001" }));
  deepEqual(await gate(raw, { seen }), { allow: true });
  refused(
    await gate(raw, { seen, now: NOW + 5_000 }),
    "replay",
    /replayed request: id req-00000001/,
  );
});

Deno.test("rpc gate refuses a request with an old timestamp", async () => {
  const raw = bytes(await envelope({ ts: NOW - 31_000 }));
  refused(await gate(raw), "timestamp", /too old: 31000 ms/);
});

Deno.test("rpc gate refuses a request with a future timestamp", async () => {
  const raw = bytes(await envelope({ ts: NOW + 31_000 }));
  refused(await gate(raw), "timestamp", /in the future: 31000 ms/);
});

Deno.test("rpc gate refuses a request for another node", async () => {
  const raw = bytes(await envelope({ target: "web-2.example.com" }));
  refused(await gate(raw), "target", /for node "web-2.example.com"/);
});

Deno.test("rpc gate refuses an oversized request before parsing it", async () => {
  const raw = new Uint8Array(8193).fill(0x20);
  refused(await gate(raw), "size", /too large: 8193 bytes \(limit 8192\)/);
});

Deno.test("rpc gate refuses malformed JSON", async () => {
  refused(await gate(new TextEncoder().encode('{"id": "x",')), "json", /malformed JSON/);
});

Deno.test("rpc gate refuses wrong types", async () => {
  const e = await envelope();
  e["ts"] = String(e["ts"]);
  refused(await gate(bytes(e)), "shape", /ts: /);
});

Deno.test("rpc gate refuses unknown envelope members and unknown args", async () => {
  const e = await envelope();
  refused(await gate(bytes({ ...e, caller: "root" })), "shape", /caller/);
  const raw = bytes(await envelope({ args: { checks: ["web-http"], force: true } }));
  refused(await gate(raw), "shape", /malformed args of trigger/);
});

Deno.test("rpc gate refuses an unknown action", async () => {
  const raw = bytes(await envelope({ action: "shell", args: {} }));
  refused(await gate(raw), "shape", /unknown action "shell"/);
});

Deno.test("rpc gate refuses a provisioning token used as an operator token", async () => {
  const token = await issueProvisioningToken({
    caKeyPem: ca.keyPem,
    caCertPem: ca.certPem,
    identityPattern: "*",
    ttlMs: 3_600_000,
    singleUse: false,
    now: new Date(NOW - 60_000),
    urls: ["https://hub.example.com:8443"],
  });
  refused(
    await gate(bytes(await envelope({ token }))),
    "token",
    /wrong purpose "scout-provisioning"/,
  );
});

Deno.test("rpc gate refuses an SSO token whose kid is not in the JWKS", async () => {
  const token = await ssoToken({}, { alg: "RS256", kid: "rsa-2" });
  refused(await gate(bytes(await envelope({ token }))), "token", /unknown key id/);
});

Deno.test("rpc gate refuses an SSO token without a cnf key", async () => {
  const token = await ssoToken({ cnf: undefined });
  refused(await gate(bytes(await envelope({ token }))), "token", /no cnf\.jwk/);
});

Deno.test("rpc gate refuses an SSO token for another audience", async () => {
  const token = await ssoToken({ aud: "grafana" });
  refused(await gate(bytes(await envelope({ token }))), "token", /aud/);
});

Deno.test("rpc gate refuses an unsigned (alg none) token", async () => {
  const b64u = (v: unknown) =>
    btoa(JSON.stringify(v)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const token = `${b64u({ alg: "none" })}.${
    b64u({
      purpose: "scout-operator",
      iss: "scout",
      sub: "alice",
      exp: NOW / 1000 + 60,
      cnf: { jwk: { kty: "OKP", crv: "Ed25519", x: callerJwk.x } },
      scout_actions: ["*"],
    })
  }.`;
  refused(await gate(bytes(await envelope({ token }))), "token", /token refused/);
});

Deno.test("rpc gate refuses goss_validate with sent rules without a policy allowing it", async () => {
  const raw = bytes(
    await envelope({ action: "goss_validate", args: { yaml_rules: "command:\n  id: {}\n" } }),
  );
  refused(await gate(raw), "authorize", /sent_rules: true/);
});

Deno.test("rpc gate lets a local deny rule win over the token's grant", async () => {
  const policy = parsePolicy(
    '{"rules": [{"effect": "deny", "callers": "ali*", "actions": ["trigger"], "checks": "web-http"}]}',
    "policy.json",
  );
  refused(
    await gate(bytes(await envelope()), { policy }),
    "authorize",
    /deny rule at policy\.json:1/,
  );
});
