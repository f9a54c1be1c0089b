/**
 * The one place where zod issues become located ScoutErrors, for check files and machine files.
 * Custom issues carry `params: { code?, hint?, at?: "key" }` to choose the code, hint and node.
 * @module
 */
import { z } from "zod";
import type { ErrorCode, ScoutError } from "../errors.ts";
import { closest, quoteList, suggestHint } from "./_suggest.ts";
import { errorAt, isRecord, type Path, valueAt, type YamlSource } from "./_yaml.ts";

/** Where a zod parse happened, so its issues can be placed in the file. */
export interface IssueScope {
  /** The parsed file. */
  source: YamlSource;
  /** Path of the parsed value inside the document ([] for the whole document). */
  base: Path;
  /** The value that was given to zod. */
  input: unknown;
  /** The schema that was used; its object shapes give the known keys for "did you mean". */
  schema: z.ZodType;
  /** Well-known wrong keys (e.g. names of another tool) -> the hint to show for them. */
  aliases?: Readonly<Record<string, string>>;
}

/** Parameters a custom zod issue may carry. */
export interface IssueParams {
  /** Error code (default CONFIG_INVALID). */
  code?: ErrorCode;
  /** How to fix it. */
  hint?: string;
  /** Point at the key of the last path segment instead of its value. */
  at?: "key";
  /** The issue reports a missing key (dropped when an unknown key nearby is its likely typo). */
  missing?: boolean;
}

/** Adds a custom issue with Scout's params to a zod refinement or transform context. */
export function addIssue(
  // deno-lint-ignore no-explicit-any
  ctx: z.core.$RefinementCtx<any>,
  message: string,
  params: IssueParams & { path?: (string | number)[] } = {},
): void {
  const { path, ...rest } = params;
  ctx.addIssue(
    path === undefined
      ? { code: "custom", message, params: rest }
      : { code: "custom", message, params: rest, path },
  );
}

