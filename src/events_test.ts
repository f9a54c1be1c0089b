import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { CloudEvent } from "cloudevents";
import { ScoutError } from "./errors.ts";
import { CHORIA_SCHEMAS, choriaValidator, HAVE_CHORIA } from "../tests/_choria.ts";
import {
  choriaSubject,
  choriaSubjectOf,
  type EventMeta,
  eventSchemas,
  execStateEvent,
  identityToken,
  lifecycleEvent,
  type MachineRef,
  NAGIOS_HISTORY_LIMIT,
  nagiosStateEvent,
  type NagiosStatePayload,
  parseEvent,
  publishes,
  pushAppliedEvent,
  pushRefusedEvent,
  scheduleStateEvent,
  SCOUT_EXTENSIONS,
  type ScoutEvent,
  scoutExtensions,
  scoutSubject,
  timerStateEvent,
  transitionEvent,
} from "./events.ts";

// ------------------------------------------------------------------------------------------------
// fixtures

const REF: MachineRef = {
  identity: "node1.example.net",
  machine: "check_disk",
  version: "1.0.0",
  instanceId: "9a0f6f6e-0c1e-4d8f-9c55-0b8d8f3f9a11",
};
/** 2026-01-01T00:00:05Z plus 999 ms: must render as whole second 5, timestamp ...605. */
const T_MS = Date.UTC(2026, 0, 1, 0, 0, 5, 999);
const T_S = 1767225605;
const T_ISO = "2026-01-01T00:00:05Z";
const META: EventMeta = { eventId: "0b4c3a5e-1d7e-4f6a-8b9c-2d3e4f5a6b7c", timeMs: T_MS };

function nagiosPayload(over: Partial<NagiosStatePayload> = {}): NagiosStatePayload {
  return {
    watcher: "check",
    plugin: "/usr/lib/nagios/plugins/check_disk -w 10%",
    status: "WARNING",
    output: "DISK WARNING - free space: / 9%",
    checkTimeMs: T_MS - 250,
    runtimeMs: 1234.5,
    perfdata: [{ unit: "%", label: "root", value: 9 }],
    history: [
      { executeMs: Date.UTC(2026, 0, 1, 0, 0, 0, 120), status: 0, perfdata: [] },
      {
        executeMs: Date.UTC(2026, 0, 1, 0, 0, 5, 749),
        status: 1,
        perfdata: [{ unit: "%", label: "root", value: 9 }],
      },
    ],
    annotations: { team: "ops" },
    ...over,
  };
}

/** One event of every builder, with its expected types. */
function everyEvent(meta: EventMeta = META): { name: string; ev: ScoutEvent }[] {
  return [
    {
      name: "transition",
      ev: transitionEvent(REF, { transition: "WARNING", from: "OK", to: "WARNING" }, meta),
    },
    { name: "nagios", ev: nagiosStateEvent(REF, nagiosPayload(), meta) },
    {
      name: "exec",
      ev: execStateEvent(REF, {
        watcher: "remediate",
        command: "./fix.sh {{ .x }}",
        previousOutcome: "success",
        previousRunTimeMs: 1.5,
      }, meta),
    },
    {
      name: "timer",
      ev: timerStateEvent(REF, { watcher: "cooldown", state: "running", timerMs: 30_000 }, meta),
    },
    { name: "schedule", ev: scheduleStateEvent(REF, { watcher: "sched", state: "on" }, meta) },
    {
      name: "startup",
      ev: lifecycleEvent({
        kind: "startup",
        identity: REF.identity,
        component: "scout",
        version: "0.1.0",
      }, meta),
    },
    {
      name: "shutdown",
      ev: lifecycleEvent({
        kind: "shutdown",
        identity: REF.identity,
        component: "scout",
        version: "0.1.0",
      }, meta),
    },
    {
      name: "alive",
      ev: lifecycleEvent({
        kind: "alive",
        identity: REF.identity,
        component: "scout",
        version: "0.1.0",
      }, meta),
    },
    {
      name: "pushApplied",
      ev: pushAppliedEvent({
        identity: REF.identity,
        key: "node.node1_example_net",
        seq: 4,
        author: "alice",
        issuer: "Scout Fleet CA",
        issuedMs: T_MS - 60_000,
        checks: ["disk", "load"],
        removed: false,
      }, meta),
    },
    {
      name: "pushRefused",
      ev: pushRefusedEvent({
        identity: REF.identity,
        key: "group.web",
        seq: 2,
        author: "mallory",
        issuer: "Evil CA",
        issuedMs: T_MS - 60_000,
        checks: [],
        step: "token",
        reason: "operator token refused: unknown issuer",
      }, meta),
    },
  ];
}

