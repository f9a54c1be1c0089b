/**
 * The node API service: one request in, one reply out. Authenticates the signed envelope,
 * checks that the subject's action is the signed one, applies a per-caller token-bucket rate
 * limit and a concurrency bound (a bounded queue; beyond it "busy" at once), authorizes by token and
 * local policy, runs the action over a narrow control port, audits every request (allowed or
 * refused) and replies JSON in Choria's field names (choria-formats 5.1, 5.2) inside a Scout
 * envelope `{ ok, identity, id, action, result | error: { code, reason } }`. Pure: time comes
 * from the clock port, I/O goes through the ports passed in.
 * @module
 */
import type { Clock } from "../runtime/mod.ts";
import { formatError, ScoutError } from "../errors.ts";
import { globMatch, isAction } from "./_actions.ts";
import type { AuditEntry, AuditLog } from "./audit.ts";
import { authorize, type LocalPolicy } from "./policy.ts";
import {
  authenticateRequest,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_REQUEST_SKEW_MS,
  ReplayCache,
  requestScope,
  type RpcRequest,
} from "./request.ts";
import type { OperatorClaims, TrustedIssuer } from "./token.ts";

/** Per-check outcome lists of a control request. */
export interface RpcControlResult {
  /** Checks that moved. */
  transitioned: string[];
  /** Checks the request did not apply to, with why. */
  skipped: { name: string; reason: string }[];
  /** Unknown checks and failures, with why. */
  failed: { name: string; reason: string }[];
}

/** What the service shows of one check (the machine manager's MachineInfo satisfies it). */
export interface RpcCheckInfo {
  /** Machine name. */
  name: string;
  /** Current machine state. */
  state: string;
  /** Machine version. */
  version: string;
  /** Start time, unix seconds. */
  startTime: number;
  /** The latest nagios state payload, or null. */
  status: Record<string, unknown> | null;
}

/** Choria's MachineState JSON (`go-choria:aagent/info.go`). */
export interface MachineStateInfo {
  /** Machine name. */
  name: string;
  /** Machine version. */
  version: string;
  /** Current state. */
  state: string;
  /** Where the machine is defined. */
  path: string;
  /** Instance id. */
  id: string;
  /** Start time, unix seconds. */
  start_time: number;
  /** Transitions valid from the current state. */
  available_transitions: string[];
  /** True for Scout checks (a nagios watcher). */
  scout: boolean;
  /** The check's current nagios state payload (Scout checks only). */
  current_state?: unknown;
}

/** The check operations the node API needs; the agent adapts its machine manager to it. */
export interface RpcControl {
  /** Every check's summary; `checksOnly` keeps Scout checks. */
  list(checksOnly?: boolean): readonly RpcCheckInfo[];
  /** FORCE_CHECK on the named checks (all when empty). */
  trigger(names: string[]): Promise<RpcControlResult>;
  /** MAINTENANCE on the named checks (all when empty). */
  maintenance(
    names: string[],
    m: { reason: string; untilMs: number | null },
  ): Promise<RpcControlResult>;
  /** RESUME on the named checks (all when empty). */
  resume(names: string[]): Promise<RpcControlResult>;
  /** Every machine's state, Choria's MachineState. */
  states(): readonly MachineStateInfo[];
  /** Fires `transition` on the machine named `name` (by an operator). */
  transition(
    name: string,
    transition: string,
  ): Promise<{ ok: true } | { ok: false; reason: string }>;
}

/** A goss_validate request, as the goss port receives it. */
export interface GossRequest {
  /** A gossfile path on the node. */
  file?: string;
  /** Rules sent with the request (YAML). */
  rules?: string;
  /** A vars file path on the node. */
  vars?: string;
  /** Vars sent with the request (YAML). */
  yamlVars?: string;
  /** True when rules or vars came over the network: run in goss's untrusted mode. */
  untrusted: boolean;
}

