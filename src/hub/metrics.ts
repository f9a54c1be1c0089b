/**
 * The hub's Prometheus metrics, pure: no I/O, no clock. Counters are fed by the same stored
 * messages as the fleet view (`applyMetrics` after `applyEvent`), and `renderMetrics` writes the
 * text exposition served on `GET /metrics`:
 *
 * - fleet gauges, computed from the view at render time: `scout_fleet_nodes{stale}`,
 *   `scout_fleet_checks{status}` (a check whose machine is in MAINTENANCE counts as MAINTENANCE,
 *   one without a result yet as PENDING) and `scout_fleet_check_status{node,check,status}` with
 *   Choria's watcher_status values (OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3, MAINTENANCE 4; a
 *   PENDING check is 3, as Choria exports a watcher that has not run yet as UNKNOWN);
 * - `scout_hub_events_total{result}` from the view's own counters;
 * - tally's families under tally's names and labels (prefix `choria_tally`, `active="1"` on
 *   every series, as tally without an election): `_good_events{component}`,
 *   `_event_types{component,type}` and `_versions{component,version}` from lifecycle events,
 *   `_process_errors{component}` from lifecycle messages the hub refused as malformed or
 *   schema-invalid (tally could not have parsed them either; component "scout", the component of
 *   the Choria subject the hub republishes lifecycle events on), and
 *   `_machine_transition{machine,version,transition,from,to}` from transitions.
 *
 * `_versions` follows tally: a startup counts the host under its version (moving it from an
 * older one), an alive counts a host not known yet, a shutdown uncounts it. Not done here: tally's
 * 80-minute expiry of silent hosts (and `_nodes_expired`), `_processing_time`, the exec watcher
 * families and `_governor`; the view's events do not feed them. The counters are kept in the
 * hub's snapshot next to the view, so a restarted hub continues them; a hub without a state
 * directory rebuilds them from the stream like the view.
 * @module
 */
import { ScoutError } from "../errors.ts";
import { escapeLabelValue, PROM_STATUS_VALUES } from "../prometheus.ts";
import { type FleetView, isStale, type Verdict } from "./view.ts";

/** Prefix of tally's metric names (tally's `--prefix` default). */
export const TALLY_PREFIX = "choria_tally";

/** Statuses of `scout_fleet_checks`, in output order. */
export const FLEET_STATUSES = [
  "OK",
  "WARNING",
  "CRITICAL",
  "UNKNOWN",
  "MAINTENANCE",
  "PENDING",
] as const;

/** A fleet check status. */
export type FleetStatus = typeof FLEET_STATUSES[number];

/** Counters by label tuple; the key is the JSON array of label values. */
type Counts = Map<string, number>;

/** What the hub counts for the tally families. applyMetrics changes it in place. */
export interface HubMetrics {
  /** `good_events` by [component]. */
  goodEvents: Counts;
  /** `process_errors` by [component]. */
  processErrors: Counts;
  /** `event_types` by [component, type]. */
  eventTypes: Counts;
  /** `machine_transition` by [machine, version, transition, from, to]. */
  transitions: Counts;
  /** `versions` by [component, version]. */
  versions: Counts;
  /** Hosts counted in `versions`: [identity, component] -> version. */
  hosts: Map<string, string>;
}

/** Empty metrics. */
export function createMetrics(): HubMetrics {
  return {
    goodEvents: new Map(),
    processErrors: new Map(),
    eventTypes: new Map(),
    transitions: new Map(),
    versions: new Map(),
    hosts: new Map(),
  };
}

const key = (...labels: string[]): string => JSON.stringify(labels);

function add(m: Counts, k: string, by: number): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

const LIFECYCLE_SUBJECT = /^scout\.node\.[^.]+\.lifecycle\./;

/**
 * Counts one stored message whose verdict `applyEvent` gave (the same message, in stream order).
 * Accepted lifecycle events and transitions feed tally's families; a lifecycle message refused as
 * malformed or schema-invalid is a process error. Everything else leaves the metrics alone.
 */
export function applyMetrics(m: HubMetrics, subject: string, verdict: Verdict): void {
  if (!verdict.ok) {
    if (verdict.reason !== "foreign" && LIFECYCLE_SUBJECT.test(subject)) {
      add(m.processErrors, key("scout"), 1);
    }
    return;
  }
  const ev = verdict.event;
  const d = ev.data;
  if (ev.type.startsWith("io.choria.lifecycle.")) {
    const kind = ev.type.slice(ev.type.lastIndexOf(".") + 1);
    const component = String(d["component"] ?? "");
    const version = String(d["version"] ?? "");
    add(m.goodEvents, key(component), 1);
    add(m.eventTypes, key(component, kind), 1);
    const host = key(ev.subject, component);
    const known = m.hosts.get(host);
    if (kind === "startup" || (kind === "alive" && known !== version)) {
      if (known !== undefined) add(m.versions, key(component, known), -1);
      m.hosts.set(host, version);
      add(m.versions, key(component, version), 1);
    } else if (kind === "shutdown" && known !== undefined) {
      add(m.versions, key(component, known), -1);
      m.hosts.delete(host);
    }
    return;
  }
  if (ev.type === "io.choria.machine.v1.transition") {
    add(
      m.transitions,
      key(
        String(d["machine"]),
        String(d["version"]),
        String(d["transition"]),
        String(d["from_state"]),
        String(d["to_state"]),
      ),
      1,
    );
  }
}

/** Metrics as plain JSON, for the hub's snapshot. */
export interface MetricsSnapshot {
  /** Format version. */
  version: 1;
  /** Each counter map as entries. */
  goodEvents: [string, number][];
  processErrors: [string, number][];
  eventTypes: [string, number][];
  transitions: [string, number][];
  versions: [string, number][];
  hosts: [string, string][];
}

