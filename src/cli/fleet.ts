/**
 * `scout checks|trigger|maintenance|resume --fleet`: signed node API requests over the broker,
 * replies gathered from every node until all discovered nodes answered or a deadline passed,
 * rendered as a table or one JSON array (one `{identity, ok, result, error}` per node).
 * @module
 */
import { z } from "zod";
import { parseDuration } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { identityToken } from "../events.ts";
import { ALL_NODES, globMatch, importCallerPrivateKey, signRequest } from "../rpc/mod.ts";
import { type Bus, connectBroker } from "../transport/mod.ts";
import { BROKER_FLAGS, type BrokerFlags, brokerFlags, type CliIo, parseFlags } from "./_common.ts";
import { brokerOptions, fetchHubNodes, type HubNode } from "./_remote.ts";

/** The node API actions the fleet commands send. */
export type FleetAction = "checks" | "trigger" | "maintenance" | "resume";

/** Default deadline of one gathering round. */
export const DEFAULT_FLEET_TIMEOUT_MS = 5_000;

/** One node's outcome, the element of the `--json` array. */
export interface NodeOutcome {
  /** The node identity. */
  identity: string;
  /** Whether the node did what was asked. */
  ok: boolean;
  /** The action's result from the node; null on failure. */
  result: unknown;
  /** Why it failed; null on success. */
  error: { code: string; reason: string } | null;
}

/** Parsed command line of a fleet command. */
export interface FleetArgs {
  /** The action. */
  action: FleetAction;
  /** Check names the action acts on (positionals; empty = every check). */
  checks: string[];
  /** Maintenance: end it by itself after this long, ms. */
  forMs?: number;
  /** Maintenance: why. */
  reason?: string;
  /** Identity glob or plain identity; undefined = every node. */
  identity?: string;
  /** Annotation filters, every one must match. */
  annotations: [string, string][];
  /** Check-name filters (any). */
  checkFilter: string[];
  /** Stop once this many matching nodes answered. */
  expect?: number;
  /**
   * The hub's HTTP address (`--hub`, SCOUT_HUB): its fresh nodes matching `identity` are the
   * ones waited for, and each that does not answer is listed as a failure.
   */
  hub?: string;
  /** Deadline of each gathering round, ms. */
  timeoutMs: number;
  /** JSON output. */
  json: boolean;
  /** Paths of the operator token and caller key (flag or env). */
  tokenPath: string;
  /** Path of the caller's ed25519 private key. */
  keyPath: string;
  /** The raw broker flag values, read by brokerFlags. */
  brokerValues: { [K in keyof typeof BROKER_FLAGS]?: K extends "broker" ? string[] : string };
}

const usage = (message: string, hint: string) => new ScoutError("USAGE", message, { hint });

