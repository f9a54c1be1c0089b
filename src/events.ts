/**
 * Scout's CloudEvents: Choria-compatible types, sources, payloads and NATS subjects, plus the
 * project's own zod schemas to verify received events. Layer 1: pure (time and ids are passed in);
 * imports only errors.ts, npm:zod and npm:cloudevents.
 *
 * Wire format (choria-formats.md section 4): structured JSON CloudEvents 1.0, `type` =
 * `data.protocol`, `source` `io.choria.machine` (machine events) or `io.choria.lifecycle`,
 * `subject` = node identity, `time` RFC3339 at whole-second precision (UTC, `Z`) taken from the
 * same second as `data.timestamp`, which is unix seconds like every time in `data`.
 *
 * Quirk decisions, deliberate and differing from go-choria where noted:
 * - No NOTCHECKED status and no `check_time` before the first run: Scout sends no nagios state
 *   event before a check has run, so `status` is always OK/WARNING/CRITICAL/UNKNOWN, `status_code`
 *   0..3 and `check_time` the unix second of that run (Choria sends NOTCHECKED, code 5 and
 *   -62135596800 before the first run).
 * - Plugin exit codes 4 and 5 map to UNKNOWN (see statusFromCode in nagios.ts) and are
 *   reported like any result; Choria maps them to SKIPPED/NOTCHECKED and sends nothing.
 * - Data beyond Choria's schemas (machine state, soft/hard, attempt, max attempts, maintenance
 *   reason and expiry) travels in CloudEvent extension attributes ({@link SCOUT_EXTENSIONS}), so
 *   `data` stays valid against Choria's schemas; `data.status` is always the result of that run.
 * - `perfdata` is always an array (never null). A unit outside Choria's schema enum
 *   ("", s, ms, us, %, B, KB, MB, TB, c) is sent as "" and an item with a non-finite value is
 *   dropped, because JSON cannot carry it and Choria's schema would reject it.
 * - `history` keeps the newest 15 runs, oldest first; each `execute` is an ISO 8601 / RFC3339 UTC
 *   string with millisecond fraction (Choria: RFC3339Nano); `perfdata` is omitted when empty.
 * - `runtime` is float seconds; exec `previous_run_time` and timer `timer` are integer
 *   nanoseconds, rounded from the milliseconds Scout measures.
 * - Push events (`io.scout.push.v1.applied` / `.refused`, source `io.scout.push`) are Scout's own:
 *   a node reports each pushed check bundle it applied or refused on
 *   `scout.node.<token>.push.<applied|refused>`. Choria has no such event, so the hub republishes
 *   none ({@link choriaSubjectOf} is null for them). Their data is closed, like a transition's.
 * - Lifecycle events carry `data.id` = the CloudEvent id and `version` for every kind, as
 *   go-choria's own shutdown example does. On Choria's tree they go to
 *   `choria.lifecycle.event.<type>.scout` whatever the component field says.
 * - The builders make the plain structured object themselves (the cloudevents SDK's `toJSON()`
 *   rewrites `time` with milliseconds and carries undefined attributes). The agent does not load
 *   the SDK: its import and schema compilation cost about 50 ms of start-up and it validated
 *   every event again; every attribute here is a constant or checked (a non-empty id and
 *   subject, a whole-second time, extension names and values), and events_test.ts holds every
 *   builder's output valid to the SDK.
 * - Extension names must be lowercase a-z0-9, at most 20 characters, and not a core attribute;
 *   integer values are CloudEvents Integers (32-bit), so `scoutmaintuntil` fits until 2038-01-19.
 * @module
 */
import { z } from "zod";
import { ScoutError } from "./errors.ts";
import { CHORIA_UNITS, type NagiosStatus, STATUS_CODE } from "./nagios.ts";

export type { NagiosStatus } from "./nagios.ts";

/** The machine a watcher event or transition belongs to. */
export interface MachineRef {
  /** Node identity; becomes `data.identity` and the CloudEvent subject. */
  identity: string;
  /** Machine name (`data.machine`). */
  machine: string;
  /** Machine version (`data.version`). */
  version: string;
  /** Machine instance UUID (`data.id`), not the event id. */
  instanceId: string;
}

/** A structured JSON CloudEvent, ready for JSON.stringify. */
export interface ScoutEvent {
  /** Always "1.0". */
  specversion: "1.0";
  /** Unique event id. */
  id: string;
  /** `io.choria.machine` or `io.choria.lifecycle`. */
  source: string;
  /** Equals `data.protocol`. */
  type: string;
  /** Node identity. */
  subject: string;
  /** Always JSON. */
  datacontenttype: "application/json";
  /** RFC3339 UTC at whole-second precision. */
  time: string;
  /** Choria's payload. */
  data: Record<string, unknown>;
  /** Extension attributes (see SCOUT_EXTENSIONS). */
  [ext: string]: unknown;
}

/** What every builder needs besides the payload: the event id, the time and extensions. */
export interface EventMeta {
  /** Unique event id (a UUID from the caller). */
  eventId: string;
  /** Event time in unix milliseconds; sent as whole seconds. */
  timeMs: number;
  /** CloudEvent extension attributes; names lowercase a-z0-9, at most 20 characters. */
  extensions?: Record<string, string | number | boolean>;
}

/** One perfdata item in Choria's wire form. */
export interface WirePerfDatum {
  /** Unit of measure, "" when none. */
  unit: string;
  /** Metric label. */
  label: string;
  /** Parsed value. */
  value: number;
}

/** The facts of one nagios check run that its state event reports. */
export interface NagiosStatePayload {
  /** Watcher name (`data.name`). */
  watcher: string;
  /** The expanded command line, or the builtin name. */
  plugin: string;
  /** Result of this run. */
  status: NagiosStatus;
  /** Plugin output, trimmed. */
  output: string;
  /** When the check ran, unix ms. */
  checkTimeMs: number;
  /** How long it took, ms. */
  runtimeMs: number;
  /** Perfdata of this run. */
  perfdata: WirePerfDatum[];
  /** Earlier runs, oldest first; only the newest 15 are sent. */
  history: { executeMs: number; status: 0 | 1 | 2 | 3; perfdata: WirePerfDatum[] }[];
  /** User annotations copied into every event. */
  annotations: Record<string, string>;
}

/** Payload of an exec watcher state event. */
export interface ExecStatePayload {
  /** Watcher name. */
  watcher: string;
  /** The command template, unexpanded. */
  command: string;
  /** Outcome of the previous run. */
  previousOutcome: "unknown" | "skipped" | "error" | "success";
  /** Duration of the previous run in ms; sent as integer ns. */
  previousRunTimeMs: number;
}

/** Payload of a timer watcher state event. */
export interface TimerStatePayload {
  /** Watcher name. */
  watcher: string;
  /** Timer state. */
  state: "running" | "stopped";
  /** Timer length in ms; sent as integer ns. */
  timerMs: number;
}

