/**
 * Provisioning tokens: JWTs signed ES256 with the fleet CA's P-256 key that tell an agent where
 * to enrol and which CA to pin. The hub verifies them; the agent only reads them (it cannot
 * verify: it pins the CA named in the token instead). Pure: time comes in as a parameter.
 * @module
 */
import {
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  importPKCS8,
  importX509,
  jwtVerify,
  SignJWT,
} from "jose";
import { z } from "zod";
import { globMatch, GROUP_PATTERN, IDENTITY_PATTERN } from "../config/mod.ts";
import { type ErrorCode, ScoutError } from "../errors.ts";

/**
 * Error code of every refused or unreadable token.
 */
export const TOKEN_INVALID: ErrorCode = "TOKEN_INVALID";

/** The `purpose` claim of every provisioning token (Choria: `choria_provisioning`). */
export const PROVISIONING_PURPOSE = "scout-provisioning" as const;

/** `chsrv` value meaning "look the SRV record up in each of the host's resolv.conf search domains". */
export const SEARCH_DOMAINS = "." as const;

/** The signature algorithm: ECDSA P-256 with SHA-256, the fleet CA's key type. */
const ALG = "ES256";

/** Default allowed clock difference between issuer and verifier. */
const DEFAULT_SKEW_MS = 60_000;

/**
 * The claims of a provisioning token. Names are Choria's (`tokens:provisioning.go`) where the
 * meaning is the same; Scout-only claims are snake_case words.
 */
export interface ProvisioningClaims {
  /** Always "scout-provisioning": an operator or other token can never be used to enrol (Choria: `purpose`). */
  purpose: typeof PROVISIONING_PURPOSE;
  /**
   * Hub HTTPS enrolment URLs, tried in order (Choria: `chu`, there a comma-joined string of
   * broker URLs; here a JSON array of https URLs). Exactly one of `chu` and `chsrv` is set.
   */
  chu?: string[];
  /**
   * DNS domain whose SRV record `_scout-provisioner._tcp.<domain>` names the hubs (Choria:
   * `chsrv`); "." means each of the host's resolv.conf search domains. Exactly one of `chu`
   * and `chsrv` is set.
   */
  chsrv?: string;
  /**
   * Lower-case hex SHA-256 of the fleet CA certificate (DER). The agent verifies the hub's TLS
   * chain against this CA before it sends anything (Choria has no such claim: it uses
   * anonymous TLS while provisioning).
   */
  ca_sha256: string;
  /**
   * The fleet CA certificate itself, base64 DER (as JWS `x5c`): the agent needs it to verify the
   * hub's TLS chain, and checks it against `ca_sha256` first (see pinnedCa).
   */
  ca: string;
  /** Pattern of identities that may enrol with this token: `*` or e.g. `web-*.example.com` (see identityAllowed). */
  identity: string;
  /** True when the hub accepts the token for one enrolment only (it remembers the `jti`). */
  single_use: boolean;
  /**
   * Groups a node enrolled with this token joins (Scout's own claim; absent: none): the hub
   * records them, hands them to the node and lets it read pushed checks of `group.<name>`.
   */
  groups?: string[];
  /** Issuer, free text naming the hub or person that issued it (JWT `iss`). */
  iss: string;
  /** Issued at, seconds since the epoch (JWT `iat`). */
  iat: number;
  /** Not valid before, seconds since the epoch (JWT `nbf`). */
  nbf: number;
  /** Expires at, seconds since the epoch (JWT `exp`). */
  exp: number;
  /** Random unique id of the token, for single use and audit (JWT `jti`). */
  jti: string;
}

const DOMAIN =
  /^(?=.{1,253}\.?$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
const IDENTITY_GLOB = /^[a-zA-Z0-9.*-]{1,253}$/;
const seconds = z.number().int().nonnegative();

const httpsUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === "https:" && u.hostname !== "";
  } catch {
    return false;
  }
}, { message: "must be an https:// URL" });