const roundTrip = (ev: ScoutEvent): unknown => JSON.parse(JSON.stringify(ev));

// ------------------------------------------------------------------------------------------------
// envelope and payloads

Deno.test("transition event has Choria's envelope and closed transition data", () => {
  const ev = transitionEvent(REF, { transition: "WARNING", from: "OK", to: "WARNING" }, META);
  deepEqual(roundTrip(ev), {
    specversion: "1.0",
    id: META.eventId,
    source: "io.choria.machine",
    type: "io.choria.machine.v1.transition",
    subject: "node1.example.net",
    datacontenttype: "application/json",
    time: T_ISO,
    data: {
      protocol: "io.choria.machine.v1.transition",
      identity: "node1.example.net",
      id: REF.instanceId,
      version: "1.0.0",
      timestamp: T_S,
      machine: "check_disk",
      transition: "WARNING",
      from_state: "OK",
      to_state: "WARNING",
    },
  });
});

Deno.test("every event's type equals data.protocol, subject the identity, id the event id", () => {
  for (const { name, ev } of everyEvent()) {
    equal(ev.specversion, "1.0", name);
    equal(ev.id, META.eventId, name);
    equal(ev.type, ev.data["protocol"], name);
    equal(ev.subject, REF.identity, name);
    equal(ev.datacontenttype, "application/json", name);
    const lifecycle = ["startup", "shutdown", "alive"].includes(name);
    const push = name.startsWith("push");
    const want = lifecycle ? "io.choria.lifecycle" : push ? "io.scout.push" : "io.choria.machine";
    equal(ev.source, want, name);
  }
});

Deno.test("event time is RFC3339 at whole-second precision and data.timestamp unix seconds", () => {
  for (const { name, ev } of everyEvent()) {
    equal(ev.time, T_ISO, name);
    equal(ev.data["timestamp"], T_S, name);
    ok(Number.isInteger(ev.data["timestamp"]), name);
  }
  const early = transitionEvent(REF, { transition: "x", from: "a", to: "b" }, {
    eventId: "e",
    timeMs: Date.UTC(2026, 0, 1, 0, 0, 5, 0),
  });
  equal(early.time, T_ISO);
});

Deno.test("every builder's event, with Scout's extensions, is valid to the cloudevents SDK", () => {
  const meta: EventMeta = {
    ...META,
    extensions: {
      [SCOUT_EXTENSIONS.state]: "MAINTENANCE",
      [SCOUT_EXTENSIONS.hard]: true,
      [SCOUT_EXTENSIONS.attempt]: 1,
      [SCOUT_EXTENSIONS.maintUntil]: 1_900_000_000,
    },
  };
  for (const { name, ev } of everyEvent(meta)) {
    const { data, ...attrs } = roundTrip(ev) as ScoutEvent;
    ok(new CloudEvent({ ...attrs, data }, true).validate(), name);
    equal(new CloudEvent({ ...attrs, data }).time, ev.time, `${name}: the SDK keeps the time`);
  }
});

Deno.test("an event without an id or a subject is refused, not invented", () => {
  throws(
    () => transitionEvent(REF, { transition: "x", from: "a", to: "b" }, { ...META, eventId: "" }),
    (e: unknown) => e instanceof ScoutError && /needs an event id/.test(e.message),
  );
  throws(
    () => transitionEvent({ ...REF, identity: "" }, { transition: "x", from: "a", to: "b" }, META),
    (e: unknown) => e instanceof ScoutError && /needs a subject/.test(e.message),
  );
});

Deno.test("event time survives the cloudevents SDK without gaining milliseconds", () => {
  const ev = transitionEvent(REF, { transition: "x", from: "a", to: "b" }, META);
  const json = JSON.stringify(ev);
  ok(json.includes(`"time":"${T_ISO}"`), json);
  // The SDK accepts the very same object as a valid event.
  const { data, ...attrs } = ev;
  ok(new CloudEvent({ ...attrs, data }).validate());
});