/** Payload of a schedule watcher state event. */
export interface ScheduleStatePayload {
  /** Watcher name. */
  watcher: string;
  /** Schedule state. */
  state: "unknown" | "off" | "on" | "skipped";
}

/** Lifecycle event kinds Scout sends (`provisioned`: enrolment or renewal gave a certificate). */
export type LifecycleKind = "startup" | "shutdown" | "alive" | "provisioned";

/** Payload of a lifecycle event. */
export interface LifecyclePayload {
  /** Event kind. */
  kind: LifecycleKind;
  /** Node identity. */
  identity: string;
  /** Component name, e.g. "scout". */
  component: string;
  /** Component version. */
  version: string;
}

/** Why a node refused a pushed bundle: a verification step, or a clash with local checks. */
export const PUSH_REFUSAL_STEPS = [
  "shape",
  "token",
  "rights",
  "signature",
  "key",
  "replay",
  "expired",
  "checks",
  "clash",
] as const;

/** One of PUSH_REFUSAL_STEPS. */
export type PushRefusalStep = typeof PUSH_REFUSAL_STEPS[number];

/** Payload of a push event: a bundle a node applied (or, with `refused`, refused). */
export interface PushAppliedPayload {
  /** Node identity. */
  identity: string;
  /** The KV key: `node.<token>` or `group.<name>`. */
  key: string;
  /** The bundle's sequence. */
  seq: number;
  /** The operator (token `sub`) who signed it. */
  author: string;
  /** The token's issuer. */
  issuer: string;
  /** When it was signed, unix ms; sent as unix seconds. */
  issuedMs: number;
  /** Names of the checks it defines (empty for a tombstone). */
  checks: readonly string[];
  /** True for a signed tombstone (the pushed checks were removed). */
  removed: boolean;
}

/** Payload of a refused push event; what could not be read from the bundle is null. */
export interface PushRefusedPayload {
  /** Node identity. */
  identity: string;
  /** The KV key it was read from. */
  key: string;
  /** Its sequence, when readable. */
  seq: number | null;
  /** Its claimed author, when readable. */
  author: string | null;
  /** Its claimed issuer, when readable. */
  issuer: string | null;
  /** When it claims it was signed, unix ms, when readable; sent as unix seconds. */
  issuedMs: number | null;
  /** Names of its checks, when they parsed. */
  checks: readonly string[];
  /** The step that refused it. */
  step: PushRefusalStep;
  /** Why, in words. */
  reason: string;
}

/**
 * CloudEvent extension attribute names Scout sets on state events (lowercase a-z0-9, <= 20 chars):
 * `state` the machine state after the run (e.g. "MAINTENANCE"), `hard` whether the result is hard
 * (attempts reached) rather than soft, `attempt` the attempt number, `attempts` the max attempts,
 * `maintReason` the maintenance reason, `maintUntil` the maintenance expiry in unix seconds.
 */
export const SCOUT_EXTENSIONS = {
  state: "scoutstate",
  hard: "scouthard",
  attempt: "scoutattempt",
  attempts: "scoutattempts",
  maintReason: "scoutmaintreason",
  maintUntil: "scoutmaintuntil",
  announce: "scoutannounce",
  dropped: "scoutdropped",
} as const;

/** Which events an agent publishes to the fleet (its events file always gets every event). */
export const PUBLISH_POLICIES = ["all", "changes", "non-ok"] as const;

/** A publish policy. */
export type PublishPolicy = typeof PUBLISH_POLICIES[number];

/**
 * Whether a policy publishes an event: `all` every event; `changes` lifecycle and push events,
 * transitions and every result that is not OK; `non-ok` lifecycle events, transitions into a
 * state other than OK and results that are not OK (and lifecycle and push events). Announcements (re-sent states) are always
 * published by the caller, so a fleet view can be rebuilt under any policy.
 */
export function publishes(policy: PublishPolicy, ev: ScoutEvent): boolean {
  if (policy === "all" || ev.source === LIFECYCLE_SOURCE || ev.source === PUSH_SOURCE) return true;
  const data = ev.data as { status?: unknown; to_state?: unknown };
  if (ev.type === TRANSITION_PROTOCOL) return policy === "changes" || data.to_state !== "OK";
  return typeof data.status === "string" && data.status !== "OK";
}

/** CloudEvent source of machine (transition and watcher) events. */
export const MACHINE_SOURCE = "io.choria.machine";
/** CloudEvent source of lifecycle events. */
export const LIFECYCLE_SOURCE = "io.choria.lifecycle";
/** CloudEvent source of push events (Scout's own; Choria has none). */
export const PUSH_SOURCE = "io.scout.push";
/** Protocol (= CloudEvent type) of a pushed bundle the node applied. */
export const PUSH_APPLIED_PROTOCOL = "io.scout.push.v1.applied";
/** Protocol (= CloudEvent type) of a pushed bundle the node refused. */
export const PUSH_REFUSED_PROTOCOL = "io.scout.push.v1.refused";

/** The source an event type must come from. */
function sourceOfType(type: string): string {
  if (type.startsWith("io.choria.lifecycle.")) return LIFECYCLE_SOURCE;
  if (type.startsWith("io.scout.push.")) return PUSH_SOURCE;
  return MACHINE_SOURCE;
}
/** Protocol (= CloudEvent type) of transition events. */
export const TRANSITION_PROTOCOL = "io.choria.machine.v1.transition";
/** Most history entries a nagios state event carries, as Choria. */
export const NAGIOS_HISTORY_LIMIT = 15;

/** Protocol (= CloudEvent type) of a watcher state event. */
export function watcherProtocol(watcherType: string): string {
  return `io.choria.machine.watcher.${watcherType}.v1.state`;
}

/** Protocol (= CloudEvent type) of a lifecycle event. */
export function lifecycleProtocol(kind: string): string {
  return `io.choria.lifecycle.v1.${kind}`;
}

/** Check facts that become Scout's extension attributes on a state event. */
export interface CheckExtensionFacts {
  /** Machine state after the run, e.g. "CRITICAL" or "MAINTENANCE". */
  state: string;
  /** True when the result is hard (attempts reached). */
  hard: boolean;
  /** Attempt number of this result, from 1. */
  attempt: number;
  /** Attempts needed for a hard result. */
  attempts: number;
  /** Maintenance reason, when in maintenance with a reason. */
  maintReason?: string | undefined;
  /** Maintenance expiry, unix ms, when it has one; sent as unix seconds. */
  maintUntilMs?: number | undefined;
}