const claimsSchema = z.object({
  purpose: z.string(),
  chu: z.array(httpsUrl).min(1, { message: "must name at least one URL" }).optional(),
  chsrv: z.string().refine((s) => s === SEARCH_DOMAINS || DOMAIN.test(s), {
    message: 'must be a DNS domain, or "." for the host\'s search domains',
  }).optional(),
  ca_sha256: z.string().regex(/^[0-9a-f]{64}$/, {
    message: "must be 64 lower-case hex digits (SHA-256 of the CA certificate)",
  }),
  ca: z.string().max(16_384).regex(/^[A-Za-z0-9+/]+={0,2}$/, {
    message: "must be the CA certificate, base64 DER",
  }),
  identity: z.string().regex(IDENTITY_GLOB, {
    message: 'must be an identity pattern of letters, digits, ".", "-" and "*"',
  }),
  single_use: z.boolean(),
  groups: z.array(
    z.string().regex(GROUP_PATTERN, {
      message: 'must be group names: letters, digits, "-" and "_", at most 64 characters',
    }),
  ).max(32, { message: "at most 32 groups" }).optional(),
  iss: z.string().min(1),
  iat: seconds,
  nbf: seconds,
  exp: seconds,
  jti: z.string().min(1),
}).superRefine((c, ctx) => {
  if ((c.chu === undefined) === (c.chsrv === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["chu"],
      message: "exactly one of chu (URLs) and chsrv (SRV domain) must be set",
    });
  }
  if (c.exp <= c.nbf) ctx.addIssue({ code: "custom", path: ["exp"], message: "must be after nbf" });
});

function invalid(reason: string, hint: string, context: Record<string, unknown> = {}): ScoutError {
  return new ScoutError(TOKEN_INVALID, `provisioning token refused: ${reason}`, {
    hint,
    context: { reason, ...context },
  });
}