/** Parses a fleet command line; USAGE errors (exit 2) for every mistake. */
export function parseFleetArgs(action: FleetAction, args: string[], io: CliIo): FleetArgs {
  const { values, positionals } = parseFlags(args, {
    fleet: { type: "boolean" },
    ...BROKER_FLAGS,
    token: { type: "string" },
    key: { type: "string" },
    identity: { type: "string" },
    annotation: { type: "string", multiple: true },
    check: { type: "string", multiple: true },
    expect: { type: "string" },
    hub: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    for: { type: "string" },
    reason: { type: "string" },
  }, action);
  const help = `see \`scout ${action} --help\``;
  if (values["state-dir"] !== undefined) {
    throw usage("--state-dir is for the local agent, not for --fleet", help);
  }
  if ((values.for !== undefined || values.reason !== undefined) && action !== "maintenance") {
    throw usage("--for and --reason belong to maintenance", help);
  }
  const forMs = values.for === undefined ? undefined : parseDuration(values.for);
  if (action === "checks" && positionals.length > 0) {
    throw usage(`scout checks takes no names (got ${positionals.join(" ")})`, "use --check NAME");
  }
  const tokenPath = values.token ?? io.env("SCOUT_OPERATOR_TOKEN");
  const keyPath = values.key ?? io.env("SCOUT_OPERATOR_KEY");
  if (tokenPath === undefined || keyPath === undefined) {
    throw usage(
      `--fleet needs ${tokenPath === undefined ? "--token FILE" : "--key FILE"}`,
      "give the operator token (--token, from `scout-hub token operator`) and the caller's " +
        "private key (--key, from `scout token keypair`)",
    );
  }
  const identity = values.identity;
  if (identity !== undefined) {
    if (!identity.includes("*")) identityToken(identity); // IDENTITY_INVALID (exit 2)
    else if (!/^[A-Za-z0-9.*-]{1,253}$/.test(identity)) {
      throw usage(
        `invalid identity pattern "${identity}"`,
        "use letters, digits, '.', '-' and '*' (any run of characters)",
      );
    }
  }
  const annotations: [string, string][] = (values.annotation ?? []).map((a) => {
    const i = a.indexOf("=");
    if (i <= 0) throw usage(`invalid --annotation "${a}"`, "write it as key=value");
    return [a.slice(0, i), a.slice(i + 1)];
  });
  let expect: number | undefined;
  if (values.expect !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(values.expect)) {
      throw usage(`invalid --expect "${values.expect}"`, "give a positive whole number of nodes");
    }
    expect = Number(values.expect);
  }
  const hub = values.hub ?? io.env("SCOUT_HUB");
  const timeoutMs = values.timeout === undefined
    ? DEFAULT_FLEET_TIMEOUT_MS
    : parseDuration(values.timeout);
  if (timeoutMs <= 0) throw usage("--timeout must be longer than 0", 'for example "10s"');
  const { broker, "tls-ca": ca, "tls-cert": cert, "tls-key": tkey, creds } = values;
  return {
    action,
    checks: positionals,
    ...(forMs === undefined ? {} : { forMs }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    ...(identity === undefined ? {} : { identity }),
    annotations,
    checkFilter: values.check ?? [],
    ...(expect === undefined ? {} : { expect }),
    ...(hub === undefined ? {} : { hub }),
    timeoutMs,
    json: values.json ?? false,
    tokenPath,
    keyPath,
    brokerValues: {
      ...(broker === undefined ? {} : { broker }),
      ...(ca === undefined ? {} : { "tls-ca": ca }),
      ...(cert === undefined ? {} : { "tls-cert": cert }),
      ...(tkey === undefined ? {} : { "tls-key": tkey }),
      ...(creds === undefined ? {} : { creds }),
    },
  };
}

// ---- replies -------------------------------------------------------------------------------

const replySchema = z.looseObject({
  identity: z.string().min(1).max(253),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.looseObject({
    code: z.string().optional(),
    reason: z.string().optional(),
    message: z.string().optional(),
  }).nullish(),
});

const checkListSchema = z.looseObject({
  checks: z.array(z.looseObject({
    name: z.string(),
    state: z.string().optional(),
    status: z.looseObject({ annotations: z.record(z.string(), z.unknown()).nullish() })
      .nullish(),
  })),
});

const transitionSchema = z.looseObject({
  transitioned: z.array(z.string()).optional(),
  skipped: z.array(z.unknown()).optional(),
  failed: z.array(z.unknown()).optional(),
});

/** A reply as parsed; `null` when it is not a node API reply at all. */
export function parseReply(data: Uint8Array): NodeOutcome | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
  const r = replySchema.safeParse(value);
  if (!r.success) return null;
  const { identity, ok, result, error } = r.data;
  if (ok) return { identity, ok: true, result: result ?? null, error: null };
  return {
    identity,
    ok: false,
    result: null,
    error: {
      code: error?.code ?? "FAILED",
      reason: error?.reason ?? error?.message ?? "the node refused without a reason",
    },
  };
}

function nameOf(item: unknown): string {
  if (typeof item === "string") return item;
  if (item !== null && typeof item === "object") {
    const o = item as Record<string, unknown>;
    const name = typeof o["name"] === "string" ? o["name"] : "?";
    return typeof o["reason"] === "string" ? `${name} (${o["reason"]})` : name;
  }
  return String(item);
}