const COUNTS = ["goodEvents", "processErrors", "eventTypes", "transitions", "versions"] as const;

/** Turns metrics into JSON-able data. */
export function snapshotMetrics(m: HubMetrics): MetricsSnapshot {
  return {
    version: 1,
    goodEvents: [...m.goodEvents],
    processErrors: [...m.processErrors],
    eventTypes: [...m.eventTypes],
    transitions: [...m.transitions],
    versions: [...m.versions],
    hosts: [...m.hosts],
  };
}

function isEntries(v: unknown, valueType: "number" | "string"): v is [string, unknown][] {
  return Array.isArray(v) &&
    v.every((e) =>
      Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && typeof e[1] === valueType
    );
}

/** Rebuilds metrics from a snapshot; throws CONFIG_STATE when it is not one. */
export function restoreMetrics(snap: unknown): HubMetrics {
  const s = snap as Partial<MetricsSnapshot> | null;
  if (
    typeof s !== "object" || s === null || s.version !== 1 ||
    !COUNTS.every((c) => isEntries(s[c], "number")) || !isEntries(s.hosts, "string")
  ) {
    throw new ScoutError("CONFIG_STATE", "the hub's metrics snapshot is not in a known format", {
      hint: "delete the view snapshot; the hub then rebuilds it from the SCOUT_EVENTS stream",
    });
  }
  const m = createMetrics();
  for (const c of COUNTS) for (const [k, v] of s[c]!) m[c].set(k, v);
  for (const [k, v] of s.hosts!) m.hosts.set(k, v);
  return m;
}

type Family = { name: string; type: "gauge" | "counter"; help: string; series: string[] };

function labels(pairs: [string, string][]): string {
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

function sorted(m: Counts): [string[], number][] {
  return [...m].map(([k, v]) => [JSON.parse(k) as string[], v] as [string[], number])
    .sort(([a], [b]) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
      }
      return a.length - b.length;
    });
}

function tally(
  name: string,
  type: "gauge" | "counter",
  help: string,
  m: Counts,
  names: string[],
): Family {
  return {
    name: `${TALLY_PREFIX}_${name}`,
    type,
    help,
    series: sorted(m).map(([vals, v]) =>
      `${
        labels([...names.map((n, i): [string, string] => [n, vals[i] ?? ""]), ["active", "1"]])
      } ${v}`
    ),
  };
}

/** A check's fleet status: MAINTENANCE by machine state, PENDING before its first result. */
export function fleetStatus(c: { status: string | null; state: string | null }): FleetStatus {
  if (c.state === "MAINTENANCE") return "MAINTENANCE";
  return (c.status ?? "PENDING") as FleetStatus;
}

const STATUS_VALUE: Record<FleetStatus, number> = { ...PROM_STATUS_VALUES, PENDING: 3 };

const byName = <T>(m: Map<string, T>): [string, T][] =>
  [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * Renders the text exposition: HELP and TYPE for every family (also without series), series
 * sorted by labels, label values escaped, ending in "\n". `nowMs` and `staleAfterMs` decide
 * which nodes are stale.
 */
export function renderMetrics(
  m: HubMetrics,
  view: FleetView,
  nowMs: number,
  staleAfterMs: number,
): string {
  const nodes = { true: 0, false: 0 };
  const checks = Object.fromEntries(FLEET_STATUSES.map((s) => [s, 0])) as Record<
    FleetStatus,
    number
  >;
  const status: string[] = [];
  for (const [identity, node] of byName(view.nodes)) {
    nodes[isStale(node, nowMs, staleAfterMs) ? "true" : "false"]++;
    for (const [name, c] of byName(node.checks)) {
      const s = fleetStatus(c);
      checks[s]++;
      status.push(
        `${labels([["node", identity], ["check", name], ["status", s]])} ${STATUS_VALUE[s]}`,
      );
    }
  }
  const families: Family[] = [
    {
      name: "scout_fleet_nodes",
      type: "gauge",
      help: "Nodes the hub knows, by whether they are stale",
      series: [`{stale="false"} ${nodes.false}`, `{stale="true"} ${nodes.true}`],
    },
    {
      name: "scout_fleet_checks",
      type: "gauge",
      help: "Checks in the fleet by status (PENDING: no result yet)",
      series: FLEET_STATUSES.map((s) => `{status="${s}"} ${checks[s]}`),
    },
    {
      name: "scout_fleet_check_status",
      type: "gauge",
      help: "Status of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN or PENDING, " +
        "4 MAINTENANCE",
      series: status,
    },
    {
      name: "scout_hub_events_total",
      type: "counter",
      help: "Events the hub read from the stream, by result",
      series: [
        `{result="accepted"} ${view.counters.accepted}`,
        `{result="malformed"} ${view.counters.rejected.malformed}`,
        `{result="schema"} ${view.counters.rejected.schema}`,
        `{result="foreign"} ${view.counters.rejected.foreign}`,
      ],
    },
    tally("good_events", "counter", "Successfully processed lifecycle events", m.goodEvents, [
      "component",
    ]),
    tally(
      "process_errors",
      "counter",
      "Lifecycle events that could not be processed",
      m.processErrors,
      ["component"],
    ),
    tally("event_types", "counter", "Lifecycle events by type", m.eventTypes, [
      "component",
      "type",
    ]),
    tally("versions", "gauge", "Hosts running each component version", m.versions, [
      "component",
      "version",
    ]),
    tally(
      "machine_transition",
      "counter",
      "Autonomous Agent machine transitions",
      m.transitions,
      ["machine", "version", "transition", "from", "to"],
    ),
  ];
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.series) lines.push(`${f.name}${s}`);
  }
  return lines.join("\n") + "\n";
}
