/**
 * Nagios / Monitoring Plugins API: exit codes, plugin output, perfdata and threshold ranges.
 * Layer 1 and pure: no Deno.*, no clock, no I/O; imports only ./errors.ts.
 * The parsers never throw on plugin output; bad perfdata items become error strings.
 * @module
 */

import { ScoutError } from "./errors.ts";

/** The four plugin states, in exit-code order. */
export const NAGIOS_STATUSES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"] as const;

/** One of the four plugin states. */
export type NagiosStatus = typeof NAGIOS_STATUSES[number];

/** The exit code of each plugin state. */
export const STATUS_CODE: Record<NagiosStatus, 0 | 1 | 2 | 3> = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
} as const;

/** Maps an exit code 0..3 to its state and any other number (4, 126, -1, 1.5, NaN) to null. */
export function statusFromCode(code: number): NagiosStatus | null {
  if (!Number.isInteger(code) || code < 0 || code > 3) return null;
  return NAGIOS_STATUSES[code] ?? null;
}

/** A threshold range `[@][start:][end]`; start may be -Infinity, end +Infinity, inside is the `@` form. */
export interface ThresholdRange {
  /** Lower bound, inclusive; -Infinity for `~`. */
  start: number;
  /** Upper bound, inclusive; +Infinity when the end is left out. */
  end: number;
  /** True for the `@` form, which alerts inside [start, end] instead of outside. */
  inside: boolean;
  /** The range as written (trimmed). */
  text: string;
}

/** A plain decimal number as the plugin API allows it: `[-0-9.]`, no exponent, no comma. */
const NUMBER_RE = /^-?(?:\d+(?:\.\d*)?|\.\d+)$/;
/** The leading number of a perfdata value field. */
const LEADING_NUMBER_RE = /^-?(?:\d+(?:\.\d*)?|\.\d+)/;
/** A unit of measurement: any run of characters that are not digits, space or one of `;.,-='"|`. */
const UOM_RE = /^[^\d;.,\-\s='"|]*/;
/** Whitespace that separates perfdata items. */
const WS_RE = /\s/;

/** How many perfdata errors are kept; the rest are summarised in one final line. */
export const MAX_PERFDATA_ERRORS = 20;

/** Parses a plain decimal number or returns null; -0 becomes 0 and non-finite results are null. */
function parseNumber(text: string): number | null {
  if (!NUMBER_RE.test(text)) return null;
  const n = Number(text);
  if (!Number.isFinite(n)) return null;
  return n === 0 ? 0 : n;
}

/** Throws the error of an invalid range text. */
function badRange(text: string, why: string): never {
  throw new ScoutError("CONFIG_INVALID", `invalid threshold range "${text}": ${why}`, {
    hint:
      'write [@][start:][end] with plain numbers, e.g. "10", "10:", "~:10", "10:20" or "@10:20"',
    context: { range: text },
  });
}

/** Parses one range bound; `~` is accepted only where `allowTilde` says so. */
function parseBound(text: string, part: string, allowTilde: boolean): number {
  if (allowTilde && part === "~") return -Infinity;
  if (part.includes(",")) badRange(text, `"${part}" contains a comma; use "." for decimals`);
  if (/^-?(?:\d+\.?\d*|\.\d+)[eE]/.test(part)) {
    badRange(text, `"${part}" uses scientific notation`);
  }
  const n = parseNumber(part);
  if (n === null) badRange(text, `"${part}" is not a number`);
  return n;
}

/**
 * Parses a threshold range `[@][start:][end]` (`10` = 0..10, `10:` = 10..+Inf, `~:10` = -Inf..10);
 * throws ScoutError CONFIG_INVALID when it is empty, malformed or has start > end.
 */
export function parseRange(text: string): ThresholdRange {
  const trimmed = text.trim();
  if (trimmed === "") badRange(text, "it is empty");
  let body = trimmed;
  const inside = body.startsWith("@");
  if (inside) body = body.slice(1);
  if (body === "") badRange(trimmed, "nothing follows '@'");
  const colon = body.indexOf(":");
  let start = 0;
  let end = Infinity;
  if (colon === -1) {
    end = parseBound(trimmed, body, false);
  } else {
    const startText = body.slice(0, colon);
    const endText = body.slice(colon + 1);
    if (endText.includes(":")) badRange(trimmed, "it has more than one ':'");
    if (startText === "" && endText === "") badRange(trimmed, "it has neither start nor end");
    if (startText !== "") start = parseBound(trimmed, startText, true);
    if (endText !== "") end = parseBound(trimmed, endText, false);
  }
  if (start > end) badRange(trimmed, `start ${start} is greater than end ${end}`);
  return { start, end, inside, text: trimmed };
}

/** True when the value should alert: outside [start, end] normally, inside it for the `@` form. */
export function rangeAlerts(range: ThresholdRange, value: number): boolean {
  if (Number.isNaN(value)) return false;
  const within = value >= range.start && value <= range.end;
  return range.inside ? within : !within;
}

/** One perfdata item `'label'=value[UOM];[warn];[crit];[min];[max]`. */
export interface PerfDatum {
  /** The label, with quotes removed and doubled quotes undone. */
  label: string;
  /** The value; null for `U` (could not determine). */
  value: number | null;
  /** Unit of measurement as written, "" when none. */
  unit: string;
  /** Warning range, null when absent or invalid. */
  warn: ThresholdRange | null;
  /** Critical range, null when absent or invalid. */
  crit: ThresholdRange | null;
  /** Minimum, null when absent or invalid. */
  min: number | null;
  /** Maximum, null when absent or invalid. */
  max: number | null;
}

/** Plugin stdout split into summary, long text and perfdata. */
export interface PluginOutput {
  /** First line text before '|', trimmed. */
  summary: string;
  /** Long output lines joined by \n, without perfdata; leading blank lines and trailing space removed. */
  longText: string;
  /** Parsed perfdata items in order. */
  perfdata: PerfDatum[];
  /** Items that could not be parsed (or fields that were ignored), each with why. */
  perfdataErrors: string[];
}

/** Shortens a token for an error message. */
function shown(token: string): string {
  const oneLine = token.replace(/\s/g, " ");
  return oneLine.length > 60 ? `${oneLine.slice(0, 57)}...` : oneLine;
}

/** Index of the first whitespace at or after `from`, or the text length. */
function nextWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && !WS_RE.test(text[i] ?? "")) i++;
  return i;
}