/** Builds the extension attributes for EventMeta.extensions from a check's facts. */
export function scoutExtensions(f: CheckExtensionFacts): Record<string, string | number | boolean> {
  const ext: Record<string, string | number | boolean> = {
    [SCOUT_EXTENSIONS.state]: f.state,
    [SCOUT_EXTENSIONS.hard]: f.hard,
    [SCOUT_EXTENSIONS.attempt]: f.attempt,
    [SCOUT_EXTENSIONS.attempts]: f.attempts,
  };
  if (f.maintReason !== undefined) ext[SCOUT_EXTENSIONS.maintReason] = f.maintReason;
  if (f.maintUntilMs !== undefined) {
    ext[SCOUT_EXTENSIONS.maintUntil] = unixSeconds(f.maintUntilMs, "maintUntilMs");
  }
  return ext;
}

// ---------------------------------------------------------------------------------------------
// time helpers

/** First and last unix ms that render as a 4-digit-year RFC3339 timestamp. */
const MIN_RFC3339_MS = Date.parse("0000-01-01T00:00:00Z");
const MAX_RFC3339_MS = Date.parse("9999-12-31T23:59:59.999Z");

function checkMs(ms: number, what: string): void {
  if (!Number.isFinite(ms) || ms < MIN_RFC3339_MS || ms > MAX_RFC3339_MS) {
    throw new ScoutError("INTERNAL", `${what} is not a usable time: ${ms}`, {
      context: { [what]: ms },
      hint: "pass unix milliseconds between the years 0000 and 9999",
    });
  }
}

function unixSeconds(ms: number, what: string): number {
  checkMs(ms, what);
  return Math.floor(ms / 1000);
}

/** RFC3339 UTC at whole-second precision, e.g. "2026-01-01T00:00:05Z" (rounded down). */
export function rfc3339Seconds(ms: number): string {
  const s = unixSeconds(ms, "timeMs");
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function rfc3339Millis(ms: number): string {
  checkMs(ms, "executeMs");
  return new Date(Math.floor(ms)).toISOString();
}

// ---------------------------------------------------------------------------------------------
// envelope

const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
/** Core and SDK-known attribute names an extension must not shadow. */
const RESERVED_ATTRIBUTES: ReadonlySet<string> = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "subject",
  "datacontenttype",
  "dataschema",
  "time",
  "data",
  "datacontentencoding",
  "schemaurl",
]);

function checkExtensions(
  type: string,
  ext: Record<string, string | number | boolean> | undefined,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(ext ?? {})) {
    if (!EXTENSION_NAME.test(name) || RESERVED_ATTRIBUTES.has(name)) {
      throw new ScoutError("INTERNAL", `invalid CloudEvent extension name "${name}"`, {
        context: { type, extension: name },
        hint: "use 1 to 20 lowercase letters or digits that are not a core attribute name",
      });
    }
    if (typeof value === "number" && !isInt32(value)) {
      throw new ScoutError("INTERNAL", `extension "${name}" is not a 32-bit integer: ${value}`, {
        context: { type, extension: name },
        hint: "CloudEvents extension numbers are Integers; send other values as strings",
      });
    }
    out[name] = value;
  }
  return out;
}

function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= -(2 ** 31) && n <= 2 ** 31 - 1;
}

interface EnvelopeParts {
  source: typeof MACHINE_SOURCE | typeof LIFECYCLE_SOURCE | typeof PUSH_SOURCE;
  type: string;
  subject: string;
  data: Record<string, unknown>;
}

function envelope(parts: EnvelopeParts, meta: EventMeta): ScoutEvent {
  const ext = checkExtensions(parts.type, meta.extensions);
  for (const [what, value] of [["an event id", meta.eventId], ["a subject", parts.subject]]) {
    if (value === "") {
      throw new ScoutError("INTERNAL", `CloudEvent ${parts.type} needs ${what}`, {
        context: { type: parts.type },
        hint: "pass a fresh UUID as eventId and the node identity as subject",
      });
    }
  }
  const attrs = {
    specversion: "1.0",
    id: meta.eventId,
    source: parts.source,
    type: parts.type,
    subject: parts.subject,
    datacontenttype: "application/json",
    time: rfc3339Seconds(meta.timeMs),
  } as const;
  return { ...attrs, ...ext, data: parts.data };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message.split("\n")[0] ?? "" : String(err);
}

function watcherData(
  ref: MachineRef,
  watcherType: string,
  watcher: string,
  meta: Pick<EventMeta, "timeMs">,
): Record<string, unknown> {
  return {
    protocol: watcherProtocol(watcherType),
    identity: ref.identity,
    id: ref.instanceId,
    version: ref.version,
    timestamp: unixSeconds(meta.timeMs, "timeMs"),
    type: watcherType,
    machine: ref.machine,
    name: watcher,
  };
}

function watcherEvent(
  ref: MachineRef,
  watcherType: string,
  data: Record<string, unknown>,
  meta: EventMeta,
): ScoutEvent {
  return envelope(
    { source: MACHINE_SOURCE, type: watcherProtocol(watcherType), subject: ref.identity, data },
    meta,
  );
}

const msToNs = (ms: number): number => Math.max(0, Math.round(ms * 1_000_000));

// ---------------------------------------------------------------------------------------------
// builders

/** Builds the `io.choria.machine.v1.transition` event of a machine transition. */
export function transitionEvent(
  ref: MachineRef,
  t: { transition: string; from: string; to: string },
  meta: EventMeta,
): ScoutEvent {
  const data = {
    protocol: TRANSITION_PROTOCOL,
    identity: ref.identity,
    id: ref.instanceId,
    version: ref.version,
    timestamp: unixSeconds(meta.timeMs, "timeMs"),
    machine: ref.machine,
    transition: t.transition,
    from_state: t.from,
    to_state: t.to,
  };
  return envelope(
    { source: MACHINE_SOURCE, type: TRANSITION_PROTOCOL, subject: ref.identity, data },
    meta,
  );
}

const UNITS: ReadonlySet<string> = new Set(CHORIA_UNITS);

function perfdataOut(items: readonly WirePerfDatum[]): WirePerfDatum[] {
  return items
    .filter((p) => Number.isFinite(p.value))
    .map((p) => ({ unit: UNITS.has(p.unit) ? p.unit : "", label: p.label, value: p.value }));
}

/** Builds the `io.choria.machine.watcher.nagios.v1.state` event of one completed check run. */
export function nagiosStateEvent(
  ref: MachineRef,
  p: NagiosStatePayload,
  meta: EventMeta,
): ScoutEvent {
  return watcherEvent(ref, "nagios", nagiosStateData(ref, p, meta), meta);
}

/**
 * The `data` of a nagios state event alone, without the CloudEvent around it: what listings
 * (`scout checks`, the node API) show as a check's status, built without the envelope's cost.
 */