Deno.test("nagios state event reports check time in seconds and runtime in float seconds", () => {
  const ev = nagiosStateEvent(REF, nagiosPayload(), META);
  deepEqual(roundTrip(ev), {
    specversion: "1.0",
    id: META.eventId,
    source: "io.choria.machine",
    type: "io.choria.machine.watcher.nagios.v1.state",
    subject: "node1.example.net",
    datacontenttype: "application/json",
    time: T_ISO,
    data: {
      protocol: "io.choria.machine.watcher.nagios.v1.state",
      identity: "node1.example.net",
      id: REF.instanceId,
      version: "1.0.0",
      timestamp: T_S,
      type: "nagios",
      machine: "check_disk",
      name: "check",
      plugin: "/usr/lib/nagios/plugins/check_disk -w 10%",
      status: "WARNING",
      status_code: 1,
      output: "DISK WARNING - free space: / 9%",
      check_time: T_S,
      perfdata: [{ unit: "%", label: "root", value: 9 }],
      runtime: 1.2345,
      history: [
        { execute: "2026-01-01T00:00:00.120Z", status: 0 },
        {
          execute: "2026-01-01T00:00:05.749Z",
          status: 1,
          perfdata: [{ unit: "%", label: "root", value: 9 }],
        },
      ],
      annotations: { team: "ops" },
    },
  });
});

Deno.test("nagios status_code follows status for all four statuses", () => {
  const codes = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
  for (const [status, code] of Object.entries(codes)) {
    const ev = nagiosStateEvent(
      REF,
      nagiosPayload({ status: status as keyof typeof codes }),
      META,
    );
    equal(ev.data["status"], status);
    equal(ev.data["status_code"], code);
  }
});

Deno.test("nagios history is capped at the newest 15 runs, oldest first", () => {
  const history = Array.from({ length: 40 }, (_, i) => ({
    executeMs: T_MS - (40 - i) * 60_000,
    status: (i % 4) as 0 | 1 | 2 | 3,
    perfdata: [],
  }));
  const before = structuredClone(history);
  const ev = nagiosStateEvent(REF, nagiosPayload({ history }), META);
  const sent = ev.data["history"] as { execute: string; status: number }[];
  equal(NAGIOS_HISTORY_LIMIT, 15);
  equal(sent.length, 15);
  deepEqual(
    sent.map((h) => h.execute),
    history.slice(25).map((h) => new Date(h.executeMs).toISOString()),
  );
  ok(sent.every((h, i) => i === 0 || sent[i - 1]!.execute < h.execute));
  deepEqual(history, before, "the caller's history is not modified");
});

Deno.test("nagios history omits empty perfdata and writes execute with fractional seconds", () => {
  const ev = nagiosStateEvent(REF, nagiosPayload(), META);
  const [first, second] = ev.data["history"] as Record<string, unknown>[];
  ok(first !== undefined && !("perfdata" in first));
  ok(second !== undefined && Array.isArray(second["perfdata"]));
  ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/.test(String(first["execute"])));
});

Deno.test("nagios perfdata keeps Choria's units, blanks others and drops non-finite values", () => {
  const ev = nagiosStateEvent(
    REF,
    nagiosPayload({
      perfdata: [
        { unit: "ms", label: "time", value: 3.5 },
        { unit: "GB", label: "disk", value: 12 },
        { unit: "", label: "nan", value: Number.NaN },
        { unit: "s", label: "inf", value: Number.POSITIVE_INFINITY },
      ],
    }),
    META,
  );
  deepEqual(ev.data["perfdata"], [
    { unit: "ms", label: "time", value: 3.5 },
    { unit: "", label: "disk", value: 12 },
  ]);
});

Deno.test("nagios perfdata is an empty array, never null, when a plugin sends none", () => {
  const ev = nagiosStateEvent(REF, nagiosPayload({ perfdata: [], history: [] }), META);
  deepEqual(ev.data["perfdata"], []);
  deepEqual(ev.data["history"], []);
});

Deno.test("exec state event sends previous_run_time as integer nanoseconds", () => {
  const ev = execStateEvent(REF, {
    watcher: "remediate",
    command: "./fix.sh",
    previousOutcome: "error",
    previousRunTimeMs: 1234.5678,
  }, META);
  deepEqual(ev.data, {
    protocol: "io.choria.machine.watcher.exec.v1.state",
    identity: REF.identity,
    id: REF.instanceId,
    version: "1.0.0",
    timestamp: T_S,
    type: "exec",
    machine: "check_disk",
    name: "remediate",
    command: "./fix.sh",
    previous_outcome: "error",
    previous_run_time: 1_234_567_800,
  });
  equal(ev.type, "io.choria.machine.watcher.exec.v1.state");
});