/**
 * Returns the end of the run of words after `from` that cannot start an item (no '=', no leading
 * quote), so a stray sentence or a cut-off quoted label is one error, not one per word.
 */
function skipStrayWords(text: string, from: number): number {
  let resume = from;
  for (;;) {
    let w = resume;
    while (w < text.length && WS_RE.test(text[w] ?? "")) w++;
    const wordEnd = nextWhitespace(text, w);
    const word = text.slice(w, wordEnd);
    if (word === "" || word.includes("=") || word.startsWith("'")) return resume;
    resume = wordEnd;
  }
}

/** Result of reading one label: where its value starts, or why it failed and where to resume. */
type LabelRead =
  | { ok: true; label: string; valueStart: number }
  | { ok: false; why: string; resume: number };

/** Reads a quoted label starting at the opening quote at `start`. */
function readQuotedLabel(text: string, start: number): LabelRead {
  const resume = skipStrayWords(text, nextWhitespace(text, start + 1));
  let label = "";
  let j = start + 1;
  for (;;) {
    const q = text.indexOf("'", j);
    if (q === -1) return { ok: false, why: "unterminated quoted label", resume };
    label += text.slice(j, q);
    if (text[q + 1] === "'") {
      label += "'";
      j = q + 2;
      continue;
    }
    if (text[q + 1] !== "=") {
      return { ok: false, why: "expected '=' after the quoted label", resume };
    }
    return { ok: true, label, valueStart: q + 2 };
  }
}

/** Reads an unquoted label starting at `start`. */
function readPlainLabel(text: string, start: number): LabelRead {
  let k = start;
  while (k < text.length && text[k] !== "=" && !WS_RE.test(text[k] ?? "")) k++;
  if (text[k] !== "=") return { ok: false, why: "no '=' in item", resume: skipStrayWords(text, k) };
  const label = text.slice(start, k);
  if (label.includes("'")) {
    return {
      ok: false,
      why: "unquoted label contains a quote; quote the label and double the quote",
      resume: nextWhitespace(text, k),
    };
  }
  return { ok: true, label, valueStart: k + 1 };
}

/** Parses the value field (number or U, plus unit); returns why it is invalid as a string. */
function parseValueField(field: string): { value: number | null; unit: string } | string {
  if (field === "") return "empty value";
  if (field.includes(",")) return "commas are invalid in values; use '.' for decimals";
  if (field === "U") return { value: null, unit: "" };
  const m = LEADING_NUMBER_RE.exec(field);
  if (m === null) return "value must be a number ([-0-9.]) or U";
  const rest = field.slice(m[0].length);
  if (/^[eE][+-]?\d/.test(rest)) return "scientific notation is not allowed";
  const unit = UOM_RE.exec(rest)?.[0] ?? "";
  const trailing = rest.slice(unit.length);
  if (trailing !== "") return `unexpected "${shown(trailing)}" after the value`;
  const n = parseNumber(m[0]);
  if (n === null) return "value is out of range";
  return { value: n, unit };
}