export function nagiosStateData(
  ref: MachineRef,
  p: NagiosStatePayload,
  meta: Pick<EventMeta, "timeMs">,
): Record<string, unknown> {
  if (!Number.isFinite(p.runtimeMs)) {
    throw new ScoutError("INTERNAL", `runtimeMs is not a number: ${p.runtimeMs}`, {
      context: { watcher: p.watcher },
    });
  }
  const history = p.history.slice(-NAGIOS_HISTORY_LIMIT).map((h) => {
    const perfdata = perfdataOut(h.perfdata);
    return perfdata.length > 0
      ? { execute: rfc3339Millis(h.executeMs), status: h.status, perfdata }
      : { execute: rfc3339Millis(h.executeMs), status: h.status };
  });
  const data = {
    ...watcherData(ref, "nagios", p.watcher, meta),
    plugin: p.plugin,
    status: p.status,
    status_code: STATUS_CODE[p.status],
    output: p.output,
    check_time: unixSeconds(p.checkTimeMs, "checkTimeMs"),
    perfdata: perfdataOut(p.perfdata),
    runtime: Math.max(0, p.runtimeMs) / 1000,
    history,
    annotations: { ...p.annotations },
  };
  return data;
}

/** Builds the `io.choria.machine.watcher.exec.v1.state` event of an exec watcher. */
export function execStateEvent(ref: MachineRef, p: ExecStatePayload, meta: EventMeta): ScoutEvent {
  const data = {
    ...watcherData(ref, "exec", p.watcher, meta),
    command: p.command,
    previous_outcome: p.previousOutcome,
    previous_run_time: msToNs(p.previousRunTimeMs),
  };
  return watcherEvent(ref, "exec", data, meta);
}

/** Builds the `io.choria.machine.watcher.timer.v1.state` event of a timer watcher. */
export function timerStateEvent(
  ref: MachineRef,
  p: TimerStatePayload,
  meta: EventMeta,
): ScoutEvent {
  const data = {
    ...watcherData(ref, "timer", p.watcher, meta),
    state: p.state,
    timer: msToNs(p.timerMs),
  };
  return watcherEvent(ref, "timer", data, meta);
}

/** Builds the `io.choria.machine.watcher.schedule.v1.state` event of a schedule watcher. */
export function scheduleStateEvent(
  ref: MachineRef,
  p: ScheduleStatePayload,
  meta: EventMeta,
): ScoutEvent {
  const data = { ...watcherData(ref, "schedule", p.watcher, meta), state: p.state };
  return watcherEvent(ref, "schedule", data, meta);
}

/** Builds an `io.choria.lifecycle.v1.<kind>` event; `data.id` is the event id, as Choria. */
export function lifecycleEvent(p: LifecyclePayload, meta: EventMeta): ScoutEvent {
  const type = lifecycleProtocol(p.kind);
  const data = {
    protocol: type,
    id: meta.eventId,
    identity: p.identity,
    component: p.component,
    version: p.version,
    timestamp: unixSeconds(meta.timeMs, "timeMs"),
  };
  return envelope({ source: LIFECYCLE_SOURCE, type, subject: p.identity, data }, meta);
}

function nullableSeconds(ms: number | null, what: string): number | null {
  return ms === null ? null : unixSeconds(ms, what);
}

/** Builds the `io.scout.push.v1.applied` event of a pushed bundle the node applied. */
export function pushAppliedEvent(p: PushAppliedPayload, meta: EventMeta): ScoutEvent {
  const data = {
    protocol: PUSH_APPLIED_PROTOCOL,
    id: meta.eventId,
    identity: p.identity,
    timestamp: unixSeconds(meta.timeMs, "timeMs"),
    key: p.key,
    seq: p.seq,
    author: p.author,
    issuer: p.issuer,
    issued: unixSeconds(p.issuedMs, "issuedMs"),
    checks: [...p.checks],
    removed: p.removed,
  };
  return envelope(
    { source: PUSH_SOURCE, type: PUSH_APPLIED_PROTOCOL, subject: p.identity, data },
    meta,
  );
}

/** Builds the `io.scout.push.v1.refused` event of a pushed bundle the node refused. */
export function pushRefusedEvent(p: PushRefusedPayload, meta: EventMeta): ScoutEvent {
  const data = {
    protocol: PUSH_REFUSED_PROTOCOL,
    id: meta.eventId,
    identity: p.identity,
    timestamp: unixSeconds(meta.timeMs, "timeMs"),
    key: p.key,
    seq: p.seq,
    author: p.author,
    issuer: p.issuer,
    issued: nullableSeconds(p.issuedMs, "issuedMs"),
    checks: [...p.checks],
    step: p.step,
    reason: p.reason,
  };
  return envelope(
    { source: PUSH_SOURCE, type: PUSH_REFUSED_PROTOCOL, subject: p.identity, data },
    meta,
  );
}

// ---------------------------------------------------------------------------------------------
// subjects

/** Scout's node identity format: host-name-like, no underscores. */
export const IDENTITY_PATTERN = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/;

/** The identity's token in subjects and keys: every "." replaced by "_"; refuses bad identities. */
export function identityToken(identity: string): string {
  if (!IDENTITY_PATTERN.test(identity)) {
    throw new ScoutError("IDENTITY_INVALID", `invalid node identity "${identity}"`, {
      context: { identity },
      hint: "use letters, digits, '.' and '-', starting and ending with a letter or digit",
    });
  }
  return identity.replaceAll(".", "_");
}

/** What an event type names: a transition, a watcher state, a lifecycle kind or a push outcome. */
export type EventKind =
  | { kind: "transition" }
  | { kind: "watcher"; watcherType: string }
  | { kind: "lifecycle"; lifecycleType: string }
  | { kind: "push"; outcome: "applied" | "refused" };

const WATCHER_TYPE = /^io\.choria\.machine\.watcher\.([a-z][a-z0-9_]*)\.v1\.state$/;
const LIFECYCLE_TYPE = /^io\.choria\.lifecycle\.v1\.([a-z][a-z0-9_]*)$/;

/** Classifies a CloudEvent type; throws CONFIG_INVALID for a type Scout does not know. */
export function eventKind(type: string): EventKind {
  if (type === TRANSITION_PROTOCOL) return { kind: "transition" };
  const w = WATCHER_TYPE.exec(type);
  if (w?.[1] !== undefined) return { kind: "watcher", watcherType: w[1] };
  const l = LIFECYCLE_TYPE.exec(type);
  if (l?.[1] !== undefined) return { kind: "lifecycle", lifecycleType: l[1] };
  if (type === PUSH_APPLIED_PROTOCOL) return { kind: "push", outcome: "applied" };
  if (type === PUSH_REFUSED_PROTOCOL) return { kind: "push", outcome: "refused" };
  throw new ScoutError("CONFIG_INVALID", `unknown event type "${type}"`, {
    context: { type },
    hint: "Scout knows io.choria.machine.v1.transition, watcher state, lifecycle and push events",
  });
}

