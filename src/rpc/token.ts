/**
 * Operator tokens: JWTs that say who a caller is, which ed25519 key signs its requests, and
 * what it may do (actions, nodes, checks). Issued ES256 by the fleet CA (`scout token operator`)
 * or by an SSO / OIDC provider whose keys come from a JWKS document. Pure: time is a parameter.
 *
 * Key binding (all issuers): the caller's ed25519 public key is in the RFC 7800
 * proof-of-possession claim `cnf: { jwk: { kty: "OKP", crv: "Ed25519", x } }`; a token without
 * it is refused, so a stolen token alone cannot sign requests. Grants: `scout_actions` (array of
 * action names or `["*"]`), `scout_nodes` (identity glob), `scout_checks` (check-name glob).
 * An SSO token that leaves them out gets `[]`, `"*"`, `"*"`: read-only listing on every node.
 * Every operator token carries `purpose: "scout-operator"`, so a provisioning token (or another
 * application's ID token from the same provider) is never an operator token.
 * @module
 */
import {
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  importPKCS8,
  importX509,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import { z } from "zod";
import { ScoutError } from "../errors.ts";
import { GRANTS, MAX_GLOB } from "./_actions.ts";

/** The `purpose` claim of every operator token. */
export const OPERATOR_PURPOSE = "scout-operator" as const;

/** Default allowed clock difference between issuer and verifier for `exp`/`nbf`. */
export const DEFAULT_TOKEN_SKEW_MS = 60_000;

/** Algorithms accepted from JWKS issuers; the fleet CA always signs ES256. */
export const JWKS_ALGORITHMS = ["RS256", "ES256", "EdDSA", "Ed25519"] as const;

/** An ed25519 public key as a JWK (RFC 8037), the form `cnf.jwk` carries. */
export interface Ed25519Jwk {
  /** Always "OKP". */
  kty: "OKP";
  /** Always "Ed25519". */
  crv: "Ed25519";
  /** The 32-byte public key, base64url without padding. */
  x: string;
}

/** The verified claims of an operator token. */
export interface OperatorClaims {
  /** Always "scout-operator". */
  purpose: typeof OPERATOR_PURPOSE;
  /** Issuer: the fleet CA's issuer name (default "scout") or the SSO provider's issuer URL. */
  iss: string;
  /** The caller's name, as audited and matched by policy `callers`. */
  sub: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issued at, seconds since the epoch, when present. */
  iat?: number;
  /** Not before, seconds since the epoch, when present. */
  nbf?: number;
  /** Token id, when present. */
  jti?: string;
  /** Proof-of-possession key: requests must be signed by this ed25519 key. */
  cnf: { jwk: Ed25519Jwk };
  /** Actions granted beyond the read-only listing; `["*"]` grants all. */
  scout_actions: string[];
  /** Glob of node identities the token may address. */
  scout_nodes: string;
  /** Glob of check (machine) names the token may act on. */
  scout_checks: string;
}

/**
 * A trusted issuer. `fleet-ca`: tokens whose `iss` equals `issuer` (default "scout") must be
 * signed ES256 by the CA certificate's key. `jwks`: tokens whose `iss` equals `issuer` are
 * verified with the key of the JWKS document selected by the header's `kid` (RS256, ES256,
 * EdDSA), and `aud` must contain `audience` when it is set.
 */
export type TrustedIssuer =
  | { kind: "fleet-ca"; certPem: string; issuer?: string }
  | { kind: "jwks"; issuer: string; jwks: JSONWebKeySet; audience?: string };

/** Options of verifyOperatorToken. */
export interface VerifyOperatorOptions {
  /** Trusted issuers; a token whose `iss` names none of them is refused. */
  trust: readonly TrustedIssuer[];
  /** The verifier's current time, ms since the epoch. */
  now: number;
  /** Allowed clock difference for `exp`/`nbf`; default 60 000 ms. */
  skewMs?: number;
}

/** Options of issueOperatorToken. */
export interface IssueOperatorOptions {
  /** The fleet CA's P-256 private key, PEM PKCS#8 ("BEGIN PRIVATE KEY"). */
  issuerKeyPem: string;
  /** `iss`; default "scout" (must equal the verifier's fleet-ca `issuer`). */
  issuer?: string;
  /** `sub`: the caller's name. */
  subject: string;
  /** The caller's ed25519 public key: 32 raw bytes or a JWK; becomes `cnf.jwk`. */
  callerPublicKey: Uint8Array | JsonWebKey;
  /** `scout_actions`: action names, or `["*"]` for all. */
  actions: string[];
  /** `scout_nodes`: identity glob. */
  nodes: string;
  /** `scout_checks`: check-name glob. */
  checks: string;
  /** Lifetime in ms from `now`, rounded down to whole seconds. */
  ttlMs: number;
  /** Time of issue, ms since the epoch. */
  now: number;
  /** `jti`; default 16 random bytes in hex. */
  jti?: string;
}

const GLOB = z.string().min(1).max(MAX_GLOB).regex(/^[^\s\p{Cc}]+$/u, {
  message: "must be a glob without spaces or control characters",
});
const seconds = z.number().int().nonnegative();
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

const ed25519JwkSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().regex(B64URL_32, { message: "must be 32 bytes, base64url" }),
});

