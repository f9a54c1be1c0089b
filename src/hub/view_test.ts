import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  lifecycleEvent,
  type MachineRef,
  nagiosStateEvent,
  type NagiosStatus,
  pushAppliedEvent,
  pushRefusedEvent,
  safeParseEvent,
  type ScoutEvent,
  scoutSubject,
  transitionEvent,
} from "../events.ts";
import {
  applyEvent,
  createView,
  listNodes,
  parseCheckFilter,
  queryChecks,
  restoreView,
  snapshotView,
  verifyEvent,
} from "./mod.ts";

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
let n = 0;

function ref(identity: string, machine: string): MachineRef {
  return { identity, machine, version: "1.0.0", instanceId: "i-" + machine };
}

function nagios(
  identity: string,
  machine: string,
  status: NagiosStatus,
  atMs: number,
  annotations: Record<string, string> = {},
): ScoutEvent {
  return nagiosStateEvent(ref(identity, machine), {
    watcher: "check",
    plugin: "/bin/check",
    status,
    output: `${machine} is ${status}`,
    checkTimeMs: atMs,
    runtimeMs: 10,
    perfdata: [],
    history: [],
    annotations,
  }, { eventId: `e${++n}`, timeMs: atMs });
}

function transition(identity: string, machine: string, to: string, atMs: number): ScoutEvent {
  return transitionEvent(ref(identity, machine), { transition: to, from: "UNKNOWN", to }, {
    eventId: `e${++n}`,
    timeMs: atMs,
  });
}

const bytes = (ev: unknown) => new TextEncoder().encode(JSON.stringify(ev));
const subj = (ev: ScoutEvent) => scoutSubject(ev.subject, ev);

Deno.test("applyEvent keeps each check's latest status, output, annotations and state", () => {
  const view = createView();
  const a = nagios("web1.example", "disk", "OK", T0, { team: "ops" });
  const b = transition("web1.example", "disk", "CRITICAL", T0 + 1000);
  const c = nagios("web1.example", "disk", "CRITICAL", T0 + 1000, { team: "db" });
  for (const ev of [a, b, c]) ok(applyEvent(view, subj(ev), bytes(ev), T0 + 2000).ok);
  const rows = queryChecks(view, {}, T0 + 3000, 60_000);
  deepEqual(rows, [{
    node: "web1.example",
    check: "disk",
    stale: false,
    status: "CRITICAL",
    output: "disk is CRITICAL",
    lastResultMs: T0 + 1000,
    annotations: { team: "db" },
    state: "CRITICAL",
  }]);
  equal(view.counters.accepted, 3);
  equal(view.nodes.get("web1.example")!.lastSeenMs, T0 + 2000);
});

Deno.test("a node silent for longer than the limit is stale", () => {
  const view = createView();
  const ev = nagios("web1.example", "disk", "OK", T0);
  applyEvent(view, subj(ev), bytes(ev), T0);
  const life = lifecycleEvent({
    kind: "startup",
    identity: "web2.example",
    component: "scout",
    version: "1",
  }, { eventId: "l1", timeMs: T0 + 50_000 });
  applyEvent(view, subj(life), bytes(life), T0 + 50_000);
  const nodes = listNodes(view, T0 + 61_000, 60_000);
  deepEqual(nodes.map((x) => [x.identity, x.stale, x.lifecycle]), [
    ["web1.example", true, null],
    ["web2.example", false, "startup"],
  ]);
  deepEqual(nodes[0]!.statuses, { OK: 1 });
  deepEqual(
    queryChecks(view, { stale: true }, T0 + 61_000, 60_000).map((r) => r.node),
    ["web1.example"],
  );
});

Deno.test("an event claiming another node's identity is rejected as foreign", () => {
  const view = createView();
  const ev = nagios("db1.example", "disk", "CRITICAL", T0);
  const v = applyEvent(view, "scout.node.web1_example.machine.watcher.nagios.state", bytes(ev), T0);
  equal(v.ok, false);
  equal(!v.ok && v.reason, "foreign");
  equal(view.nodes.size, 0);
  deepEqual(view.counters, { accepted: 0, rejected: { malformed: 0, foreign: 1, schema: 0 } });
});

Deno.test("push events are accepted from the node's own push subject and add no checks", () => {
  const view = createView();
  const applied = pushAppliedEvent({
    identity: "web1.example",
    key: "node.web1_example",
    seq: 2,
    author: "alice",
    issuer: "Fleet CA",
    issuedMs: T0,
    checks: ["disk"],
    removed: false,
  }, { eventId: "p1", timeMs: T0 });
  const refused = pushRefusedEvent({
    identity: "web1.example",
    key: "node.web1_example",
    seq: 1,
    author: "alice",
    issuer: "Fleet CA",
    issuedMs: T0,
    checks: [],
    step: "replay",
    reason: "sequence 1 is not above the applied 2 (replay)",
  }, { eventId: "p2", timeMs: T0 });
  equal(subj(applied), "scout.node.web1_example.push.applied");
  equal(subj(refused), "scout.node.web1_example.push.refused");
  ok(applyEvent(view, subj(applied), bytes(applied), T0 + 10).ok);
  ok(applyEvent(view, subj(refused), bytes(refused), T0 + 20).ok);
  // On another type's subject it is schema-invalid; under another node's token it is foreign.
  const wrong = applyEvent(view, "scout.node.web1_example.push.refused", bytes(applied), T0);
  equal(!wrong.ok && wrong.reason, "schema");
  const foreign = applyEvent(view, "scout.node.db1_example.push.applied", bytes(applied), T0);
  equal(!foreign.ok && foreign.reason, "foreign");
  deepEqual(view.counters, { accepted: 2, rejected: { malformed: 0, foreign: 1, schema: 1 } });
  const node = view.nodes.get("web1.example")!;
  equal(node.lastSeenMs, T0 + 20);
  equal(node.lifecycle, null);
  equal(node.checks.size, 0);
});

