import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { ScoutError } from "./errors.ts";
import {
  type EventMeta,
  execStateEvent,
  IDENTITY_PATTERN,
  lifecycleEvent,
  type LifecycleKind,
  type MachineRef,
  nagiosStateEvent,
  type NagiosStatus,
  PUSH_REFUSAL_STEPS,
  pushAppliedEvent,
  pushRefusedEvent,
  safeParseEvent,
  scheduleStateEvent,
  type ScoutEvent,
  scoutExtensions,
  timerStateEvent,
  transitionEvent,
  verifyEventFast,
  type WirePerfDatum,
} from "./events.ts";

// ------------------------------------------------------------------------------------------------
// generators: valid events of every type from the builders

const MIN_MS = Date.parse("0000-01-01T00:00:00Z");
const MAX_MS = Date.parse("9999-12-31T23:59:59.999Z");

const identityArb = fc.oneof(
  fc.constantFrom("node1.example.net", "a", "web-01", "db1.example"),
  fc.stringMatching(IDENTITY_PATTERN).filter((s) => s.length <= 60),
);
const timeArb = fc.oneof(
  fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2040, 0, 1) }),
  fc.integer({ min: MIN_MS, max: MAX_MS }),
);
const refArb: fc.Arbitrary<MachineRef> = fc.record({
  identity: identityArb,
  machine: fc.string(),
  version: fc.string(),
  instanceId: fc.uuid(),
});
const EXT_NAME = /^[a-z0-9]{1,20}$/;
const RESERVED = new Set(["specversion", "id", "source", "type", "subject", "datacontenttype"]);
for (const r of ["dataschema", "time", "data", "datacontentencoding", "schemaurl"]) RESERVED.add(r);
const extValueArb = fc.oneof(
  fc.string(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.boolean(),
);
const extensionsArb: fc.Arbitrary<Record<string, string | number | boolean>> = fc.oneof(
  fc.constant({}),
  fc.record({
    state: fc.oneof(fc.constantFrom("OK", "CRITICAL", "MAINTENANCE"), fc.string()),
    hard: fc.boolean(),
    attempt: fc.integer({ min: 0, max: 5 }),
    attempts: fc.integer({ min: 1, max: 5 }),
    maintReason: fc.option(fc.string(), { nil: undefined }),
    maintUntilMs: fc.option(fc.integer({ min: 0, max: 2 ** 31 * 1000 - 1 }), { nil: undefined }),
  }).map(scoutExtensions),
  fc.dictionary(
    fc.stringMatching(EXT_NAME).filter((k) => !RESERVED.has(k)),
    extValueArb,
    { maxKeys: 3 },
  ),
);
const metaArb: fc.Arbitrary<EventMeta> = fc.record({
  eventId: fc.string({ minLength: 1 }),
  timeMs: timeArb,
  extensions: extensionsArb,
});
const UNITS = ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c", "GB", "x"];
const perfArb: fc.Arbitrary<WirePerfDatum[]> = fc.array(
  fc.record({
    unit: fc.constantFrom(...UNITS),
    label: fc.string(),
    value: fc.double({ noNaN: false }),
  }),
  { maxLength: 3 },
);
const statusArb = fc.constantFrom<NagiosStatus>("OK", "WARNING", "CRITICAL", "UNKNOWN");

const eventArb: fc.Arbitrary<ScoutEvent> = fc.oneof(
  fc.tuple(refArb, fc.string(), fc.string(), fc.string(), metaArb).map(([ref, t, f, to, meta]) =>
    transitionEvent(ref, { transition: t, from: f, to }, meta)
  ),
  fc.tuple(
    refArb,
    fc.record({
      watcher: fc.string(),
      plugin: fc.string(),
      status: statusArb,
      output: fc.string(),
      checkTimeMs: timeArb,
      runtimeMs: fc.double({ min: -5, max: 1e6, noNaN: true }),
      perfdata: perfArb,
      history: fc.array(
        fc.record({
          executeMs: timeArb,
          status: fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3),
          perfdata: perfArb,
        }),
        { maxLength: 17 },
      ),
      annotations: fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
    }),
    metaArb,
  ).map(([ref, p, meta]) => nagiosStateEvent(ref, p, meta)),
  fc.tuple(
    refArb,
    fc.string(),
    fc.string(),
    fc.constantFrom("unknown", "skipped", "error", "success" as const),
    fc.double({ min: -1, max: 1e7, noNaN: true }),
    metaArb,
  ).map(([ref, watcher, command, previousOutcome, previousRunTimeMs, meta]) =>
    execStateEvent(ref, { watcher, command, previousOutcome, previousRunTimeMs }, meta)
  ),
  fc.tuple(
    refArb,
    fc.string(),
    fc.constantFrom("running", "stopped" as const),
    fc.double({ min: 0, max: 1e7, noNaN: true }),
    metaArb,
  ).map(([ref, watcher, state, timerMs, meta]) =>
    timerStateEvent(ref, { watcher, state, timerMs }, meta)
  ),
  fc.tuple(
    refArb,
    fc.string(),
    fc.constantFrom("unknown", "off", "on", "skipped" as const),
    metaArb,
  )
    .map(([ref, watcher, state, meta]) => scheduleStateEvent(ref, { watcher, state }, meta)),
  fc.tuple(
    fc.constantFrom<LifecycleKind>("startup", "shutdown", "alive", "provisioned"),
    identityArb,
    fc.string(),
    fc.string(),
    metaArb,
  ).map(([kind, identity, component, version, meta]) =>
    lifecycleEvent({ kind, identity, component, version }, meta)
  ),
  fc.tuple(
    fc.record({
      identity: identityArb,
      key: fc.oneof(fc.constantFrom("node.web1_example", "group.web"), fc.string({ minLength: 1 })),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      author: fc.string(),
      issuer: fc.string(),
      issuedMs: timeArb,
      checks: fc.array(fc.string(), { maxLength: 3 }),
      removed: fc.boolean(),
    }),
    metaArb,
  ).map(([p, meta]) => pushAppliedEvent(p, meta)),
  fc.tuple(
    fc.record({
      identity: identityArb,
      key: fc.string({ minLength: 1 }),
      seq: fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: null }),
      author: fc.option(fc.string(), { nil: null }),
      issuer: fc.option(fc.string(), { nil: null }),
      issuedMs: fc.option(timeArb, { nil: null }),
      checks: fc.array(fc.string(), { maxLength: 3 }),
      step: fc.constantFrom(...PUSH_REFUSAL_STEPS),
      reason: fc.string(),
    }),
    metaArb,
  ).map(([p, meta]) => pushRefusedEvent(p, meta)),
);