/**
 * Applies the action's own notion of failure: a transition reply that lists failed checks makes
 * the node a failure; `checks` replies are narrowed to the `--check` names when given.
 */
export function settle(
  outcome: NodeOutcome,
  args: Pick<FleetArgs, "action" | "checkFilter">,
): NodeOutcome {
  if (!outcome.ok) return outcome;
  if (args.action === "checks") {
    if (args.checkFilter.length === 0) return outcome;
    const list = checkListSchema.safeParse(outcome.result);
    if (!list.success) return outcome;
    const checks = list.data.checks.filter((c) => args.checkFilter.includes(c.name));
    return { ...outcome, result: { ...list.data, checks } };
  }
  const t = transitionSchema.safeParse(outcome.result);
  if (t.success && (t.data.failed?.length ?? 0) > 0) {
    return {
      ...outcome,
      ok: false,
      error: { code: "CHECKS_FAILED", reason: `failed: ${t.data.failed!.map(nameOf).join(", ")}` },
    };
  }
  return outcome;
}

/** Whether a node's `checks` reply matches the annotation and check filters. */
export function matchesChecks(
  result: unknown,
  args: Pick<FleetArgs, "annotations" | "checkFilter">,
): boolean {
  if (args.annotations.length === 0 && args.checkFilter.length === 0) return true;
  const list = checkListSchema.safeParse(result);
  if (!list.success) return false;
  const checks = args.checkFilter.length === 0
    ? list.data.checks
    : list.data.checks.filter((c) => args.checkFilter.includes(c.name));
  if (checks.length === 0) return false;
  return args.annotations.every(([k, v]) => checks.some((c) => c.status?.annotations?.[k] === v));
}

function identityMatches(pattern: string | undefined, identity: string): boolean {
  return pattern === undefined || globMatch(pattern, identity);
}

// ---- rendering -----------------------------------------------------------------------------

/** One line about a node's result, for the table. */
export function summarize(action: FleetAction, o: NodeOutcome): string {
  if (!o.ok) return `${o.error?.code ?? "FAILED"}: ${o.error?.reason ?? ""}`.trim();
  if (action === "checks") {
    const list = checkListSchema.safeParse(o.result);
    if (!list.success) return "ok";
    const byState = new Map<string, number>();
    for (const c of list.data.checks) {
      byState.set(c.state ?? "?", (byState.get(c.state ?? "?") ?? 0) + 1);
    }
    const n = list.data.checks.length;
    const states = [...byState].map(([s, k]) => `${k} ${s}`).join(", ");
    return `${n} check${n === 1 ? "" : "s"}${n ? `: ${states}` : ""}`;
  }
  const t = transitionSchema.safeParse(o.result);
  if (!t.success) return "ok";
  const done = t.data.transitioned ?? [];
  const parts = [`${done.length} transitioned${done.length ? ` (${done.join(", ")})` : ""}`];
  const skipped = t.data.skipped ?? [];
  if (skipped.length) parts.push(`${skipped.length} skipped (${skipped.map(nameOf).join(", ")})`);
  return parts.join("; ");
}

/** The table of outcomes, sorted by identity, with a header; one line per node. */
export function renderTable(action: FleetAction, outcomes: readonly NodeOutcome[]): string {
  const rows = [...outcomes].sort((a, b) => a.identity.localeCompare(b.identity)).map((o) => [
    o.identity,
    o.ok ? "ok" : "FAILED",
    summarize(action, o).replaceAll("\n", " "),
  ]);
  const head = ["IDENTITY", "OK", "SUMMARY"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) =>
    r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n"
  ).join("");
}

/** The `--json` output: one array, one `{identity, ok, result, error}` per node, by identity. */
export function renderJson(outcomes: readonly NodeOutcome[]): string {
  const sorted = [...outcomes].sort((a, b) => a.identity.localeCompare(b.identity));
  return JSON.stringify(
    sorted.map((o) => ({ identity: o.identity, ok: o.ok, result: o.result, error: o.error })),
  ) + "\n";
}