/** The NATS subject a node publishes an event on, under its own `scout.node.<token>` tree. */
export function scoutSubject(identity: string, ev: ScoutEvent): string {
  const base = `scout.node.${identityToken(identity)}`;
  const k = eventKind(ev.type);
  switch (k.kind) {
    case "transition":
      return `${base}.machine.transition`;
    case "watcher":
      return `${base}.machine.watcher.${k.watcherType}.state`;
    case "lifecycle":
      return `${base}.lifecycle.${k.lifecycleType}`;
    case "push":
      return `${base}.push.${k.outcome}`;
  }
}

/**
 * The subject Choria tools expect an event on, where the hub republishes verified events; null
 * for Scout's own push events, which Choria does not know (the hub republishes nothing for them).
 * Throws CONFIG_INVALID for a type Scout does not know.
 */
export function choriaSubjectOf(ev: ScoutEvent): string | null {
  const k = eventKind(ev.type);
  switch (k.kind) {
    case "transition":
      return "choria.machine.transition";
    case "watcher":
      return `choria.machine.watcher.${k.watcherType}.state`;
    case "lifecycle":
      return `choria.lifecycle.event.${k.lifecycleType}.scout`;
    case "push":
      return null;
  }
}

/**
 * The subject Choria tools expect an event on; the hub republishes verified events there.
 * Throws CONFIG_INVALID for a push event (Choria has none: see {@link choriaSubjectOf}).
 */
export function choriaSubject(ev: ScoutEvent): string {
  const subject = choriaSubjectOf(ev);
  if (subject === null) {
    throw new ScoutError("CONFIG_INVALID", `Choria has no subject for ${ev.type}`, {
      context: { type: ev.type },
      hint: "push events are Scout's own; they are not republished on Choria's subjects",
    });
  }
  return subject;
}

// ---------------------------------------------------------------------------------------------
// schemas

const WHOLE_SECOND_RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const identitySchema = z.string().regex(IDENTITY_PATTERN, "not a Scout node identity");
const ns = z.int().min(0);
const perfdatumSchema = z.object({
  unit: z.enum(CHORIA_UNITS),
  label: z.string(),
  value: z.number(),
});

function watcherBase<T extends string>(watcherType: T) {
  return {
    protocol: z.literal(watcherProtocol(watcherType)),
    identity: identitySchema,
    id: z.string(),
    version: z.string(),
    timestamp: z.int(),
    type: z.literal(watcherType),
    machine: z.string(),
    name: z.string(),
  };
}

const nagiosStatusSchema = z.enum(["OK", "WARNING", "CRITICAL", "UNKNOWN"]);

const transitionSchema = z.strictObject({
  protocol: z.literal(TRANSITION_PROTOCOL),
  identity: identitySchema,
  id: z.string(),
  version: z.string(),
  timestamp: z.int(),
  machine: z.string(),
  transition: z.string(),
  from_state: z.string(),
  to_state: z.string(),
});

const nagiosStateSchema = z
  .looseObject({
    ...watcherBase("nagios"),
    plugin: z.string(),
    status: nagiosStatusSchema,
    status_code: z.int().min(0).max(3),
    output: z.string(),
    check_time: z.int(),
    perfdata: z.array(perfdatumSchema),
    runtime: z.number().min(0),
    history: z
      .array(z.object({
        execute: z.iso.datetime({ offset: true }),
        status: z.int().min(0).max(3),
        perfdata: z.array(perfdatumSchema).min(1).optional(),
      }))
      .max(NAGIOS_HISTORY_LIMIT)
      .optional(),
    annotations: z.record(z.string(), z.string()),
  })
  .refine((d) => STATUS_CODE[d.status] === d.status_code, {
    message: "status_code does not match status",
    path: ["status_code"],
  });

const execStateSchema = z.looseObject({
  ...watcherBase("exec"),
  command: z.string(),
  previous_outcome: z.enum(["unknown", "skipped", "error", "success"]),
  previous_run_time: ns,
});

const timerStateSchema = z.looseObject({
  ...watcherBase("timer"),
  state: z.enum(["running", "stopped"]),
  timer: ns,
});

const scheduleStateSchema = z.looseObject({
  ...watcherBase("schedule"),
  state: z.enum(["unknown", "off", "on", "skipped"]),
});

const lifecycleSchema = z.looseObject({
  protocol: z.enum([
    lifecycleProtocol("startup"),
    lifecycleProtocol("shutdown"),
    lifecycleProtocol("alive"),
    lifecycleProtocol("provisioned"),
  ]),
  id: z.string().min(1),
  identity: identitySchema,
  component: z.string().min(1),
  version: z.string(),
  timestamp: z.int(),
});

const pushBase = {
  id: z.string().min(1),
  identity: identitySchema,
  timestamp: z.int(),
  key: z.string().min(1),
  checks: z.array(z.string()),
};

const pushAppliedSchema = z.strictObject({
  ...pushBase,
  protocol: z.literal(PUSH_APPLIED_PROTOCOL),
  seq: z.int().min(1),
  author: z.string(),
  issuer: z.string(),
  issued: z.int(),
  removed: z.boolean(),
});

const pushRefusedSchema = z.strictObject({
  ...pushBase,
  protocol: z.literal(PUSH_REFUSED_PROTOCOL),
  seq: z.int().min(1).nullable(),
  author: z.string().nullable(),
  issuer: z.string().nullable(),
  issued: z.int().nullable(),
  step: z.enum(PUSH_REFUSAL_STEPS),
  reason: z.string(),
});

const extensionValue = z.union([z.string(), z.int32(), z.boolean()]);

const envelopeSchema = z
  .object({
    specversion: z.literal("1.0"),
    id: z.string().min(1),
    source: z.enum([MACHINE_SOURCE, LIFECYCLE_SOURCE, PUSH_SOURCE]),
    type: z.string().min(1),
    subject: identitySchema,
    datacontenttype: z.literal("application/json"),
    time: z.string().regex(WHOLE_SECOND_RFC3339, "not RFC3339 UTC at whole-second precision"),
    data: z.record(z.string(), z.unknown()),
    [SCOUT_EXTENSIONS.state]: z.string().min(1).optional(),
    [SCOUT_EXTENSIONS.hard]: z.boolean().optional(),
    [SCOUT_EXTENSIONS.attempt]: z.int32().min(1).optional(),
    [SCOUT_EXTENSIONS.attempts]: z.int32().min(1).optional(),
    [SCOUT_EXTENSIONS.maintReason]: z.string().optional(),
    [SCOUT_EXTENSIONS.maintUntil]: z.int32().optional(),
  })
  .catchall(extensionValue)
  .superRefine((ev, ctx) => {
    for (const key of Object.keys(ev)) {
      if (!EXTENSION_NAME.test(key)) {
        ctx.addIssue({ code: "custom", message: `invalid attribute name "${key}"`, path: [key] });
      }
    }
  });

