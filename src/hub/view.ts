/**
 * The hub's fleet state view, pure: no I/O, no clock. Events come in with the NATS subject they
 * were stored under and the broker's storage time; the view keeps per node its checks' latest
 * status, output, annotations and machine state, and counts what it accepted and rejected.
 *
 * Trust: the broker lets a node publish only under its own `scout.node.<token>.>`, so the token
 * in the NATS subject names the sender. An event is accepted only when its CloudEvent subject
 * (the identity it claims) has that same token; anything else is counted as foreign.
 * @module
 */
import { ScoutError } from "../errors.ts";
import {
  identityToken,
  type NagiosStatus,
  safeParseEvent,
  type ScoutEvent,
  scoutSubject,
  verifyEventFast,
} from "../events.ts";

/** One check (hosted machine) of one node. */
export interface CheckView {
  /** Latest Nagios status; null until the first result. */
  status: NagiosStatus | null;
  /** Output of the latest result. */
  output: string;
  /** When the latest result was taken (the agent's check_time), ms since the epoch. */
  lastResultMs: number | null;
  /** Annotations of the latest result. */
  annotations: Record<string, string>;
  /** Machine state after the latest transition (OK, WARNING, MAINTENANCE, ...); null before. */
  state: string | null;
}

/** One node. */
export interface NodeView {
  /** Its identity. */
  identity: string;
  /** When the broker stored its latest accepted event, ms since the epoch. */
  lastSeenMs: number;
  /** Its latest lifecycle event kind (startup, shutdown, alive), null before one. */
  lifecycle: string | null;
  /** Its checks by name. */
  checks: Map<string, CheckView>;
}

/** Why an event was not applied. */
export type RejectReason = "malformed" | "foreign" | "schema";

/** What the view accepted and rejected. */
export interface ViewCounters {
  /** Events applied. */
  accepted: number;
  /** Events refused, by reason. */
  rejected: Record<RejectReason, number>;
}

/** The fleet state view. applyEvent changes it in place. */
export interface FleetView {
  /** Nodes by identity. */
  nodes: Map<string, NodeView>;
  /** Counters. */
  counters: ViewCounters;
}

/** The outcome of verifying one stored message. */
export type Verdict =
  | { ok: true; event: ScoutEvent }
  | { ok: false; reason: RejectReason; detail: string };

/** An empty view. */
export function createView(): FleetView {
  return { nodes: new Map(), counters: { accepted: 0, rejected: emptyRejected() } };
}

function emptyRejected(): Record<RejectReason, number> {
  return { malformed: 0, foreign: 0, schema: 0 };
}

const NODE_PREFIX = "scout.node.";
const decoder = new TextDecoder("utf-8", { fatal: true });
/** Deno decodes UTF-8 much faster when not fatal; its text is kept when it has no U+FFFD. */
const quickDecoder = new TextDecoder("utf-8");