/** Checks the decoded payload: purpose first (its own reason), then the shape of every claim. */
function parseClaims(payload: unknown): ProvisioningClaims {
  const purpose = (payload as { purpose?: unknown } | null)?.purpose;
  if (purpose !== PROVISIONING_PURPOSE) {
    throw invalid(
      `wrong purpose ${JSON.stringify(purpose ?? null)} (want "${PROVISIONING_PURPOSE}")`,
      "use a token made by `scout-hub token provisioning`; operator tokens cannot enrol",
      { purpose },
    );
  }
  const r = claimsSchema.safeParse(payload);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`);
    throw invalid(
      `malformed claims (${what.join("; ")})`,
      "issue a new token with `scout-hub token provisioning`",
    );
  }
  const c = r.data;
  return {
    purpose: PROVISIONING_PURPOSE,
    ...(c.chu === undefined ? {} : { chu: c.chu }),
    ...(c.chsrv === undefined ? {} : { chsrv: c.chsrv }),
    ca_sha256: c.ca_sha256,
    ca: c.ca,
    identity: c.identity,
    single_use: c.single_use,
    ...(c.groups === undefined ? {} : { groups: [...new Set(c.groups)].sort() }),
    iss: c.iss,
    iat: c.iat,
    nbf: c.nbf,
    exp: c.exp,
    jti: c.jti,
  };
}

/** Returns the DER bytes of the first certificate in a PEM text. */
function pemToDer(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const m = pem.match(
    new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`),
  );
  if (!m) {
    throw new ScoutError("USAGE", `no PEM "${label}" block found`, {
      hint: `give a PEM file that contains -----BEGIN ${label}-----`,
    });
  }
  const b64 = m[1]!.replace(/\s+/g, "");
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Lower-case hex SHA-256 of the first certificate of a PEM text: the `ca_sha256` pin. */
export async function caFingerprint(caCertPem: string): Promise<string> {
  const der = pemToDer(caCertPem, "CERTIFICATE");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Options of issueProvisioningToken; exactly one of `urls` and `srvDomain`. */
export type IssueProvisioningOptions =
  & {
    /** The fleet CA's P-256 private key, PEM PKCS#8 ("BEGIN PRIVATE KEY"). */
    caKeyPem: string;
    /** The fleet CA certificate PEM: becomes `ca` and `ca_sha256`. */
    caCertPem: string;
    /** `identity`: which identities may enrol (`*` for any). */
    identityPattern: string;
    /** Lifetime in milliseconds from `now`; rounded down to whole seconds. */
    ttlMs: number;
    /** `single_use`: the hub accepts it once. */
    singleUse: boolean;
    /** `groups`: the groups enrolled nodes join; default none. */
    groups?: string[];
    /** The time of issue (`iat` and `nbf`). */
    now: Date;
    /** `iss`; default "scout". */
    issuer?: string;
    /** `jti`; default 16 random bytes in hex (tests pass a fixed one). */
    jti?: string;
  }
  & ({ urls: string[]; srvDomain?: never } | { srvDomain: string; urls?: never });

async function importCaKey(pem: string): Promise<CryptoKey> {
  if (/BEGIN EC PRIVATE KEY/.test(pem)) {
    throw new ScoutError("USAGE", "the CA key is in SEC1 form (BEGIN EC PRIVATE KEY)", {
      hint: "convert it: openssl pkcs8 -topk8 -nocrypt -in ca.key -out ca.pk8.key",
    });
  }
  try {
    return await importPKCS8(pem, ALG);
  } catch (e) {
    throw new ScoutError("USAGE", `cannot use the CA key: ${(e as Error).message}`, {
      hint: "the CA key must be an ECDSA P-256 private key in PEM PKCS#8 (BEGIN PRIVATE KEY)",
      cause: e,
    });
  }
}

/** Signs a provisioning token with the CA key; the claims are checked before signing. */
export async function issueProvisioningToken(opts: IssueProvisioningOptions): Promise<string> {
  const iat = Math.floor(opts.now.getTime() / 1000);
  const exp = Math.floor((opts.now.getTime() + opts.ttlMs) / 1000);
  const jti = opts.jti ??
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
  const claims = {
    purpose: PROVISIONING_PURPOSE,
    ...(opts.urls === undefined ? {} : { chu: opts.urls }),
    ...(opts.srvDomain === undefined ? {} : { chsrv: opts.srvDomain }),
    ca_sha256: await caFingerprint(opts.caCertPem),
    ca: btoa(String.fromCharCode(...pemToDer(opts.caCertPem, "CERTIFICATE"))),
    identity: opts.identityPattern,
    single_use: opts.singleUse,
    ...(opts.groups?.length ? { groups: opts.groups } : {}),
    iss: opts.issuer ?? "scout",
    iat,
    nbf: iat,
    exp,
    jti,
  };
  try {
    parseClaims(claims);
  } catch (e) {
    const reason = e instanceof ScoutError ? String(e.context["reason"]) : String(e);
    throw new ScoutError("USAGE", `cannot issue provisioning token: ${reason}`, {
      hint: "check --url/--srv-domain, --identity, --group and --expires",
    });
  }
  const key = await importCaKey(opts.caKeyPem);
  return await new SignJWT(claims).setProtectedHeader({ alg: ALG, typ: "JWT" }).sign(key);
}

/** Options of verifyProvisioningToken: the CA (certificate PEM or public key), time and skew. */
export type VerifyProvisioningOptions =
  & {
    /** The verifier's current time. */
    now: Date;
    /** Allowed clock difference for `exp` and `nbf`; default 60 000 ms. */
    clockSkewMs?: number;
  }
  & (
    | {
      /** The fleet CA certificate PEM; also checks that `ca_sha256` pins this CA. */
      caCertPem: string;
      caPublicKey?: never;
    }
    | {
      /** The fleet CA public key (ECDSA P-256, usage "verify"). */
      caPublicKey: CryptoKey;
      caCertPem?: never;
    }
  );

const ISSUE_NEW = "issue a new token with `scout-hub token provisioning`";

/**
 * Verifies a token on the hub: signature by the fleet CA, `nbf`/`exp` against `now` with the
 * skew, purpose and claim shapes. Throws ScoutError(TOKEN_INVALID) naming the precise reason.
 */
export async function verifyProvisioningToken(
  jwt: string,
  opts: VerifyProvisioningOptions,
): Promise<ProvisioningClaims> {
  const key = opts.caCertPem === undefined
    ? opts.caPublicKey
    : await importX509(opts.caCertPem, ALG).catch((e: Error) => {
      throw new ScoutError("USAGE", `cannot use the CA certificate: ${e.message}`, {
        hint: "the CA certificate must be PEM with an ECDSA P-256 key",
        cause: e,
      });
    });
  let payload: unknown;
  try {
    const r = await jwtVerify(jwt.trim(), key, {
      algorithms: [ALG],
      currentDate: opts.now,
      clockTolerance: Math.floor((opts.clockSkewMs ?? DEFAULT_SKEW_MS) / 1000),
    });
    payload = r.payload;
  } catch (e) {
    throw mapJoseError(e);
  }
  const claims = parseClaims(payload);
  if (opts.caCertPem !== undefined) {
    const pin = await caFingerprint(opts.caCertPem);
    if (pin !== claims.ca_sha256) {
      throw invalid("ca_sha256 pins a different CA than the one that signed it", ISSUE_NEW, {
        want: pin,
        got: claims.ca_sha256,
      });
    }
  }
  return claims;
}

function mapJoseError(e: unknown): ScoutError {
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
    return invalid("bad signature (not signed by this fleet's CA, or altered)", ISSUE_NEW);
  }
  if (e instanceof joseErrors.JWTExpired) {
    return invalid("expired", ISSUE_NEW, { exp: e.payload.exp });
  }
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") {
      return invalid("not yet valid (nbf is in the future)", "check the clocks of hub and issuer", {
        nbf: e.payload.nbf,
      });
    }
    return invalid(`malformed claims (${e.claim}: ${e.message})`, ISSUE_NEW);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) {
    return invalid(`wrong algorithm (want ${ALG})`, ISSUE_NEW);
  }
  if (e instanceof joseErrors.JOSEError) {
    return invalid(`malformed token (${e.message})`, "give the whole JWT: three base64url parts");
  }
  return invalid(`malformed token (${(e as Error)?.message ?? String(e)})`, ISSUE_NEW);
}

