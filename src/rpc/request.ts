/**
 * The signed request envelope of the node API and its authentication on the node: size cap,
 * JSON, shape, token, signature by the token's bound key, timestamp skew, target, replay.
 * Pure: time comes in as `now`; the replay cache is a plain bounded map.
 *
 * Envelope (JSON object, no other members):
 * `{ id, ts, action, target, args, token, sig }` where `id` is 8-128 of `[A-Za-z0-9_-]`
 * (unique per request), `ts` the caller's time in ms since the epoch, `action` one of ACTIONS,
 * `target` a node identity or `_all`, `args` the action's arguments (object), `token` the
 * operator JWT and `sig` the base64 ed25519 signature, by the key in the token's `cnf.jwk`, of
 * the UTF-8 bytes of `scout-rpc-v1|<id>|<ts>|<action>|<target>|<hex sha256 of canonical JSON of args>`
 * (canonical JSON: keys sorted at every level, no spaces).
 * @module
 */
import { z } from "zod";
import { canonicalJson, IDENTITY_PATTERN } from "../config/mod.ts";
import { ACTIONS, type RpcAction } from "./_actions.ts";
import { type OperatorClaims, type TrustedIssuer, verifyOperatorToken } from "./token.ts";
import { ScoutError } from "../errors.ts";

/** Prefix of the signed byte string; a new envelope version gets a new prefix. */
export const SIGNATURE_CONTEXT = "scout-rpc-v1" as const;

/** Target meaning every node. */
export const ALL_NODES = "_all" as const;

/** Default size cap of a raw request, bytes. */
export const DEFAULT_MAX_REQUEST_BYTES = 65_536;

/** Default allowed difference between the request's `ts` and the node's clock (Choria: ttl 60 s). */
export const DEFAULT_REQUEST_SKEW_MS = 60_000;

const checkNames = z.array(z.string().min(1).max(253)).max(1000);

/** zod schemas of each action's `args` (strict: unknown members are refused). */
export const ARGS_SCHEMAS = {
  checks: z.strictObject({}),
  machine_states: z.strictObject({}),
  trigger: z.strictObject({ checks: checkNames.optional() }),
  maintenance: z.strictObject({
    checks: checkNames.optional(),
    /** Scout: end maintenance by itself after this many ms. */
    for_ms: z.number().int().positive().max(366 * 86_400_000).optional(),
    /** Scout: why, shown in events and `scout checks`. */
    reason: z.string().max(1024).optional(),
  }),
  resume: z.strictObject({ checks: checkNames.optional() }),
  goss_validate: z.strictObject({
    file: z.string().min(1).max(4096).optional(),
    yaml_rules: z.string().min(1).max(5120).optional(),
    vars: z.string().min(1).max(4096).optional(),
    yaml_vars: z.string().min(1).max(5120).optional(),
  }).refine((a) => (a.file === undefined) !== (a.yaml_rules === undefined), {
    message: "give exactly one of file and yaml_rules",
  }).refine((a) => a.vars === undefined || a.yaml_vars === undefined, {
    message: "give at most one of vars and yaml_vars",
  }),
  machine_transition: z.strictObject({
    transition: z.string().min(1).max(128),
    name: z.string().min(1).max(253).optional(),
    version: z.string().min(1).max(128).optional(),
    instance: z.string().min(1).max(128).optional(),
    path: z.string().min(1).max(4096).optional(),
  }),
} as const satisfies Record<RpcAction, z.ZodType>;

/** The parsed `args` of each action. */
export type RpcArgs = { [A in RpcAction]: z.infer<(typeof ARGS_SCHEMAS)[A]> };

/** Members every request has besides action and args. */
export interface RequestBase {
  /** Unique request id. */
  id: string;
  /** Caller's time, ms since the epoch. */
  ts: number;
  /** Node identity or `_all`. */
  target: string;
  /** Operator JWT. */
  token: string;
  /** base64 ed25519 signature. */
  sig: string;
}

/** An authenticated request, typed by action. */
export type RpcRequest = { [A in RpcAction]: RequestBase & { action: A; args: RpcArgs[A] } }[
  RpcAction
];

const envelopeSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, {
    message: "must be 8-128 characters of letters, digits, '_' and '-'",
  }),
  ts: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  action: z.string().max(64),
  target: z.string().refine((t) => t === ALL_NODES || IDENTITY_PATTERN.test(t), {
    message: 'must be a node identity or "_all"',
  }),
  args: z.record(z.string(), z.unknown()),
  token: z.string().max(16_384).optional(),
  sig: z.string().max(200),
});

/** The step of authenticateRequest that refused a request. */
export type AuthStep =
  | "size"
  | "json"
  | "shape"
  | "token"
  | "signature"
  | "timestamp"
  | "target"
  | "replay";