Deno.test("timer state event sends the timer as integer nanoseconds", () => {
  const ev = timerStateEvent(
    REF,
    { watcher: "cooldown", state: "stopped", timerMs: 300_000 },
    META,
  );
  equal(ev.type, "io.choria.machine.watcher.timer.v1.state");
  equal(ev.data["type"], "timer");
  equal(ev.data["name"], "cooldown");
  equal(ev.data["state"], "stopped");
  equal(ev.data["timer"], 300_000_000_000);
  ok(Number.isSafeInteger(ev.data["timer"]));
});

Deno.test("schedule state event carries the watcher type and state", () => {
  const ev = scheduleStateEvent(REF, { watcher: "sched", state: "skipped" }, META);
  equal(ev.type, "io.choria.machine.watcher.schedule.v1.state");
  equal(ev.data["type"], "schedule");
  equal(ev.data["name"], "sched");
  equal(ev.data["state"], "skipped");
});

Deno.test("lifecycle events use the event id as data.id and io.choria.lifecycle as source", () => {
  for (const kind of ["startup", "shutdown", "alive"] as const) {
    const ev = lifecycleEvent({ kind, identity: "n1", component: "scout", version: "0.1.0" }, META);
    deepEqual(roundTrip(ev), {
      specversion: "1.0",
      id: META.eventId,
      source: "io.choria.lifecycle",
      type: `io.choria.lifecycle.v1.${kind}`,
      subject: "n1",
      datacontenttype: "application/json",
      time: T_ISO,
      data: {
        protocol: `io.choria.lifecycle.v1.${kind}`,
        id: META.eventId,
        identity: "n1",
        component: "scout",
        version: "0.1.0",
        timestamp: T_S,
      },
    });
  }
});

Deno.test("builders are deterministic: the same input gives the same event", () => {
  deepEqual(everyEvent(), everyEvent());
});

Deno.test("builders refuse an unusable time or an empty event id", () => {
  for (const timeMs of [Number.NaN, Number.POSITIVE_INFINITY, 1e20]) {
    throws(
      () => transitionEvent(REF, { transition: "x", from: "a", to: "b" }, { eventId: "e", timeMs }),
      (e: unknown) => e instanceof ScoutError && e.code === "INTERNAL",
    );
  }
  throws(
    () => transitionEvent(REF, { transition: "x", from: "a", to: "b" }, { ...META, eventId: "" }),
    (e: unknown) => e instanceof ScoutError && e.code === "INTERNAL",
  );
});

// ------------------------------------------------------------------------------------------------
// extension attributes

Deno.test("Scout's extension attribute names are valid CloudEvents names", () => {
  deepEqual(Object.values(SCOUT_EXTENSIONS), [
    "scoutstate",
    "scouthard",
    "scoutattempt",
    "scoutattempts",
    "scoutmaintreason",
    "scoutmaintuntil",
    "scoutannounce",
    "scoutdropped",
  ]);
  for (const name of Object.values(SCOUT_EXTENSIONS)) {
    ok(/^[a-z0-9]{1,20}$/.test(name), name);
  }
});

Deno.test("state events carry soft/hard, attempt, machine state and maintenance in extensions", () => {
  const extensions = scoutExtensions({
    state: "MAINTENANCE",
    hard: false,
    attempt: 2,
    attempts: 3,
    maintReason: "kernel upgrade",
    maintUntilMs: Date.UTC(2026, 0, 1, 2, 0, 0, 500),
  });
  const ev = nagiosStateEvent(REF, nagiosPayload({ status: "CRITICAL" }), { ...META, extensions });
  const json = roundTrip(ev) as Record<string, unknown>;
  equal(json[SCOUT_EXTENSIONS.state], "MAINTENANCE");
  equal(json[SCOUT_EXTENSIONS.hard], false);
  equal(json[SCOUT_EXTENSIONS.attempt], 2);
  equal(json[SCOUT_EXTENSIONS.attempts], 3);
  equal(json[SCOUT_EXTENSIONS.maintReason], "kernel upgrade");
  equal(json[SCOUT_EXTENSIONS.maintUntil], Date.UTC(2026, 0, 1, 2) / 1000);
  // data.status is the result of the run, not the machine state.
  equal((json["data"] as Record<string, unknown>)["status"], "CRITICAL");
  // Every top-level attribute name is a valid CloudEvents attribute name.
  for (const key of Object.keys(json)) ok(/^[a-z0-9]{1,20}$/.test(key), key);
  ok(eventSchemas.envelope.safeParse(json).success);
});

