/**
 * Choria machine definitions (machine.yaml, JSON too) -> MachineSpec, validated like Choria does.
 * @module
 */
import { z } from "zod";
import type { ScoutError } from "../errors.ts";
import { durationField, genericName } from "./_fields.ts";
import { canonicalJson, sha256Hex } from "./_hash.ts";
import { addIssue, issuesToErrors } from "./_issues.ts";
import { closest, quoteList } from "./_suggest.ts";
import type {
  LoadOptions,
  LoadResult,
  MachineSpec,
  TransitionSpec,
  WatcherSpec,
} from "./_types.ts";
import {
  duplicateErrors,
  errorAt,
  isRecord,
  locate,
  parseYaml,
  sortErrors,
  type YamlSource,
} from "./_yaml.ts";

const TransitionSchema = z.strictObject({
  name: genericName("transition name"),
  from: z.array(genericName("state name")),
  destination: genericName("state name"),
  description: z.string().optional(),
  subscribe: z.unknown().optional(),
});

const WatcherSchema = z.strictObject({
  name: genericName("watcher name"),
  type: z.string().min(1),
  state_match: z.array(z.string()).optional(),
  foreign_state_required: z.unknown().optional(),
  fail_transition: z.string().optional(),
  success_transition: z.string().optional(),
  interval: durationField("interval", 500).optional(),
  announce_interval: durationField("announce_interval", 60_000).optional(),
  properties: z.unknown().optional(),
});

const MachineSchema = z.strictObject({
  name: genericName("machine name"),
  version: z.string().superRefine((value, ctx) => {
    if (!/^\d+\.\d+\.\d+$/.test(value)) {
      addIssue(ctx, `invalid version ${JSON.stringify(value)}`, {
        hint: 'use a semantic version such as "1.0.0" (quote it so YAML keeps it a string)',
      });
    }
  }),
  initial_state: genericName("state name"),
  splay_start: z.number().int().min(0).optional(),
  transitions: z.array(z.unknown()).min(1),
  watchers: z.array(z.unknown()).min(1),
});

type Transition = z.output<typeof TransitionSchema>;
type Watcher = z.output<typeof WatcherSchema>;

function withHint(near: string | undefined, rest: string): string {
  return near === undefined ? rest : `did you mean ${JSON.stringify(near)}? ${rest}`;
}

/**
 * Parses a Choria machine definition. `dir` is the machine's directory (relative commands resolve
 * against it); `options.watcherTypes` gives the properties schema of every known watcher type.
 */
