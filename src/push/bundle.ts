/**
 * Signed check bundles: what `scout push` stores under a key of the `SCOUT_CHECKS` KV bucket and
 * what a node verifies before it runs the checks. Pure: time is a parameter, no I/O.
 *
 * A bundle is JSON: `{ v: 1, key, seq, issued, expires, author, issuer, token, checks, sig }`.
 * `checks` is the text of a check file (non-empty), or null for a tombstone (a signed removal).
 * `sig` is ed25519, by the key the operator token binds (`cnf.jwk`), over the UTF-8 bytes of
 * `scout-push-v1|<key>|<seq>|<issued>|<expires>|<sha256 hex of (checks ?? "")>`. A tombstone
 * and an empty file would sign the same text, so an empty `checks` string is refused by shape.
 * @module
 */
import { z } from "zod";
import { ScoutError } from "../errors.ts";
import {
  type CheckSpec,
  GROUP_PATTERN,
  IDENTITY_PATTERN,
  loadCheckFile,
  sha256Hex,
} from "../config/mod.ts";
import {
  globMatch,
  type OperatorClaims,
  type TrustedIssuer,
  verifyOperatorToken,
} from "../rpc/mod.ts";

/** The bundle format version. */
export const BUNDLE_VERSION = 1;

/** The domain-separation prefix of the signed text. */
export const PUSH_SIGNATURE_CONTEXT = "scout-push-v1";

/** The action a token must grant (or `*`) to push. */
export const PUSH_ACTION = "push";

/** Longest accepted bundle life (`expires - issued`): 30 days. */
export const DEFAULT_MAX_BUNDLE_LIFE_MS = 30 * 24 * 3_600_000;

/** Allowed clock difference between the pusher and the node, for `issued`. */
export const DEFAULT_PUSH_SKEW_MS = 60_000;

/** Largest accepted bundle, bytes of JSON. */
export const MAX_BUNDLE_BYTES = 256 * 1024;

const KEY_PATTERN = /^(node\.[a-zA-Z0-9_-]{1,253}|group\.[a-zA-Z0-9][a-zA-Z0-9_-]{0,63})$/;

/** A signed check bundle as stored in the bucket. */
export interface Bundle {
  /** Format version, always 1. */
  v: typeof BUNDLE_VERSION;
  /** The KV key it is meant for: `node.<token>` or `group.<name>`. */
  key: string;
  /** Sequence number, monotonic per key; a node refuses anything not above what it applied. */
  seq: number;
  /** When it was signed, ms since the epoch. */
  issued: number;
  /** Nodes refuse it from this time on, ms since the epoch (applied checks keep running). */
  expires: number;
  /** The operator token's `sub`. */
  author: string;
  /** The operator token's `iss`. */
  issuer: string;
  /** The operator token (JWT) that grants the push and binds the signing key. */
  token: string;
  /** Check file text (YAML); null for a tombstone. */
  checks: string | null;
  /** ed25519 signature, base64url, over signedText(). */
  sig: string;
}

const bundleSchema = z.object({
  v: z.literal(BUNDLE_VERSION),
  key: z.string().regex(KEY_PATTERN),
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  issued: z.number().int().nonnegative(),
  expires: z.number().int().nonnegative(),
  author: z.string().min(1).max(256),
  issuer: z.string().min(1).max(1024),
  token: z.string().min(1).max(16_384),
  checks: z.string().min(1).max(MAX_BUNDLE_BYTES).nullable(),
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
}).strict();

/** The KV key of a node: `node.<identity with "." -> "_">`. */
export function nodeKey(identity: string): string {
  if (!IDENTITY_PATTERN.test(identity)) {
    throw new ScoutError("IDENTITY_INVALID", `invalid node identity "${identity}"`, {
      hint: "use letters, digits, '.' and '-', starting and ending with a letter or digit",
    });
  }
  return `node.${identity.replaceAll(".", "_")}`;
}

/** The KV key of a group: `group.<name>`. */
export function groupKey(group: string): string {
  if (!GROUP_PATTERN.test(group)) {
    throw new ScoutError("USAGE", `invalid group name "${group}"`, {
      hint:
        "a group name has letters, digits, '_' and '-' (at most 64), starting with a letter or digit",
    });
  }
  return `group.${group}`;
}

