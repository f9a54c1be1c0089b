import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { ScoutError } from "../errors.ts";
import { formatDuration, parseDuration } from "./mod.ts";

const VALID: [string | number, number][] = [
  ["500ms", 500],
  ["10s", 10_000],
  ["5m", 300_000],
  ["1h", 3_600_000],
  ["1h30m", 5_400_000],
  ["1m30s", 90_000],
  ["2d", 172_800_000],
  ["1w", 604_800_000],
  ["1w2d3h4m5s6ms", 604_800_000 + 172_800_000 + 10_800_000 + 240_000 + 5_000 + 6],
  ["1.5h", 5_400_000],
  [".5s", 500],
  ["0s", 0],
  ["1500us", 1.5],
  ["2000000ns", 2],
  [" 30s ", 30_000],
];

Deno.test("parseDuration reads Go-style durations plus days and weeks", () => {
  for (const [text, ms] of VALID) equal(parseDuration(text), ms, `parseDuration(${text})`);
});

const INVALID: [string | number, string, string][] = [
  ["", "duration is empty", 'use a number with a unit, e.g. "30s" or "5m"'],
  ["5", 'duration "5" has no unit', 'add a unit, e.g. "5s" or "5m"'],
  [5, "duration 5 has no unit", 'add a unit, e.g. "5s" or "5m"'],
  ["5 minutes", 'invalid duration "5 minutes"', 'use a number with a unit, e.g. "30s" or "5m"'],
  ["-1s", 'negative duration "-1s"', 'write a duration without a sign, e.g. "30s"'],
  ["5M", 'invalid duration "5M"', 'use a number with a unit, e.g. "30s" or "5m"'],
  ["1h 30m", 'invalid duration "1h 30m"', 'use a number with a unit, e.g. "30s" or "5m"'],
  ["s", 'invalid duration "s"', 'use a number with a unit, e.g. "30s" or "5m"'],
];

Deno.test("parseDuration refuses bare numbers, signs, spaces and unknown units with a hint", () => {
  for (const [text, message, hint] of INVALID) {
    throws(() => parseDuration(text), (err: unknown) => {
      ok(err instanceof ScoutError, `parseDuration(${JSON.stringify(text)}) threw ${err}`);
      equal(err.code, "CONFIG_DURATION");
      equal(err.message, message);
      ok(err.hint?.startsWith(hint), `hint for ${JSON.stringify(text)} was ${err.hint}`);
      return true;
    });
  }
});

Deno.test("formatDuration writes h, m, s and ms like Go", () => {
  deepEqual(
    [0, 500, 1_000, 90_000, 5_400_000, 3_600_500, 604_800_000].map(formatDuration),
    ["0s", "500ms", "1s", "1m30s", "1h30m", "1h500ms", "168h"],
  );
});

Deno.test("parseDuration round-trips any h/m/s/ms composition of a random duration", () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 1000 }),
      fc.nat({ max: 59 }),
      fc.nat({ max: 59 }),
      fc.nat({ max: 999 }),
      (h, m, s, ms) => {
        const parts = [[h, "h"], [m, "m"], [s, "s"], [ms, "ms"]] as const;
        let text = parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join("");
        if (text === "") text = "0ms";
        const total = h * 3_600_000 + m * 60_000 + s * 1_000 + ms;
        equal(parseDuration(text), total);
        equal(parseDuration(formatDuration(total)), total);
      },
    ),
  );
});

Deno.test("formatDuration output always parses back to the same milliseconds", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => {
      equal(parseDuration(formatDuration(ms)), ms);
    }),
  );
});