Deno.test("scoutExtensions leaves out maintenance attributes when not in maintenance", () => {
  deepEqual(scoutExtensions({ state: "OK", hard: true, attempt: 1, attempts: 1 }), {
    scoutstate: "OK",
    scouthard: true,
    scoutattempt: 1,
    scoutattempts: 1,
  });
});

Deno.test("builders refuse invalid extension names and non-integer numbers", () => {
  for (const name of ["Scout", "scout_state", "averyveryverylongname1", "id", "time", "data", ""]) {
    throws(
      () =>
        transitionEvent(REF, { transition: "x", from: "a", to: "b" }, {
          ...META,
          extensions: { [name]: "v" },
        }),
      (e: unknown) => e instanceof ScoutError && e.code === "INTERNAL",
      name,
    );
  }
  throws(
    () =>
      transitionEvent(REF, { transition: "x", from: "a", to: "b" }, {
        ...META,
        extensions: { scoutattempt: 1.5 },
      }),
    (e: unknown) => e instanceof ScoutError && e.code === "INTERNAL",
  );
  throws(
    () =>
      transitionEvent(REF, { transition: "x", from: "a", to: "b" }, {
        ...META,
        extensions: { scoutmaintuntil: 2 ** 31 },
      }),
    (e: unknown) => e instanceof ScoutError && e.code === "INTERNAL",
    "CloudEvents Integers are 32-bit",
  );
});

// ------------------------------------------------------------------------------------------------
// subjects

Deno.test("identity token replaces every dot with an underscore", () => {
  equal(identityToken("node1.example.net"), "node1_example_net");
  equal(identityToken("web-01"), "web-01");
  equal(identityToken("a"), "a");
});

Deno.test("identity token refuses identities that could break a subject", () => {
  for (const bad of ["", "a_b", "a.*", "a.>", "a b", ".a", "a.", "-a", "x".repeat(254)]) {
    throws(
      () => identityToken(bad),
      (e: unknown) => e instanceof ScoutError && e.code === "IDENTITY_INVALID",
      bad,
    );
  }
});

Deno.test("events go to the node's own scout.node.<token> subjects", () => {
  const want: Record<string, string> = {
    transition: "scout.node.node1_example_net.machine.transition",
    nagios: "scout.node.node1_example_net.machine.watcher.nagios.state",
    exec: "scout.node.node1_example_net.machine.watcher.exec.state",
    timer: "scout.node.node1_example_net.machine.watcher.timer.state",
    schedule: "scout.node.node1_example_net.machine.watcher.schedule.state",
    startup: "scout.node.node1_example_net.lifecycle.startup",
    shutdown: "scout.node.node1_example_net.lifecycle.shutdown",
    alive: "scout.node.node1_example_net.lifecycle.alive",
    pushApplied: "scout.node.node1_example_net.push.applied",
    pushRefused: "scout.node.node1_example_net.push.refused",
  };
  for (const { name, ev } of everyEvent()) equal(scoutSubject(REF.identity, ev), want[name], name);
});

Deno.test("events map to Choria's subjects for republishing", () => {
  const want: Record<string, string> = {
    transition: "choria.machine.transition",
    nagios: "choria.machine.watcher.nagios.state",
    exec: "choria.machine.watcher.exec.state",
    timer: "choria.machine.watcher.timer.state",
    schedule: "choria.machine.watcher.schedule.state",
    startup: "choria.lifecycle.event.startup.scout",
    shutdown: "choria.lifecycle.event.shutdown.scout",
    alive: "choria.lifecycle.event.alive.scout",
  };
  for (const { name, ev } of everyEvent()) {
    if (name.startsWith("push")) {
      // Choria has no push event: the hub republishes nothing for it.
      equal(choriaSubjectOf(ev), null, name);
      throws(() => choriaSubject(ev), ScoutError);
      continue;
    }
    equal(choriaSubject(ev), want[name], name);
    equal(choriaSubjectOf(ev), want[name], name);
  }
});