export function loadMachineFile(
  text: string,
  file: string,
  dir: string,
  options: LoadOptions,
): LoadResult<MachineSpec> {
  const parsed = parseYaml(text, file);
  if (!parsed.ok) return parsed;
  const source = parsed.source;
  const root = source.value;
  if (!isRecord(root)) {
    return {
      ok: false,
      errors: [
        errorAt(
          source,
          [],
          "CONFIG_INVALID",
          root === null ? "machine definition is empty" : "a machine definition must be a map",
          {
            hint: 'give "name", "version", "initial_state", "transitions" and "watchers"',
          },
        ),
      ],
    };
  }
  const errors: ScoutError[] = [];
  const top = MachineSchema.safeParse(root);
  if (!top.success) {
    errors.push(
      ...issuesToErrors(top.error.issues, { source, base: [], input: root, schema: MachineSchema }),
    );
  }

  const rawTransitions = Array.isArray(root.transitions) ? root.transitions : [];
  const transitions: Transition[] = [];
  rawTransitions.forEach((raw, index) => {
    const result = TransitionSchema.safeParse(raw);
    if (result.success) transitions.push(result.data);
    else {
      errors.push(...issuesToErrors(result.error.issues, {
        source,
        base: ["transitions", index],
        input: raw,
        schema: TransitionSchema,
      }));
    }
  });
  const allTransitionsValid = Array.isArray(root.transitions) &&
    transitions.length === rawTransitions.length;
  errors.push(...duplicateErrors(source, rawTransitions, ["transitions"], "transition"));

  const rawWatchers = Array.isArray(root.watchers) ? root.watchers : [];
  const watchers: { watcher: Watcher; index: number }[] = [];
  rawWatchers.forEach((raw, index) => {
    const base = ["watchers", index];
    const result = WatcherSchema.safeParse(raw);
    if (result.success) watchers.push({ watcher: result.data, index });
    else {
      errors.push(...issuesToErrors(result.error.issues, {
        source,
        base,
        input: raw,
        schema: WatcherSchema,
      }));
    }
    if (isRecord(raw) && raw.foreign_state_required !== undefined) {
      errors.push(
        errorAt(
          source,
          [...base, "foreign_state_required"],
          "CONFIG_INVALID",
          '"foreign_state_required" is not supported by Scout',
          { target: "key", hint: "remove it; a Scout watcher depends only on its own machine" },
        ),
      );
    }
  });
  errors.push(...duplicateErrors(source, rawWatchers, ["watchers"], "watcher"));

  // States and transition names are only known when every transition parsed; otherwise
  // checking references against them would report errors that are not there.
  const initial = typeof root.initial_state === "string" ? root.initial_state : undefined;
  if (allTransitionsValid && initial !== undefined) {
    const states = [initial];
    for (const t of transitions) {
      for (const state of [...t.from, t.destination]) {
        if (!states.includes(state)) states.push(state);
      }
    }
    const names = transitions.map((t) => t.name);
    rawWatchers.forEach((raw, index) => {
      if (!isRecord(raw)) return;
      const watcherName = typeof raw.name === "string"
        ? ` of watcher ${JSON.stringify(raw.name)}`
        : "";
      const match = Array.isArray(raw.state_match) ? raw.state_match : [];
      match.forEach((state, i) => {
        if (typeof state !== "string" || states.includes(state)) return;
        errors.push(
          errorAt(
            source,
            ["watchers", index, "state_match", i],
            "CONFIG_STATE",
            `unknown state ${JSON.stringify(state)} in "state_match"${watcherName}`,
            { hint: withHint(closest(state, states), `known states: ${quoteList(states)}`) },
          ),
        );
      });
      for (const key of ["fail_transition", "success_transition"] as const) {
        const name = raw[key];
        if (typeof name !== "string" || names.includes(name)) continue;
        errors.push(
          errorAt(
            source,
            ["watchers", index, key],
            "CONFIG_STATE",
            `unknown transition ${JSON.stringify(name)} in ${JSON.stringify(key)}${watcherName}`,
            { hint: withHint(closest(name, names), `transitions: ${quoteList(names)}`) },
          ),
        );
      }
    });
  }

  const known = [...options.watcherTypes.keys()].sort();
  const properties = new Map<number, unknown>();
  rawWatchers.forEach((raw, index) => {
    if (!isRecord(raw) || typeof raw.type !== "string" || raw.type === "") return;
    const schema = options.watcherTypes.get(raw.type);
    if (schema === undefined) {
      errors.push(
        errorAt(
          source,
          ["watchers", index, "type"],
          "CONFIG_INVALID",
          `unknown watcher type ${JSON.stringify(raw.type)}`,
          { hint: withHint(closest(raw.type, known), `known watcher types: ${quoteList(known)}`) },
        ),
      );
      return;
    }
    const input = raw.properties ?? {};
    const result = schema.safeParse(input);
    if (result.success) properties.set(index, result.data);
    else {
      errors.push(...issuesToErrors(result.error.issues, {
        source,
        base: ["watchers", index, "properties"],
        input,
        schema,
      }));
    }
  });

  if (errors.length > 0 || !top.success) return { ok: false, errors: sortErrors(errors) };
  const machine = top.data;
  return {
    ok: true,
    value: {
      name: machine.name,
      version: machine.version,
      initialState: machine.initial_state,
      splayStartMs: (machine.splay_start ?? 0) * 1000,
      transitions: transitions.map(toTransitionSpec),
      watchers: watchers.map(({ watcher, index }) =>
        toWatcherSpec(watcher, properties.get(index), source, index)
      ),
      dir,
      location: locate(source, [], "value"),
      origin: "machine",
      hash: sha256Hex(canonicalJson(root)),
    },
  };
}

function toTransitionSpec(t: Transition): TransitionSpec {
  return {
    name: t.name,
    from: t.from,
    destination: t.destination,
    ...(t.description === undefined ? {} : { description: t.description }),
  };
}

function toWatcherSpec(
  w: Watcher,
  properties: unknown,
  source: YamlSource,
  index: number,
): WatcherSpec {
  return {
    name: w.name,
    type: w.type,
    stateMatch: w.state_match ?? [],
    ...(w.fail_transition === undefined ? {} : { failTransition: w.fail_transition }),
    ...(w.success_transition === undefined ? {} : { successTransition: w.success_transition }),
    ...(w.interval === undefined ? {} : { intervalMs: w.interval }),
    ...(w.announce_interval === undefined ? {} : { announceIntervalMs: w.announce_interval }),
    properties,
    location: locate(source, ["watchers", index], "value"),
  };
}