/**
 * Decodes and checks the claims WITHOUT verifying the signature (the agent's view: it cannot
 * verify, it pins the CA in `ca_sha256` instead). Throws ScoutError(TOKEN_INVALID).
 */
export function readProvisioningToken(jwt: string): ProvisioningClaims {
  const text = jwt.trim();
  let payload: unknown;
  try {
    const header = decodeProtectedHeader(text);
    if (header.alg !== ALG) {
      throw invalid(
        `wrong algorithm ${JSON.stringify(header.alg ?? null)} (want ${ALG})`,
        ISSUE_NEW,
      );
    }
    payload = decodeJwt(text);
  } catch (e) {
    if (e instanceof ScoutError) throw e;
    throw invalid(
      `malformed token (${(e as Error).message})`,
      "the token file must hold one JWT: three base64url parts joined by dots",
    );
  }
  return parseClaims(payload);
}

/**
 * The CA a token pins, as PEM, after checking that its SHA-256 is `ca_sha256`. The agent trusts
 * only this CA when it talks to the hub.
 *
 * @param claims claims from readProvisioningToken
 * @returns the CA certificate PEM
 */
export async function pinnedCa(claims: ProvisioningClaims): Promise<string> {
  const body = claims.ca.match(/.{1,64}/g)!.join("\n");
  const pem = `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  if ((await caFingerprint(pem)) !== claims.ca_sha256) {
    throw invalid("the CA in the token does not match its ca_sha256 pin", ISSUE_NEW);
  }
  return pem;
}

/**
 * True when `identity` matches the glob `pattern`. `*` matches any run of characters,
 * including none and including dots (so `*.example.com` also admits `a.b.example.com`);
 * every other character matches itself exactly (case-sensitive, as identities are NATS subject
 * tokens). An identity that is not a valid identity never matches.
 */
export function identityAllowed(pattern: string, identity: string): boolean {
  return IDENTITY_PATTERN.test(identity) && IDENTITY_GLOB.test(pattern) &&
    globMatch(pattern, identity);
}
