/**
 * Go-style durations ("500ms", "1h30m") plus "d" (24h) and "w" (7d), in milliseconds.
 * @module
 */
import { ScoutError } from "../errors.ts";

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const TOKEN = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/y;
const GENERAL_HINT = 'use a number with a unit, e.g. "30s" or "5m" (units: ms, s, m, h, d, w)';

function noUnit(shown: string): ScoutError {
  return new ScoutError("CONFIG_DURATION", `duration ${shown} has no unit`, {
    hint: `add a unit, e.g. "${shown.replace(/"/g, "")}s" or "${shown.replace(/"/g, "")}m"`,
    context: { value: shown },
  });
}

/**
 * Parses a duration such as "500ms", "10s", "1h30m", "2d" or "1w" into milliseconds.
 * Bare numbers, negative values, spaces and unknown units throw ScoutError("CONFIG_DURATION").
 */
export function parseDuration(text: string | number): number {
  if (typeof text === "number") {
    if (Number.isFinite(text) && text < 0) {
      throw new ScoutError("CONFIG_DURATION", `negative duration ${text}`, {
        hint: 'a duration must not be negative; use e.g. "30s"',
      });
    }
    throw noUnit(String(text));
  }
  if (typeof text !== "string") {
    throw new ScoutError("CONFIG_DURATION", `invalid duration ${String(text)}`, {
      hint: GENERAL_HINT,
    });
  }
  const trimmed = text.trim();
  const shown = JSON.stringify(text);
  if (trimmed === "") {
    throw new ScoutError("CONFIG_DURATION", "duration is empty", { hint: GENERAL_HINT });
  }
  if (/^[-+]/.test(trimmed)) {
    const negative = trimmed.startsWith("-");
    throw new ScoutError(
      "CONFIG_DURATION",
      `${negative ? "negative" : "signed"} duration ${shown}`,
      { hint: 'write a duration without a sign, e.g. "30s"', context: { value: text } },
    );
  }
  if (/^(\d+(\.\d*)?|\.\d+)$/.test(trimmed)) throw noUnit(shown);
  let total = 0;
  let pos = 0;
  while (pos < trimmed.length) {
    TOKEN.lastIndex = pos;
    const match = TOKEN.exec(trimmed);
    if (match === null) {
      throw new ScoutError("CONFIG_DURATION", `invalid duration ${shown}`, {
        hint: GENERAL_HINT,
        context: { value: text },
      });
    }
    total += Number(match[1]) * (UNIT_MS[match[2] as string] ?? 0);
    pos = TOKEN.lastIndex;
  }
  const ms = Math.round(total * 1e6) / 1e6;
  if (!Number.isSafeInteger(Math.round(ms))) {
    throw new ScoutError("CONFIG_DURATION", `duration ${shown} is too long`, {
      hint: 'use a shorter duration, e.g. "1w"',
      context: { value: text },
    });
  }
  return ms;
}

/** Renders milliseconds as a Go-style duration using h, m, s and ms ("1h30m", "500ms", "0s"). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format duration ${ms}`);
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  if (rest > 0) out += `${Math.round(rest * 1e6) / 1e6}ms`;
  return out;
}
