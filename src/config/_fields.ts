/**
 * Zod field schemas shared by the check and machine loaders (durations, names, maps, arguments).
 * Their failures are custom issues whose params carry Scout's code and hint (see _issues.ts).
 * @module
 */
import { z } from "zod";
import { ScoutError } from "../errors.ts";
import { splitArgs } from "./_args.ts";
import { formatDuration, parseDuration } from "./_duration.ts";
import { addIssue, describe } from "./_issues.ts";
import { isRecord } from "./_yaml.ts";

/** Choria's GenericName: a letter, then at least one letter, digit, "_" or "-". */
export const GENERIC_NAME: RegExp = /^[a-zA-Z][a-zA-Z0-9_-]+$/;

/** The hint for a name that does not match GENERIC_NAME. */
export const NAME_HINT =
  'a name starts with a letter, followed by at least one letter, digit, "_" or "-"';

/** A string that must match GENERIC_NAME; `label` names it in messages ("check name"). */
export function genericName(label: string): z.ZodType<string> {
  return z.string().superRefine((value, ctx) => {
    if (!GENERIC_NAME.test(value)) {
      addIssue(ctx, `invalid ${label} ${JSON.stringify(value)}`, { hint: NAME_HINT });
    }
  });
}

/** A duration ("30s", "1h30m", "2d") -> milliseconds, at least `minMs`. */
export function durationField(label: string, minMs: number): z.ZodType<number, unknown> {
  return z.unknown().transform((value, ctx) => {
    if (typeof value !== "string" && typeof value !== "number") {
      addIssue(ctx, `${JSON.stringify(label)} must be a duration, got ${describe(value)}`, {
        code: "CONFIG_DURATION",
        hint: 'use a number with a unit, e.g. "30s" or "5m"',
      });
      return z.NEVER;
    }
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      if (!(err instanceof ScoutError)) throw err;
      addIssue(ctx, err.message, {
        code: err.code,
        ...(err.hint === undefined ? {} : { hint: err.hint }),
      });
      return z.NEVER;
    }
    if (ms < minMs) {
      addIssue(
        ctx,
        `${JSON.stringify(label)} must be at least ${formatDuration(minMs)}, got ${
          JSON.stringify(value)
        }`,
        { code: "CONFIG_DURATION", hint: `use "${formatDuration(minMs)}" or more` },
      );
      return z.NEVER;
    }
    return ms;
  });
}

/** Options of stringMap. */
export interface StringMapOptions {
  /** Pattern every key must match, with the hint shown when one does not. */
  keyPattern?: { pattern: RegExp; what: string; hint: string };
  /** Keys that may not be set, with the hint shown when one is. */
  reserved?: { keys: readonly string[]; hint: string };
}

/** A map of strings to strings; an empty value means an empty map. */
export function stringMap(
  label: string,
  options: StringMapOptions = {},
): z.ZodType<Record<string, string>, unknown> {
  return z.unknown().transform((value, ctx) => {
    if (value === null) return {};
    if (!isRecord(value)) {
      addIssue(ctx, `${JSON.stringify(label)} must be a map of strings, got ${describe(value)}`, {
        hint: 'write "key: value" pairs indented below it',
      });
      return z.NEVER;
    }
    const out: Record<string, string> = {};
    let failed = false;
    for (const [key, item] of Object.entries(value)) {
      if (key === "__proto__") {
        // JavaScript objects cannot carry this key as data (it sets the prototype).
        addIssue(ctx, `${JSON.stringify(label)} may not have the key "__proto__"`, {
          hint: "rename the key",
          at: "key",
          path: [key],
        });
        failed = true;
      } else if (options.keyPattern !== undefined && !options.keyPattern.pattern.test(key)) {
        addIssue(ctx, `invalid ${options.keyPattern.what} ${JSON.stringify(key)}`, {
          hint: options.keyPattern.hint,
          at: "key",
          path: [key],
        });
        failed = true;
      } else if (options.reserved?.keys.includes(key)) {
        addIssue(ctx, `${JSON.stringify(key)} may not be set in ${JSON.stringify(label)}`, {
          hint: options.reserved.hint,
          at: "key",
          path: [key],
        });
        failed = true;
      }
      if (typeof item !== "string") {
        const scalar = typeof item === "number" || typeof item === "boolean";
        addIssue(
          ctx,
          `${JSON.stringify(`${label}.${key}`)} must be a string, got ${describe(item)}`,
          {
            hint: scalar ? `quote the value: ${key}: "${String(item)}"` : "use a string value",
            path: [key],
          },
        );
        failed = true;
      } else {
        out[key] = item;
      }
    }
    return failed ? z.NEVER : out;
  });
}

/** Options of argsField. */
export interface ArgsFieldOptions {
  /** Whether the field must be present and hold at least one word (default false). */
  required?: boolean;
}

/** A command line: a string split like a shell would (never run by one), or a list of strings. */
export function argsField(
  label: string,
  options: ArgsFieldOptions = {},
): z.ZodType<string[], unknown> {
  const key = label.split(".").pop() ?? label;
  return z.unknown().transform((value, ctx) => {
    if (value === undefined) {
      if (options.required) {
        addIssue(ctx, `missing required key ${JSON.stringify(key)}`, {
          hint: `add a ${JSON.stringify(key)} key`,
          missing: true,
        });
        return z.NEVER;
      }
      return [];
    }
    let words: string[];
    if (typeof value === "string") {
      try {
        words = splitArgs(value);
      } catch (err) {
        if (!(err instanceof ScoutError)) throw err;
        addIssue(ctx, err.message, {
          code: err.code,
          ...(err.hint === undefined ? {} : { hint: err.hint }),
        });
        return z.NEVER;
      }
    } else if (Array.isArray(value)) {
      words = [];
      let failed = false;
      value.forEach((item, index) => {
        if (typeof item === "string") {
          words.push(item);
          return;
        }
        const scalar = typeof item === "number" || typeof item === "boolean";
        addIssue(
          ctx,
          `item ${index + 1} of ${JSON.stringify(label)} must be a string, got ${describe(item)}`,
          {
            hint: scalar ? `quote it: "${String(item)}"` : "use a string",
            path: [index],
          },
        );
        failed = true;
      });
      if (failed) return z.NEVER;
    } else {
      addIssue(
        ctx,
        `${JSON.stringify(label)} must be a string or a list of strings, got ${describe(value)}`,
        { hint: 'write e.g. "-H example.com -p 443" or ["-H", "example.com"]' },
      );
      return z.NEVER;
    }
    if (options.required && words.length === 0) {
      addIssue(ctx, `${JSON.stringify(label)} must not be empty`, {
        hint: "give the command to run",
      });
      return z.NEVER;
    }
    return words;
  });
}