// ------------------------------------------------------------------------------------------------
// mutations

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

/** Values that hit the checks' edges: wrong types, bad enums, bad times, near-miss numbers. */
const SPECIAL: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  3,
  4,
  1.5,
  -0.5,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53,
  "",
  "x",
  "OK",
  "NOTCHECKED",
  "WARNING",
  "%",
  "GB",
  "1.0",
  "0.3",
  "application/json",
  "io.choria.machine",
  "io.choria.lifecycle",
  "io.choria.machine.v1.transition",
  "io.choria.machine.watcher.nagios.v1.state",
  "io.choria.machine.watcher.file.v1.state",
  "io.choria.lifecycle.v1.startup",
  "io.choria.lifecycle.v1.bogus",
  "io.scout.push",
  "io.scout.push.v1.applied",
  "io.scout.push.v1.refused",
  "io.scout.push.v1.bogus",
  "replay",
  "clash",
  "node.web1",
  ["a", 1],
  2 ** 53 - 1,
  "2026-01-01T00:00:05Z",
  "2026-01-01T00:00:05.999Z",
  "2026-02-30T00:00:05Z",
  "2026-01-01T00:00:05+01:00",
  "2026-01-01 00:00:05Z",
  "node1.example.net",
  "-bad-",
  "under_score",
  "running",
  "on",
  "success",
  [],
  {},
  [{}],
  { unit: "%", label: "a", value: 1 },
  { unit: "%", label: "a", value: 1, extra: 2 },
  { execute: "2026-01-01T00:00:05.120Z", status: 0 },
  { k: 1 },
];
const KEYS = [
  "Bad_Ext",
  "scouthard",
  "scoutstate",
  "scoutattempt",
  "scoutmaintuntil",
  "extra",
  "dataschema",
  "abcdefghijklmnopqrstu",
  "__proto__",
  "constructor",
  "perfdata",
  "history",
  "seq",
  "step",
  "removed",
  "",
];

type Mutation = { path: number; op: "delete" | "set" | "add"; value: Json; key: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  path: fc.nat(),
  op: fc.constantFrom("delete", "set", "set", "add"),
  value: fc.oneof(fc.constantFrom(...SPECIAL), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>),
  key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 4 })),
});

function setOwn(o: Record<string, Json>, k: string, v: Json): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function mutate(ev: Json, muts: Mutation[]): Json {
  const root = structuredClone(ev);
  for (const mut of muts) {
    const m = { ...mut, value: structuredClone(mut.value) };
    const all: Path[] = [[], ...collect(root)];
    const path = all[m.path % all.length]!;
    const parentPath = path.slice(0, -1);
    let target: Json = root;
    for (const p of m.op === "add" ? path : parentPath) {
      target = (target as Record<string | number, Json>)[p]!;
    }
    const last = path[path.length - 1];
    if (m.op === "add") {
      if (target !== null && typeof target === "object" && !Array.isArray(target)) {
        setOwn(target, m.key, m.value);
      } else if (Array.isArray(target)) target.push(m.value);
      continue;
    }
    if (last === undefined) continue; // the root itself
    if (Array.isArray(target)) {
      if (m.op === "delete") target.splice(last as number, 1);
      else target[last as number] = m.value;
    } else if (target !== null && typeof target === "object") {
      if (m.op === "delete") delete target[last as string];
      else setOwn(target, last as string, m.value);
    }
  }
  return root;
}