Deno.test("push events carry the bundle's facts, unix seconds and Scout's own source", () => {
  const [applied, refused] = everyEvent().filter((e) => e.name.startsWith("push")).map((e) => e.ev);
  equal(applied!.source, "io.scout.push");
  equal(applied!.type, "io.scout.push.v1.applied");
  deepEqual(applied!.data, {
    protocol: "io.scout.push.v1.applied",
    id: META.eventId,
    identity: REF.identity,
    timestamp: T_S,
    key: "node.node1_example_net",
    seq: 4,
    author: "alice",
    issuer: "Scout Fleet CA",
    issued: T_S - 60,
    checks: ["disk", "load"],
    removed: false,
  });
  equal(refused!.type, "io.scout.push.v1.refused");
  equal(refused!.data["step"], "token");
  const unreadable = pushRefusedEvent({
    identity: REF.identity,
    key: "node.node1_example_net",
    seq: null,
    author: null,
    issuer: null,
    issuedMs: null,
    checks: [],
    step: "shape",
    reason: "not JSON",
  }, META);
  equal(parseEvent(roundTrip(unreadable)).data["issued"], null);
  throws(() => parseEvent({ ...roundTrip(applied!) as object, source: "io.choria.machine" }));
  // Every policy publishes push events: they are rare and an operator waits for them.
  for (const policy of ["all", "changes", "non-ok"] as const) {
    ok(publishes(policy, applied!), policy);
    ok(publishes(policy, refused!), policy);
  }
});

Deno.test("subjects refuse an event type Scout does not know", () => {
  const ev = { ...transitionEvent(REF, { transition: "x", from: "a", to: "b" }, META) };
  ev.type = "com.example.other";
  throws(
    () => choriaSubject(ev),
    (e: unknown) =>
      e instanceof ScoutError && e.code === "CONFIG_INVALID" &&
      e.context["type"] === "com.example.other",
  );
  throws(() => scoutSubject(REF.identity, ev), ScoutError);
});

// ------------------------------------------------------------------------------------------------
// the project's own schemas and parseEvent

const DATA_SCHEMA: Record<string, keyof typeof eventSchemas> = {
  transition: "transition",
  nagios: "nagiosState",
  exec: "execState",
  timer: "timerState",
  schedule: "scheduleState",
  startup: "lifecycle",
  shutdown: "lifecycle",
  alive: "lifecycle",
  pushApplied: "pushApplied",
  pushRefused: "pushRefused",
};

Deno.test("every builder's output passes the project's own zod schemas", () => {
  for (const { name, ev } of everyEvent({ ...META, extensions: { scoutstate: "OK" } })) {
    const json = roundTrip(ev) as ScoutEvent;
    const env = eventSchemas.envelope.safeParse(json);
    ok(env.success, `${name}: ${JSON.stringify(env.error?.issues)}`);
    const schema = eventSchemas[DATA_SCHEMA[name]!];
    const data = schema.safeParse(json.data);
    ok(data.success, `${name}: ${JSON.stringify(data.error?.issues)}`);
  }
});

Deno.test("parseEvent returns the event it is given, from a value or from JSON text", () => {
  for (const { name, ev } of everyEvent({ ...META, extensions: { scouthard: true } })) {
    deepEqual(parseEvent(roundTrip(ev)), roundTrip(ev), name);
    deepEqual(parseEvent(JSON.stringify(ev)), roundTrip(ev), name);
  }
});

function rejects(value: unknown, type: string, why: string): void {
  throws(
    () => parseEvent(value),
    (e: unknown) =>
      e instanceof ScoutError && e.code === "CONFIG_INVALID" && e.context["type"] === type,
    why,
  );
}