/** The project's own zod schemas of Scout's events: the envelope and each data payload. */
export const eventSchemas = {
  /** Structured CloudEvent envelope with Scout's extension attributes. */
  envelope: envelopeSchema,
  /** `io.choria.machine.v1.transition` data (closed, as Choria's schema). */
  transition: transitionSchema,
  /** `io.choria.machine.watcher.nagios.v1.state` data. */
  nagiosState: nagiosStateSchema,
  /** `io.choria.machine.watcher.exec.v1.state` data. */
  execState: execStateSchema,
  /** `io.choria.machine.watcher.timer.v1.state` data. */
  timerState: timerStateSchema,
  /** `io.choria.machine.watcher.schedule.v1.state` data. */
  scheduleState: scheduleStateSchema,
  /** `io.choria.lifecycle.v1.{startup,shutdown,alive,provisioned}` data. */
  lifecycle: lifecycleSchema,
  /** `io.scout.push.v1.applied` data (closed). */
  pushApplied: pushAppliedSchema,
  /** `io.scout.push.v1.refused` data (closed). */
  pushRefused: pushRefusedSchema,
} as const;

/** The data schema for each event type Scout sends. */
function dataSchemaFor(type: string): z.ZodType<Record<string, unknown>> | undefined {
  switch (type) {
    case TRANSITION_PROTOCOL:
      return transitionSchema;
    case watcherProtocol("nagios"):
      return nagiosStateSchema;
    case watcherProtocol("exec"):
      return execStateSchema;
    case watcherProtocol("timer"):
      return timerStateSchema;
    case watcherProtocol("schedule"):
      return scheduleStateSchema;
    case lifecycleProtocol("startup"):
    case lifecycleProtocol("shutdown"):
    case lifecycleProtocol("alive"):
    case lifecycleProtocol("provisioned"):
      return lifecycleSchema;
    case PUSH_APPLIED_PROTOCOL:
      return pushAppliedSchema;
    case PUSH_REFUSED_PROTOCOL:
      return pushRefusedSchema;
    default:
      return undefined;
  }
}

function invalid(type: string, message: string, cause?: unknown): ScoutError {
  return new ScoutError("CONFIG_INVALID", `invalid event ${type}: ${message}`, {
    context: { type },
    hint: "the event must be a Scout CloudEvent whose data matches its type",
    cause,
  });
}

function issuesText(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

/**
 * Parses a received event (a JSON value or its text): validates the envelope, the data against the
 * schema of its type, and their agreement (type = data.protocol, subject = data.identity, source
 * fits the type, time = data.timestamp). Throws ScoutError CONFIG_INVALID with context {type}.
 */
export function parseEvent(json: unknown): ScoutEvent {
  let value = json;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (err) {
      throw invalid("unknown", `not JSON: ${errText(err)}`, err);
    }
  }
  const rawType = typeof value === "object" && value !== null && "type" in value &&
      typeof value.type === "string"
    ? value.type
    : "unknown";
  const env = envelopeSchema.safeParse(value);
  if (!env.success) throw invalid(rawType, issuesText(env.error), env.error);
  const type = env.data.type;
  const schema = dataSchemaFor(type);
  if (schema === undefined) throw invalid(type, "unknown event type");
  const data = schema.safeParse(env.data.data);
  if (!data.success) throw invalid(type, issuesText(data.error), data.error);
  const d = data.data;
  const wantSource = sourceOfType(type);
  if (env.data.source !== wantSource) throw invalid(type, `source must be "${wantSource}"`);
  if (d["protocol"] !== type) throw invalid(type, "type differs from data.protocol");
  if (d["identity"] !== env.data.subject) throw invalid(type, "subject differs from data.identity");
  const ts = d["timestamp"];
  const tsMs = typeof ts === "number" ? ts * 1000 : NaN;
  const inRange = tsMs >= MIN_RFC3339_MS && tsMs <= MAX_RFC3339_MS;
  if (!inRange || env.data.time !== rfc3339Seconds(tsMs)) {
    throw invalid(type, "time differs from data.timestamp");
  }
  return { ...env.data, data: d } as ScoutEvent;
}

// ---------------------------------------------------------------------------------------------
// fast path

/** The outcome of checking a received event without throwing: the event, or why it is refused. */
export type EventCheck =
  | { ok: true; event: ScoutEvent }
  | { ok: false; error: ScoutError };

/**
 * parseEvent as a result instead of an exception: the reference (zod) path that
 * {@link verifyEventFast} must agree with.
 */
export function safeParseEvent(json: unknown): EventCheck {
  try {
    return { ok: true, event: parseEvent(json) };
  } catch (e) {
    if (e instanceof ScoutError) return { ok: false, error: e };
    throw e;
  }
}

/** zod's `z.iso.datetime({ offset: true })` pattern (zod 4.6), for `history[].execute`. */
const ISO_DATETIME_OFFSET =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/;

/** Envelope attributes the schema names itself; every other attribute is an extension. */
const ENVELOPE_KEYS: ReadonlySet<string> = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "subject",
  "datacontenttype",
  "time",
  "data",
  ...Object.values(SCOUT_EXTENSIONS),
]);
const TRANSITION_KEYS: ReadonlySet<string> = new Set([
  "protocol",
  "identity",
  "id",
  "version",
  "timestamp",
  "machine",
  "transition",
  "from_state",
  "to_state",
]);
const PUSH_COMMON_KEYS = [
  "protocol",
  "id",
  "identity",
  "timestamp",
  "key",
  "seq",
  "author",
  "issuer",
  "issued",
  "checks",
] as const;
const PUSH_APPLIED_KEYS: ReadonlySet<string> = new Set([...PUSH_COMMON_KEYS, "removed"]);
const PUSH_REFUSED_KEYS: ReadonlySet<string> = new Set([...PUSH_COMMON_KEYS, "step", "reason"]);
const PUSH_STEPS: ReadonlySet<unknown> = new Set(PUSH_REFUSAL_STEPS);
const NAGIOS_STATUS: ReadonlySet<unknown> = new Set(["OK", "WARNING", "CRITICAL", "UNKNOWN"]);
const EXEC_OUTCOMES: ReadonlySet<unknown> = new Set(["unknown", "skipped", "error", "success"]);
const TIMER_STATES: ReadonlySet<unknown> = new Set(["running", "stopped"]);
const SCHEDULE_STATES: ReadonlySet<unknown> = new Set(["unknown", "off", "on", "skipped"]);
const WIRE_UNITS: ReadonlySet<unknown> = UNITS;
const NAGIOS_TYPE = watcherProtocol("nagios");
const EXEC_TYPE = watcherProtocol("exec");
const TIMER_TYPE = watcherProtocol("timer");
const SCHEDULE_TYPE = watcherProtocol("schedule");
const LIFECYCLE_TYPES: ReadonlySet<string> = new Set(
  ["startup", "shutdown", "alive", "provisioned"].map(lifecycleProtocol),
);