/** Parses one `label=...` item's text after the `=`; pushes field errors and returns the datum or why it failed. */
function parseItemFields(
  label: string,
  fieldsText: string,
  errors: string[],
): PerfDatum | string {
  if (label === "") return "empty label";
  const fields = fieldsText.split(";");
  if (fields.slice(5).some((f) => f !== "")) return "too many ';' fields (at most 5)";
  const parsed = parseValueField(fields[0] ?? "");
  if (typeof parsed === "string") return parsed;
  const datum: PerfDatum = {
    label,
    value: parsed.value,
    unit: parsed.unit,
    warn: null,
    crit: null,
    min: null,
    max: null,
  };
  const ranges = [["warn", fields[1]], ["crit", fields[2]]] as const;
  for (const [name, f] of ranges) {
    if (f === undefined || f === "") continue;
    try {
      datum[name] = parseRange(f);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      errors.push(`'${shown(label)}': ${name} ignored: ${why}`);
    }
  }
  const bounds = [["min", fields[3]], ["max", fields[4]]] as const;
  for (const [name, f] of bounds) {
    if (f === undefined || f === "") continue;
    const n = parseNumber(f);
    if (n === null) {
      errors.push(`'${shown(label)}': ${name} ignored: "${shown(f)}" is not a number`);
    } else datum[name] = n;
  }
  return datum;
}

/** Caps the error list at MAX_PERFDATA_ERRORS plus one summary line. */
function capErrors(errors: string[]): string[] {
  if (errors.length <= MAX_PERFDATA_ERRORS) return errors;
  const kept = errors.slice(0, MAX_PERFDATA_ERRORS);
  kept.push(`and ${errors.length - MAX_PERFDATA_ERRORS} more perfdata errors`);
  return kept;
}

/**
 * Parses whitespace-separated perfdata items; never throws, and a broken item (for example one cut
 * mid-quote) costs only itself: it becomes an entry in `errors` and parsing resumes after it.
 */
export function parsePerfdata(text: string): { items: PerfDatum[]; errors: string[] } {
  const items: PerfDatum[] = [];
  const errors: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (WS_RE.test(text[i] ?? "")) {
      i++;
      continue;
    }
    const start = i;
    const read = text[i] === "'" ? readQuotedLabel(text, i) : readPlainLabel(text, i);
    if (!read.ok) {
      errors.push(`"${shown(text.slice(start, read.resume))}": ${read.why}`);
      i = Math.max(read.resume, start + 1);
      continue;
    }
    const end = nextWhitespace(text, read.valueStart);
    const itemErrors: string[] = [];
    const result = parseItemFields(read.label, text.slice(read.valueStart, end), itemErrors);
    if (typeof result === "string") {
      errors.push(`"${shown(text.slice(start, end))}": ${result}`);
    } else {
      items.push(result);
      errors.push(...itemErrors);
    }
    i = Math.max(end, start + 1);
  }
  return { items, errors: capErrors(errors) };
}

/**
 * Splits plugin stdout per the Nagios 3 plugin API: line 1 is `TEXT | PERFDATA`, later lines are long
 * output up to the first later line with `|`, whose tail and all following lines are more perfdata;
 * the two perfdata parts are joined with a space; never throws.
 */
export function parsePluginOutput(stdout: string): PluginOutput {
  const lines = stdout.replace(/\r\n?/g, "\n").split("\n");
  const first = lines[0] ?? "";
  const bar = first.indexOf("|");
  const summary = (bar === -1 ? first : first.slice(0, bar)).trim();
  const perfParts: string[] = bar === -1 ? [] : [first.slice(bar + 1)];
  const long: string[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n] ?? "";
    const lineBar = line.indexOf("|");
    if (lineBar === -1) {
      long.push(line);
      continue;
    }
    long.push(line.slice(0, lineBar).trimEnd());
    perfParts.push([line.slice(lineBar + 1), ...lines.slice(n + 1)].join(" "));
    break;
  }
  while (long.length > 0 && (long[0] ?? "").trim() === "") long.shift();
  const { items, errors } = parsePerfdata(perfParts.join(" "));
  return { summary, longText: long.join("\n").trimEnd(), perfdata: items, perfdataErrors: errors };
}

/** Units the Choria nagios state schema accepts for perfdata. */
export const CHORIA_UNITS = ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"] as const;

/** The Choria wire form of perfdata: {unit,label,value}; unit limited to Choria's enum ["", "s","ms","us","%","B","KB","MB","TB","c"] — other units become "" ; items with value null are dropped (schema requires a number). */
export function choriaPerfdata(
  items: PerfDatum[],
): { unit: string; label: string; value: number }[] {
  const out: { unit: string; label: string; value: number }[] = [];
  for (const item of items) {
    if (item.value === null || !Number.isFinite(item.value)) continue;
    const unit = (CHORIA_UNITS as readonly string[]).includes(item.unit) ? item.unit : "";
    out.push({ unit, label: item.label, value: item.value });
  }
  return out;
}