/** Options of createRpcService. */
export interface RpcServiceOptions {
  /** This node's identity. */
  node: string;
  /** The check operations. */
  control: RpcControl;
  /** Trusted token issuers, read per request (enrolment may change them). */
  trust: () => readonly TrustedIssuer[];
  /** The local policy, read per request; undefined when there is none. */
  policy: () => LocalPolicy | undefined;
  /** The audit log. */
  audit: Pick<AuditLog, "record">;
  /** Time. */
  clock: Pick<Clock, "now">;
  /** Size cap of a raw request; default 65 536 bytes. */
  maxBytes?: number;
  /** Allowed request and token clock skew; default 60 000 ms. */
  skewMs?: number;
  /** Per-caller token bucket: capacity and refill per minute; default 120. */
  rateLimit?: { perCallerPerMinute: number };
  /** Requests handled at once; default 2 (the agent's checks share its one thread). */
  maxConcurrent?: number;
  /** Requests waiting for a slot; beyond them a request gets "busy" at once; default 2000. */
  maxQueued?: number;
  /**
   * Resolves after the timers that are due have run (a macrotask); awaited before each request,
   * so a flood of requests never delays a check's start. Default: a resolved promise.
   */
  yieldToTimers?: () => Promise<void>;
  /** Pushed check bundles applied (and refused) on this node, added to `checks` replies as `pushed`. */
  pushed?: () => unknown;
  /** Runs goss; without it goss_validate replies "not supported". */
  goss?: (req: GossRequest) => Promise<Record<string, unknown>>;
  /** Told about internal problems (an audit line that could not be written). */
  onError?: (message: string, detail: Record<string, unknown>) => void;
  /** The replay cache; default a new one. */
  seen?: ReplayCache;
}

/** Error codes of the reply envelope. */
export type RpcErrorCode =
  | "AUTH_INVALID"
  | "MISMATCH"
  | "RATE_LIMITED"
  | "BUSY"
  | "DENIED"
  | "ABORTED"
  | "UNSUPPORTED"
  | "FAILED";

/** The reply envelope. */
export type RpcReply =
  & { identity: string; id: string | null; action: string | null }
  & (
    | { ok: true; result: Record<string, unknown> }
    | {
      ok: false;
      error: { code: RpcErrorCode; reason: string };
      result?: Record<string, unknown>;
    }
  );

/** The node API service. */
export interface RpcService {
  /** Handles one raw request that arrived on the subject naming `subjectAction`; never throws. */
  handle(subjectAction: string, raw: Uint8Array): Promise<Uint8Array>;
}

/**
 * Per-caller token buckets: `perMinute` requests of burst, refilled continuously. Pure: time
 * is passed in. Bounded: full buckets are forgotten when many callers are tracked.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxCallers: number;

  /** A limiter granting `perMinute` requests a minute to each caller. */
  constructor(perMinute: number, maxCallers = 10_000) {
    this.#capacity = Math.max(1, perMinute);
    this.#perMs = this.#capacity / 60_000;
    this.#maxCallers = maxCallers;
  }

  /** Takes one token for `caller` at time `now`; false when the bucket is empty. */
  take(caller: string, now: number): boolean {
    let b = this.#buckets.get(caller);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxCallers) this.#sweep(now);
      b = { tokens: this.#capacity, at: now };
      this.#buckets.set(caller, b);
    } else {
      b.tokens = Math.min(this.#capacity, b.tokens + Math.max(0, now - b.at) * this.#perMs);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#capacity) this.#buckets.delete(k);
    }
    // Still full: forget the oldest (they have refilled the most).
    while (this.#buckets.size >= this.#maxCallers) {
      const first = this.#buckets.keys().next();
      if (first.done) break;
      this.#buckets.delete(first.value);
    }
  }
}

const encoder = new TextEncoder();