const claimsSchema = z.object({
  purpose: z.literal(OPERATOR_PURPOSE),
  iss: z.string().min(1).max(1024),
  sub: z.string().min(1).max(256).regex(/^[^\p{Cc}]+$/u, {
    message: "must not contain control characters",
  }),
  exp: seconds,
  iat: seconds.optional(),
  nbf: seconds.optional(),
  jti: z.string().min(1).max(256).optional(),
  cnf: z.object({ jwk: ed25519JwkSchema }),
  scout_actions: z.array(z.string().min(1).max(64)).max(64).default([]),
  scout_nodes: GLOB.default("*"),
  scout_checks: GLOB.default("*"),
});

function refuse(reason: string, hint: string, context: Record<string, unknown> = {}): ScoutError {
  return new ScoutError("TOKEN_INVALID", `operator token refused: ${reason}`, {
    hint,
    context: { reason, ...context },
  });
}

const REISSUE = "get a new token with `scout-hub token operator` (or from your SSO provider)";

/** Checks a verified payload: purpose, the `cnf` key binding, then every claim's shape. */
function parseClaims(payload: JWTPayload): OperatorClaims {
  const purpose = payload["purpose"];
  if (purpose !== OPERATOR_PURPOSE) {
    throw refuse(
      `wrong purpose ${JSON.stringify(purpose ?? null)} (want "${OPERATOR_PURPOSE}")`,
      "provisioning tokens and other applications' tokens are never operator tokens; " + REISSUE,
      { purpose },
    );
  }
  const cnf = payload["cnf"] as { jwk?: unknown } | undefined;
  if (cnf === undefined || cnf === null || typeof cnf !== "object" || cnf.jwk === undefined) {
    throw refuse(
      "no cnf.jwk proof-of-possession key (the token is not bound to a caller key)",
      'the issuer must put the caller\'s ed25519 key in "cnf": {"jwk": {...}} (RFC 7800)',
    );
  }
  const r = claimsSchema.safeParse(payload);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`);
    throw refuse(`malformed claims (${what.join("; ")})`, REISSUE);
  }
  const c = r.data;
  return {
    purpose: OPERATOR_PURPOSE,
    iss: c.iss,
    sub: c.sub,
    exp: c.exp,
    ...(c.iat === undefined ? {} : { iat: c.iat }),
    ...(c.nbf === undefined ? {} : { nbf: c.nbf }),
    ...(c.jti === undefined ? {} : { jti: c.jti }),
    cnf: { jwk: { kty: "OKP", crv: "Ed25519", x: c.cnf.jwk.x } },
    scout_actions: c.scout_actions,
    scout_nodes: c.scout_nodes,
    scout_checks: c.scout_checks,
  };
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** Converts 32 raw bytes or a JWK to the `cnf.jwk` form; throws USAGE for anything else. */
export function toEd25519Jwk(key: Uint8Array | JsonWebKey): Ed25519Jwk {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) {
      throw new ScoutError("USAGE", `an ed25519 public key has 32 bytes, not ${key.length}`, {
        hint: "make a caller key with `scout token keypair`",
      });
    }
    return { kty: "OKP", crv: "Ed25519", x: b64url(key) };
  }
  const r = ed25519JwkSchema.safeParse(key);
  if (!r.success) {
    throw new ScoutError("USAGE", "the caller key is not an ed25519 public JWK", {
      hint: 'give {"kty":"OKP","crv":"Ed25519","x":"..."} or a PEM from `scout token keypair`',
    });
  }
  return { kty: "OKP", crv: "Ed25519", x: r.data.x };
}

function pemBody(pem: string, label: string): Uint8Array<ArrayBuffer> | null {
  const m = pem.match(
    new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`),
  );
  if (!m) return null;
  const bin = atob(m[1]!.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Reads a caller's ed25519 public key from text: PEM SPKI ("BEGIN PUBLIC KEY") or a JWK (JSON).
 * Throws ScoutError(USAGE) when it is neither.
 */
export async function parseCallerPublicKey(text: string): Promise<Ed25519Jwk> {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(trimmed);
    } catch (e) {
      throw new ScoutError("USAGE", `the caller key is not valid JSON: ${(e as Error).message}`, {
        hint: "give an ed25519 public key as PEM or JWK",
      });
    }
    return toEd25519Jwk(jwk as JsonWebKey);
  }
  const der = pemBody(trimmed, "PUBLIC KEY");
  if (der === null) {
    throw new ScoutError("USAGE", "no ed25519 public key found (want PEM or JWK)", {
      hint: "give the public key file written by `scout token keypair --out-public`",
    });
  }
  try {
    const key = await crypto.subtle.importKey("spki", der, { name: "Ed25519" }, true, [
      "verify",
    ]);
    return toEd25519Jwk(await crypto.subtle.exportKey("jwk", key));
  } catch (e) {
    if (e instanceof ScoutError) throw e;
    throw new ScoutError("USAGE", `the public key is not ed25519: ${(e as Error).message}`, {
      hint: "make a caller key with `scout token keypair`",
    });
  }
}

