import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { makeTestCa } from "../provisioning/_testing.ts";
import {
  generateCallerKeyPair,
  importCallerPrivateKey,
  issueOperatorToken,
  parseCallerPublicKey,
  verifyOperatorToken,
} from "./mod.ts";

const ca = await makeTestCa();
const NOW = Date.parse("2030-01-01T00:00:00Z");

Deno.test("operator token carries purpose, cnf key and grants, and verifies with the CA", async () => {
  const keys = await generateCallerKeyPair();
  const jwt = await issueOperatorToken({
    issuerKeyPem: ca.keyPem,
    subject: "alice",
    callerPublicKey: keys.publicJwk,
    actions: ["trigger", "trigger"],
    nodes: "web-*",
    checks: "*",
    ttlMs: 8 * 3_600_000,
    now: NOW,
    jti: "j1",
  });
  const claims = await verifyOperatorToken(jwt, {
    trust: [{ kind: "fleet-ca", certPem: ca.certPem }],
    now: NOW + 1000,
  });
  deepEqual(claims, {
    purpose: "scout-operator",
    iss: "scout",
    sub: "alice",
    iat: NOW / 1000,
    nbf: NOW / 1000,
    exp: NOW / 1000 + 8 * 3600,
    jti: "j1",
    cnf: { jwk: keys.publicJwk },
    scout_actions: ["trigger"],
    scout_nodes: "web-*",
    scout_checks: "*",
  });
  await rejects(
    verifyOperatorToken(jwt, {
      trust: [{ kind: "fleet-ca", certPem: ca.certPem }],
      now: NOW + 9 * 3_600_000,
    }),
    (e: Error) => /expired/.test(e.message),
  );
});

Deno.test("issueOperatorToken refuses unknown actions, empty globs and bad keys", async () => {
  const base = {
    issuerKeyPem: ca.keyPem,
    subject: "alice",
    callerPublicKey: new Uint8Array(32),
    actions: ["trigger"],
    nodes: "*",
    checks: "*",
    ttlMs: 60_000,
    now: NOW,
  };
  await rejects(issueOperatorToken({ ...base, actions: ["shell"] }), /unknown action\(s\): shell/);
  await rejects(issueOperatorToken({ ...base, nodes: "" }), /scout_nodes/);
  await rejects(issueOperatorToken({ ...base, callerPublicKey: new Uint8Array(31) }), /32 bytes/);
  ok((await issueOperatorToken(base)).split(".").length === 3);
  // `push` is a grant without being an RPC action: the nodes that apply bundles check it.
  ok((await issueOperatorToken({ ...base, actions: ["push", "trigger"] })).split(".").length === 3);
});

Deno.test("caller keys round-trip through PEM and JWK and sign what they verify", async () => {
  const keys = await generateCallerKeyPair();
  match(keys.privatePem, /BEGIN PRIVATE KEY/);
  deepEqual(await parseCallerPublicKey(keys.publicPem), keys.publicJwk);
  deepEqual(await parseCallerPublicKey(JSON.stringify(keys.publicJwk)), keys.publicJwk);
  const priv = await importCallerPrivateKey(keys.privatePem);
  const data = new TextEncoder().encode("x");
  const sig = await crypto.subtle.sign("Ed25519", priv, data);
  const pub = await crypto.subtle.importKey("jwk", keys.publicJwk, { name: "Ed25519" }, false, [
    "verify",
  ]);
  equal(await crypto.subtle.verify("Ed25519", pub, sig, data), true);
  await rejects(parseCallerPublicKey(ca.certPem), /no ed25519 public key/);
  await rejects(importCallerPrivateKey(ca.keyPem), /not ed25519/);
});