/** Returned by the fast checks for a value only the reference path can judge exactly. */
const UNSURE = Symbol("unsure");
type Problem = string | null | typeof UNSURE;

type Obj = Record<string, unknown>;

/** 0 not an object (or an array), 1 a plain object, 2 an object zod may see differently. */
function objKind(v: unknown): 0 | 1 | 2 {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return 0;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return 2;
  return Object.hasOwn(v, "__proto__") ? 2 : 1;
}

const isStr = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isI32 = (v: unknown): v is number => typeof v === "number" && isInt32(v);

function perfdataProblem(list: unknown, where: string): Problem {
  if (!Array.isArray(list)) return `${where} is not an array`;
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    const k = objKind(p);
    if (k === 0) return `${where}.${i} is not an object`;
    if (k === 2) return UNSURE;
    const o = p as Obj;
    if (!WIRE_UNITS.has(o["unit"])) return `${where}.${i}.unit is not a Choria unit`;
    if (!isStr(o["label"])) return `${where}.${i}.label is not a string`;
    if (!isNum(o["value"])) return `${where}.${i}.value is not a number`;
    let n = 0;
    for (const _ in o) n++;
    if (n !== 3) return UNSURE; // zod strips unknown keys of a perfdata item
  }
  return null;
}

function historyProblem(list: unknown): Problem {
  if (list === undefined) return null;
  if (!Array.isArray(list)) return "history is not an array";
  if (list.length > NAGIOS_HISTORY_LIMIT) return "history is too long";
  for (let i = 0; i < list.length; i++) {
    const h = list[i];
    const k = objKind(h);
    if (k === 0) return `history.${i} is not an object`;
    if (k === 2) return UNSURE;
    const o = h as Obj;
    const execute = o["execute"];
    if (!isStr(execute) || !ISO_DATETIME_OFFSET.test(execute)) {
      return `history.${i}.execute is not an ISO datetime`;
    }
    const status = o["status"];
    if (!isInt(status) || status < 0 || status > 3) return `history.${i}.status is not 0..3`;
    const perfdata = o["perfdata"];
    let want = 2;
    if (perfdata !== undefined) {
      want = 3;
      if (Array.isArray(perfdata) && perfdata.length === 0) {
        return `history.${i}.perfdata is empty`;
      }
      const p = perfdataProblem(perfdata, `history.${i}.perfdata`);
      if (p !== null) return p;
    }
    let n = 0;
    for (const _ in o) n++;
    if (n !== want) return UNSURE; // zod strips unknown keys of a history item
  }
  return null;
}

function watcherBaseProblem(d: Obj, watcherType: string): Problem {
  if (!isStr(d["id"])) return "data.id is not a string";
  if (!isStr(d["version"])) return "data.version is not a string";
  if (d["type"] !== watcherType) return `data.type is not "${watcherType}"`;
  if (!isStr(d["machine"])) return "data.machine is not a string";
  if (!isStr(d["name"])) return "data.name is not a string";
  return null;
}

function annotationsProblem(a: unknown): Problem {
  const k = objKind(a);
  if (k === 0) return "data.annotations is not an object";
  if (k === 2) return UNSURE;
  const o = a as Obj;
  for (const key in o) {
    if (!isStr(o[key])) return `data.annotations.${key} is not a string`;
  }
  return null;
}

/** The data checks common to both push events (the caller checks protocol, identity, timestamp). */
function pushProblem(d: Obj, keys: ReadonlySet<string>): Problem {
  for (const key in d) if (!keys.has(key)) return `data.${key} is not allowed`;
  const id = d["id"];
  if (!isStr(id) || id.length === 0) return "data.id is not a non-empty string";
  const key = d["key"];
  if (!isStr(key) || key.length === 0) return "data.key is not a non-empty string";
  const checks = d["checks"];
  if (!Array.isArray(checks)) return "data.checks is not an array";
  for (let i = 0; i < checks.length; i++) {
    if (!isStr(checks[i])) return `data.checks.${i} is not a string`;
  }
  return null;
}

const orNull = (v: unknown, test: (v: unknown) => boolean): boolean => v === null || test(v);
const isSeq = (v: unknown): boolean => isInt(v) && v >= 1;

/** The data checks of each type; `protocol`, `identity` and `timestamp` are checked by the caller. */
function dataProblem(type: string, d: Obj): Problem {
  switch (type) {
    case PUSH_APPLIED_PROTOCOL: {
      const base = pushProblem(d, PUSH_APPLIED_KEYS);
      if (base !== null) return base;
      if (!isSeq(d["seq"])) return "data.seq is not an integer >= 1";
      if (!isStr(d["author"])) return "data.author is not a string";
      if (!isStr(d["issuer"])) return "data.issuer is not a string";
      if (!isInt(d["issued"])) return "data.issued is not an integer";
      return typeof d["removed"] === "boolean" ? null : "data.removed is not a boolean";
    }
    case PUSH_REFUSED_PROTOCOL: {
      const base = pushProblem(d, PUSH_REFUSED_KEYS);
      if (base !== null) return base;
      if (!orNull(d["seq"], isSeq)) return "data.seq is not null or an integer >= 1";
      if (!orNull(d["author"], isStr)) return "data.author is not null or a string";
      if (!orNull(d["issuer"], isStr)) return "data.issuer is not null or a string";
      if (!orNull(d["issued"], isInt)) return "data.issued is not null or an integer";
      if (!PUSH_STEPS.has(d["step"])) return "data.step is unknown";
      return isStr(d["reason"]) ? null : "data.reason is not a string";
    }
    case TRANSITION_PROTOCOL: {
      for (const key in d) if (!TRANSITION_KEYS.has(key)) return `data.${key} is not allowed`;
      for (const key of ["id", "version", "machine", "transition", "from_state", "to_state"]) {
        if (!isStr(d[key])) return `data.${key} is not a string`;
      }
      return null;
    }
    case NAGIOS_TYPE: {
      const base = watcherBaseProblem(d, "nagios");
      if (base !== null) return base;
      if (!isStr(d["plugin"])) return "data.plugin is not a string";
      const status = d["status"];
      if (!NAGIOS_STATUS.has(status)) return "data.status is not a Nagios status";
      if (d["status_code"] !== STATUS_CODE[status as NagiosStatus]) {
        return "status_code does not match status";
      }
      if (!isStr(d["output"])) return "data.output is not a string";
      if (!isInt(d["check_time"])) return "data.check_time is not an integer";
      const runtime = d["runtime"];
      if (!isNum(runtime) || runtime < 0) return "data.runtime is not a number >= 0";
      const perf = perfdataProblem(d["perfdata"], "data.perfdata");
      if (perf !== null) return perf;
      const hist = historyProblem(d["history"]);
      if (hist !== null) return hist;
      return annotationsProblem(d["annotations"]);
    }
    case EXEC_TYPE: {
      const base = watcherBaseProblem(d, "exec");
      if (base !== null) return base;
      if (!isStr(d["command"])) return "data.command is not a string";
      if (!EXEC_OUTCOMES.has(d["previous_outcome"])) return "data.previous_outcome is unknown";
      const t = d["previous_run_time"];
      return isInt(t) && t >= 0 ? null : "data.previous_run_time is not an integer >= 0";
    }
    case TIMER_TYPE: {
      const base = watcherBaseProblem(d, "timer");
      if (base !== null) return base;
      if (!TIMER_STATES.has(d["state"])) return "data.state is unknown";
      const t = d["timer"];
      return isInt(t) && t >= 0 ? null : "data.timer is not an integer >= 0";
    }
    case SCHEDULE_TYPE: {
      const base = watcherBaseProblem(d, "schedule");
      if (base !== null) return base;
      return SCHEDULE_STATES.has(d["state"]) ? null : "data.state is unknown";
    }
    default: {
      if (!LIFECYCLE_TYPES.has(type)) return "unknown event type";
      const id = d["id"];
      if (!isStr(id) || id.length === 0) return "data.id is not a non-empty string";
      const component = d["component"];
      if (!isStr(component) || component.length === 0) {
        return "data.component is not a non-empty string";
      }
      return isStr(d["version"]) ? null : "data.version is not a string";
    }
  }
}

