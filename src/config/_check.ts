/**
 * Check files (`checks:` list) -> CheckSpec[], and the canonical Scout check machine of a check.
 * @module
 */
import { z } from "zod";
import type { ScoutError, SourceLocation } from "../errors.ts";
import { argsField, durationField, genericName, stringMap } from "./_fields.ts";
import { canonicalJson, sha256Hex } from "./_hash.ts";
import { addIssue, issuesToErrors } from "./_issues.ts";
import { closest, quoteList } from "./_suggest.ts";
import type { CheckSpec, LoadResult, MachineSpec, TransitionSpec } from "./_types.ts";
import {
  duplicateErrors,
  errorAt,
  isRecord,
  locate,
  parseYaml,
  type Path,
  sortErrors,
  type YamlSource,
} from "./_yaml.ts";

/** The states of the canonical Scout check machine. */
export const SCOUT_CHECK_STATES = [
  "UNKNOWN",
  "OK",
  "WARNING",
  "CRITICAL",
  "FORCE_CHECK",
  "MAINTENANCE",
] as const;

/** States a remediation may be bound to (the results of a check). */
export const RESULT_STATES = ["UNKNOWN", "OK", "WARNING", "CRITICAL"] as const;

/** Builtin checks that need no plugin. */
export const BUILTINS = ["heartbeat", "goss"] as const;