/** The text a bundle's signature covers. */
export function signedText(
  b: Pick<Bundle, "key" | "seq" | "issued" | "expires" | "checks">,
): string {
  return [
    PUSH_SIGNATURE_CONTEXT,
    b.key,
    String(b.seq),
    String(b.issued),
    String(b.expires),
    sha256Hex(b.checks ?? ""),
  ].join("|");
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Options of signBundle. */
export interface SignBundleOptions {
  /** `node.<token>` or `group.<name>`. */
  key: string;
  /** The sequence: the key's last one + 1. */
  seq: number;
  /** Check file text, or null for a tombstone. */
  checks: string | null;
  /** The operator token (its `sub` and `iss` become author and issuer). */
  token: string;
  /** The caller's ed25519 private key (the token's `cnf.jwk` key). */
  privateKey: CryptoKey;
  /** Signing time, ms since the epoch. */
  now: number;
  /** Lifetime from `now`, ms; default 7 days. */
  ttlMs?: number;
}

/** Signs a bundle. The token is read (not verified) for author and issuer. */
export async function signBundle(opts: SignBundleOptions): Promise<Bundle> {
  if (!KEY_PATTERN.test(opts.key)) {
    throw new ScoutError("USAGE", `invalid push key "${opts.key}"`, {
      hint: "a key is node.<identity with . as _> or group.<name>",
    });
  }
  if (opts.checks === "") {
    throw new ScoutError("USAGE", "an empty check file cannot be pushed", {
      hint: "push a file with a checks: list, or remove the bundle with --remove",
    });
  }
  const claims = decodePayload(opts.token);
  const issued = Math.floor(opts.now);
  const unsigned: Omit<Bundle, "sig"> = {
    v: BUNDLE_VERSION,
    key: opts.key,
    seq: opts.seq,
    issued,
    expires: issued + (opts.ttlMs ?? 7 * 24 * 3_600_000),
    author: String(claims["sub"] ?? ""),
    issuer: String(claims["iss"] ?? ""),
    token: opts.token.trim(),
    checks: opts.checks,
  };
  const sig = new Uint8Array(
    await crypto.subtle.sign(
      "Ed25519",
      opts.privateKey,
      new TextEncoder().encode(signedText(unsigned)),
    ),
  );
  return { ...unsigned, sig: b64url(sig) };
}

function decodePayload(jwt: string): Record<string, unknown> {
  const part = jwt.trim().split(".")[1];
  try {
    return JSON.parse(new TextDecoder().decode(fromB64url(part ?? ""))) as Record<string, unknown>;
  } catch {
    throw new ScoutError("USAGE", "the operator token is not a JWT", {
      hint: "give the token file written by `scout-hub token operator`",
    });
  }
}

/** Why a bundle was refused; `reason` names it precisely. */
export type RefusalStep =
  | "shape"
  | "token"
  | "rights"
  | "signature"
  | "key"
  | "replay"
  | "expired"
  | "checks";

/** Options of verifyBundle. */
export interface VerifyBundleOptions {
  /** The KV key the bundle was read from. */
  key: string;
  /** This node's identity. */
  node: string;
  /** This node's groups. */
  groups: readonly string[];
  /** Trusted token issuers (the node API's trust list). */
  trust: readonly TrustedIssuer[];
  /** The node's current time, ms since the epoch. */
  now: number;
  /** The sequence applied for this key so far (0: none). */
  appliedSeq: number;
  /** Longest accepted `expires - issued`; default 30 days. */
  maxLifeMs?: number;
  /** Allowed clock difference for `issued`; default 60 s. */
  skewMs?: number;
}

/** A verified bundle: the bundle, the token's claims and the parsed checks (empty for a tombstone). */
export interface VerifiedBundle {
  /** The bundle. */
  bundle: Bundle;
  /** The operator token's verified claims. */
  claims: OperatorClaims;
  /** The checks it defines; empty for a tombstone. */
  specs: CheckSpec[];
}

/** The result of verifyBundle; a refusal names what could be read of the bundle (else null). */
export type VerifyResult =
  | { ok: true; value: VerifiedBundle }
  | {
    ok: false;
    step: RefusalStep;
    reason: string;
    seq: number | null;
    author: string | null;
    issuer: string | null;
    issued: number | null;
    checks: string[];
  };

/**
 * Verifies a bundle read from `opts.key`, in this order: JSON and shape; the operator token
 * (trusted issuer, valid at the bundle's `issued` time, author and issuer equal to its claims);
 * the right to push (`scout_actions` has "push" or "*"; for `node.<t>` the `scout_nodes` glob
 * matches this node; for `group.<g>` the token's `scout_groups` glob matches the group, or
 * without that claim `scout_nodes` is "*"); the ed25519 signature by the token's `cnf.jwk` key;
 * the key inside equals the KV key and is this node's own or one of its groups'; the sequence
 * is above `appliedSeq`; `issued` is not in the future, the bundle is not expired and its life is
 * at most `maxLifeMs`; the checks parse, and every check name matches the token's
 * `scout_checks` glob. Never throws.
 */
export async function verifyBundle(
  raw: Uint8Array | string,
  opts: VerifyBundleOptions,
): Promise<VerifyResult> {
  let seq: number | null = null;
  let author: string | null = null;
  let issuer: string | null = null;
  let issued: number | null = null;
  let checks: string[] = [];
  const no = (step: RefusalStep, reason: string): VerifyResult => ({
    ok: false,
    step,
    reason,
    seq,
    author,
    issuer,
    issued,
    checks,
  });
  const size = typeof raw === "string" ? raw.length : raw.byteLength;
  if (size > MAX_BUNDLE_BYTES * 2) return no("shape", `bundle too large (${size} bytes)`);
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === "string" ? raw : new TextDecoder().decode(raw));
  } catch (e) {
    return no("shape", `not JSON (${(e as Error).message})`);
  }
  const parsed = bundleSchema.safeParse(json);
  if (!parsed.success) {
    const what = parsed.error.issues.map((i) => `${i.path.join(".") || "bundle"}: ${i.message}`);
    return no("shape", `malformed bundle (${what.join("; ")})`);
  }
  const b = parsed.data as Bundle;
  seq = b.seq;
  author = b.author;
  issuer = b.issuer;
  issued = b.issued;

  // The token: trusted issuer, valid when the bundle was signed.
  let claims: OperatorClaims;
  try {
    claims = await verifyOperatorToken(b.token, { trust: opts.trust, now: b.issued });
  } catch (e) {
    const reason = e instanceof ScoutError ? String(e.context["reason"] ?? e.message) : String(e);
    return no("token", `operator token refused: ${reason}`);
  }
  if (claims.sub !== b.author || claims.iss !== b.issuer) {
    return no("token", "author or issuer differ from the operator token's sub/iss");
  }

  // The key: the one it was read from, and this node's own or one of its groups'.
  if (b.key !== opts.key) {
    return no("key", `bundle is for key ${b.key} but was stored under ${opts.key}`);
  }
  const mine = opts.key === nodeKeyOrNull(opts.node) ||
    opts.groups.some((g) => opts.key === `group.${g}`);
  if (!mine) return no("key", `key ${opts.key} is not this node's nor one of its groups'`);

  // The right to push there.
  if (!claims.scout_actions.includes(PUSH_ACTION) && !claims.scout_actions.includes("*")) {
    return no("rights", `operator ${claims.sub} has no push right (scout_actions)`);
  }
  if (opts.key.startsWith("node.")) {
    if (!globMatch(claims.scout_nodes, opts.node)) {
      return no(
        "rights",
        `operator ${claims.sub} may not push to ${opts.node} (scout_nodes ${claims.scout_nodes})`,
      );
    }
  } else {
    const group = opts.key.slice("group.".length);
    const groupsGlob = groupsClaim(b.token);
    const allowed = groupsGlob !== null ? globMatch(groupsGlob, group) : claims.scout_nodes === "*";
    if (!allowed) {
      return no(
        "rights",
        `operator ${claims.sub} may not push to group ${group} (needs scout_groups matching ` +
          `it, or scout_nodes "*")`,
      );
    }
  }

  // The signature by the token's bound key.
  try {
    const pub = await crypto.subtle.importKey(
      "jwk",
      { kty: "OKP", crv: "Ed25519", x: claims.cnf.jwk.x },
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    const good = await crypto.subtle.verify(
      "Ed25519",
      pub,
      fromB64url(b.sig),
      new TextEncoder().encode(signedText(b)),
    );
    if (!good) return no("signature", "bad signature (not signed by the token's key, or altered)");
  } catch (e) {
    return no("signature", `signature unusable (${(e as Error).message})`);
  }

  // Sequence and time.
  if (b.seq <= opts.appliedSeq) {
    return no("replay", `sequence ${b.seq} is not above the applied ${opts.appliedSeq} (replay)`);
  }
  const skew = opts.skewMs ?? DEFAULT_PUSH_SKEW_MS;
  if (b.issued > opts.now + skew) return no("expired", "issued in the future");
  if (b.expires <= opts.now) {
    return no("expired", `expired at ${new Date(b.expires).toISOString()}`);
  }
  if (b.expires - b.issued > (opts.maxLifeMs ?? DEFAULT_MAX_BUNDLE_LIFE_MS)) {
    return no("expired", "lifetime longer than the node accepts");
  }

  // The checks.
  let specs: CheckSpec[] = [];
  if (b.checks !== null) {
    const loaded = loadCheckFile(b.checks, `${b.key}.yaml`);
    if (!loaded.ok) {
      return no("checks", `invalid checks: ${loaded.errors.map((e) => e.message).join("; ")}`);
    }
    specs = loaded.value;
    checks = specs.map((s) => s.name);
    const outside = specs.filter((s) => !globMatch(claims.scout_checks, s.name)).map((s) => s.name);
    if (outside.length > 0) {
      return no(
        "rights",
        `operator ${claims.sub} may not push checks ${
          outside.join(", ")
        } (scout_checks ${claims.scout_checks})`,
      );
    }
  }
  return { ok: true, value: { bundle: b, claims, specs } };
}

function nodeKeyOrNull(identity: string): string | null {
  return IDENTITY_PATTERN.test(identity) ? `node.${identity.replaceAll(".", "_")}` : null;
}

/** The optional `scout_groups` glob of a token already verified; null when absent or malformed. */
function groupsClaim(jwt: string): string | null {
  try {
    const v = decodePayload(jwt)["scout_groups"];
    return typeof v === "string" && v.length > 0 && v.length <= 256 ? v : null;
  } catch {
    return null;
  }
}

/** Parses a bundle without verifying it (listing, --show, rollback); null when malformed. */
export function parseBundle(raw: Uint8Array | string): Bundle | null {
  try {
    const r = bundleSchema.safeParse(
      JSON.parse(typeof raw === "string" ? raw : new TextDecoder().decode(raw)),
    );
    return r.success ? r.data as Bundle : null;
  } catch {
    return null;
  }
}