/** One remembered rendering of rfc3339Seconds: events of one second share their time. */
let lastTimeSeconds = NaN;
let lastTimeText = "";

function timeMatches(time: string, ts: number): boolean {
  if (ts !== lastTimeSeconds) {
    const ms = ts * 1000;
    if (!(ms >= MIN_RFC3339_MS && ms <= MAX_RFC3339_MS)) return false;
    lastTimeText = rfc3339Seconds(ms);
    lastTimeSeconds = ts;
  }
  return time === lastTimeText;
}

function envelopeProblem(v: Obj): Problem {
  for (const key in v) {
    const x = v[key];
    if (x === undefined) return UNSURE; // zod's optional attributes accept undefined
    if (ENVELOPE_KEYS.has(key)) continue;
    if (!EXTENSION_NAME.test(key)) return `invalid attribute name "${key}"`;
    if (typeof x !== "string" && typeof x !== "boolean" && !isI32(x)) {
      return `extension ${key} is not a string, 32-bit integer or boolean`;
    }
  }
  if (v["specversion"] !== "1.0") return 'specversion is not "1.0"';
  const id = v["id"];
  if (!isStr(id) || id.length === 0) return "id is not a non-empty string";
  const source = v["source"];
  if (source !== MACHINE_SOURCE && source !== LIFECYCLE_SOURCE && source !== PUSH_SOURCE) {
    return "source is unknown";
  }
  const subject = v["subject"];
  if (!isStr(subject) || !IDENTITY_PATTERN.test(subject)) return "not a Scout node identity";
  if (v["datacontenttype"] !== "application/json") return "datacontenttype is not JSON";
  const time = v["time"];
  if (!isStr(time) || !WHOLE_SECOND_RFC3339.test(time)) {
    return "not RFC3339 UTC at whole-second precision";
  }
  const state = v[SCOUT_EXTENSIONS.state];
  if (state !== undefined && (!isStr(state) || state.length === 0)) return "bad scoutstate";
  const hard = v[SCOUT_EXTENSIONS.hard];
  if (hard !== undefined && typeof hard !== "boolean") return "bad scouthard";
  const attempt = v[SCOUT_EXTENSIONS.attempt];
  if (attempt !== undefined && (!isI32(attempt) || attempt < 1)) return "bad scoutattempt";
  const attempts = v[SCOUT_EXTENSIONS.attempts];
  if (attempts !== undefined && (!isI32(attempts) || attempts < 1)) return "bad scoutattempts";
  const reason = v[SCOUT_EXTENSIONS.maintReason];
  if (reason !== undefined && !isStr(reason)) return "bad scoutmaintreason";
  const until = v[SCOUT_EXTENSIONS.maintUntil];
  if (until !== undefined && !isI32(until)) return "bad scoutmaintuntil";
  return null;
}

/** Everything parseEvent checks, by hand: null when valid, else the first problem found. */
function eventProblem(value: unknown): Problem {
  const kind = objKind(value);
  if (kind === 0) return "not an object";
  if (kind === 2) return UNSURE;
  const v = value as Obj;
  const env = envelopeProblem(v);
  if (env !== null) return env;
  const type = v["type"];
  if (!isStr(type) || type.length === 0) return "type is not a non-empty string";
  const data = v["data"];
  const dk = objKind(data);
  if (dk === 0) return "data is not an object";
  if (dk === 2) return UNSURE;
  const d = data as Obj;
  const problem = dataProblem(type, d);
  if (problem !== null) return problem;
  const wantSource = sourceOfType(type);
  if (v["source"] !== wantSource) return `source must be "${wantSource}"`;
  if (d["protocol"] !== type) return "type differs from data.protocol";
  // data.identity must match the identity pattern; equal to the checked subject, it does.
  if (d["identity"] !== v["subject"]) return "subject differs from data.identity";
  const ts = d["timestamp"];
  if (!isInt(ts)) return "data.timestamp is not an integer";
  if (!timeMatches(v["time"] as string, ts)) return "time differs from data.timestamp";
  return null;
}

/**
 * parseEvent's verdict without zod and without throwing, for the hub's hot path: checks by hand
 * exactly what the envelope and data schemas ({@link eventSchemas}) and parseEvent's agreement
 * checks do (a property test in events_fast_test.ts holds the two together). Takes a JSON value
 * or its text. A valid event is returned as the given value itself, not a copy. The reasons of a
 * refusal are worded more shortly than zod's; a caller that shows them may ask
 * {@link safeParseEvent} for the reference wording. Values the hand checks cannot judge exactly
 * (objects with another prototype, an own `__proto__` key, undefined attributes, unknown keys in
 * perfdata or history items, which zod strips) are handed to the zod path.
 */
export function verifyEventFast(json: unknown): EventCheck {
  let value = json;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (err) {
      return { ok: false, error: invalid("unknown", `not JSON: ${errText(err)}`, err) };
    }
  }
  const problem = eventProblem(value);
  if (problem === null) return { ok: true, event: value as ScoutEvent };
  if (problem === UNSURE) return safeParseEvent(value);
  const type = typeof value === "object" && value !== null && "type" in value &&
      typeof value.type === "string"
    ? value.type
    : "unknown";
  return { ok: false, error: invalid(type, problem) };
}