/** Defaults of check file fields, in milliseconds where they are durations. */
export const CHECK_DEFAULTS = {
  intervalMs: 300_000,
  timeoutMs: 10_000,
  attempts: 1,
  remediateIntervalMs: 900_000,
  remediateStates: ["CRITICAL"],
  minIntervalMs: 500,
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_ENV = ["PATH", "MACHINE_NAME", "MACHINE_WATCHER_NAME"] as const;

function environmentField(label: string) {
  return stringMap(label, {
    keyPattern: {
      pattern: ENV_NAME,
      what: "environment variable name",
      hint: 'a variable name has letters, digits and "_", and does not start with a digit',
    },
    reserved: {
      keys: RESERVED_ENV,
      hint: "Scout sets PATH, MACHINE_NAME and MACHINE_WATCHER_NAME itself; remove it",
    },
  });
}

const pluginField = z.string().superRefine((value, ctx) => {
  if (value.trim() === "") {
    addIssue(ctx, '"plugin" must not be empty', { hint: "give a plugin name or absolute path" });
  } else if (/\s/.test(value)) {
    addIssue(ctx, `plugin ${JSON.stringify(value)} contains spaces`, {
      hint: 'put the plugin\'s arguments in "arguments"',
    });
  }
});

const builtinField = z.string().superRefine((value, ctx) => {
  if (!(BUILTINS as readonly string[]).includes(value)) {
    const near = closest(value, BUILTINS);
    addIssue(ctx, `unknown builtin ${JSON.stringify(value)}`, {
      hint: near !== undefined && near !== value
        ? `did you mean ${JSON.stringify(near)}?`
        : `available builtins: ${quoteList(BUILTINS)}`,
    });
  }
});

const statesField = z.array(z.string()).min(1).superRefine((states, ctx) => {
  states.forEach((state, index) => {
    if ((RESULT_STATES as readonly string[]).includes(state)) return;
    const near = closest(state, RESULT_STATES);
    addIssue(ctx, `unknown state ${JSON.stringify(state)} in "remediate.states"`, {
      code: "CONFIG_STATE",
      hint: `${near === undefined ? "" : `did you mean ${JSON.stringify(near)}? `}states: ${
        quoteList(RESULT_STATES)
      }`,
      path: [index],
    });
  });
});

const RemediateSchema = z.strictObject({
  command: argsField("remediate.command", { required: true }),
  interval: durationField("remediate.interval", CHECK_DEFAULTS.minIntervalMs).optional(),
  states: statesField.optional(),
});

const attemptsField = z.number().int().min(1).max(100);

const DefaultsSchema = z.strictObject({
  interval: durationField("interval", CHECK_DEFAULTS.minIntervalMs).optional(),
  timeout: durationField("timeout", 1).optional(),
  attempts: attemptsField.optional(),
  retry_interval: durationField("retry_interval", CHECK_DEFAULTS.minIntervalMs).optional(),
  annotations: stringMap("annotations").optional(),
  environment: environmentField("environment").optional(),
});

const EntrySchema = z.strictObject({
  name: genericName("check name"),
  plugin: pluginField.optional(),
  arguments: argsField("arguments").optional(),
  builtin: builtinField.optional(),
  gossfile: z.string().min(1).optional(),
  vars: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  interval: durationField("interval", CHECK_DEFAULTS.minIntervalMs).optional(),
  timeout: durationField("timeout", 1).optional(),
  attempts: attemptsField.optional(),
  retry_interval: durationField("retry_interval", CHECK_DEFAULTS.minIntervalMs).optional(),
  remediate: RemediateSchema.optional(),
  annotations: stringMap("annotations").optional(),
  environment: environmentField("environment").optional(),
});

const FileSchema = z.strictObject({
  checks: z.array(z.unknown()).nullable().optional(),
  defaults: DefaultsSchema.nullable().optional(),
});

const REMEDIATE_HINT =
  'use a "remediate" map: remediate: {command: ..., interval: ..., states: [...]}';

/** Keys of other tools (Puppet's choria::scout_check) -> what to write instead. */
const ENTRY_ALIASES: Readonly<Record<string, string>> = {
  check_interval: 'did you mean "interval"?',
  plugin_timeout: 'did you mean "timeout"?',
  remediate_command: REMEDIATE_HINT,
  remediate_interval: REMEDIATE_HINT,
  remediate_states: REMEDIATE_HINT,
};

type Entry = z.output<typeof EntrySchema>;
type Defaults = z.output<typeof DefaultsSchema>;

function crossFieldErrors(source: YamlSource, base: Path, raw: Record<string, unknown>) {
  const errors: ScoutError[] = [];
  const has = (key: string) => raw[key] !== undefined;
  if (has("plugin") && has("builtin")) {
    errors.push(
      errorAt(
        source,
        [...base, "builtin"],
        "CONFIG_INVALID",
        '"plugin" and "builtin" are both set',
        {
          target: "key",
          hint: "a check runs either a plugin or a builtin; remove one of them",
        },
      ),
    );
  } else if (!has("plugin") && !has("builtin")) {
    const name = typeof raw.name === "string" ? ` ${JSON.stringify(raw.name)}` : "";
    errors.push(
      errorAt(source, base, "CONFIG_INVALID", `check${name} has neither "plugin" nor "builtin"`, {
        hint: 'add "plugin" (with its "arguments") or "builtin: heartbeat"',
      }),
    );
  } else if (raw.builtin === "goss" && !has("gossfile")) {
    errors.push(
      errorAt(source, [...base, "builtin"], "CONFIG_INVALID", 'builtin "goss" needs a "gossfile"', {
        target: "key",
        hint: "add gossfile: PATH (absolute, or relative to this check file)",
      }),
    );
  } else if ((has("gossfile") || has("vars")) && raw.builtin !== "goss") {
    const key = has("gossfile") ? "gossfile" : "vars";
    errors.push(
      errorAt(source, [...base, key], "CONFIG_INVALID", `"${key}" needs "builtin: goss"`, {
        target: "key",
        hint: "set builtin: goss, or remove it",
      }),
    );
  } else if (has("arguments") && !has("plugin")) {
    errors.push(
      errorAt(source, [...base, "arguments"], "CONFIG_INVALID", '"arguments" needs a "plugin"', {
        target: "key",
        hint: "builtins take no arguments; remove them",
      }),
    );
  }
  return errors;
}

function buildSpec(entry: Entry, defaults: Defaults, location: SourceLocation): CheckSpec {
  const intervalMs = entry.interval ?? defaults.interval ?? CHECK_DEFAULTS.intervalMs;
  const spec: Omit<CheckSpec, "location" | "hash"> = {
    name: entry.name,
    ...(entry.plugin === undefined ? {} : { plugin: entry.plugin }),
    arguments: entry.arguments ?? [],
    ...(entry.builtin === undefined
      ? {}
      : { builtin: entry.builtin as CheckSpec["builtin"] & string }),
    ...(entry.gossfile === undefined ? {} : { gossfile: entry.gossfile }),
    ...(entry.vars === undefined ? {} : { vars: entry.vars }),
    intervalMs,
    timeoutMs: entry.timeout ?? defaults.timeout ?? CHECK_DEFAULTS.timeoutMs,
    attempts: entry.attempts ?? defaults.attempts ?? CHECK_DEFAULTS.attempts,
    retryIntervalMs: entry.retry_interval ?? defaults.retry_interval ?? intervalMs,
    ...(entry.remediate === undefined ? {} : {
      remediate: {
        command: entry.remediate.command,
        intervalMs: entry.remediate.interval ?? CHECK_DEFAULTS.remediateIntervalMs,
        states: entry.remediate.states ?? [...CHECK_DEFAULTS.remediateStates],
      },
    }),
    annotations: { ...defaults.annotations, ...entry.annotations },
    environment: { ...defaults.environment, ...entry.environment },
  };
  return { ...spec, location, hash: sha256Hex(canonicalJson(spec)) };
}

/**
 * Parses a check file (YAML with a `checks:` list and optional `defaults:`) into checks with all
 * defaults applied; every problem found comes back as a located ScoutError.
 */
export function loadCheckFile(text: string, file: string): LoadResult<CheckSpec[]> {
  const parsed = parseYaml(text, file);
  if (!parsed.ok) return parsed;
  const source = parsed.source;
  const root = source.value;
  if (root === null || root === undefined) return { ok: true, value: [] };
  if (!isRecord(root)) {
    return {
      ok: false,
      errors: [
        errorAt(source, [], "CONFIG_INVALID", 'a check file must be a map with a "checks" list', {
          hint: 'start the file with "checks:" and list the checks below it',
        }),
      ],
    };
  }
  const errors: ScoutError[] = [];
  const top = FileSchema.safeParse(root);
  if (!top.success) {
    errors.push(
      ...issuesToErrors(top.error.issues, { source, base: [], input: root, schema: FileSchema }),
    );
  }
  const rawChecks = Array.isArray(root.checks) ? root.checks : [];
  const entries: { entry: Entry; index: number }[] = [];
  rawChecks.forEach((raw, index) => {
    const base = ["checks", index];
    const result = EntrySchema.safeParse(raw);
    if (!result.success) {
      errors.push(...issuesToErrors(result.error.issues, {
        source,
        base,
        input: raw,
        schema: EntrySchema,
        aliases: ENTRY_ALIASES,
      }));
    }
    const cross = isRecord(raw) ? crossFieldErrors(source, base, raw) : [];
    errors.push(...cross);
    if (result.success && cross.length === 0) entries.push({ entry: result.data, index });
  });
  errors.push(...duplicateErrors(source, rawChecks, ["checks"], "check"));
  if (errors.length > 0 || !top.success) return { ok: false, errors: sortErrors(errors) };
  const defaults = top.data.defaults ?? {};
  return {
    ok: true,
    value: entries.map(({ entry, index }) =>
      buildSpec(entry, defaults, locate(source, ["checks", index], "value"))
    ),
  };
}

/** One watcher of the canonical check machine, before its type's properties schema is applied. */
export interface ScoutCheckWatcher {
  /** Watcher name ("check" or "remediate"). */
  name: string;
  /** Watcher type ("nagios" or "exec"). */
  type: string;
  /** States in which the watcher runs. */
  stateMatch: string[];
  /** Transition fired on success. */
  successTransition?: string;
  /** Time between runs. */
  intervalMs?: number;
  /** Properties for the watcher type's schema. */
  rawProperties: Record<string, unknown>;
}

const CHECK_SOURCES = ["UNKNOWN", "OK", "WARNING", "CRITICAL"] as const;

/**
 * The canonical Scout check machine of a check (choria-formats.md 3.1, Puppet's table): states
 * UNKNOWN/OK/WARNING/CRITICAL/FORCE_CHECK/MAINTENANCE, a "check" nagios watcher and an optional
 * "remediate" exec watcher.
 */
export function scoutCheckMachine(
  check: CheckSpec,
  dir: string,
): { machine: Omit<MachineSpec, "watchers">; watchers: ScoutCheckWatcher[] } {
  const withForce = [...CHECK_SOURCES, "FORCE_CHECK"];
  const transitions: TransitionSpec[] = [
    ...CHECK_SOURCES.map((state) => ({ name: state, from: [...withForce], destination: state })),
    { name: "FORCE_CHECK", from: [...CHECK_SOURCES], destination: "FORCE_CHECK" },
    { name: "MAINTENANCE", from: [...withForce], destination: "MAINTENANCE" },
    { name: "RESUME", from: ["MAINTENANCE"], destination: "UNKNOWN" },
  ];
  const properties: Record<string, unknown> = {
    plugin: check.plugin,
    arguments: [...check.arguments],
    builtin: check.builtin,
    gossfile: check.gossfile === undefined || check.gossfile.startsWith("/")
      ? check.gossfile
      : `${dir}/${check.gossfile}`,
    vars: typeof check.vars === "string" && !check.vars.startsWith("/")
      ? `${dir}/${check.vars}`
      : check.vars,
    timeout: check.timeoutMs,
    annotations: { ...check.annotations },
    environment: { ...check.environment },
    attempts: check.attempts,
    retry_interval: check.retryIntervalMs,
  };
  for (const key of Object.keys(properties)) {
    if (properties[key] === undefined) delete properties[key];
  }
  const watchers: ScoutCheckWatcher[] = [{
    name: "check",
    type: "nagios",
    stateMatch: [...CHECK_SOURCES],
    intervalMs: check.intervalMs,
    rawProperties: properties,
  }];
  if (check.remediate !== undefined) {
    watchers.push({
      name: "remediate",
      type: "exec",
      stateMatch: [...check.remediate.states],
      intervalMs: check.remediate.intervalMs,
      successTransition: "UNKNOWN",
      rawProperties: { command: [...check.remediate.command] },
    });
  }
  return {
    machine: {
      name: check.name,
      version: "1.0.0",
      initialState: "UNKNOWN",
      splayStartMs: 0,
      transitions,
      dir,
      location: check.location,
      origin: "check",
      hash: check.hash,
    },
    watchers,
  };
}