// ---- running -------------------------------------------------------------------------------

/** The broker connection a fleet command needs. */
export interface FleetConnection {
  /** Scatter-gather over the bus. */
  gather: Bus["gather"];
  /** Closes the connection. */
  close(): Promise<void>;
}

/** The outside world of a fleet command; tests pass fakes. */
export interface FleetDeps {
  /** Connects to the broker. */
  connect(broker: BrokerFlags): Promise<FleetConnection>;
  /** Reads a file named by a flag. */
  readFile(path: string): Promise<string>;
  /** Current time, ms since the epoch. */
  now(): number;
  /** Whether stderr is a terminal (progress is shown only then). */
  isTerminal(): boolean;
  /** Aborts on SIGINT/SIGTERM; dispose() removes the listeners. */
  interrupts(): { signal: AbortSignal; dispose(): void };
  /** The hub's node list (`--hub`). */
  hubNodes(hub: string): Promise<HubNode[]>;
}

/** The real broker, files, clock, terminal and signals. */
export const realFleetDeps: FleetDeps = {
  async connect(b) {
    const broker = await connectBroker({
      ...brokerOptions(b, "scout-fleet"),
      connectTimeoutMs: 5_000,
    });
    return { gather: (r, o) => broker.bus.gather(r, o), close: () => broker.close() };
  },
  readFile: (path) => Deno.readTextFile(path),
  now: () => Date.now(),
  isTerminal: () => Deno.stderr.isTerminal(),
  hubNodes: fetchHubNodes,
  interrupts() {
    const ac = new AbortController();
    const stop = () => ac.abort();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    return {
      signal: ac.signal,
      dispose() {
        Deno.removeSignalListener("SIGINT", stop);
        Deno.removeSignalListener("SIGTERM", stop);
      },
    };
  },
};

async function readFlagFile(deps: FleetDeps, flag: string, path: string): Promise<string> {
  try {
    return (await deps.readFile(path)).trim();
  } catch (e) {
    throw usage(`Cannot read ${flag} "${path}": ${(e as Error).message}`, `give ${flag} a file`);
  }
}