/** Reads a caller's ed25519 private key (PEM PKCS#8) for signRequest. Throws ScoutError(USAGE). */
export async function importCallerPrivateKey(pemText: string): Promise<CryptoKey> {
  const der = pemBody(pemText, "PRIVATE KEY");
  if (der === null) {
    throw new ScoutError("USAGE", "no PEM private key found (want BEGIN PRIVATE KEY)", {
      hint: "give the private key file written by `scout token keypair --out-private`",
    });
  }
  try {
    return await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  } catch (e) {
    throw new ScoutError("USAGE", `the private key is not ed25519: ${(e as Error).message}`, {
      hint: "make a caller key with `scout token keypair`",
    });
  }
}

/** A new ed25519 caller key pair as PEM: private PKCS#8 and public SPKI, plus the public JWK. */
export async function generateCallerKeyPair(): Promise<
  { privatePem: string; publicPem: string; publicJwk: Ed25519Jwk }
> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", pair.privateKey);
  const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return {
    privatePem: pem("PRIVATE KEY", pkcs8),
    publicPem: pem("PUBLIC KEY", spki),
    publicJwk: toEd25519Jwk(jwk),
  };
}

/**
 * Signs an operator token ES256 with the fleet CA key. The grants are checked first: actions
 * must be known names or `*`, globs non-empty without spaces. Throws ScoutError(USAGE).
 */
export async function issueOperatorToken(opts: IssueOperatorOptions): Promise<string> {
  const unknown = opts.actions.filter((a) => a !== "*" && !GRANTS.includes(a));
  if (unknown.length > 0) {
    throw new ScoutError("USAGE", `unknown action(s): ${unknown.join(", ")}`, {
      hint: `actions are ${GRANTS.join(", ")}, or "*" for all`,
    });
  }
  const iat = Math.floor(opts.now / 1000);
  const exp = Math.floor((opts.now + opts.ttlMs) / 1000);
  const claims = {
    purpose: OPERATOR_PURPOSE,
    iss: opts.issuer ?? "scout",
    sub: opts.subject,
    iat,
    nbf: iat,
    exp,
    jti: opts.jti ??
      Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
        .join(""),
    cnf: { jwk: toEd25519Jwk(opts.callerPublicKey) },
    scout_actions: [...new Set(opts.actions)],
    scout_nodes: opts.nodes,
    scout_checks: opts.checks,
  };
  try {
    parseClaims(claims);
  } catch (e) {
    const reason = e instanceof ScoutError ? String(e.context["reason"]) : String(e);
    throw new ScoutError("USAGE", `cannot issue operator token: ${reason}`, {
      hint: "check --name, --nodes, --checks and --expires",
    });
  }
  if (exp <= iat) {
    throw new ScoutError("USAGE", "cannot issue operator token: lifetime under a second", {
      hint: 'give a lifetime such as "8h"',
    });
  }
  let key: CryptoKey;
  try {
    key = await importPKCS8(opts.issuerKeyPem, "ES256");
  } catch (e) {
    throw new ScoutError("USAGE", `cannot use the CA key: ${(e as Error).message}`, {
      hint: "the CA key must be an ECDSA P-256 private key in PEM PKCS#8 (BEGIN PRIVATE KEY)",
      cause: e,
    });
  }
  return await new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "JWT" }).sign(key);
}