Deno.test("malformed and schema-invalid events are counted, not applied", () => {
  const view = createView();
  const s = "scout.node.web1_example.machine.transition";
  equal(applyEvent(view, s, new TextEncoder().encode("{not json"), T0).ok, false);
  equal(applyEvent(view, s, new Uint8Array([0xff, 0xfe]), T0).ok, false);
  equal(applyEvent(view, s, "[1,2]", T0).ok, false);
  equal(applyEvent(view, s, { specversion: "1.0", type: "x" }, T0).ok, false);
  // A valid event on the subject of another type.
  const ev = nagios("web1.example", "disk", "OK", T0);
  equal(applyEvent(view, s, bytes(ev), T0).ok, false);
  deepEqual(view.counters, { accepted: 0, rejected: { malformed: 3, foreign: 0, schema: 2 } });
  equal(view.nodes.size, 0);
});

Deno.test("verifyEvent: invalid UTF-8 is malformed, a real U+FFFD is kept, verdicts name the reason", () => {
  const ev = nagios("web1.example", "disk", "OK", T0);
  const s = subj(ev);
  const text = JSON.stringify({ ...ev, data: { ...ev.data, output: "bad \uFFFD byte" } });
  const good = verifyEvent(s, new TextEncoder().encode(text));
  ok(good.ok);
  equal(good.event.data["output"], "bad \uFFFD byte");
  const raw = new TextEncoder().encode(JSON.stringify(ev));
  const broken = new Uint8Array([...raw.subarray(0, 40), 0xc3, 0x28, ...raw.subarray(40)]);
  const bad = verifyEvent(s, broken);
  equal(bad.ok, false);
  equal(!bad.ok && bad.reason, "malformed");
  // The refusal's detail is the reference (zod) path's wording.
  const wrong = { ...ev, data: { ...ev.data, status: "NOTCHECKED" } };
  const schema = verifyEvent(s, wrong);
  const reference = safeParseEvent(wrong);
  equal(!schema.ok && schema.reason, "schema");
  equal(!schema.ok && schema.detail, !reference.ok && reference.error.message);
  equal(verifyEvent("scout.node..x", raw).ok, false);
  equal(verifyEvent("scout.node.web1_example", raw).ok, false);
  const foreign = verifyEvent(s.replace("web1_example", "web2_example"), raw);
  equal(!foreign.ok && foreign.reason, "foreign");
  const elsewhere = verifyEvent(s.replace("nagios", "exec"), raw);
  equal(!elsewhere.ok && elsewhere.detail, `event ${ev.type} belongs on ${s}`);
});

Deno.test("filters select by status, node, check and annotation", () => {
  const view = createView();
  const evs = [
    nagios("a.example", "disk", "OK", T0, { team: "ops" }),
    nagios("a.example", "load", "WARNING", T0, { team: "db" }),
    nagios("b.example", "disk", "CRITICAL", T0, { team: "db" }),
    transition("b.example", "mem", "OK", T0),
  ];
  for (const ev of evs) applyEvent(view, subj(ev), bytes(ev), T0);
  const q = (query: string) =>
    queryChecks(view, parseCheckFilter(new URLSearchParams(query)), T0, 60_000)
      .map((r) => `${r.node}/${r.check}`);
  deepEqual(q(""), ["a.example/disk", "a.example/load", "b.example/disk", "b.example/mem"]);
  deepEqual(q("status=critical,WARNING"), ["a.example/load", "b.example/disk"]);
  deepEqual(q("status=PENDING"), ["b.example/mem"]);
  deepEqual(q("node=a.example"), ["a.example/disk", "a.example/load"]);
  deepEqual(q("check=disk"), ["a.example/disk", "b.example/disk"]);
  deepEqual(q("annotation=team=db"), ["a.example/load", "b.example/disk"]);
  deepEqual(q("annotation=team=db&node=b.example&check=disk&status=CRITICAL"), [
    "b.example/disk",
  ]);
  throws(() => parseCheckFilter(new URLSearchParams("status=BAD")), /unknown status/);
  throws(() => parseCheckFilter(new URLSearchParams("annotation=team")), /key=value/);
});

Deno.test("a snapshot restores an equal view", () => {
  const view = createView();
  const ev = nagios("a.example", "disk", "OK", T0, { team: "ops" });
  applyEvent(view, subj(ev), bytes(ev), T0);
  applyEvent(view, "scout.node.a_example.machine.transition", "nope", T0);
  const snap = JSON.parse(JSON.stringify(snapshotView(view)));
  deepEqual(restoreView(snap), view);
  throws(() => restoreView({ version: 2 }), /snapshot/);
});