/** decoder.decode(bytes): throws on invalid UTF-8 just as it does. */
function decodeUtf8(bytes: Uint8Array): string {
  const text = quickDecoder.decode(bytes);
  // Invalid UTF-8 becomes U+FFFD; only then does the fatal decoder have to judge.
  return text.includes("\uFFFD") ? decoder.decode(bytes) : text;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The subject suffix after `scout.node.<token>` of each type verifyEventFast accepts. */
const SUFFIXES = new Map<string, string>();

function suffixOf(event: ScoutEvent): string {
  let suffix = SUFFIXES.get(event.type);
  if (suffix === undefined) {
    const full = scoutSubject(event.subject, event);
    suffix = full.slice(NODE_PREFIX.length + identityToken(event.subject).length);
    // Only the handful of types Scout knows get this far, so the map stays small.
    SUFFIXES.set(event.type, suffix);
  }
  return suffix;
}

/** Whether `token` equals identityToken(identity) (a valid identity with "." as "_"). */
function isTokenOf(token: string, identity: string): boolean {
  if (token.length !== identity.length) return false;
  for (let i = 0; i < token.length; i++) {
    const c = identity.charCodeAt(i);
    if (token.charCodeAt(i) !== (c === 46 ? 95 : c)) return false;
  }
  return true;
}

/**
 * Verifies a message from `scout.node.<token>.>`: JSON (else malformed), a valid Scout event
 * (else schema), claiming the identity whose token the subject carries (else foreign), on the
 * subject its type belongs on (else schema). Events are checked with verifyEventFast; a refusal's
 * detail is the reference (zod) path's wording, which also has the last word on a refusal.
 */
export function verifyEvent(subject: string, payload: Uint8Array | string | unknown): Verdict {
  // As /^scout\.node\.([^.]+)\./: a non-empty token followed by a dot.
  const end = subject.startsWith(NODE_PREFIX) ? subject.indexOf(".", NODE_PREFIX.length) : -1;
  if (end <= NODE_PREFIX.length) {
    return { ok: false, reason: "malformed", detail: `subject ${subject} is not a node subject` };
  }
  const token = subject.slice(NODE_PREFIX.length, end);
  let value: unknown = payload;
  try {
    if (payload instanceof Uint8Array) value = JSON.parse(decodeUtf8(payload));
    else if (typeof payload === "string") value = JSON.parse(payload);
  } catch (e) {
    return { ok: false, reason: "malformed", detail: `not JSON: ${errText(e)}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "malformed", detail: "not a JSON object" };
  }
  let checked = verifyEventFast(value);
  // A refusal is rare: the reference path words it (and would overrule a wrong refusal).
  if (!checked.ok) checked = safeParseEvent(value);
  if (!checked.ok) return { ok: false, reason: "schema", detail: checked.error.message };
  const event = checked.event;
  if (!isTokenOf(token, event.subject)) {
    return {
      ok: false,
      reason: "foreign",
      detail: `event of ${event.subject} published under the subject of token ${token}`,
    };
  }
  const suffix = suffixOf(event);
  if (subject.length !== end + suffix.length || !subject.endsWith(suffix)) {
    const want = `${NODE_PREFIX}${token}${suffix}`;
    return { ok: false, reason: "schema", detail: `event ${event.type} belongs on ${want}` };
  }
  return { ok: true, event };
}

function nodeOf(view: FleetView, identity: string, nowMs: number): NodeView {
  let node = view.nodes.get(identity);
  if (!node) {
    node = { identity, lastSeenMs: nowMs, lifecycle: null, checks: new Map() };
    view.nodes.set(identity, node);
  }
  return node;
}

function checkOf(node: NodeView, name: string): CheckView {
  let check = node.checks.get(name);
  if (!check) {
    check = { status: null, output: "", lastResultMs: null, annotations: {}, state: null };
    node.checks.set(name, check);
  }
  return check;
}

/**
 * Verifies one stored message and, when it is trusted, applies it to `view` (in place);
 * counts it either way. `nowMs` is when the broker stored it: it becomes the node's lastSeenMs,
 * so a view rebuilt from the stream equals the one built live.
 */
export function applyEvent(
  view: FleetView,
  subject: string,
  payload: Uint8Array | string | unknown,
  nowMs: number,
): Verdict {
  const verdict = verifyEvent(subject, payload);
  if (!verdict.ok) {
    view.counters.rejected[verdict.reason]++;
    return verdict;
  }
  view.counters.accepted++;
  const ev = verdict.event;
  const d = ev.data;
  const node = nodeOf(view, ev.subject, nowMs);
  node.lastSeenMs = Math.max(node.lastSeenMs, nowMs);
  if (ev.type.startsWith("io.choria.lifecycle.")) {
    node.lifecycle = ev.type.slice(ev.type.lastIndexOf(".") + 1);
    return verdict;
  }
  const machine = d["machine"];
  if (typeof machine !== "string") return verdict;
  const check = checkOf(node, machine);
  if (ev.type === "io.choria.machine.v1.transition") {
    check.state = String(d["to_state"]);
  } else if (ev.type === "io.choria.machine.watcher.nagios.v1.state") {
    check.status = d["status"] as NagiosStatus;
    check.output = String(d["output"] ?? "");
    check.lastResultMs = Number(d["check_time"]) * 1000;
    check.annotations = { ...(d["annotations"] as Record<string, string> | undefined ?? {}) };
  }
  return verdict;
}

/** Whether a node has been silent for longer than staleAfterMs. */
export function isStale(node: NodeView, nowMs: number, staleAfterMs: number): boolean {
  return nowMs - node.lastSeenMs > staleAfterMs;
}

/** A filter of checks; every given field must match. */
export interface CheckFilter {
  /** Any of these statuses ("PENDING" matches a check without a result yet). */
  status?: string[];
  /** Exact node identity. */
  node?: string;
  /** Exact check name. */
  check?: string;
  /** Annotations that must be present with these values. */
  annotations?: Record<string, string>;
  /** Only checks of stale (true) or fresh (false) nodes. */
  stale?: boolean;
}

const STATUSES = new Set(["OK", "WARNING", "CRITICAL", "UNKNOWN", "PENDING"]);

/**
 * Reads a filter from query parameters: `status` (comma-separated, repeatable), `node`, `check`,
 * `annotation=k=v` (repeatable), `stale=true|false`. Throws USAGE on a bad value.
 */
export function parseCheckFilter(params: URLSearchParams): CheckFilter {
  const filter: CheckFilter = {};
  const statuses = params.getAll("status").flatMap((s) => s.split(",")).map((s) => s.trim())
    .filter((s) => s !== "").map((s) => s.toUpperCase());
  for (const s of statuses) {
    if (!STATUSES.has(s)) {
      throw new ScoutError("USAGE", `unknown status "${s}"`, {
        hint: "use OK, WARNING, CRITICAL, UNKNOWN or PENDING, comma-separated",
        context: { status: s },
      });
    }
  }
  if (statuses.length > 0) filter.status = statuses;
  const node = params.get("node");
  if (node) filter.node = node;
  const check = params.get("check");
  if (check) filter.check = check;
  for (const a of params.getAll("annotation")) {
    const i = a.indexOf("=");
    if (i <= 0) {
      throw new ScoutError("USAGE", `annotation filter "${a}" is not key=value`, {
        hint: "write annotation=key=value, e.g. annotation=team=db",
      });
    }
    filter.annotations ??= {};
    filter.annotations[a.slice(0, i)] = a.slice(i + 1);
  }
  const stale = params.get("stale");
  if (stale !== null) {
    if (stale !== "true" && stale !== "false") {
      throw new ScoutError("USAGE", `stale must be true or false, not "${stale}"`);
    }
    filter.stale = stale === "true";
  }
  return filter;
}

/** One row of a checks query. */
export interface CheckRow extends CheckView {
  /** The node's identity. */
  node: string;
  /** The check's name. */
  check: string;
  /** Whether the node is stale. */
  stale: boolean;
}

/** One row of a nodes query. */
export interface NodeRow {
  /** Identity. */
  identity: string;
  /** When the broker stored its latest event, ms since the epoch. */
  lastSeenMs: number;
  /** Silent for longer than the stale limit. */
  stale: boolean;
  /** Latest lifecycle kind, or null. */
  lifecycle: string | null;
  /** How many checks it has. */
  checks: number;
  /** Its checks counted by status ("PENDING": no result yet). */
  statuses: Record<string, number>;
}

function byName<T>(m: Map<string, T>): [string, T][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The checks matching a filter, sorted by node then check. */
export function queryChecks(
  view: FleetView,
  filter: CheckFilter,
  nowMs: number,
  staleAfterMs: number,
): CheckRow[] {
  const rows: CheckRow[] = [];
  for (const [identity, node] of byName(view.nodes)) {
    if (filter.node !== undefined && identity !== filter.node) continue;
    const stale = isStale(node, nowMs, staleAfterMs);
    if (filter.stale !== undefined && filter.stale !== stale) continue;
    for (const [name, c] of byName(node.checks)) {
      if (filter.check !== undefined && name !== filter.check) continue;
      if (filter.status && !filter.status.includes(c.status ?? "PENDING")) continue;
      if (
        filter.annotations &&
        !Object.entries(filter.annotations).every(([k, v]) => c.annotations[k] === v)
      ) continue;
      rows.push({ node: identity, check: name, stale, ...c, annotations: { ...c.annotations } });
    }
  }
  return rows;
}

/** Every node, sorted by identity. */
export function listNodes(view: FleetView, nowMs: number, staleAfterMs: number): NodeRow[] {
  return byName(view.nodes).map(([identity, node]) => {
    const statuses: Record<string, number> = {};
    for (const c of node.checks.values()) {
      const s = c.status ?? "PENDING";
      statuses[s] = (statuses[s] ?? 0) + 1;
    }
    return {
      identity,
      lastSeenMs: node.lastSeenMs,
      stale: isStale(node, nowMs, staleAfterMs),
      lifecycle: node.lifecycle,
      checks: node.checks.size,
      statuses,
    };
  });
}

/** A view as plain JSON, for a snapshot on disk. */
export interface ViewSnapshot {
  /** Format version. */
  version: 1;
  /** Nodes with their checks. */
  nodes: {
    identity: string;
    lastSeenMs: number;
    lifecycle: string | null;
    checks: Record<string, CheckView>;
  }[];
  /** Counters. */
  counters: ViewCounters;
}

/** Turns a view into JSON-able data. */
export function snapshotView(view: FleetView): ViewSnapshot {
  return {
    version: 1,
    nodes: byName(view.nodes).map(([identity, n]) => ({
      identity,
      lastSeenMs: n.lastSeenMs,
      lifecycle: n.lifecycle,
      checks: Object.fromEntries(byName(n.checks)),
    })),
    counters: {
      accepted: view.counters.accepted,
      rejected: { ...view.counters.rejected },
    },
  };
}

/** Rebuilds a view from a snapshot; throws CONFIG_STATE when it is not one. */
export function restoreView(snap: unknown): FleetView {
  const s = snap as Partial<ViewSnapshot> | null;
  if (
    typeof s !== "object" || s === null || s.version !== 1 || !Array.isArray(s.nodes) ||
    typeof s.counters?.accepted !== "number"
  ) {
    throw new ScoutError("CONFIG_STATE", "the hub's view snapshot is not in a known format", {
      hint: "delete it; the hub then rebuilds the view from the SCOUT_EVENTS stream",
    });
  }
  const view = createView();
  view.counters = {
    accepted: s.counters.accepted,
    rejected: { ...emptyRejected(), ...s.counters.rejected },
  };
  for (const n of s.nodes) {
    view.nodes.set(n.identity, {
      identity: n.identity,
      lastSeenMs: n.lastSeenMs,
      lifecycle: n.lifecycle,
      checks: new Map(Object.entries(n.checks).map(([k, c]) => [k, { ...c }])),
    });
  }
  return view;
}