/** What authenticateRequest returns. */
export type AuthResult =
  | {
    ok: true;
    /** The caller's name (`sub`). */
    caller: string;
    /** The token's issuer (`iss`). */
    issuer: string;
    /** The verified token claims. */
    claims: OperatorClaims;
    /** The parsed request. */
    request: RpcRequest;
  }
  | {
    ok: false;
    /** Always AUTH_INVALID. */
    code: "AUTH_INVALID";
    /** The step that refused. */
    step: AuthStep;
    /** Why, for the reply and the audit log. */
    reason: string;
    /** What is known of the request when it got that far (for the audit log). */
    partial?: { id?: string; action?: string; target?: string; caller?: string; issuer?: string };
  };

/**
 * Remembers request ids until their timestamps leave the skew window, so a captured request
 * cannot be sent again. Bounded: when full of live ids it refuses new requests (fails closed)
 * rather than forgetting one. Pure: `now` is passed in.
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  /** Creates a cache holding at most `maxEntries` live ids (default 100 000). */
  constructor(maxEntries = 100_000) {
    this.#max = maxEntries;
  }

  /** Number of ids held. */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Records `key` until `expiresAt` (ms) unless it is already held: "fresh" when recorded,
   * "seen" for a replay, "full" when no room is left even after dropping expired ids.
   */
  check(key: string, expiresAt: number, now: number): "fresh" | "seen" | "full" {
    const until = this.#seen.get(key);
    if (until !== undefined && until >= now) return "seen";
    if (until !== undefined) this.#seen.delete(key);
    if (this.#seen.size >= this.#max) {
      for (const [k, t] of this.#seen) if (t < now) this.#seen.delete(k);
      if (this.#seen.size >= this.#max) return "full";
    }
    this.#seen.set(key, expiresAt);
    return "fresh";
  }
}

/** Options of authenticateRequest. */
export interface AuthenticateOptions {
  /** Trusted token issuers. */
  trust: readonly TrustedIssuer[];
  /** The node's time, ms since the epoch. */
  now: number;
  /** Allowed |now - ts| and token exp/nbf tolerance; default 60 000 ms. */
  skewMs?: number;
  /** Size cap of the raw request; default 65 536 bytes. */
  maxBytes?: number;
  /** The node's replay cache. */
  seen: ReplayCache;
  /** This node's identity. */
  node: string;
}

/** Options of signRequest. */
export interface SignRequestOptions<A extends RpcAction = RpcAction> {
  /** The action. */
  action: A;
  /** Node identity or `_all`. */
  target: string;
  /** The action's arguments. */
  args: RpcArgs[A];
  /** The caller's operator JWT. */
  token: string;
  /** The caller's ed25519 private key (usage "sign"), the key bound in the token's `cnf`. */
  privateKey: CryptoKey;
  /** Caller's time, ms since the epoch. */
  now: number;
  /** Request id; default a random UUID. */
  id?: string;
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The exact bytes a request signature covers (see the module documentation). */
export async function signedBytes(
  r: { id: string; ts: number; action: string; target: string; args: unknown },
): Promise<Uint8Array<ArrayBuffer>> {
  const digest = hex(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson(r.args))),
  );
  return new TextEncoder().encode(
    `${SIGNATURE_CONTEXT}|${r.id}|${r.ts}|${r.action}|${r.target}|${digest}`,
  );
}

function b64(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

/** Builds and signs a request envelope on the caller's side; send `JSON.stringify` of it. */
export async function signRequest<A extends RpcAction>(
  opts: SignRequestOptions<A>,
): Promise<RequestBase & { action: A; args: RpcArgs[A] }> {
  const id = opts.id ?? crypto.randomUUID();
  const base = { id, ts: opts.now, action: opts.action, target: opts.target, args: opts.args };
  const sig = b64(await crypto.subtle.sign("Ed25519", opts.privateKey, await signedBytes(base)));
  return { ...base, token: opts.token, sig };
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => {
    const path = i.path.join(".") || "request";
    const missing = i.code === "invalid_type" && /received undefined/.test(i.message);
    return `${path}: ${missing ? "missing" : i.message}`;
  }).join("; ");
}

function decodeSig(sig: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]{86}==$/.test(sig)) return null;
  const bin = atob(sig);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.length === 64 ? out : null;
}

/**
 * Authenticates one raw request on a node, in this order: size cap, JSON, shape (strict zod,
 * per-action args), token (trusted issuer, expiry, purpose, `cnf` key), signature by the token's
 * key, timestamp within ±skew, target is this node or `_all`, replay (id not seen from this
 * caller). Never throws for bad input: refusals come back with the step and a reason.
 */