function collect(v: Json, at: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...at, i]);
      collect(x, [...at, i], out);
    });
  } else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([...at, k]);
      collect(x, [...at, k], out);
    }
  }
  return out;
}

const toJson = (ev: ScoutEvent): Json => JSON.parse(JSON.stringify(ev));

/** The two paths agree on whether a value is an event and, when it is, on the event. */
function agree(value: unknown): boolean {
  const fast = verifyEventFast(value);
  const ref = safeParseEvent(value);
  equal(
    fast.ok,
    ref.ok,
    `fast ${fast.ok ? "accepts" : `refuses (${fast.error.message})`}, zod ${
      ref.ok ? "accepts" : `refuses (${ref.error.message})`
    }: ${JSON.stringify(value)}`,
  );
  if (fast.ok && ref.ok) deepEqual(fast.event, ref.event);
  if (!fast.ok) ok(fast.error instanceof ScoutError && fast.error.code === "CONFIG_INVALID");
  return fast.ok;
}

// ------------------------------------------------------------------------------------------------
// properties

Deno.test("verifyEventFast accepts every builder's event as the zod path does", () => {
  fc.assert(
    fc.property(eventArb, (ev) => {
      const json = toJson(ev);
      agree(json);
      agree(JSON.stringify(json));
    }),
    { numRuns: 1000 },
  );
});

Deno.test("verifyEventFast and the zod path agree on mutated events", () => {
  let accepted = 0, refused = 0;
  fc.assert(
    fc.property(eventArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (ev, muts) => {
      if (agree(mutate(toJson(ev), muts))) accepted++;
      else refused++;
    }),
    { numRuns: 4000 },
  );
  // Both sides of the property are exercised.
  ok(accepted > 100 && refused > 1000, `accepted ${accepted}, refused ${refused}`);
});

// ------------------------------------------------------------------------------------------------
// table cases

const REF: MachineRef = {
  identity: "node1.example.net",
  machine: "check_disk",
  version: "1.0.0",
  instanceId: "9a0f6f6e-0c1e-4d8f-9c55-0b8d8f3f9a11",
};
const META: EventMeta = {
  eventId: "0b4c3a5e-1d7e-4f6a-8b9c-2d3e4f5a6b7c",
  timeMs: Date.UTC(2026, 0, 1, 0, 0, 5, 999),
  extensions: scoutExtensions({ state: "WARNING", hard: true, attempt: 1, attempts: 1 }),
};
const NAGIOS = toJson(nagiosStateEvent(REF, {
  watcher: "check",
  plugin: "check_disk",
  status: "WARNING",
  output: "DISK WARNING",
  checkTimeMs: META.timeMs,
  runtimeMs: 12,
  perfdata: [{ unit: "%", label: "root", value: 9 }],
  history: [{ executeMs: META.timeMs, status: 1, perfdata: [{ unit: "%", label: "r", value: 9 }] }],
  annotations: { team: "ops" },
}, META)) as { [k: string]: Json; data: { [k: string]: Json } };