interface Round {
  /** Outcomes by identity (first reply wins). */
  byIdentity: Map<string, NodeOutcome>;
  /** Replies that were not node API replies. */
  malformed: number;
  /** Why the round ended. */
  ended: "expected" | "timeout" | "aborted" | "interrupted";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * One gathering round: sends `requests`, keeps replies whose identity passes `accept`, and stops
 * once `want` accepted nodes answered, at the deadline, or on an interrupt.
 */
async function round(
  conn: FleetConnection,
  requests: { subject: string; data: Uint8Array }[],
  o: {
    timeoutMs: number;
    want: number | undefined;
    targeted: boolean;
    accept(identity: string): boolean;
    progress(count: number): void;
    interrupt: AbortSignal;
  },
): Promise<Round> {
  const byIdentity = new Map<string, NodeOutcome>();
  let malformed = 0;
  const enough = new AbortController();
  const stop = () => enough.abort();
  o.interrupt.addEventListener("abort", stop, { once: true });
  if (o.interrupt.aborted) stop();
  try {
    const res = await conn.gather(requests, {
      maxWaitMs: o.timeoutMs,
      ...(o.targeted ? { expected: requests.length } : {}),
      signal: enough.signal,
      onReply(data) {
        const r = parseReply(data);
        if (r === null) {
          malformed++;
          return;
        }
        if (!o.accept(r.identity) || byIdentity.has(r.identity)) return;
        byIdentity.set(r.identity, r);
        o.progress(byIdentity.size);
        if (o.want !== undefined && byIdentity.size >= o.want) stop();
      },
    });
    const ended = o.interrupt.aborted
      ? "interrupted"
      : res.ended === "aborted"
      ? "expected"
      : res.ended;
    return { byIdentity, malformed, ended };
  } finally {
    o.interrupt.removeEventListener("abort", stop);
  }
}

/** Runs a fleet command; returns the exit code (0 all ok, 1 any failure or none answered). */
export async function runFleet(
  action: FleetAction,
  argv: string[],
  io: CliIo,
  deps: FleetDeps = realFleetDeps,
): Promise<number> {
  const args = parseFleetArgs(action, argv, io);
  const broker = await brokerFlags(args.brokerValues, io);
  if (broker === null) {
    throw usage(
      "--fleet needs a broker: no --broker given",
      "give --broker tls://host:4222 " +
        "with --tls-ca and --tls-cert/--tls-key or --creds (or SCOUT_BROKER and its twins)",
    );
  }
  const token = await readFlagFile(deps, "--token", args.tokenPath);
  const privateKey = await importCallerPrivateKey(
    await readFlagFile(deps, "--key", args.keyPath),
  );
  const single = args.identity !== undefined && !args.identity.includes("*")
    ? args.identity
    : undefined;
  const filtered = (args.identity !== undefined && single === undefined) ||
    args.annotations.length > 0 || args.checkFilter.length > 0;
  const twoRounds = action !== "checks" && filtered;

  const enc = new TextEncoder();
  const signFor = async (a: FleetAction, target: string) => {
    const req = a === "checks"
      ? await signRequest({
        action: "checks",
        target,
        args: {},
        token,
        privateKey,
        now: deps.now(),
      })
      : await signRequest({
        action: a,
        target,
        args: {
          ...(args.checks.length ? { checks: args.checks } : {}),
          ...(a === "maintenance" && args.forMs !== undefined ? { for_ms: args.forMs } : {}),
          ...(a === "maintenance" && args.reason !== undefined ? { reason: args.reason } : {}),
        },
        token,
        privateKey,
        now: deps.now(),
      });
    const subject = `scout.api.${target === ALL_NODES ? ALL_NODES : identityToken(target)}.${a}`;
    return { subject, data: enc.encode(JSON.stringify(req)) };
  };

  // With --hub: the fresh nodes it lists (matching --identity) are waited for, each by name.
  let known: string[] | null = null;
  if (args.hub !== undefined && single === undefined) {
    const listed = (await deps.hubNodes(args.hub)).filter((n) =>
      identityMatches(args.identity, n.identity)
    );
    known = listed.filter((n) => !n.stale).map((n) => n.identity).sort();
    const stale = listed.length - known.length;
    if (stale > 0) {
      io.err(
        `scout ${action}: not waiting for ${plural(stale, "node")} the hub lists as stale\n`,
      );
    }
  }
  const missing = (answered: Map<string, NodeOutcome>, interrupted: boolean): NodeOutcome[] =>
    (known ?? []).filter((id) => !answered.has(id)).map((id) =>
      noReply(id, args.timeoutMs, interrupted)
    );

  const terminal = deps.isTerminal();
  let shown = false;
  let lastShown = 0;
  const progress = (label: string) => (count: number) => {
    if (!terminal) return;
    const t = deps.now();
    if (shown && t - lastShown < 100) return;
    lastShown = t;
    shown = true;
    io.err(`\r\x1b[K${label}${plural(count, "node")} answered…`);
  };
  const clearProgress = () => {
    if (shown) io.err("\r\x1b[K");
    shown = false;
  };

  const interrupts = deps.interrupts();
  const conn = await deps.connect(broker).catch((e) => {
    interrupts.dispose();
    throw e;
  });
  const outcomes: NodeOutcome[] = [];
  const notes: string[] = [];
  let interrupted = false;
  try {
    // Round 1: the action itself, or discovery (`checks`) when the action must be narrowed.
    const first = await round(conn, [
      await signFor(twoRounds ? "checks" : action, single ?? ALL_NODES),
    ], {
      timeoutMs: args.timeoutMs,
      want: single !== undefined ? 1 : args.expect ?? (known?.length || undefined),
      targeted: single !== undefined,
      accept: (id) => identityMatches(args.identity, id),
      progress: progress(twoRounds ? "discovery: " : ""),
      interrupt: interrupts.signal,
    });
    clearProgress();
    interrupted = first.ended === "interrupted";
    if (first.malformed) notes.push(`${plural(first.malformed, "reply")} could not be read`);
    const answered = [...first.byIdentity.values()];
    if (!twoRounds) {
      const kept = answered.filter((o) => !o.ok || matchesChecks(o.result, args));
      outcomes.push(...kept.map((o) => settle(o, args)));
      if (kept.length === 0 && answered.length > 0) {
        notes.push(
          `none of the ${plural(answered.length, "node")} that answered matched the filters`,
        );
      }
      if (single !== undefined && !first.byIdentity.has(single)) {
        outcomes.push(noReply(single, args.timeoutMs, interrupted));
      }
      outcomes.push(...missing(first.byIdentity, interrupted));
    } else {
      const failed = answered.filter((o) => !o.ok);
      outcomes.push(...failed.map((o) => ({
        ...o,
        error: { code: o.error!.code, reason: `discovery: ${o.error!.reason}` },
      })));
      const selected = answered.filter((o) => o.ok && matchesChecks(o.result, args))
        .map((o) => o.identity);
      if (single !== undefined && !first.byIdentity.has(single)) {
        outcomes.push(noReply(single, args.timeoutMs, interrupted));
      }
      outcomes.push(...missing(first.byIdentity, interrupted));
      if (selected.length > 0 && !interrupted) {
        const requests = await Promise.all(selected.map((id) => signFor(action, id)));
        const second = await round(conn, requests, {
          timeoutMs: args.timeoutMs,
          want: selected.length,
          targeted: true,
          accept: (id) => selected.includes(id),
          progress: progress(`${action}: `),
          interrupt: interrupts.signal,
        });
        clearProgress();
        interrupted = second.ended === "interrupted";
        if (second.malformed) notes.push(`${plural(second.malformed, "reply")} could not be read`);
        for (const id of selected) {
          const o = second.byIdentity.get(id);
          outcomes.push(o ? settle(o, args) : noReply(id, args.timeoutMs, interrupted));
        }
      } else if (selected.length === 0 && failed.length === 0 && answered.length > 0) {
        notes.push(
          `none of the ${plural(answered.length, "node")} that answered matched the filters`,
        );
      }
    }
    if (args.expect !== undefined && !interrupted && first.byIdentity.size < args.expect) {
      notes.push(
        `expected ${
          plural(args.expect, "node")
        }, ${first.byIdentity.size} answered within ${args.timeoutMs} ms`,
      );
    }
  } finally {
    clearProgress();
    interrupts.dispose();
    await conn.close();
  }

  if (args.json) io.out(renderJson(outcomes));
  else if (outcomes.length) io.out(renderTable(action, outcomes));
  const bad = outcomes.filter((o) => !o.ok);
  if (!args.json) {
    const good = outcomes.length - bad.length;
    io.err(`${plural(outcomes.length, "node")}: ${good} ok, ${bad.length} failed\n`);
    for (const o of bad) io.err(`failed ${o.identity}: ${o.error?.code}: ${o.error?.reason}\n`);
  }
  if (interrupted) notes.push("interrupted: the results so far are shown");
  if (outcomes.length === 0 && !notes.some((n) => n.startsWith("none of"))) {
    notes.push(`no node answered within ${args.timeoutMs} ms`);
  }
  for (const n of notes) io.err(`scout ${action}: ${n}\n`);
  return bad.length > 0 || outcomes.length === 0 || notes.length > 0 ? 1 : 0;
}

function noReply(identity: string, timeoutMs: number, interrupted: boolean): NodeOutcome {
  return {
    identity,
    ok: false,
    result: null,
    error: {
      code: "NO_REPLY",
      reason: interrupted ? "interrupted before it answered" : `no answer within ${timeoutMs} ms`,
    },
  };
}