export async function authenticateRequest(
  raw: Uint8Array,
  opts: AuthenticateOptions,
): Promise<AuthResult> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const skewMs = opts.skewMs ?? DEFAULT_REQUEST_SKEW_MS;
  const partial: NonNullable<Extract<AuthResult, { ok: false }>["partial"]> = {};
  const no = (step: AuthStep, reason: string): AuthResult => ({
    ok: false,
    code: "AUTH_INVALID",
    step,
    reason,
    partial,
  });

  if (raw.byteLength > maxBytes) {
    return no("size", `request too large: ${raw.byteLength} bytes (limit ${maxBytes})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (e) {
    return no("json", `malformed JSON: ${(e as Error).message}`);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (typeof v["id"] === "string") partial.id = v["id"].slice(0, 128);
    if (typeof v["action"] === "string") partial.action = v["action"].slice(0, 64);
    if (typeof v["target"] === "string") partial.target = v["target"].slice(0, 253);
  }
  const env = envelopeSchema.safeParse(value);
  if (!env.success) return no("shape", `malformed request (${issuesText(env.error)})`);
  const e = env.data;
  if (!(ACTIONS as readonly string[]).includes(e.action)) {
    return no(
      "shape",
      `unknown action ${JSON.stringify(e.action)} (actions: ${ACTIONS.join(", ")})`,
    );
  }
  const action = e.action as RpcAction;
  const args = ARGS_SCHEMAS[action].safeParse(e.args);
  if (!args.success) {
    return no("shape", `malformed args of ${action} (${issuesText(args.error)})`);
  }

  if (e.token === undefined || e.token.trim() === "") {
    return no("token", "no token: every request must carry an operator token");
  }
  let claims: OperatorClaims;
  try {
    claims = await verifyOperatorToken(e.token, { trust: opts.trust, now: opts.now, skewMs });
  } catch (err) {
    const reason = err instanceof ScoutError
      ? String(err.context["reason"] ?? err.message)
      : String(err);
    return no("token", `token refused: ${reason}`);
  }
  partial.caller = claims.sub;
  partial.issuer = claims.iss;

  const sig = decodeSig(e.sig);
  if (sig === null) return no("signature", "bad signature: sig must be 64 bytes, base64");
  let good = false;
  try {
    const key = await crypto.subtle.importKey("jwk", claims.cnf.jwk, { name: "Ed25519" }, false, [
      "verify",
    ]);
    good = await crypto.subtle.verify("Ed25519", key, sig, await signedBytes(e));
  } catch {
    good = false;
  }
  if (!good) {
    return no(
      "signature",
      "bad signature: not signed by the key bound to the token, or altered after signing",
    );
  }

  if (e.ts < opts.now - skewMs) {
    return no(
      "timestamp",
      `timestamp too old: ${opts.now - e.ts} ms behind the node's clock (window ±${skewMs} ms)`,
    );
  }
  if (e.ts > opts.now + skewMs) {
    return no(
      "timestamp",
      `timestamp in the future: ${
        e.ts - opts.now
      } ms ahead of the node's clock (window ±${skewMs} ms)`,
    );
  }
  if (e.target !== ALL_NODES && e.target !== opts.node) {
    return no("target", `request is for node ${JSON.stringify(e.target)}, not this node`);
  }
  const key = `${claims.iss}\n${claims.sub}\n${e.id}`;
  const seen = opts.seen.check(key, Math.max(e.ts, opts.now) + skewMs, opts.now);
  if (seen === "seen") return no("replay", `replayed request: id ${e.id} was already used`);
  if (seen === "full") {
    return no("replay", "replay cache full: too many requests within the window, try again");
  }
  const request = { ...e, action, args: args.data, token: e.token } as RpcRequest;
  return { ok: true, caller: claims.sub, issuer: claims.iss, claims, request };
}

/**
 * What a request touches, for authorize: the check names it names (an empty list means every
 * check) and whether it sends goss rules or variables (`yaml_rules`/`yaml_vars`).
 */
export function requestScope(request: RpcRequest): { checks: string[]; sentRules: boolean } {
  switch (request.action) {
    case "trigger":
    case "maintenance":
    case "resume":
      return { checks: request.args.checks ?? [], sentRules: false };
    case "machine_transition":
      return {
        checks: request.args.name === undefined ? [] : [request.args.name],
        sentRules: false,
      };
    case "goss_validate":
      return {
        checks: [],
        sentRules: request.args.yaml_rules !== undefined || request.args.yaml_vars !== undefined,
      };
    case "checks":
    case "machine_states":
      return { checks: [], sentRules: false };
  }
}
