/**
 * The contract between the goss engine (spec, templates, matchers, validate, outputs) and the
 * resource checkers (one file per type under resources/): what a resource type declares and
 * how the engine asks it for actual values. Pure types; no I/O.
 * @module
 */

/** Attributes of one resource as written in the gossfile (after templating and parsing). */
export type Attrs = Record<string, unknown>;

/** Metadata of a path, as a resource checker needs it; null fields are unknown. */
export interface GossStat {
  /** "file", "directory", "symlink", "pipe", "socket", "character-device", "block-device". */
  filetype: string;
  /** Permission bits incl. setuid/setgid/sticky, e.g. 0o644. */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Owner uid and gid. */
  uid: number;
  /** Group id. */
  gid: number;
  /** Modification time, epoch ms. */
  mtimeMs: number;
}

/** Result of running a program for a goss resource. */
export interface GossRun {
  /** Exit code; null when it did not exit normally. */
  code: number | null;
  /** Captured stdout. */
  stdout: string;
  /** Captured stderr. */
  stderr: string;
  /** True when it was killed for taking too long. */
  timedOut: boolean;
}

/**
 * The ports resource checkers (and the `readFile` template function) use. Implemented for real
 * over Deno in src/runtime/goss_host.ts and by fakes in tests. The resource helper owns the
 * detailed shape and may add methods.
 */
export interface GossHost {
  /** Path metadata; `follow` false describes a symlink itself. null when the path does not exist. */
  stat(path: string, follow: boolean): Promise<GossStat | null>;
  /** Whole file contents. */
  readFile(path: string): Promise<Uint8Array>;
  /** Target of a symlink. */
  readLink(path: string): Promise<string>;
  /** Runs a program (argv[0] resolved on PATH), never through a shell unless argv says so. */
  run(argv: string[], options: { timeoutMs: number }): Promise<GossRun>;
  /** An environment variable of the agent (only those Scout may read). */
  env(name: string): string | undefined;
  /** The agent's working directory (relative paths in gossfiles are resolved against it). */
  cwd(): string;
  /** Canonical path: absolute, symlinks and `..` resolved; rejects when it does not exist. */
  realPath(path: string): Promise<string>;
  /** Names of the entries of a directory (not sorted); rejects when it cannot be read. */
  readDir(path: string): Promise<string[]>;
  /** Absolute path of a program found on the search path, or null when it is not there. */
  which(program: string): Promise<string | null>;
  /** Lowercase hex digest of a file's bytes (symlinks followed), read as a stream. */
  hashFile(path: string, algorithm: GossHashAlgorithm): Promise<string>;
  /** One HTTP request (no keep-alive); rejects on network, TLS and timeout errors. */
  fetch(request: GossHttpRequest): Promise<GossHttpResponse>;
  /**
   * DNS answers of one type, from `server` or else the system's resolv.conf (not /etc/hosts).
   * Resolves to [] when the name has no such records (NXDOMAIN, no data); rejects on timeouts
   * and server failures.
   */
  resolveDns(
    name: string,
    type: GossDnsType,
    options: { server?: { ip: string; port: number }; timeoutMs: number },
  ): Promise<GossDnsRecord[]>;
  /** Opens (and closes at once) a TCP connection: whether it connected, and why not. */
  dialTcp(options: GossDialOptions): Promise<GossDialResult>;
}

/** Digests the file resource reports. */
export type GossHashAlgorithm = "md5" | "sha256" | "sha512";

/** An HTTP request of the http resource. */
export interface GossHttpRequest {
  /** Absolute http: or https: URL. */
  url: string;
  /** Method, e.g. "GET". */
  method: string;
  /** Headers in order, repeated names allowed; a "Host" header sets the request's host. */
  headers: readonly (readonly [string, string])[];
  /** Request body (sent with any method). */
  body?: string;
  /** The whole request, body included, must finish within this. */
  timeoutMs: number;
  /** Follow 3xx redirects (up to 10); false reports the 3xx response itself. */
  followRedirects: boolean;
  /** Skip TLS certificate verification. */
  insecure: boolean;
  /** Extra root CA certificates (PEM), trusted besides the system's. */
  caCert?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  clientCert?: { cert: string; key: string };
  /** Proxy URL; absent: the environment's proxy settings. */
  proxy?: string;
}

/** The response of a GossHttpRequest. */
export interface GossHttpResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers as [lowercase name, value], one pair per value. */
  headers: [string, string][];
  /** Body decoded as UTF-8 (invalid bytes replaced), at most the host's cap. */
  body: string;
  /** True when the body was longer than the host's cap and was cut. */
  bodyTruncated: boolean;
}

/** Record types the dns resource can ask for. */
export type GossDnsType = "A" | "AAAA" | "CAA" | "CNAME" | "MX" | "NS" | "PTR" | "SRV" | "TXT";

/**
 * One DNS answer: a string (A, AAAA, CNAME, NS, PTR), the strings of one TXT record, or the
 * fields of an MX, SRV or CAA record.
 */
export type GossDnsRecord =
  | string
  | string[]
  | { preference: number; exchange: string }
  | { priority: number; weight: number; port: number; target: string }
  | { critical: boolean; tag: string; value: string };

/** Where a TCP probe connects to. */
export interface GossDialOptions {
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Give up after this. */
  timeoutMs: number;
  /** Source IP address to bind. @default any */
  localAddress?: string;
}

/** Outcome of a TCP probe. */
export type GossDialResult = { ok: true } | { ok: false; error: string };

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