Deno.test("verifyEventFast table: valid and refused events, as the zod path", () => {
  const d = NAGIOS.data;
  const cases: [string, unknown, boolean][] = [
    ["valid nagios event", NAGIOS, true],
    ["its JSON text", JSON.stringify(NAGIOS), true],
    ["not JSON", "{oops", false],
    ["not an object", 42, false],
    ["an array", [NAGIOS], false],
    ["missing id", { ...NAGIOS, id: undefined }, false],
    ["empty id", { ...NAGIOS, id: "" }, false],
    ["bad status", { ...NAGIOS, data: { ...d, status: "NOTCHECKED" } }, false],
    ["status_code mismatch", { ...NAGIOS, data: { ...d, status_code: 2 } }, false],
    ["fractional time", { ...NAGIOS, time: "2026-01-01T00:00:05.999Z" }, false],
    ["time off by a second", { ...NAGIOS, time: "2026-01-01T00:00:06Z" }, false],
    ["bad identity", { ...NAGIOS, subject: "under_score" }, false],
    ["subject differs", { ...NAGIOS, subject: "other.example.net" }, false],
    ["bad attribute name", { ...NAGIOS, Bad_Ext: "x" }, false],
    ["extension too long", { ...NAGIOS, abcdefghijklmnopqrstu: "x" }, false],
    ["float extension", { ...NAGIOS, scoutx: 1.5 }, false],
    ["null extension", { ...NAGIOS, scoutx: null }, false],
    ["good extra extension", { ...NAGIOS, scoutx: 7 }, true],
    ["scouthard not boolean", { ...NAGIOS, scouthard: "yes" }, false],
    ["scoutattempt 0", { ...NAGIOS, scoutattempt: 0 }, false],
    ["unknown unit", {
      ...NAGIOS,
      data: { ...d, perfdata: [{ unit: "GB", label: "a", value: 1 }] },
    }, false],
    ["extra perfdata key (stripped by zod)", {
      ...NAGIOS,
      data: { ...d, perfdata: [{ unit: "%", label: "a", value: 1, x: 1 }] },
    }, true],
    ["history too long", {
      ...NAGIOS,
      data: { ...d, history: Array(16).fill({ execute: "2026-01-01T00:00:05Z", status: 0 }) },
    }, false],
    ["history empty perfdata", {
      ...NAGIOS,
      data: { ...d, history: [{ execute: "2026-01-01T00:00:05Z", status: 0, perfdata: [] }] },
    }, false],
    ["history offset time", {
      ...NAGIOS,
      data: { ...d, history: [{ execute: "2026-01-01T00:00:05+02:00", status: 0 }] },
    }, true],
    ["annotation not a string", { ...NAGIOS, data: { ...d, annotations: { a: 1 } } }, false],
    ["unknown type", { ...NAGIOS, type: "io.choria.machine.watcher.file.v1.state" }, false],
    ["negative runtime", { ...NAGIOS, data: { ...d, runtime: -1 } }, false],
  ];
  for (const [name, value, want] of cases) {
    const fast = verifyEventFast(value);
    equal(fast.ok, want, name);
    equal(safeParseEvent(value).ok, want, `${name} (zod)`);
  }
});

const APPLIED = toJson(pushAppliedEvent({
  identity: REF.identity,
  key: "node.node1_example_net",
  seq: 3,
  author: "alice",
  issuer: "Scout Fleet CA",
  issuedMs: META.timeMs - 2000,
  checks: ["disk", "load"],
  removed: false,
}, { eventId: META.eventId, timeMs: META.timeMs })) as {
  [k: string]: Json;
  data: { [k: string]: Json };
};
const REFUSED = toJson(pushRefusedEvent({
  identity: REF.identity,
  key: "node.node1_example_net",
  seq: null,
  author: null,
  issuer: null,
  issuedMs: null,
  checks: [],
  step: "shape",
  reason: "not JSON",
}, { eventId: META.eventId, timeMs: META.timeMs })) as {
  [k: string]: Json;
  data: { [k: string]: Json };
};

Deno.test("verifyEventFast table: push events, as the zod path", () => {
  const a = APPLIED.data;
  const r = REFUSED.data;
  const cases: [string, unknown, boolean][] = [
    ["valid applied event", APPLIED, true],
    ["valid refused event, nothing readable", REFUSED, true],
    ["refused with every field", {
      ...REFUSED,
      data: { ...r, seq: 2, author: "bob", issuer: "x", issued: 1, checks: ["a"], step: "clash" },
    }, true],
    ["applied from the machine source", { ...APPLIED, source: "io.choria.machine" }, false],
    ["machine event from the push source", { ...NAGIOS, source: "io.scout.push" }, false],
    ["applied without seq", { ...APPLIED, data: { ...a, seq: null } }, false],
    ["applied seq 0", { ...APPLIED, data: { ...a, seq: 0 } }, false],
    ["applied extra data key (closed)", { ...APPLIED, data: { ...a, step: "shape" } }, false],
    ["applied removed not boolean", { ...APPLIED, data: { ...a, removed: 1 } }, false],
    ["applied check name not a string", { ...APPLIED, data: { ...a, checks: ["a", 1] } }, false],
    ["applied empty key", { ...APPLIED, data: { ...a, key: "" } }, false],
    ["refused unknown step", { ...REFUSED, data: { ...r, step: "bogus" } }, false],
    ["refused without reason", { ...REFUSED, data: { ...r, reason: undefined } }, false],
    ["refused issued fractional", { ...REFUSED, data: { ...r, issued: 1.5 } }, false],
    ["unknown push type", { ...APPLIED, type: "io.scout.push.v1.bogus" }, false],
  ];
  for (const [name, value, want] of cases) {
    equal(verifyEventFast(value).ok, want, name);
    equal(safeParseEvent(value).ok, want, `${name} (zod)`);
  }
});

Deno.test("verifyEventFast hands a valid event back as the value itself", () => {
  const r = verifyEventFast(NAGIOS);
  ok(r.ok);
  equal(r.event, NAGIOS);
});
