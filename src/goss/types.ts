/**
 * The contract between the goss engine (spec, templates, matchers, validate, outputs) and the
 * resource checkers (one file per type under resources/): what a resource type declares and
 * how the engine asks it for actual values. Pure types; no I/O.
 * @module
 */

/** Attributes of one resource as written in the gossfile (after templating and parsing). */
export type Attrs = Record<string, unknown>;

/**
 * The system access of resource checkers (and the `readFile` template function) is the runtime's
 * GossHost port: one definition, implemented for real in src/runtime/goss_host.ts and by fakes
 * in tests.
 */
export type {
  DenoGossHost as GossHost,
  HostDialOptions as GossDialOptions,
  HostDialResult as GossDialResult,
  HostDnsRecord as GossDnsRecord,
  HostDnsType as GossDnsType,
  HostHashAlgorithm as GossHashAlgorithm,
  HostHttpRequest as GossHttpRequest,
  HostHttpResponse as GossHttpResponse,
  HostRun as GossRun,
  HostStat as GossStat,
} from "../runtime/mod.ts";
import type { DenoGossHost as GossHost } from "../runtime/mod.ts";

/** What the engine gives a resource checker. */
export interface GossContext {
  /** System access. */
  host: GossHost;
  /** Untrusted rules (from the network): refuse reading paths under these directories. */
  deniedPaths: readonly string[];
}

/** Actual values of one resource, fetched lazily per property; a rejection is an error result. */
export interface GossSystem {
  /** The actual value of a tested property (for text streams: the whole text as a string). */
  get(property: string): Promise<unknown>;
}

/** One resource type: what goss calls it, which attributes it takes, and how to read the system. */
export interface GossResourceType {
  /** Key in the gossfile: "file", "kernel-param", "http", ... */
  readonly type: string;
  /** Name in results (goss's Go type name): "File", "KernelParam", "HTTP", ... */
  readonly resultType: string;
  /** Attribute that overrides the key as the target (file: "path", http: "url"...), if any. */
  readonly idAttr?: string;
  /** Tested attributes in the order goss reports them; the gate (if any) first. */
  readonly tested: readonly string[];
  /** Attributes that configure the check but are not tests (timeout, method, server...). */
  readonly options: readonly string[];
  /** Tested attributes that must be present (missing: a FAIL "Syntax Error: Missing required attribute"). */
  readonly required?: readonly string[];
  /** Tested attributes that are text streams (line patterns when a list is expected). */
  readonly streams?: readonly string[];
  /** The gate: when it fails, errors, or its actual is false, later attributes are skipped. */
  readonly gate?: string;
  /** Runs programs (refused for untrusted rules when the type is denied). */
  readonly runsCommands?: boolean;
  /** Reads the system for one resource. `target` is the id attribute's value, or the key. */
  system(target: string, attrs: Attrs, ctx: GossContext): GossSystem;
}