Deno.test("parseEvent rejects events whose data does not match their type", () => {
  const nagios = roundTrip(nagiosStateEvent(REF, nagiosPayload(), META)) as ScoutEvent;
  const type = nagios.type;
  rejects({ ...nagios, data: { ...nagios.data, status: "NOTCHECKED" } }, type, "status");
  rejects({ ...nagios, data: { ...nagios.data, status_code: 2 } }, type, "status_code mismatch");
  rejects({ ...nagios, data: { ...nagios.data, timestamp: T_MS } }, type, "timestamp in ms");
  rejects({ ...nagios, data: { ...nagios.data, check_time: 1.5 } }, type, "float check_time");
  const { output: _output, ...noOutput } = nagios.data;
  rejects({ ...nagios, data: noOutput }, type, "missing output");
  const tr = roundTrip(transitionEvent(REF, { transition: "x", from: "a", to: "b" }, META));
  const t = tr as ScoutEvent;
  rejects({ ...t, data: { ...t.data, extra: 1 } }, t.type, "transition data is closed");
});

Deno.test("parseEvent rejects envelopes that disagree with their data", () => {
  const ev = roundTrip(nagiosStateEvent(REF, nagiosPayload(), META)) as ScoutEvent;
  const type = ev.type;
  rejects({ ...ev, time: "2026-01-01T00:00:05.999Z" }, type, "fractional time");
  rejects({ ...ev, time: "2026-01-01T00:00:06Z" }, type, "time differs from timestamp");
  rejects({ ...ev, subject: "other.example.net" }, type, "subject differs from identity");
  rejects({ ...ev, source: "io.choria.lifecycle" }, type, "wrong source");
  rejects({ ...ev, specversion: "0.3" }, type, "spec version");
  rejects({ ...ev, datacontenttype: "text/plain" }, type, "content type");
  rejects({ ...ev, Bad_Ext: "x" }, type, "invalid extension name");
  rejects({ ...ev, scouthard: "yes" }, type, "scouthard must be a boolean");
  rejects(
    { ...ev, type: "io.choria.machine.watcher.exec.v1.state" },
    ev.type.replace(
      "nagios",
      "exec",
    ),
    "type differs from data",
  );
  rejects(
    { ...ev, type: "io.choria.machine.watcher.file.v1.state" },
    ev.type.replace(
      "nagios",
      "file",
    ),
    "unknown type",
  );
  rejects("{not json", "unknown", "not JSON");
  rejects(42, "unknown", "not an object");
});

// ------------------------------------------------------------------------------------------------
// Choria's JSON schemas (only when /work/shared is present)

const SKIP_WHY = `Choria's JSON schemas not found at ${CHORIA_SCHEMAS.pathname}`;
if (!HAVE_CHORIA) {
  // deno-lint-ignore no-console
  console.warn(`events_test: skipping Choria schema tests: ${SKIP_WHY}`);
}

const CHORIA_SCHEMA_OF: Record<string, string> = {
  transition: "choria/machine/v1/transition.json",
  nagios: "choria/machine/watcher/nagios/v1/state.json",
  exec: "choria/machine/watcher/exec/v1/state.json",
  schedule: "choria/machine/watcher/schedule/v1/state.json",
  startup: "choria/lifecycle/v1/startup.json",
  shutdown: "choria/lifecycle/v1/shutdown.json",
  alive: "choria/lifecycle/v1/alive.json",
};

Deno.test({
  name: "every builder's data passes Choria's JSON schemas (schedule: except its type enum bug)",
  ignore: !HAVE_CHORIA,
  fn() {
    const checked: string[] = [];
    for (const { name, ev } of everyEvent()) {
      const path = CHORIA_SCHEMA_OF[name];
      // Choria has no schema for timer events; the project's own zod schema covers them.
      if (path === undefined) continue;
      let errors = choriaValidator(path)((roundTrip(ev) as ScoutEvent).data);
      if (name === "schedule") {
        // Known Choria bug: schedule/v1/state.json restricts `type` to ["file"] (copy-paste).
        // Scout sends "schedule", the truth; every other field must pass.
        errors = errors.filter((e) => !(e.instancePath === "/type" && e.keyword === "enum"));
      }
      deepEqual(errors, [], `${name} against ${path}`);
      checked.push(name);
    }
    deepEqual(checked.sort(), Object.keys(CHORIA_SCHEMA_OF).sort());
  },
});