/** Choria's name lists of a control result, plus the reasons by check. */
function controlReply(r: RpcControlResult): Record<string, unknown> {
  const reasons: Record<string, string> = {};
  for (const x of [...r.skipped, ...r.failed]) reasons[x.name] = x.reason;
  return {
    transitioned: r.transitioned,
    failed: r.failed.map((x) => x.name),
    skipped: r.skipped.map((x) => x.name),
    reasons,
  };
}

const TRANSITION_NAME = {
  trigger: "FORCE_CHECK",
  maintenance: "MAINTENANCE",
  resume: "RESUME",
} as const;

/** Creates the node API service (see the module documentation). */
export function createRpcService(opts: RpcServiceOptions): RpcService {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const skewMs = opts.skewMs ?? DEFAULT_REQUEST_SKEW_MS;
  const maxConcurrent = Math.max(1, opts.maxConcurrent ?? 2);
  const maxQueued = Math.max(0, opts.maxQueued ?? 2000);
  const yieldToTimers = opts.yieldToTimers ?? (() => Promise.resolve());
  const waiting: (() => void)[] = [];
  const limiter = new RateLimiter(opts.rateLimit?.perCallerPerMinute ?? 120);
  const seen = opts.seen ?? new ReplayCache();
  let active = 0;
  let busyAudit: Promise<void> | null = null;
  let busyUnwritten = 0;

  const audit = async (entry: AuditEntry) => {
    try {
      await opts.audit.record(entry);
    } catch (e) {
      opts.onError?.("cannot write the RPC audit log", { error: formatError(e) });
    }
  };
  const encode = (reply: RpcReply) => encoder.encode(JSON.stringify(reply));

  async function run(
    request: RpcRequest,
    claims: OperatorClaims,
  ): Promise<
    { ok: true; result: Record<string, unknown> } | {
      ok: false;
      code: RpcErrorCode;
      reason: string;
      result?: Record<string, unknown>;
    }
  > {
    const checksGlob = claims.scout_checks;
    switch (request.action) {
      case "checks":
        return {
          ok: true,
          result: {
            checks: opts.control.list(true).filter((c) => globMatch(checksGlob, c.name)).map((
              c,
            ) => ({
              name: c.name,
              state: c.state,
              version: c.version,
              start_time: c.startTime,
              status: c.status,
            })),
            ...(opts.pushed ? { pushed: opts.pushed() ?? null } : {}),
          },
        };
      case "machine_states": {
        const states = opts.control.states().filter((s) => globMatch(checksGlob, s.name));
        return {
          ok: true,
          result: {
            machine_ids: states.map((s) => s.id),
            machine_names: states.map((s) => `${s.name} ${s.version}`),
            states: Object.fromEntries(states.map((s) => [s.id, s])),
          },
        };
      }
      case "trigger":
      case "maintenance":
      case "resume": {
        const names = request.args.checks ?? [];
        const r = request.action === "trigger"
          ? await opts.control.trigger(names)
          : request.action === "resume"
          ? await opts.control.resume(names)
          : await opts.control.maintenance(names, {
            reason: request.args.reason ?? `requested over RPC by ${claims.sub}`,
            untilMs: request.args.for_ms === undefined
              ? null
              : opts.clock.now() + request.args.for_ms,
          });
        const result = controlReply(r);
        if (names.length > 0 && r.transitioned.length + r.skipped.length !== names.length) {
          return {
            ok: false,
            code: "ABORTED",
            reason: `Some checks could not be transitioned to ${TRANSITION_NAME[request.action]}: ${
              r.failed.map((f) => `${f.name}: ${f.reason}`).join("; ")
            }`,
            result,
          };
        }
        return { ok: true, result };
      }
      case "machine_transition": {
        const a = request.args;
        const matches = opts.control.states().filter((s) =>
          (a.name === undefined || s.name === a.name) &&
          (a.version === undefined || s.version === a.version) &&
          (a.instance === undefined || s.id === a.instance) &&
          (a.path === undefined || s.path === a.path) && globMatch(checksGlob, s.name)
        );
        if (matches.length === 0) {
          return {
            ok: false,
            code: "ABORTED",
            reason: `Could not perform ${a.transition} transition: no machine matches`,
            result: { success: false },
          };
        }
        const problems: string[] = [];
        for (const m of matches) {
          const r = await opts.control.transition(m.name, a.transition);
          if (!r.ok) problems.push(`${m.name}: ${r.reason}`);
        }
        if (problems.length > 0) {
          return {
            ok: false,
            code: "ABORTED",
            reason: `Could not perform ${a.transition} transition: ${problems.join("; ")}`,
            result: { success: false },
          };
        }
        return { ok: true, result: { success: true } };
      }
      case "goss_validate": {
        const a = request.args;
        if (!opts.goss) {
          return {
            ok: false,
            code: "UNSUPPORTED",
            reason: "goss_validate is not supported by this agent",
          };
        }
        const untrusted = a.yaml_rules !== undefined || a.yaml_vars !== undefined;
        const result = await opts.goss({
          ...(a.file !== undefined ? { file: a.file } : {}),
          ...(a.yaml_rules !== undefined ? { rules: a.yaml_rules } : {}),
          ...(a.vars !== undefined ? { vars: a.vars } : {}),
          ...(a.yaml_vars !== undefined ? { yamlVars: a.yaml_vars } : {}),
          untrusted,
        });
        return { ok: true, result };
      }
    }
  }

  async function handleOne(subjectAction: string, raw: Uint8Array): Promise<RpcReply> {
    const auth = await authenticateRequest(raw, {
      trust: opts.trust(),
      now: opts.clock.now(),
      skewMs,
      maxBytes,
      seen,
      node: opts.node,
    });
    if (!auth.ok) {
      const p = auth.partial ?? {};
      const reason = `${auth.step}: ${auth.reason}`;
      await audit({
        id: p.id ?? null,
        caller: p.caller ?? null,
        issuer: p.issuer ?? null,
        action: p.action ?? subjectAction,
        target: p.target ?? null,
        checks: [],
        decision: "deny",
        reason,
        outcome: "refused",
      });
      return {
        ok: false,
        identity: opts.node,
        id: p.id ?? null,
        action: p.action ?? null,
        error: { code: "AUTH_INVALID", reason },
      };
    }
    const { request, claims } = auth;
    const scope = requestScope(request);
    const base = {
      id: request.id,
      caller: auth.caller,
      issuer: auth.issuer,
      action: request.action,
      target: request.target,
      checks: scope.checks,
    };
    const refuse = async (code: RpcErrorCode, reason: string): Promise<RpcReply> => {
      await audit({ ...base, decision: "deny", reason, outcome: "refused" });
      return {
        ok: false,
        identity: opts.node,
        id: request.id,
        action: request.action,
        error: { code, reason },
      };
    };
    if (subjectAction !== request.action) {
      return await refuse(
        "MISMATCH",
        `the subject names action ${JSON.stringify(subjectAction)} but the signed request is for ${
          JSON.stringify(request.action)
        }`,
      );
    }
    if (!limiter.take(`${auth.issuer}\n${auth.caller}`, opts.clock.now())) {
      return await refuse(
        "RATE_LIMITED",
        `rate limit exceeded for caller ${auth.caller} (${
          opts.rateLimit?.perCallerPerMinute ?? 120
        } requests a minute); try again later`,
      );
    }
    const decision = authorize({
      claims,
      action: request.action,
      node: opts.node,
      checks: scope.checks,
      sentRules: scope.sentRules,
      ...(opts.policy() ? { policy: opts.policy()! } : {}),
    });
    if (!decision.allow) return await refuse("DENIED", decision.reason);
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      outcome = await run(request, claims);
    } catch (e) {
      const reason = e instanceof ScoutError ? formatError(e) : String((e as Error)?.message ?? e);
      // An action that refuses its input on security grounds (goss rules that would run
      // programs) is a denial, not a failure.
      const denied = e instanceof ScoutError && e.code === "AUTH_DENIED";
      outcome = { ok: false, code: denied ? "DENIED" : "FAILED", reason };
    }
    const deniedInAction = !outcome.ok && outcome.code === "DENIED";
    await audit({
      ...base,
      decision: deniedInAction ? "deny" : "allow",
      reason: deniedInAction && !outcome.ok ? outcome.reason : "",
      outcome: outcome.ok
        ? "ok"
        : deniedInAction
        ? "refused"
        : `${outcome.code.toLowerCase()}: ${outcome.reason}`,
    });
    const head = { identity: opts.node, id: request.id, action: request.action };
    return outcome.ok ? { ok: true, ...head, result: outcome.result } : {
      ok: false,
      ...head,
      error: { code: outcome.code, reason: outcome.reason },
      ...(outcome.result ? { result: outcome.result } : {}),
    };
  }

  return {
    async handle(subjectAction, raw) {
      if (active >= maxConcurrent && waiting.length >= maxQueued) {
        const reason = `busy: ${maxConcurrent} requests are being handled and ${maxQueued} ` +
          "wait; try again in a moment";
        // One audit line at a time for busy refusals, counting the others, so a flood
        // cannot queue audit writes without bound.
        if (busyAudit) {
          busyUnwritten++;
        } else {
          const more = busyUnwritten;
          busyUnwritten = 0;
          busyAudit = audit({
            id: null,
            caller: null,
            issuer: null,
            action: isAction(subjectAction) ? subjectAction : subjectAction.slice(0, 64),
            target: null,
            checks: [],
            decision: "deny",
            reason: more > 0 ? `${reason} (and ${more} more refused as busy before it)` : reason,
            outcome: "refused",
          }).finally(() => busyAudit = null);
        }
        return encode({
          ok: false,
          identity: opts.node,
          id: null,
          action: null,
          error: { code: "BUSY", reason },
        });
      }
      if (active >= maxConcurrent) {
        await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over
      } else active++;
      try {
        await yieldToTimers();
        return encode(await handleOne(subjectAction, raw));
      } catch (e) {
        opts.onError?.("RPC request failed", { error: formatError(e) });
        return encode({
          ok: false,
          identity: opts.node,
          id: null,
          action: null,
          error: { code: "FAILED", reason: "internal error" },
        });
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}

/**
 * Parses one trusted-issuer text: a CA certificate PEM (the fleet CA; tokens with `iss`
 * "scout") or a JSON JWKS document with Scout's members `issuer` (required: the SSO issuer
 * URL) and `audience` (optional) beside its `keys`. Throws ScoutError(CONFIG_INVALID).
 */
export function parseTrustedIssuer(text: string, where: string): TrustedIssuer {
  const t = text.trim();
  if (t.startsWith("-----BEGIN CERTIFICATE-----")) return { kind: "fleet-ca", certPem: t };
  let doc: unknown;
  try {
    doc = JSON.parse(t);
  } catch (e) {
    throw new ScoutError("CONFIG_INVALID", `${where}: neither a PEM certificate nor JSON`, {
      hint: "give a CA certificate (PEM) or a JWKS document with an issuer member (JSON)",
      cause: e,
    });
  }
  const d = doc as { issuer?: unknown; audience?: unknown; keys?: unknown };
  if (
    doc === null || typeof doc !== "object" || typeof d.issuer !== "string" ||
    d.issuer === "" || !Array.isArray(d.keys) ||
    (d.audience !== undefined && typeof d.audience !== "string")
  ) {
    throw new ScoutError("CONFIG_INVALID", `${where}: not a JWKS document with an issuer`, {
      hint:
        'a JWKS trust file is {"issuer": "https://sso.example", "audience": "scout", "keys": [...]}',
    });
  }
  return {
    kind: "jwks",
    issuer: d.issuer,
    jwks: { keys: d.keys as never },
    ...(typeof d.audience === "string" ? { audience: d.audience } : {}),
  };
}
