import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { importPKCS8, SignJWT } from "jose";
import { ScoutError } from "../errors.ts";
import {
  caFingerprint,
  identityAllowed,
  issueProvisioningToken,
  pinnedCa,
  readProvisioningToken,
  verifyProvisioningToken,
} from "./mod.ts";
import { makeTestCa, type TestCa } from "./_testing.ts";

const NOW = new Date("2026-07-01T12:00:00Z");
const HOUR = 3_600_000;
const ca: TestCa = await makeTestCa();
const other: TestCa = await makeTestCa("Other CA");
const pin = await caFingerprint(ca.certPem);

function issue(over: Record<string, unknown> = {}): Promise<string> {
  const opts: Record<string, unknown> = {
    caKeyPem: ca.keyPem,
    urls: ["https://hub.example.com:8443/"],
    caCertPem: ca.certPem,
    identityPattern: "web-*.example.com",
    ttlMs: HOUR,
    singleUse: true,
    now: NOW,
    jti: "fixed-jti",
    ...over,
  };
  for (const k of Object.keys(opts)) if (opts[k] === undefined) delete opts[k];
  return issueProvisioningToken(opts as Parameters<typeof issueProvisioningToken>[0]);
}

async function refusal(p: Promise<unknown>): Promise<ScoutError> {
  try {
    await p;
  } catch (e) {
    ok(e instanceof ScoutError, `not a ScoutError: ${e}`);
    equal(e.code, "TOKEN_INVALID");
    ok(e.hint, "a refusal carries a hint");
    return e;
  }
  throw new Error("expected the token to be refused");
}

/** Signs arbitrary claims with the test CA, bypassing issueProvisioningToken's checks. */
async function signRaw(claims: Record<string, unknown>, key = ca.keyPem): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg: "ES256" })
    .sign(await importPKCS8(key, "ES256"));
}

const base = {
  purpose: "scout-provisioning",
  chu: ["https://hub.example.com/"],
  ca_sha256: pin,
  ca: "AAAA",
  identity: "*",
  single_use: false,
  iss: "test",
  iat: NOW.getTime() / 1000,
  nbf: NOW.getTime() / 1000,
  exp: NOW.getTime() / 1000 + 3600,
  jti: "j1",
};

Deno.test("provisioning token round trip: hub verifies and agent reads the same claims", async () => {
  const jwt = await issue();
  const want = {
    purpose: "scout-provisioning",
    chu: ["https://hub.example.com:8443/"],
    ca_sha256: pin,
    ca: readProvisioningToken(jwt).ca,
    identity: "web-*.example.com",
    single_use: true,
    iss: "scout",
    iat: NOW.getTime() / 1000,
    nbf: NOW.getTime() / 1000,
    exp: NOW.getTime() / 1000 + 3600,
    jti: "fixed-jti",
  };
  deepEqual(await verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW }), want);
  equal(await caFingerprint(await pinnedCa(readProvisioningToken(jwt))), pin, "it carries its CA");
  const swapped = {
    ...readProvisioningToken(jwt),
    ca: readProvisioningToken(await issue({ caCertPem: other.certPem })).ca,
  };
  match((await refusal(pinnedCa(swapped))).message, /does not match its ca_sha256 pin/);
  deepEqual(await verifyProvisioningToken(jwt, { caPublicKey: ca.publicKey, now: NOW }), want);
  deepEqual(readProvisioningToken(jwt + "\n"), want);
});

Deno.test("provisioning token with an SRV domain carries chsrv and no chu", async () => {
  const jwt = await issue({ urls: undefined, srvDomain: "fleet.example.com", singleUse: false });
  const c = await verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW });
  equal(c.chsrv, "fleet.example.com");
  equal(c.chu, undefined);
  equal(c.single_use, false);
  match(c.jti, /./);
});

Deno.test("issued tokens get distinct random jti values by default", async () => {
  const a = readProvisioningToken(await issue({ jti: undefined }));
  const b = readProvisioningToken(await issue({ jti: undefined }));
  match(a.jti, /^[0-9a-f]{32}$/);
  ok(a.jti !== b.jti);
});

Deno.test("verify refuses a token signed by another CA as a bad signature", async () => {
  const jwt = await issue({ caKeyPem: other.keyPem });
  match(
    (await refusal(verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW }))).message,
    /bad signature/,
  );
});

Deno.test("verify refuses an expired token, allowing the clock skew", async () => {
  const jwt = await issue();
  const justAfter = new Date(NOW.getTime() + HOUR + 30_000);
  await verifyProvisioningToken(jwt, {
    caCertPem: ca.certPem,
    now: justAfter,
    clockSkewMs: 60_000,
  });
  const late = new Date(NOW.getTime() + HOUR + 61_000);
  const e = await refusal(
    verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: late, clockSkewMs: 60_000 }),
  );
  match(e.message, /expired/);
  const e0 = await refusal(
    verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: justAfter, clockSkewMs: 0 }),
  );
  match(e0.message, /expired/);
});

Deno.test("verify refuses a token that is not yet valid", async () => {
  const jwt = await issue();
  const early = new Date(NOW.getTime() - 5 * 60_000);
  match(
    (await refusal(verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: early }))).message,
    /not yet valid/,
  );
  await verifyProvisioningToken(jwt, {
    caCertPem: ca.certPem,
    now: new Date(NOW.getTime() - 30_000),
  });
});

