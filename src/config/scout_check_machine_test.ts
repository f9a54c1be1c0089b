import { deepEqual, equal, ok } from "node:assert/strict";
import { Ajv } from "ajv";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { formatError } from "../errors.ts";
import {
  type CheckSpec,
  joinArgs,
  loadCheckFile,
  loadMachineFile,
  SCOUT_CHECK_STATES,
  scoutCheckMachine,
} from "./mod.ts";

function loadOne(text: string): CheckSpec {
  const result = loadCheckFile(text, "checks/web.yaml");
  ok(result.ok, result.ok ? "" : result.errors.map(formatError).join("\n"));
  const check = result.value[0];
  ok(check);
  return check;
}

const CHECK_STATES = ["UNKNOWN", "OK", "WARNING", "CRITICAL"];
const WITH_FORCE = [...CHECK_STATES, "FORCE_CHECK"];
const TRANSITIONS = [
  { name: "UNKNOWN", from: WITH_FORCE, destination: "UNKNOWN" },
  { name: "OK", from: WITH_FORCE, destination: "OK" },
  { name: "WARNING", from: WITH_FORCE, destination: "WARNING" },
  { name: "CRITICAL", from: WITH_FORCE, destination: "CRITICAL" },
  { name: "FORCE_CHECK", from: CHECK_STATES, destination: "FORCE_CHECK" },
  { name: "MAINTENANCE", from: WITH_FORCE, destination: "MAINTENANCE" },
  { name: "RESUME", from: ["MAINTENANCE"], destination: "UNKNOWN" },
];

Deno.test("scoutCheckMachine builds the canonical check machine with one nagios watcher", () => {
  const check = loadOne([
    "checks:",
    "  - name: web",
    "    plugin: check_http",
    "    arguments: -H example.com",
    "    interval: 1m",
    "    timeout: 5s",
    "    attempts: 3",
    "    retry_interval: 20s",
    "    annotations: {team: web}",
    "    environment: {LANG: C}",
  ].join("\n"));
  const { machine, watchers } = scoutCheckMachine(check, "/etc/scout/checks");
  deepEqual(machine, {
    name: "web",
    version: "1.0.0",
    initialState: "UNKNOWN",
    splayStartMs: 0,
    transitions: TRANSITIONS,
    dir: "/etc/scout/checks",
    location: { file: "checks/web.yaml", line: 2, col: 5 },
    origin: "check",
    hash: check.hash,
  });
  deepEqual(watchers, [{
    name: "check",
    type: "nagios",
    stateMatch: CHECK_STATES,
    intervalMs: 60_000,
    rawProperties: {
      plugin: "check_http",
      arguments: ["-H", "example.com"],
      timeout: 5_000,
      annotations: { team: "web" },
      environment: { LANG: "C" },
      attempts: 3,
      retry_interval: 20_000,
    },
  }]);
  deepEqual(
    [...new Set([machine.initialState, ...machine.transitions.map((t) => t.destination)])].sort(),
    [...SCOUT_CHECK_STATES].sort(),
  );
});

Deno.test("scoutCheckMachine adds a remediate exec watcher that succeeds to UNKNOWN", () => {
  const check = loadOne([
    "checks:",
    "  - name: web",
    "    builtin: heartbeat",
    "    remediate:",
    "      command: /usr/local/bin/restart web",
    "      interval: 10m",
    "      states: [WARNING, CRITICAL]",
  ].join("\n"));
  const { watchers } = scoutCheckMachine(check, "/d");
  deepEqual(watchers, [
    {
      name: "check",
      type: "nagios",
      stateMatch: CHECK_STATES,
      intervalMs: 300_000,
      rawProperties: {
        arguments: [],
        builtin: "heartbeat",
        timeout: 10_000,
        annotations: {},
        environment: {},
        attempts: 1,
        retry_interval: 300_000,
      },
    },
    {
      name: "remediate",
      type: "exec",
      stateMatch: ["WARNING", "CRITICAL"],
      intervalMs: 600_000,
      successTransition: "UNKNOWN",
      rawProperties: { command: ["/usr/local/bin/restart", "web"] },
    },
  ]);
  equal("plugin" in (watchers[0]?.rawProperties ?? {}), false);
});