function innerSchema(schema: unknown): unknown {
  let current = schema;
  for (let i = 0; i < 20; i++) {
    const def = (current as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
    if (def === undefined) return current;
    // A pipe validates its input with `in`, unless `in` is a preprocessing transform.
    const pipeIn = (def.in as { _zod?: { def?: { type?: string } } } | undefined)?._zod?.def?.type;
    const piped = def.type === "pipe" ? (pipeIn === "transform" ? def.out : def.in) : undefined;
    const next = def.innerType ?? piped ??
      (def.type === "lazy" && typeof def.getter === "function"
        ? (def.getter as () => unknown)()
        : undefined);
    if (next === undefined) return current;
    current = next;
  }
  return current;
}

/** Keys of the object schema at `path` inside `schema`, when there is one. */
export function knownKeysAt(schema: z.ZodType, path: Path): string[] | undefined {
  let current = innerSchema(schema);
  for (const segment of path) {
    if (current instanceof z.ZodObject) current = current.shape[String(segment)];
    else if (current instanceof z.ZodArray) current = current.element;
    else if (current instanceof z.ZodRecord) current = current.valueType;
    else return undefined;
    if (current === undefined) return undefined;
    current = innerSchema(current);
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

/** Names the thing at a path for a message: `"interval"`, `"remediate.states"`, `item 2 of "from"`. */
export function subject(path: Path): string {
  const last = path[path.length - 1];
  if (last === undefined) return "the file";
  if (typeof last === "number") {
    const parent = path.slice(0, -1);
    return parent.length === 0 ? `item ${last + 1}` : `item ${last + 1} of ${subject(parent)}`;
  }
  const names: string[] = [];
  for (let i = path.length - 1; i >= 0 && typeof path[i] === "string"; i--) {
    names.unshift(path[i] as string);
  }
  return JSON.stringify(names.join("."));
}

/** Describes a value for "got ..." in messages. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `the string ${JSON.stringify(shown)}`;
  }
  return String(value);
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "a map",
  record: "a map",
};

function typeHint(expected: string, got: unknown, key: string | undefined): string {
  if (expected === "string" && (typeof got === "number" || typeof got === "boolean")) {
    return key === undefined
      ? `quote the value: "${String(got)}"`
      : `quote the value: ${key}: "${String(got)}"`;
  }
  if (expected === "array") return 'write a YAML list, e.g. [a, b] or one "- item" per line';
  if (expected === "object" || expected === "record") {
    return 'write "key: value" pairs indented below it';
  }
  if ((expected === "number" || expected === "int") && typeof got === "string") {
    return "write the number without quotes";
  }
  return `use ${EXPECTED[expected] ?? expected}`;
}

function lastKey(path: Path): string | undefined {
  const last = path[path.length - 1];
  return typeof last === "string" ? last : undefined;
}

function unknownKeyHint(key: string, known: readonly string[] | undefined, scope: IssueScope) {
  const alias = scope.aliases?.[key];
  if (alias !== undefined) return alias;
  if (known === undefined) return "remove it";
  return suggestHint(key, known, "allowed keys");
}

/** Maps zod issues of one parse to located ScoutErrors (one per unknown key). */
export function issuesToErrors(
  issues: readonly z.core.$ZodIssue[],
  scope: IssueScope,
): ScoutError[] {
  const errors: ScoutError[] = [];
  const { source, base, input } = scope;
  // Keys that unknown keys most likely meant, per map: a missing "command" next to an unknown
  // "comand" is one mistake, reported once (as the unknown key).
  const meant = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const known = knownKeysAt(scope.schema, issue.path as Path) ?? [];
    for (const key of issue.keys) {
      const near = closest(key, known);
      if (near !== undefined) meant.add(JSON.stringify([...issue.path, near]));
    }
  }
  const isMeant = (rel: Path) => meant.has(JSON.stringify(rel));
  for (const issue of issues) {
    const rel = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const path = [...base, ...rel];
    const got = valueAt(input, rel);
    const what = subject(path);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeysAt(scope.schema, rel);
        for (const key of issue.keys) {
          errors.push(
            errorAt(
              source,
              [...path, key],
              "CONFIG_UNKNOWN_KEY",
              `unknown key ${JSON.stringify(key)}`,
              {
                target: "key",
                hint: unknownKeyHint(key, known, scope),
              },
            ),
          );
        }
        break;
      }
      case "invalid_type": {
        const parent = valueAt(input, rel.slice(0, -1));
        const key = lastKey(rel);
        if (
          got === undefined && key !== undefined && isRecord(parent) && !Object.hasOwn(parent, key)
        ) {
          if (isMeant(rel)) break;
          errors.push(
            errorAt(source, path, "CONFIG_INVALID", `missing required key ${JSON.stringify(key)}`, {
              hint: `add a ${JSON.stringify(key)} key`,
            }),
          );
          break;
        }
        const expected = EXPECTED[issue.expected] ?? issue.expected;
        errors.push(
          errorAt(
            source,
            path,
            "CONFIG_INVALID",
            `${what} must be ${expected}, got ${describe(got)}`,
            {
              hint: typeHint(issue.expected, got, key),
            },
          ),
        );
        break;
      }
      case "too_small":
      case "too_big": {
        const small = issue.code === "too_small";
        const limit = small ? issue.minimum : issue.maximum;
        let message: string;
        let hint: string;
        if (issue.origin === "array" || issue.origin === "set") {
          message = small
            ? `${what} needs at least ${limit} ${Number(limit) === 1 ? "item" : "items"}`
            : `${what} has more than ${limit} items`;
          hint = small ? "add an item to the list" : "remove items from the list";
        } else if (issue.origin === "string") {
          message = small && Number(limit) <= 1
            ? `${what} must not be empty`
            : `${what} must be ${small ? "at least" : "at most"} ${limit} characters long`;
          hint = small ? "give it a value" : "shorten it";
        } else {
          message = `${what} must be ${small ? "at least" : "at most"} ${limit}, got ${
            describe(got)
          }`;
          hint = `use a value ${small ? "of at least" : "of at most"} ${limit}`;
        }
        errors.push(errorAt(source, path, "CONFIG_INVALID", message, { hint }));
        break;
      }
      case "invalid_value": {
        const values = issue.values.map((v) => String(v));
        const near = typeof got === "string" ? closest(got, values) : undefined;
        const hint = near === undefined
          ? `use one of ${quoteList(values)}`
          : `did you mean ${JSON.stringify(near)}?`;
        errors.push(
          errorAt(
            source,
            path,
            "CONFIG_INVALID",
            `${what} must be one of ${quoteList(values)}, got ${describe(got)}`,
            { hint },
          ),
        );
        break;
      }
      case "invalid_format": {
        const pattern = "pattern" in issue && typeof issue.pattern === "string"
          ? ` ${issue.pattern}`
          : ` ${issue.format}`;
        errors.push(
          errorAt(
            source,
            path,
            "CONFIG_INVALID",
            `${what} has an invalid format, got ${describe(got)}`,
            {
              hint: `the value must match${pattern}`,
            },
          ),
        );
        break;
      }
      case "custom": {
        const params = (issue.params ?? {}) as IssueParams;
        if (params.missing && isMeant(rel)) break;
        errors.push(
          errorAt(source, path, params.code ?? "CONFIG_INVALID", issue.message, {
            target: params.at === "key" ? "key" : "value",
            ...(params.hint === undefined ? {} : { hint: params.hint }),
          }),
        );
        break;
      }
      default: {
        errors.push(
          errorAt(
            source,
            path,
            "CONFIG_INVALID",
            `${what} is invalid: ${lowerFirst(issue.message)}`,
            {
              hint: "check the value against the documentation of this field",
            },
          ),
        );
      }
    }
  }
  return errors;
}

function lowerFirst(text: string): string {
  return text.length > 0 ? (text[0] as string).toLowerCase() + text.slice(1) : text;
}
