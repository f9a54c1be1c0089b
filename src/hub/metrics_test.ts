import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  lifecycleEvent,
  type LifecycleKind,
  type MachineRef,
  nagiosStateEvent,
  type NagiosStatus,
  pushAppliedEvent,
  type ScoutEvent,
  scoutSubject,
  transitionEvent,
} from "../events.ts";
import {
  applyEvent,
  applyMetrics,
  createMetrics,
  createView,
  type FleetView,
  type HubMetrics,
  renderMetrics,
  restoreMetrics,
  snapshotMetrics,
} from "./mod.ts";

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
let n = 0;

const ref = (identity: string, machine: string, version = "1.0.0"): MachineRef => ({
  identity,
  machine,
  version,
  instanceId: "i-" + machine,
});

function nagios(identity: string, machine: string, status: NagiosStatus): ScoutEvent {
  return nagiosStateEvent(ref(identity, machine), {
    watcher: "check",
    plugin: "/bin/check",
    status,
    output: `${machine} is ${status}`,
    checkTimeMs: T0,
    runtimeMs: 10,
    perfdata: [],
    history: [],
    annotations: {},
  }, { eventId: `e${++n}`, timeMs: T0 });
}

function transition(identity: string, machine: string, from: string, to: string): ScoutEvent {
  return transitionEvent(ref(identity, machine), { transition: to.toLowerCase(), from, to }, {
    eventId: `e${++n}`,
    timeMs: T0,
  });
}

function life(kind: LifecycleKind, identity: string, version: string): ScoutEvent {
  return lifecycleEvent({ kind, identity, component: "scout", version }, {
    eventId: `e${++n}`,
    timeMs: T0,
  });
}

const bytes = (ev: unknown) => new TextEncoder().encode(JSON.stringify(ev));

/** Feeds events to a view and metrics as the hub does; returns both. */
function feed(
  items: (ScoutEvent | { subject: string; raw: string })[],
  atMs = T0,
): { view: FleetView; m: HubMetrics } {
  const view = createView();
  const m = createMetrics();
  for (const it of items) {
    const [subject, payload] = "raw" in it
      ? [it.subject, it.raw]
      : [scoutSubject(it.subject, it), bytes(it)];
    const verdict = applyEvent(view, subject, payload, atMs);
    applyMetrics(m, subject, verdict);
  }
  return { view, m };
}

