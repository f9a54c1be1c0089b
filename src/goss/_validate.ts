/**
 * The validate engine: runs every resource of a spec through its resource type with a bounded
 * number of workers, one test per set attribute, with goss's skip rules (`skip: true`, gates,
 * refused types for untrusted rules) and results in goss v0.4's json shape. Time comes from an
 * injected clock (epoch nanoseconds). Private to src/goss/.
 * @module
 */

import { ScoutError } from "../errors.ts";
import { sprintV } from "./_gofmt.ts";
import {
  ENGINE_RESOURCE_TYPES,
  matchingIsReader,
  matchingType,
  withEngineTypes,
} from "./_matching.ts";
import {
  buildMatcher,
  HavePatternsMatcher,
  type Matcher,
  type MatcherResult,
  toPlain,
} from "./_matchers.ts";
import {
  type GossMatcherResult,
  type GossResource,
  type GossResults,
  type GossSpec,
  type GossTestResult,
  RESULT,
  type ResultCode,
  seconds3,
} from "./_model.ts";
import { checkAttributes } from "./_spec.ts";
import { ATTRIBUTE_ALIASES, resultProperty } from "./resources/mod.ts";
import type { Attrs, GossContext, GossHost, GossResourceType, GossSystem } from "./types.ts";

/** Default of `--max-concurrent`. */
export const DEFAULT_MAX_CONCURRENT = 50;

export { ENGINE_RESOURCE_TYPES };

/** Options of validate. */
export interface ValidateOptions {
  /** Resource types (the engine adds `matching`). */
  resources: readonly GossResourceType[];
  /** System access for the resource checkers. */
  host: GossHost;
  /** Upper bound of resources checked at once. @default 50 */
  maxConcurrent?: number;
  /** CPUs for the worker count min(5 × cpus, maxConcurrent). @default navigator.hardwareConcurrency */
  cpus?: number;
  /** Paths resources must not read (the agent's state dir). @default [] */
  deniedPaths?: readonly string[];
  /** Rules from the network: resource types that run programs are refused. @default spec.untrusted */
  untrusted?: boolean;
  /**
   * How refused resources are reported: "fail" (each test fails with an error saying it was
   * refused, the default, so a refused check is never green) or "skip" (Choria's deny list).
   */
  untrustedPolicy?: "fail" | "skip";
  /** Wall clock in epoch nanoseconds. @default performance-based clock */
  now?: () => bigint;
  /** Minutes east of UTC for start/end times. @default the host's local offset */
  utcOffsetMinutes?: number;
}

/** The message of tests of a refused resource type. */
export function refusedMessage(type: GossResourceType): string {
  return `${type.type} resources are refused for untrusted rules (they run programs on the node)`;
}