type Resolved = { kind: "fleet-ca"; key: CryptoKey } | {
  kind: "jwks";
  getKey: ReturnType<typeof createLocalJWKSet>;
};
const resolved = new WeakMap<TrustedIssuer, Promise<Resolved>>();

function resolve(t: TrustedIssuer): Promise<Resolved> {
  let r = resolved.get(t);
  if (r === undefined) {
    r = t.kind === "fleet-ca"
      ? importX509(t.certPem, "ES256").then((key) => ({ kind: "fleet-ca" as const, key }))
      : Promise.resolve().then(() => ({
        kind: "jwks" as const,
        getKey: createLocalJWKSet(t.jwks),
      }));
    resolved.set(t, r);
  }
  return r;
}

function issuerOf(t: TrustedIssuer): string {
  return t.kind === "fleet-ca" ? t.issuer ?? "scout" : t.issuer;
}

/**
 * Verifies an operator token: its `iss` selects a trusted issuer, whose key (fleet CA
 * certificate, or the JWKS key named by `kid`) must have signed it; then `exp`/`nbf` with the
 * skew, `aud` for JWKS issuers with an audience, `purpose`, the `cnf` key and every claim.
 * Throws ScoutError(TOKEN_INVALID) whose `context.reason` names the precise reason.
 */
export async function verifyOperatorToken(
  jwt: string,
  opts: VerifyOperatorOptions,
): Promise<OperatorClaims> {
  const text = jwt.trim();
  let iss: unknown;
  try {
    iss = decodeJwt(text).iss;
  } catch (e) {
    throw refuse(`malformed token (${(e as Error).message})`, "send the whole JWT");
  }
  const entry = opts.trust.find((t) => issuerOf(t) === iss);
  if (entry === undefined) {
    throw refuse(
      `unknown issuer ${JSON.stringify(iss ?? null)}`,
      "the node trusts only its fleet CA and the configured SSO issuers",
      { iss },
    );
  }
  let trust: Resolved;
  try {
    trust = await resolve(entry);
  } catch (e) {
    throw refuse(
      `trusted issuer ${JSON.stringify(iss)} is unusable (${(e as Error).message})`,
      "fix the node's trust configuration (fleet CA certificate or JWKS document)",
    );
  }
  const common = {
    currentDate: new Date(opts.now),
    clockTolerance: Math.floor((opts.skewMs ?? DEFAULT_TOKEN_SKEW_MS) / 1000),
    requiredClaims: ["exp"],
  };
  let payload: JWTPayload;
  try {
    if (trust.kind === "fleet-ca") {
      payload = (await jwtVerify(text, trust.key, { ...common, algorithms: ["ES256"] })).payload;
    } else {
      const aud = entry.kind === "jwks" ? entry.audience : undefined;
      payload = (await jwtVerify(text, trust.getKey, {
        ...common,
        algorithms: [...JWKS_ALGORITHMS],
        ...(aud === undefined ? {} : { audience: aud }),
      })).payload;
    }
  } catch (e) {
    throw mapJoseError(e, String(iss));
  }
  return parseClaims(payload);
}

function mapJoseError(e: unknown, iss: string): ScoutError {
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
    return refuse(
      `bad signature (not signed by issuer ${JSON.stringify(iss)}, or altered)`,
      REISSUE,
    );
  }
  if (e instanceof joseErrors.JWTExpired) return refuse("expired", REISSUE, { exp: e.payload.exp });
  if (e instanceof joseErrors.JWKSNoMatchingKey) {
    return refuse(
      `unknown key id: no key of issuer ${JSON.stringify(iss)} matches the token's kid/alg`,
      "refresh the node's copy of the issuer's JWKS document",
    );
  }
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return refuse("ambiguous key: several JWKS keys match and none verifies", REISSUE);
  }
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") return refuse("not yet valid (nbf is in the future)", REISSUE);
    return refuse(`malformed claims (${e.claim}: ${e.message})`, REISSUE);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) {
    return refuse(`algorithm not allowed (${(e as Error).message})`, REISSUE);
  }
  return refuse(`malformed token (${(e as Error)?.message ?? String(e)})`, "send the whole JWT");
}