/** Renders the canonical machine the way Choria's Puppet module writes machine.yaml. */
function toChoriaYaml(check: CheckSpec): string {
  const { machine, watchers } = scoutCheckMachine(check, "/d");
  const seconds = (ms: number) => `${ms / 1000}s`; // the schema's GoDuration is ^\d+[hms]$
  return stringify({
    name: machine.name,
    version: machine.version,
    initial_state: machine.initialState,
    splay_start: machine.splayStartMs / 1000,
    transitions: machine.transitions.map((t) => ({
      name: t.name,
      from: t.from,
      destination: t.destination,
    })),
    watchers: watchers.map((w) => {
      const raw = w.rawProperties;
      const properties = w.type === "nagios"
        ? {
          ...(typeof raw.plugin === "string"
            ? { plugin: joinArgs([raw.plugin, ...(raw.arguments as string[])]) }
            // The schema requires "plugin" even next to a builtin; Choria treats "" as unset.
            : { plugin: "", builtin: raw.builtin }),
          timeout: seconds(raw.timeout as number),
          annotations: raw.annotations,
        }
        : { command: joinArgs(raw.command as string[]) };
      return {
        name: w.name,
        type: w.type,
        state_match: w.stateMatch,
        ...(w.intervalMs === undefined ? {} : { interval: seconds(w.intervalMs) }),
        ...(w.successTransition === undefined ? {} : { success_transition: w.successTransition }),
        properties,
      };
    }),
  });
}

const CHORIA_TYPES = new Map<string, z.ZodType>([
  [
    "nagios",
    z.strictObject({
      plugin: z.string().optional(),
      builtin: z.enum(["heartbeat", "goss", "choria_status"]).optional(),
      timeout: z.string().optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ],
  ["exec", z.strictObject({ command: z.string(), timeout: z.string().optional() })],
]);

const SCHEMA_PATH = "/work/shared/choria-schemas/choria/machine/v1/manifest.json";
let manifestSchema: Record<string, unknown> | undefined;
try {
  manifestSchema = JSON.parse(await Deno.readTextFile(SCHEMA_PATH));
} catch {
  manifestSchema = undefined;
}

Deno.test({
  name: manifestSchema === undefined
    ? `scoutCheckMachine output validates against Choria's manifest schema (skipped: ${SCHEMA_PATH} not found)`
    : "scoutCheckMachine output validates against Choria's manifest schema",
  ignore: manifestSchema === undefined,
  fn() {
    const { id, ...rest } = manifestSchema ?? {};
    // The schema names its id "id" (draft-04 style) and one kv pattern uses \A..\z, which is
    // not valid in a unicode RegExp; neither touches the nagios and exec watchers.
    const ajv = new Ajv({ strict: false, unicodeRegExp: false });
    const validate = ajv.compile({ ...rest, $id: String(id) });
    const checks = [
      [
        "checks:",
        "  - name: web",
        "    plugin: /usr/lib/nagios/plugins/check_http",
        "    arguments: -H example.com -u '/a b'",
        "    annotations: {team: web}",
        "    remediate:",
        "      command: [/usr/local/bin/restart, web server]",
      ].join("\n"),
      "checks:\n  - name: beat\n    builtin: heartbeat\n    interval: 30s\n",
    ].map(loadOne);
    for (const check of checks) {
      const yaml = toChoriaYaml(check);
      const reloaded = loadMachineFile(yaml, "machine.yaml", "/d", { watcherTypes: CHORIA_TYPES });
      ok(reloaded.ok, reloaded.ok ? "" : reloaded.errors.map(formatError).join("\n"));
      const valid = validate(parse(yaml));
      ok(valid, JSON.stringify(validate.errors, null, 2));
      equal(reloaded.value.transitions.length, 7);
      deepEqual(
        reloaded.value.watchers.map((w) => [w.name, w.type, w.intervalMs]),
        scoutCheckMachine(check, "/d").watchers.map((w) => [w.name, w.type, w.intervalMs]),
      );
    }
    // The validator is not a rubber stamp: Choria's GoDuration pattern refuses "1m30s".
    const bad = parse(toChoriaYaml(checks[0] as CheckSpec));
    bad.watchers[0].interval = "1m30s";
    equal(validate(bad), false);
  },
});