function defaultNow(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

/** RFC3339 with nanoseconds as Go prints it (trailing zeros of the fraction dropped). */
export function formatRfc3339Nano(ns: bigint, offsetMinutes?: number): string {
  const ms = Number(ns / 1_000_000n);
  const off = offsetMinutes ?? -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + off * 60_000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(
    9,
    "0",
  ).replace(/0+$/, "");
  const zone = off === 0
    ? "Z"
    : `${off > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${
    pad(local.getUTCHours())
  }:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${frac ? "." + frac : ""}${zone}`;
}

function emptyMatcherResult(): GossMatcherResult {
  return {
    actual: null,
    message: "",
    expected: null,
    "missing-elements": null,
    "found-elements": null,
    "extra-elements": null,
    "transform-chain": null,
    "untransformed-value": null,
  };
}

function toMatcherResult(r: MatcherResult): GossMatcherResult {
  return {
    actual: toPlain(r.actual),
    message: r.message,
    expected: toPlain(r.expected),
    "missing-elements": r.missingElements === undefined ? null : toPlain(r.missingElements),
    "found-elements": r.foundElements === undefined ? null : toPlain(r.foundElements),
    "extra-elements": r.extraElements === undefined ? null : toPlain(r.extraElements),
    "transform-chain": r.transformChain && r.transformChain.length
      ? (toPlain(r.transformChain) as unknown[])
      : null,
    "untransformed-value": r.transformChain && r.transformChain.length
      ? toPlain(r.untransformedValue)
      : null,
  };
}

/** The id goss prints: the key, or "key: target" when the id attribute differs from it. */
export function resourceId(type: GossResourceType, key: string, attrs: Attrs): string {
  const v = type.idAttr ? attrs[type.idAttr] : undefined;
  if (v === undefined || v === null || v === "") return key;
  const s = sprintV(v);
  return s === key ? key : `${key}: ${s}`;
}

function attrValue(type: GossResourceType, attrs: Attrs, name: string): unknown {
  if (attrs[name] !== undefined) return attrs[name];
  const aliases = ATTRIBUTE_ALIASES[type.type] ?? {};
  for (const [old, cur] of Object.entries(aliases)) {
    if (cur === name && attrs[old] !== undefined) return attrs[old];
  }
  return undefined;
}

function isStream(type: GossResourceType, attrs: Attrs, name: string): boolean {
  if (type === matchingType) return name === "matches" && matchingIsReader(attrs);
  return type.streams?.includes(name) ?? false;
}

/** The attributes of a resource that produce tests, in order. */
export function testedAttributes(type: GossResourceType, attrs: Attrs): string[] {
  const required = new Set(type.required ?? []);
  return type.tested.filter((name) => {
    if (required.has(name)) return true;
    const v = attrValue(type, attrs, name);
    if (v === undefined || v === null) return false;
    // An empty list on a text stream asserts nothing and is not a test (goss's isSet).
    if (Array.isArray(v) && v.length === 0 && (type.streams?.includes(name) ?? false)) return false;
    return true;
  });
}

/** Number of tests a spec will produce with these resource types (the engine's own included). */
export function countTests(spec: GossSpec, types: readonly GossResourceType[]): number {
  const byType = new Map(withEngineTypes(types).map((t) => [t.type, t]));
  let n = 0;
  for (const r of spec.resources) {
    const t = byType.get(r.type);
    if (t) n += testedAttributes(t, r.attrs).length;
  }
  return n;
}

interface Clock {
  now: () => bigint;
  offset: number | undefined;
  /** Earliest start and latest end seen, for the total duration. */
  first: bigint | null;
  last: bigint | null;
}

async function runResource(
  r: GossResource,
  type: GossResourceType,
  ctx: GossContext,
  refused: "fail" | "skip" | null,
  clock: Clock,
  untrusted: boolean,
): Promise<GossTestResult[]> {
  const attrs = r.attrs;
  const id = resourceId(type, r.key, attrs);
  const title = typeof attrs.title === "string" ? attrs.title : "";
  const meta = attrs.meta && typeof attrs.meta === "object" && !Array.isArray(attrs.meta)
    ? attrs.meta as Record<string, unknown>
    : null;
  let skip = attrs.skip === true || refused === "skip";
  const target = type.idAttr && attrs[type.idAttr] !== undefined && attrs[type.idAttr] !== null &&
      attrs[type.idAttr] !== ""
    ? sprintV(attrs[type.idAttr])
    : r.key;
  let system: GossSystem | null = null;
  let systemError: string | null = null;
  const getSystem = (): GossSystem | null => {
    if (system || systemError) return system;
    try {
      system = type.system(target, attrs, ctx);
    } catch (e) {
      systemError = e instanceof Error ? e.message : String(e);
    }
    return system;
  };
  const out: GossTestResult[] = [];
  for (const name of testedAttributes(type, attrs)) {
    const property = resultProperty(type.type, name);
    const start = clock.now();
    const base = (
      result: ResultCode,
      err: string | null,
      mr: GossMatcherResult,
    ): GossTestResult => {
      const end = clock.now();
      if (clock.first === null || start < clock.first) clock.first = start;
      if (clock.last === null || end > clock.last) clock.last = end;
      return {
        successful: result !== RESULT.fail,
        skipped: result === RESULT.skip,
        "resource-id": id,
        "resource-type": type.resultType,
        property,
        title,
        meta,
        result,
        err,
        "matcher-result": mr,
        "start-time": formatRfc3339Nano(start, clock.offset),
        "end-time": formatRfc3339Nano(end, clock.offset),
        duration: Number(end - start),
      };
    };
    if (skip) {
      out.push(base(RESULT.skip, null, emptyMatcherResult()));
      continue;
    }
    if (refused === "fail") {
      out.push(base(RESULT.fail, refusedMessage(type), emptyMatcherResult()));
      continue;
    }
    const expected = attrValue(type, attrs, name);
    let matcher: Matcher | null = null;
    let err: string | null = null;
    const stream = isStream(type, attrs, name);
    try {
      matcher = stream && Array.isArray(expected)
        ? new HavePatternsMatcher(expected, untrusted)
        : buildMatcher(expected, { untrusted });
    } catch (e) {
      err = (e as Error).message;
    }
    let actual: unknown = null;
    if (err === null) {
      const sys = getSystem();
      if (!sys) err = systemError;
      else {
        try {
          actual = await sys.get(name);
          if (actual === undefined) actual = null;
        } catch (e) {
          err = e instanceof Error ? e.message : String(e);
        }
      }
    }
    let res: GossTestResult;
    if (err !== null || matcher === null) {
      res = base(RESULT.fail, err ?? "internal error", emptyMatcherResult());
    } else {
      let ok = false;
      let matchErr: string | null = null;
      try {
        ok = matcher.match(actual);
      } catch (e) {
        matchErr = (e as Error).message;
      }
      if (ok) {
        res = base(RESULT.pass, null, {
          ...emptyMatcherResult(),
          actual: toPlain(actual),
          message: "matches expectation",
          expected: toPlain(expected),
        });
      } else {
        let mr: GossMatcherResult;
        try {
          mr = toMatcherResult(matcher.failureResult(actual));
        } catch {
          mr = emptyMatcherResult();
        }
        res = base(RESULT.fail, matchErr, mr);
      }
    }
    out.push(res);
    if (name === type.gate) {
      if (
        res.err !== null || res.result === RESULT.fail || res["matcher-result"].actual === false
      ) skip = true;
    }
  }
  return out;
}

/**
 * Validates a loaded spec. Throws ScoutError CONFIG_INVALID for an invalid attribute or a spec
 * without tests (goss exits 78); every other problem is a failed test.
 */
export async function validate(spec: GossSpec, options: ValidateOptions): Promise<GossResults> {
  const types = withEngineTypes(options.resources);
  const warnings: string[] = [];
  const resources = checkAttributes(spec.resources, types, warnings);
  const byType = new Map(types.map((t) => [t.type, t]));
  const total = resources.reduce(
    (n, r) => n + testedAttributes(byType.get(r.type)!, r.attrs).length,
    0,
  );
  if (total === 0) {
    throw new ScoutError("CONFIG_INVALID", `found 0 tests, source: ${spec.source}`, {
      hint: "add at least one resource with a tested attribute to the gossfile",
      context: { file: spec.source },
    });
  }
  const untrusted = options.untrusted ?? spec.untrusted;
  const policy = options.untrustedPolicy ?? "fail";
  const ctx: GossContext = { host: options.host, deniedPaths: options.deniedPaths ?? [] };
  const clock: Clock = {
    now: options.now ?? defaultNow,
    offset: options.utcOffsetMinutes,
    first: null,
    last: null,
  };
  const cpus = options.cpus ??
    (typeof navigator !== "undefined" ? navigator.hardwareConcurrency : 1) ?? 1;
  const workers = Math.max(
    1,
    Math.min(5 * Math.max(1, cpus), options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT),
  );
  const groups: GossTestResult[][] = [];
  let next = 0;
  const worker = async () => {
    while (next < resources.length) {
      const r = resources[next++]!;
      const type = byType.get(r.type)!;
      const refused = untrusted && type.runsCommands ? policy : null;
      groups.push(await runResource(r, type, ctx, refused, clock, untrusted));
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, resources.length) }, worker));
  const results = groups.flat();
  const totalNs = clock.first === null || clock.last === null
    ? 0
    : Number(clock.last - clock.first);
  return { results, summary: summarize(results, totalNs) };
}

/** The summary of a list of results that took `totalNs` (last end − first start). */
export function summarize(
  results: readonly GossTestResult[],
  totalNs: number,
): GossResults["summary"] {
  let failed = 0;
  let skipped = 0;
  for (const r of results) {
    if (r.result === RESULT.fail) failed++;
    if (r.result === RESULT.skip) skipped++;
  }
  return {
    "test-count": results.length,
    "failed-count": failed,
    "skipped-count": skipped,
    "total-duration": totalNs,
    "summary-line": `Count: ${results.length}, Failed: ${failed}, Skipped: ${skipped}, Duration: ${
      seconds3(totalNs)
    }s`,
  };
}