Deno.test("verify and read refuse a token with another purpose (an operator token cannot enrol)", async () => {
  const jwt = await signRaw({ ...base, purpose: "scout-operator" });
  match(
    (await refusal(verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW }))).message,
    /wrong purpose "scout-operator"/,
  );
  throws(() => readProvisioningToken(jwt), /wrong purpose/);
  const none = await signRaw({ ...base, purpose: undefined });
  match(
    (await refusal(verifyProvisioningToken(none, { caCertPem: ca.certPem, now: NOW }))).message,
    /wrong purpose null/,
  );
});

Deno.test("verify refuses a tampered payload as a bad signature", async () => {
  const [h, p, s] = (await issue()).split(".");
  const claims = JSON.parse(
    new TextDecoder().decode(
      Uint8Array.from(atob(p!.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
    ),
  );
  claims.identity = "*";
  const forged = btoa(JSON.stringify(claims)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
  const jwt = `${h}.${forged}.${s}`;
  match(
    (await refusal(verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW }))).message,
    /bad signature/,
  );
  equal(
    readProvisioningToken(jwt).identity,
    "*",
    "the agent cannot tell: that is why the hub verifies",
  );
});

Deno.test("verify and read refuse malformed tokens with a precise reason", async () => {
  for (const bad of ["", "not-a-jwt", "a.b.c", "a.b"]) {
    match(
      (await refusal(verifyProvisioningToken(bad, { caCertPem: ca.certPem, now: NOW }))).message,
      /malformed token/,
    );
    throws(
      () => readProvisioningToken(bad),
      (e: unknown) =>
        e instanceof ScoutError && String(e.code) === "TOKEN_INVALID" &&
        /malformed token/.test(e.message),
    );
  }
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, ca_sha256: undefined }, /ca_sha256/],
    [{ ...base, ca_sha256: "abc" }, /ca_sha256: must be 64/],
    [{ ...base, chsrv: "fleet.example.com" }, /exactly one of chu .* and chsrv/],
    [{ ...base, chu: undefined }, /exactly one of chu .* and chsrv/],
    [{ ...base, chu: ["http://hub.example.com/"] }, /chu\.0: must be an https/],
    [{ ...base, chu: [] }, /chu: must name at least one URL/],
    [{ ...base, chu: undefined, chsrv: "bad_domain" }, /chsrv: must be a DNS domain/],
    [{ ...base, identity: "web_1" }, /identity: must be an identity pattern/],
    [{ ...base, single_use: "yes" }, /single_use/],
    [{ ...base, jti: undefined }, /jti/],
  ];
  for (const [claims, why] of cases) {
    const jwt = await signRaw(claims);
    const e = await refusal(verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW }));
    match(e.message, /malformed claims/);
    match(e.message, why);
    throws(() => readProvisioningToken(jwt), why);
  }
});

Deno.test("verify refuses a token whose ca_sha256 pins another CA", async () => {
  const jwt = await issue({ caCertPem: other.certPem });
  match(
    (await refusal(verifyProvisioningToken(jwt, { caCertPem: ca.certPem, now: NOW }))).message,
    /pins a different CA/,
  );
});

Deno.test("issue refuses bad options before signing", async () => {
  for (
    const over of [
      { urls: ["http://hub/"] },
      { urls: [] },
      { urls: undefined, srvDomain: "-bad-" },
      { identityPattern: "web_*" },
      { caCertPem: "nope" },
    ]
  ) {
    let err: unknown;
    await issue(over).catch((e) => err = e);
    ok(err instanceof ScoutError && err.code === "USAGE", `${JSON.stringify(over)}: ${err}`);
  }
  let err: unknown;
  await issue({ caKeyPem: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n" })
    .catch((e) => err = e);
  ok(err instanceof ScoutError && /SEC1/.test(err.message));
});

Deno.test("identityAllowed: * matches any run of characters, the rest matches exactly", () => {
  const table: [string, string, boolean][] = [
    ["*", "web-1.example.com", true],
    ["*", "a", true],
    ["web-*.example.com", "web-1.example.com", true],
    ["web-*.example.com", "web-.example.com", true], // "*" may match nothing
    ["web-*.example.com", "web-a.b.example.com", true],
    ["web-*.example.com", "db-1.example.com", false],
    ["web-*.example.com", "web-1.example.org", false],
    ["web-*.example.com", "web-1.example.com.evil.net", false],
    ["web-*.example.com", "WEB-1.example.com", false],
    ["*.example.com", "example.com", false],
    ["*.example.com", "x.example.com", true],
    ["web-1", "web-1", true],
    ["web-1", "web-10", false],
    ["web-1*", "web-10", true],
    ["*-*-*", "a-b-c", true],
    ["*-*-*", "a-b", false],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "aXcYb", false],
    ["**", "anything", true],
    ["*", "bad_identity", false],
    ["*", "", false],
    ["*", "-leading", false],
    ["", "a", false],
    ["web_*", "web_1", false],
  ];
  for (const [pattern, identity, want] of table) {
    equal(identityAllowed(pattern, identity), want, `${pattern} vs ${identity}`);
  }
});

Deno.test("identityAllowed stays fast on adversarial patterns", () => {
  const identity = "a".repeat(250) + "b";
  const pattern = "*a".repeat(40) + "c";
  equal(identityAllowed(pattern, identity), false);
});
