import { deepEqual, equal, ok } from "node:assert/strict";
import { z } from "zod";
import { formatError, type ScoutError } from "../errors.ts";
import { loadMachineFile, type LoadResult, type MachineSpec } from "./mod.ts";

const FILE = "machines/web/machine.yaml";
const DIR = "machines/web";

/** Simple stand-ins for the watchers layer's property schemas. */
const TYPES = new Map<string, z.ZodType>([
  [
    "nagios",
    z.strictObject({
      plugin: z.string().optional(),
      builtin: z.enum(["heartbeat", "goss"]).optional(),
      timeout: z.string().default("10s"),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ],
  [
    "exec",
    z.strictObject({
      command: z.string(),
      timeout: z.string().optional(),
      environment: z.array(z.string()).optional(),
      limits: z.strictObject({ cpu: z.number().int().positive() }).optional(),
    }),
  ],
]);

function load(text: string | string[]): LoadResult<MachineSpec> {
  const source = Array.isArray(text) ? text.join("\n") : text;
  return loadMachineFile(source, FILE, DIR, { watcherTypes: TYPES });
}

function machineOf(result: LoadResult<MachineSpec>): MachineSpec {
  ok(result.ok, result.ok ? "" : result.errors.map(formatError).join("\n"));
  return result.value;
}

function errorsOf(result: LoadResult<MachineSpec>): ScoutError[] {
  ok(!result.ok, "expected errors");
  return result.errors;
}

function rendered(result: LoadResult<MachineSpec>): string[] {
  return errorsOf(result).map(formatError);
}

/** A small valid machine; tests replace single lines to break it. Line numbers are 1-based. */
const BASE = [
  "name: web", //                                    1
  "version: 1.0.0", //                               2
  "initial_state: unknown", //                       3
  "transitions:", //                                 4
  "  - name: OK", //                                 5
  "    from: [unknown, critical]", //                6
  "    destination: ok", //                          7
  "  - name: CRITICAL", //                           8
  "    from: [unknown, ok]", //                      9
  "    destination: critical", //                   10
  "watchers:", //                                   11
  "  - name: check", //                             12
  "    type: nagios", //                            13
  "    state_match: [unknown, ok, critical]", //    14
  "    interval: 1m", //                            15
  "    properties:", //                             16
  "      plugin: check_http -H localhost", //       17
  "  - name: fix", //                               18
  "    type: exec", //                              19
  "    state_match: [critical]", //                 20
  "    success_transition: OK", //                  21
  "    properties:", //                             22
  "      command: ./fix.sh", //                     23
];

function edit(replacements: Record<number, string | string[]>): string[] {
  return BASE.flatMap((line, i) => replacements[i + 1] ?? line);
}

Deno.test("machine loader reads a valid machine with every default", () => {
  const machine = machineOf(load(BASE));
  deepEqual(machine, {
    name: "web",
    version: "1.0.0",
    initialState: "unknown",
    splayStartMs: 0,
    transitions: [
      { name: "OK", from: ["unknown", "critical"], destination: "ok" },
      { name: "CRITICAL", from: ["unknown", "ok"], destination: "critical" },
    ],
    watchers: [
      {
        name: "check",
        type: "nagios",
        stateMatch: ["unknown", "ok", "critical"],
        intervalMs: 60_000,
        properties: { plugin: "check_http -H localhost", timeout: "10s" },
        location: { file: FILE, line: 12, col: 5 },
      },
      {
        name: "fix",
        type: "exec",
        stateMatch: ["critical"],
        successTransition: "OK",
        properties: { command: "./fix.sh" },
        location: { file: FILE, line: 18, col: 5 },
      },
    ],
    dir: DIR,
    location: { file: FILE, line: 1, col: 1 },
    origin: "machine",
    hash: machine.hash,
  });
});

Deno.test("machine loader reads the Choria-style httpd fixture", async () => {
  const url = new URL("../../tests/fixtures/config/machines/httpd/machine.yaml", import.meta.url);
  const result = loadMachineFile(await Deno.readTextFile(url), "httpd/machine.yaml", "httpd", {
    watcherTypes: TYPES,
  });
  const machine = machineOf(result);
  equal(machine.name, "httpd");
  equal(machine.splayStartMs, 30_000);
  equal(machine.transitions.length, 7);
  equal(machine.transitions[5]?.description, "stop checking until resumed");
  equal("subscribe" in (machine.transitions[6] ?? {}), false);
  const [check, remediate] = machine.watchers;
  deepEqual(check?.properties, {
    plugin: "/usr/lib64/nagios/plugins/check_http -H localhost -p 80",
    timeout: "10s",
    annotations: { team: "web" },
  });
  equal(check?.intervalMs, 60_000);
  equal(check?.announceIntervalMs, 3_600_000);
  equal(remediate?.intervalMs, 900_000);
  equal(remediate?.successTransition, "UNKNOWN");
  equal(remediate?.failTransition, "CRITICAL");
  deepEqual(remediate?.location, { file: "httpd/machine.yaml", line: 47, col: 5 });
  deepEqual(machine.location, { file: "httpd/machine.yaml", line: 3, col: 1 });
});

Deno.test("machine loader reads JSON machine files, with day intervals", async () => {
  const url = new URL("../../tests/fixtures/config/machines/json/machine.json", import.meta.url);
  const machine = machineOf(
    loadMachineFile(await Deno.readTextFile(url), "json/machine.json", "json", {
      watcherTypes: TYPES,
    }),
  );
  equal(machine.name, "heartbeat");
  equal(machine.watchers[0]?.intervalMs, 86_400_000);
  deepEqual(machine.watchers[0]?.properties, { builtin: "heartbeat", timeout: "10s" });
  deepEqual(machine.watchers[0]?.location, { file: "json/machine.json", line: 10, col: 5 });
});

Deno.test("machine loader reports unknown keys at every level with did-you-mean", () => {
  const text = edit({
    3: "intial_state: unknown",
    7: ["    destination: ok", "    desciption: all good"],
    15: "    intervall: 1m",
  });
  deepEqual(rendered(load(text)), [
    `${FILE}:3:1: unknown key "intial_state"\n  hint: did you mean "initial_state"?`,
    `${FILE}:8:5: unknown key "desciption"\n  hint: did you mean "description"?`,
    `${FILE}:16:5: unknown key "intervall"\n  hint: did you mean "interval"?`,
  ]);
});

Deno.test("machine loader accepts and ignores transition subscriptions", () => {
  const text = edit({
    7: ["    destination: ok", "    subscribe:", "      - {machine_name: other, event: done}"],
  });
  const machine = machineOf(load(text));
  deepEqual(machine.transitions[0], {
    name: "OK",
    from: ["unknown", "critical"],
    destination: "ok",
  });
});

Deno.test("machine loader reports duplicate transition and watcher names at the second", () => {
  const text = edit({ 8: "  - name: OK", 18: "  - name: check" });
  const errors = errorsOf(load(text));
  deepEqual(errors.map(formatError), [
    `${FILE}:8:11: duplicate transition name "OK"\n` +
    '  hint: the first "OK" is at line 5; transition names must be unique',
    `${FILE}:18:11: duplicate watcher name "check"\n` +
    '  hint: the first "check" is at line 12; watcher names must be unique',
  ]);
  ok(errors.every((e) => e.code === "CONFIG_DUPLICATE"));
});

Deno.test("machine loader refuses state_match entries that are not states of the machine", () => {
  const text = edit({ 14: "    state_match: [unknown, critcal, warning]" });
  const errors = errorsOf(load(text));
  const known = '"unknown", "critical", "ok"';
  deepEqual(errors.map(formatError), [
    `${FILE}:14:28: unknown state "critcal" in "state_match" of watcher "check"\n` +
    `  hint: did you mean "critical"? known states: ${known}`,
    `${FILE}:14:37: unknown state "warning" in "state_match" of watcher "check"\n` +
    `  hint: known states: ${known}`,
  ]);
  ok(errors.every((e) => e.code === "CONFIG_STATE"));
});

Deno.test("machine loader refuses success and fail transitions that do not exist", () => {
  const text = edit({ 21: ["    success_transition: ok", "    fail_transition: CRITCAL"] });
  deepEqual(rendered(load(text)), [
    `${FILE}:21:25: unknown transition "ok" in "success_transition" of watcher "fix"\n` +
    '  hint: did you mean "OK"? transitions: "OK", "CRITICAL"',
    `${FILE}:22:22: unknown transition "CRITCAL" in "fail_transition" of watcher "fix"\n` +
    '  hint: did you mean "CRITICAL"? transitions: "OK", "CRITICAL"',
  ]);
});

Deno.test("machine loader refuses a watcher type it does not know and lists the known ones", () => {
  const text = edit({ 13: "    type: nagois", 19: "    type: kv" });
  const errors = errorsOf(load(text));
  deepEqual(errors.map(formatError), [
    `${FILE}:13:11: unknown watcher type "nagois"\n` +
    '  hint: did you mean "nagios"? known watcher types: "exec", "nagios"',
    `${FILE}:19:11: unknown watcher type "kv"\n  hint: known watcher types: "exec", "nagios"`,
  ]);
});

Deno.test("machine loader maps property schema issues to the offending YAML node", () => {
  const text = edit({
    17: ["      plugin: 42", "      timout: 5s"],
    23: [
      "      command: ./fix.sh",
      "      environment: [A=1, 2]",
      "      limits:",
      "        cpu: -1",
    ],
  });
  deepEqual(rendered(load(text)), [
    `${FILE}:17:15: "properties.plugin" must be a string, got 42\n` +
    '  hint: quote the value: plugin: "42"',
    `${FILE}:18:7: unknown key "timout"\n  hint: did you mean "timeout"?`,
    `${FILE}:25:26: item 2 of "properties.environment" must be a string, got 2\n` +
    '  hint: quote the value: "2"',
    `${FILE}:27:14: "properties.limits.cpu" must be at least 0, got -1\n` +
    "  hint: use a value of at least 0",
  ]);
});

Deno.test("machine loader points a missing property at the properties map", () => {
  const text = edit({ 23: "      timeout: 5s" });
  deepEqual(rendered(load(text)), [
    `${FILE}:23:7: missing required key "command"\n  hint: add a "command" key`,
  ]);
  const withoutProperties = edit({ 22: [], 23: [] });
  deepEqual(rendered(load(withoutProperties)), [
    `${FILE}:18:5: missing required key "command"\n  hint: add a "command" key`,
  ]);
});

Deno.test("machine loader checks version, intervals, splay and list sizes", () => {
  const text = edit({
    2: "version: '1.0'",
    3: ["initial_state: unknown", "splay_start: 1.5"],
    15: ["    interval: 1x", "    announce_interval: 30s"],
  });
  const errors = errorsOf(load(text));
  deepEqual(errors.map(formatError), [
    `${FILE}:2:10: invalid version "1.0"\n` +
    '  hint: use a semantic version such as "1.0.0" (quote it so YAML keeps it a string)',
    `${FILE}:4:14: "splay_start" must be an integer, got 1.5\n  hint: use an integer`,
    `${FILE}:16:15: invalid duration "1x"\n` +
    '  hint: use a number with a unit, e.g. "30s" or "5m" (units: ms, s, m, h, d, w)',
    `${FILE}:17:24: "announce_interval" must be at least 1m, got "30s"\n` +
    '  hint: use "1m" or more',
  ]);
  deepEqual(rendered(load("name: web\nversion: 1.0.0\ninitial_state: idle\ntransitions: []\n")), [
    `${FILE}:1:1: missing required key "watchers"\n  hint: add a "watchers" key`,
    `${FILE}:4:14: "transitions" needs at least 1 item\n  hint: add an item to the list`,
  ]);
});

Deno.test("machine loader refuses names that are not Choria generic names", () => {
  const text = edit({ 1: "name: my machine", 5: "  - name: 9lives" });
  deepEqual(rendered(load(text)), [
    `${FILE}:1:7: invalid machine name "my machine"\n` +
    '  hint: a name starts with a letter, followed by at least one letter, digit, "_" or "-"',
    `${FILE}:5:11: invalid transition name "9lives"\n` +
    '  hint: a name starts with a letter, followed by at least one letter, digit, "_" or "-"',
  ]);
});

Deno.test("machine loader does not report state errors caused by a broken transition", () => {
  const text = edit({ 9: "    from: unknown" });
  deepEqual(rendered(load(text)), [
    `${FILE}:9:11: "from" must be a list, got the string "unknown"\n` +
    '  hint: write a YAML list, e.g. [a, b] or one "- item" per line',
  ]);
});

Deno.test("machine loader refuses foreign_state_required, which Scout does not implement", () => {
  const text = edit({
    20: ["    state_match: [critical]", "    foreign_state_required:", "      - {machine_name: a}"],
  });
  deepEqual(rendered(load(text)), [
    `${FILE}:21:5: "foreign_state_required" is not supported by Scout\n` +
    "  hint: remove it; a Scout watcher depends only on its own machine",
  ]);
});

Deno.test("machine loader reports YAML syntax errors and empty files", () => {
  const broken = load(edit({ 14: "    state_match: [unknown, ok" }));
  const err = errorsOf(broken)[0];
  equal(err?.code, "CONFIG_YAML");
  equal(err?.location?.file, FILE);
  equal(
    formatError(err),
    `${FILE}:15:5: YAML syntax error: flow sequence in block collection must be sufficiently ` +
      "indented and end with a ]\n  hint: check the indentation, brackets and quotes near this position",
  );
  deepEqual(rendered(load("")), [
    `${FILE}:1:1: machine definition is empty\n` +
    '  hint: give "name", "version", "initial_state", "transitions" and "watchers"',
  ]);
});

Deno.test("machine loader hashes the definition, not its layout", () => {
  const a = machineOf(load(BASE));
  const b = machineOf(
    load(["# a comment", ...BASE.map((l) => l.replace("[critical]", "[ critical ]"))]),
  );
  const c = machineOf(load(edit({ 15: "    interval: 2m" })));
  equal(a.hash, b.hash);
  ok(a.hash !== c.hash);
});