function series(text: string): string[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

Deno.test("tally counters: good events, event types, transitions, process errors", () => {
  const { m, view } = feed([
    life("startup", "web1.example", "1.0"),
    life("alive", "web1.example", "1.0"),
    transition("web1.example", "disk", "UNKNOWN", "CRITICAL"),
    transition("web1.example", "disk", "UNKNOWN", "CRITICAL"),
    transition("web1.example", "disk", "CRITICAL", "OK"),
    nagios("web1.example", "disk", "OK"),
    // Malformed and schema-invalid lifecycle messages are process errors; a foreign one is not.
    { subject: "scout.node.web1_example.lifecycle.alive", raw: "{oops" },
    { subject: "scout.node.web1_example.lifecycle.alive", raw: '{"type":"x"}' },
    {
      subject: "scout.node.web1_example.lifecycle.alive",
      raw: JSON.stringify(life("alive", "db1.example", "1.0")),
    },
    { subject: "scout.node.web1_example.machine.transition", raw: "{oops" },
  ]);
  equal(view.counters.rejected.foreign, 1);
  const out = series(renderMetrics(m, view, T0, 60_000)).filter((l) =>
    l.startsWith("choria_tally_")
  );
  deepEqual(out, [
    'choria_tally_good_events{component="scout",active="1"} 2',
    'choria_tally_process_errors{component="scout",active="1"} 2',
    'choria_tally_event_types{component="scout",type="alive",active="1"} 1',
    'choria_tally_event_types{component="scout",type="startup",active="1"} 1',
    'choria_tally_versions{component="scout",version="1.0",active="1"} 1',
    'choria_tally_machine_transition{machine="disk",version="1.0.0",transition="critical",' +
    'from="UNKNOWN",to="CRITICAL",active="1"} 2',
    'choria_tally_machine_transition{machine="disk",version="1.0.0",transition="ok",' +
    'from="CRITICAL",to="OK",active="1"} 1',
  ]);
});

Deno.test("push events leave the tally alone; a malformed push message is no process error", () => {
  const push = pushAppliedEvent({
    identity: "web1.example",
    key: "node.web1_example",
    seq: 1,
    author: "alice",
    issuer: "Fleet CA",
    issuedMs: T0,
    checks: ["disk"],
    removed: false,
  }, { eventId: `e${++n}`, timeMs: T0 });
  const { m, view } = feed([
    push,
    { subject: "scout.node.web1_example.push.applied", raw: "{oops" },
  ]);
  equal(view.counters.accepted, 1);
  equal(view.counters.rejected.malformed, 1);
  deepEqual(snapshotMetrics(m), snapshotMetrics(createMetrics()));
});

Deno.test("tally versions: startup and a new alive count a host once, shutdown uncounts it", () => {
  const { m } = feed([
    life("alive", "a.example", "1"), // unknown host: counted
    life("alive", "a.example", "1"), // known: not again
    life("startup", "a.example", "1"), // restart on the same version: still once
    life("startup", "b.example", "1"),
    life("startup", "b.example", "2"), // upgraded: moves from 1 to 2
    life("startup", "c.example", "2"),
    life("shutdown", "c.example", "2"), // uncounted
    life("shutdown", "d.example", "2"), // never counted: nothing to uncount
  ]);
  deepEqual(Object.fromEntries(m.versions), {
    '["scout","1"]': 1,
    '["scout","2"]': 1,
  });
  deepEqual([...m.hosts.keys()].sort(), ['["a.example","scout"]', '["b.example","scout"]']);
  equal(m.goodEvents.get('["scout"]'), 8);
});

Deno.test("fleet gauges: nodes by staleness, checks by status, per-check status values", () => {
  const { m, view } = feed([
    nagios("web1.example", "disk", "CRITICAL"),
    nagios("web1.example", "load", "OK"),
    nagios("web1.example", "mem", "WARNING"),
    nagios("db1.example", "disk", "UNKNOWN"),
    transition("db1.example", "backup", "UNKNOWN", "MAINTENANCE"),
    nagios("db1.example", "db", "OK"),
    transition("db1.example", "db", "OK", "MAINTENANCE"),
    transition("db1.example", "pending", "UNKNOWN", "OK"),
  ]);
  view.nodes.get("db1.example")!.lastSeenMs = T0 - 120_000;
  const text = renderMetrics(m, view, T0, 60_000);
  const out = series(text).filter((l) => l.startsWith("scout_"));
  deepEqual(out, [
    'scout_fleet_nodes{stale="false"} 1',
    'scout_fleet_nodes{stale="true"} 1',
    'scout_fleet_checks{status="OK"} 1',
    'scout_fleet_checks{status="WARNING"} 1',
    'scout_fleet_checks{status="CRITICAL"} 1',
    'scout_fleet_checks{status="UNKNOWN"} 1',
    'scout_fleet_checks{status="MAINTENANCE"} 2',
    'scout_fleet_checks{status="PENDING"} 1',
    'scout_fleet_check_status{node="db1.example",check="backup",status="MAINTENANCE"} 4',
    'scout_fleet_check_status{node="db1.example",check="db",status="MAINTENANCE"} 4',
    'scout_fleet_check_status{node="db1.example",check="disk",status="UNKNOWN"} 3',
    'scout_fleet_check_status{node="db1.example",check="pending",status="PENDING"} 3',
    'scout_fleet_check_status{node="web1.example",check="disk",status="CRITICAL"} 2',
    'scout_fleet_check_status{node="web1.example",check="load",status="OK"} 0',
    'scout_fleet_check_status{node="web1.example",check="mem",status="WARNING"} 1',
    'scout_hub_events_total{result="accepted"} 8',
    'scout_hub_events_total{result="malformed"} 0',
    'scout_hub_events_total{result="schema"} 0',
    'scout_hub_events_total{result="foreign"} 0',
  ]);
});

Deno.test("every family has HELP and TYPE, also an empty hub's", () => {
  const text = renderMetrics(createMetrics(), createView(), T0, 60_000);
  ok(text.endsWith("\n"));
  const families = [
    ["scout_fleet_nodes", "gauge"],
    ["scout_fleet_checks", "gauge"],
    ["scout_fleet_check_status", "gauge"],
    ["scout_hub_events_total", "counter"],
    ["choria_tally_good_events", "counter"],
    ["choria_tally_process_errors", "counter"],
    ["choria_tally_event_types", "counter"],
    ["choria_tally_versions", "gauge"],
    ["choria_tally_machine_transition", "counter"],
  ];
  for (const [name, type] of families) {
    ok(text.includes(`# HELP ${name} `), `HELP ${name}`);
    ok(text.includes(`# TYPE ${name} ${type}\n`), `TYPE ${name}`);
  }
  equal(text.split("\n").filter((l) => l.startsWith("# TYPE")).length, families.length);
  deepEqual(series(text).filter((l) => l.startsWith("choria_tally_")), []);
});

Deno.test("label values are escaped: backslash, double quote, newline", () => {
  const view = createView();
  view.nodes.set("n1", {
    identity: "n1",
    lastSeenMs: T0,
    lifecycle: null,
    checks: new Map([['odd "name" \\ with\nnewline', {
      status: "OK",
      output: "",
      lastResultMs: T0,
      annotations: {},
      state: "OK",
    }]]),
  });
  const m = createMetrics();
  const ev = transition("web1.example", "x", "A", "B");
  ev.data["to_state"] = 'to "\\\n';
  applyMetrics(m, "scout.node.web1_example.machine.transition", { ok: true, event: ev });
  const text = renderMetrics(m, view, T0, 60_000);
  ok(
    text.includes(
      'scout_fleet_check_status{node="n1",check="odd \\"name\\" \\\\ with\\nnewline",status="OK"} 0',
    ),
  );
  ok(text.includes('to="to \\"\\\\\\n",active="1"} 1'));
  equal(text.split("\n").filter((l) => l.startsWith("scout_fleet_check_status")).length, 1);
});

Deno.test("metrics survive a snapshot round trip; a bad snapshot is refused", () => {
  const { m } = feed([
    life("startup", "a.example", "1"),
    transition("a.example", "disk", "UNKNOWN", "OK"),
    { subject: "scout.node.a_example.lifecycle.alive", raw: "{" },
  ]);
  const snap = JSON.parse(JSON.stringify(snapshotMetrics(m)));
  const back = restoreMetrics(snap);
  deepEqual(back, m);
  const view = createView();
  equal(renderMetrics(back, view, T0, 1), renderMetrics(m, view, T0, 1));
  throws(() => restoreMetrics({ version: 2 }), /metrics snapshot/);
  throws(() => restoreMetrics({ ...snap, hosts: [["a", 1]] }), /metrics snapshot/);
  throws(() => restoreMetrics(null), /metrics snapshot/);
});