Deno.test({
  name: "Choria's schemas reject what Scout never sends (validator sanity)",
  ignore: !HAVE_CHORIA,
  fn() {
    const nagios = choriaValidator(CHORIA_SCHEMA_OF["nagios"]!);
    const ev = roundTrip(nagiosStateEvent(REF, nagiosPayload(), META)) as ScoutEvent;
    ok(nagios({ ...ev.data, status: "NOTCHECKED", status_code: 5 }).length > 0);
    ok(nagios({ ...ev.data, history: [{ execute: "yesterday", status: 0 }] }).length > 0);
    const transition = choriaValidator(CHORIA_SCHEMA_OF["transition"]!);
    const tr = roundTrip(transitionEvent(REF, { transition: "x", from: "a", to: "b" }, META));
    ok(transition({ ...(tr as ScoutEvent).data, type: "nagios" }).length > 0, "closed schema");
  },
});

// ------------------------------------------------------------------------------------------------
// property: any nagios payload yields a valid event

const arbIdentity = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?$/);
const arbMs = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) });
const arbPerfdata = fc.array(
  fc.record({
    unit: fc.oneof(
      fc.constantFrom("", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"),
      fc.string(),
    ),
    label: fc.string(),
    value: fc.double(),
  }),
  { maxLength: 4 },
);
const arbNagios = fc.record({
  ref: fc.record({
    identity: arbIdentity,
    machine: fc.string(),
    version: fc.string(),
    instanceId: fc.uuid(),
  }),
  payload: fc.record({
    watcher: fc.string(),
    plugin: fc.string(),
    status: fc.constantFrom("OK", "WARNING", "CRITICAL", "UNKNOWN"),
    output: fc.string({ unit: "binary", maxLength: 300 }),
    checkTimeMs: arbMs,
    runtimeMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    perfdata: arbPerfdata,
    history: fc.array(
      fc.record({
        executeMs: arbMs,
        status: fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3),
        perfdata: arbPerfdata,
      }),
      { maxLength: 40 },
    ),
    // "__proto__" cannot be a data key of a JavaScript object; Scout's config refuses it.
    annotations: fc.dictionary(fc.string().filter((k) => k !== "__proto__"), fc.string(), {
      maxKeys: 4,
    }),
  }),
  meta: fc.record({ eventId: fc.uuid(), timeMs: arbMs }),
});

Deno.test("property: any nagios payload yields an event valid against Scout's own schemas", () => {
  fc.assert(
    fc.property(arbNagios, ({ ref, payload, meta }) => {
      const ev = nagiosStateEvent(ref, payload, meta);
      const json = roundTrip(ev);
      deepEqual(parseEvent(json), json);
      ok((ev.data["history"] as unknown[]).length <= NAGIOS_HISTORY_LIMIT);
      ok(/:\d\dZ$/.test(ev.time));
    }),
    { numRuns: 300 },
  );
});

Deno.test({
  name: "property: any nagios payload yields data valid against Choria's nagios schema",
  ignore: !HAVE_CHORIA,
  fn() {
    const validate = choriaValidator(CHORIA_SCHEMA_OF["nagios"]!);
    fc.assert(
      fc.property(arbNagios, ({ ref, payload, meta }) => {
        const data = (roundTrip(nagiosStateEvent(ref, payload, meta)) as ScoutEvent).data;
        deepEqual(validate(data), []);
      }),
      { numRuns: 300 },
    );
  },
});

Deno.test("publish policies: all sends everything, changes and non-ok filter OK results", () => {
  const ref = { identity: "n1", machine: "web", version: "1.0.0", instanceId: "i" };
  const meta = { eventId: "e", timeMs: 0 };
  const state = (status: "OK" | "CRITICAL") =>
    nagiosStateEvent(ref, {
      watcher: "check",
      plugin: "p",
      status,
      output: "",
      checkTimeMs: 0,
      runtimeMs: 1,
      perfdata: [],
      history: [],
      annotations: {},
    }, meta);
  const toOk = transitionEvent(ref, { transition: "OK", from: "CRITICAL", to: "OK" }, meta);
  const toCrit = transitionEvent(ref, { transition: "CRITICAL", from: "OK", to: "CRITICAL" }, meta);
  const life = lifecycleEvent(
    { kind: "startup", identity: "n1", component: "scout", version: "1" },
    meta,
  );
  const all = [state("OK"), state("CRITICAL"), toOk, toCrit, life];
  deepEqual(all.map((e) => publishes("all", e)), [true, true, true, true, true]);
  deepEqual(all.map((e) => publishes("changes", e)), [false, true, true, true, true]);
  deepEqual(all.map((e) => publishes("non-ok", e)), [false, true, false, true, true]);
});
