/**
 * The engine's data: a loaded gossfile (GossSpec) and the results of a run in goss v0.4's json
 * shape (GossTestResult, GossSummary, GossResults). Pure types and constants; private to
 * src/goss/ and re-exported by mod.ts.
 * @module
 */

import type { Attrs } from "./types.ts";

/** One resource of a loaded gossfile. */
export interface GossResource {
  /** Resource type key as in the gossfile ("file", "matching", ...). */
  type: string;
  /** The resource key (default target). */
  key: string;
  /** Its attributes after templating, parsing and include merging. */
  attrs: Attrs;
  /** File that defined it (the last one, when an include overrode it). */
  file: string;
  /** 1-based line of the key in that file (after templating); 0 when unknown. */
  line: number;
  /** 1-based line of each attribute, when known. */
  attrLines?: Record<string, number>;
}

/** A gossfile with its includes loaded, templated and merged. */
export interface GossSpec {
  /** The path given to loadGossfile. */
  source: string;
  /** Resources in a stable order (type, then key). */
  resources: GossResource[];
  /** Things goss would warn about on stderr (unknown types, overrides, `[]` lists...). */
  warnings: string[];
  /** True when the rules came from the network (command resources refused, no includes/readFile). */
  untrusted: boolean;
}

/** Result codes of a test (goss's SUCCESS, FAIL, SKIP). */
export const RESULT = { pass: 0, fail: 1, skip: 2 } as const;

/** A result code. */
export type ResultCode = (typeof RESULT)[keyof typeof RESULT];

/** The matcher part of a result, with goss's JSON keys (null when not applicable). */
export interface GossMatcherResult {
  /** Value tested (after transforms). */
  actual: unknown;
  /** "matches expectation", "to equal", ... ("" for errors and skips). */
  message: string;
  /** The expectation as written (passes) or as the failing matcher reports it. */
  expected: unknown;
  /** Expected elements nothing matched. */
  "missing-elements": unknown;
  /** Patterns/elements that were found. */
  "found-elements": unknown;
  /** Actual elements nothing claimed. */
  "extra-elements": unknown;
  /** Transforms applied, e.g. [{"to-numeric":{}}]. */
  "transform-chain": unknown[] | null;
  /** Value before the transforms. */
  "untransformed-value": unknown;
}

/** One test result, in goss v0.4's json field names. */
export interface GossTestResult {
  /** True unless the test failed (skips count as successful). */
  successful: boolean;
  /** True only for skips. */
  skipped: boolean;
  /** Resource id: the key, or "key: target" when an id attribute overrides it. */
  "resource-id": string;
  /** Go type name: File, Command, Matching... */
  "resource-type": string;
  /** Tested property. */
  property: string;
  /** The resource's title ("" when none). */
  title: string;
  /** The resource's meta (null when none). */
  meta: Record<string, unknown> | null;
  /** 0 pass, 1 fail, 2 skip. */
  result: ResultCode;
  /** Error text, or null. */
  err: string | null;
  /** What the matcher found. */
  "matcher-result": GossMatcherResult;
  /** Start, RFC3339 with nanoseconds and the local offset. */
  "start-time": string;
  /** End, same format. */
  "end-time": string;
  /** Duration in nanoseconds. */
  duration: number;
}

/** Counts and timing of a run. */
export interface GossSummary {
  /** Number of tests. */
  "test-count": number;
  /** Failed tests. */
  "failed-count": number;
  /** Skipped tests. */
  "skipped-count": number;
  /** Last end minus first start, nanoseconds. */
  "total-duration": number;
  /** "Count: N, Failed: F, Skipped: S, Duration: 0.123s". */
  "summary-line": string;
}

/** The results of a run: tests grouped by resource (a group's tests are contiguous) plus the summary. */
export interface GossResults {
  /** Every test, resource by resource, in completion order. */
  results: GossTestResult[];
  /** Counts and duration. */
  summary: GossSummary;
}

/** Go's time.Duration.Seconds() printed with %.3f. */
export function seconds3(ns: number): string {
  return (ns / 1e9).toFixed(3);
}
