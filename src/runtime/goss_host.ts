/**
 * GossHost over Deno: the system access of the goss resource checkers (file metadata and
 * contents, programs, HTTP, DNS, TCP probes). Works under the agent's permission set: nothing
 * here reads /proc or /sys, which Deno refuses without --allow-all (deno-environment.md §4);
 * what lives there is asked of programs (ps, ss, sysctl, findmnt, ip) by the resources.
 *
 * The types below are the GossHost port itself: src/goss/types.ts re-exports them under goss
 * names (layer 2 may import layer 0, not the other way round).
 * @module
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { createDenoRunner, type ProcessRunner } from "./process.ts";

/** Path metadata. */
export interface HostStat {
  /** "file", "directory", "symlink", "pipe", "socket", "character-device", "block-device". */
  filetype: string;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Owner uid. */
  uid: number;
  /** Group id. */
  gid: number;
  /** Modification time, epoch ms. */
  mtimeMs: number;
}

/** Outcome of a program run. */
export interface HostRun {
  /** Exit code; null when killed. */
  code: number | null;
  /** Captured stdout. */
  stdout: string;
  /** Captured stderr. */
  stderr: string;
  /** Killed for taking too long. */
  timedOut: boolean;
}

/** Digest algorithms of hashFile. */
export type HostHashAlgorithm = "md5" | "sha256" | "sha512";

/** An HTTP request. */
export interface HostHttpRequest {
  /** Absolute http: or https: URL. */
  url: string;
  /** Method. */
  method: string;
  /** Headers in order; a "Host" header sets the request's host. */
  headers: readonly (readonly [string, string])[];
  /** Request body. */
  body?: string;
  /** Deadline of the whole request, body included. */
  timeoutMs: number;
  /** Follow redirects (up to 10). */
  followRedirects: boolean;
  /** Skip TLS verification. */
  insecure: boolean;
  /** Extra root CA (PEM). */
  caCert?: string;
  /** Client certificate and key (PEM). */
  clientCert?: { cert: string; key: string };
  /** Proxy URL. */
  proxy?: string;
}

/** An HTTP response. */
export interface HostHttpResponse {
  /** Status code. */
  status: number;
  /** [lowercase name, value] pairs, one per value. */
  headers: [string, string][];
  /** Body as UTF-8 text, at most maxBodyBytes. */
  body: string;
  /** The body was cut at maxBodyBytes. */
  bodyTruncated: boolean;
}

/** DNS record types resolveDns answers. */
export type HostDnsType = "A" | "AAAA" | "CAA" | "CNAME" | "MX" | "NS" | "PTR" | "SRV" | "TXT";

/** One DNS answer as Deno.resolveDns gives it. */
export type HostDnsRecord =
  | string
  | string[]
  | { preference: number; exchange: string }
  | { priority: number; weight: number; port: number; target: string }
  | { critical: boolean; tag: string; value: string };

/** A TCP probe. */
export interface HostDialOptions {
  /** Host name or IP (IPv6 without brackets). */
  hostname: string;
  /** Port. */
  port: number;
  /** Give up after this. */
  timeoutMs: number;
  /** Source address to bind. */
  localAddress?: string;
}

/** Outcome of a TCP probe. */
export type HostDialResult = { ok: true } | { ok: false; error: string };

/** The system access goss resources need, over Deno (structurally a GossHost). */
export interface DenoGossHost {
  /** lstat (follow false) or stat; null when the path does not exist. */
  stat(path: string, follow: boolean): Promise<HostStat | null>;
  /** Whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Symlink target. */
  readLink(path: string): Promise<string>;
  /** Runs argv (argv[0] looked up on the search path); rejects when it cannot start. */
  run(argv: string[], options: { timeoutMs: number }): Promise<HostRun>;
  /** An allowed environment variable. */
  env(name: string): string | undefined;
  /** Working directory. */
  cwd(): string;
  /** Canonical path. */
  realPath(path: string): Promise<string>;
  /** Entry names of a directory. */
  readDir(path: string): Promise<string[]>;
  /** Absolute path of a program on the search path, or null. */
  which(program: string): Promise<string | null>;
  /** Hex digest of a file, streamed. */
  hashFile(path: string, algorithm: HostHashAlgorithm): Promise<string>;
  /** One HTTP request. */
  fetch(request: HostHttpRequest): Promise<HostHttpResponse>;
  /** DNS answers; [] for NXDOMAIN / no data; rejects on timeouts and failures. */
  resolveDns(
    name: string,
    type: HostDnsType,
    options: { server?: { ip: string; port: number }; timeoutMs: number },
  ): Promise<HostDnsRecord[]>;
  /** A TCP connect probe. */
  dialTcp(options: HostDialOptions): Promise<HostDialResult>;
}

/** Options of createDenoGossHost; every field has a default. */
export interface DenoGossHostOptions {
  /** Runs the programs. @default createDenoRunner() */
  runner?: ProcessRunner;
  /**
   * Environment variables env() may return (templates' `.Env`); others read as undefined, as
   * do those Deno's --allow-env refuses. @default ["HOME", "HOSTNAME", "LANG", "PATH", "USER"]
   */
  envAllow?: readonly string[];
  /**
   * Directories a bare program name is looked up in, in order. @default the agent's PATH
   * followed by the usual system directories (sbin included, where sysctl and ip live)
   */
  searchDirs?: readonly string[];
  /**
   * The whole environment of every program run (nothing else is inherited).
   * @default { PATH: searchDirs joined by ":", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" }
   */
  childEnv?: Record<string, string>;
  /** Bytes of stdout (and, separately, stderr) kept per run. @default 4 MiB */
  maxOutputBytes?: number;
  /** Bytes of an HTTP response body kept; the rest is not read. @default 16 MiB */
  maxBodyBytes?: number;
}

/** Directories searched after the agent's PATH. */
const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const DEFAULT_ENV_ALLOW = ["HOME", "HOSTNAME", "LANG", "PATH", "USER"];
/** Redirects followed before giving up, as Go's http.Client does. */
const MAX_REDIRECTS = 10;

const decoder = new TextDecoder("utf-8", { fatal: false });

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // NotCapable: --allow-env does not list it
  }
}

function defaultSearchDirs(): string[] {
  const fromPath = (readEnv("PATH") ?? "").split(":").filter((d) => d.startsWith("/"));
  return [...new Set([...fromPath, ...SYSTEM_DIRS])];
}

function filetypeOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "directory";
  if (info.isFile) return "file";
  if (info.isFifo) return "pipe";
  if (info.isSocket) return "socket";
  if (info.isCharDevice) return "character-device";
  if (info.isBlockDevice) return "block-device";
  return "unknown";
}

function toStat(info: Deno.FileInfo): HostStat {
  return {
    filetype: filetypeOf(info),
    mode: (info.mode ?? 0) & 0o7777,
    size: info.size,
    uid: info.uid ?? -1,
    gid: info.gid ?? -1,
    mtimeMs: info.mtime?.getTime() ?? 0,
  };
}

function missing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A promise that resolves after ms, and a way to stop its timer. */
function timer(ms: number): { done: Promise<void>; cancel: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((resolve) => {
    id = setTimeout(resolve, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
  });
  return { done, cancel: () => clearTimeout(id) };
}

/** Reads a byte stream up to `max` bytes; cancels the rest. */
async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<{ text: string; truncated: boolean }> {
  if (stream === null) return { text: "", truncated: false };
  const chunks: Uint8Array[] = [];
  let len = 0;
  let truncated = false;
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = max - len;
      if (value.length > room) {
        chunks.push(value.subarray(0, room));
        len += room;
        truncated = true;
        await reader.cancel();
        break;
      }
      chunks.push(value);
      len += value.length;
    }
  } finally {
    reader.releaseLock();
  }
  const all = new Uint8Array(len);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return { text: decoder.decode(all), truncated };
}

/** Whether an error (or its cause) is an abort by a timeout signal (fetch's or node's shape). */
function isTimeout(e: unknown): boolean {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur.name === "TimeoutError" || cur.name === "AbortError") return true;
  }
  return false;
}

/** The request through fetch (system roots, proxies, mTLS via Deno.createHttpClient). */
async function viaFetch(req: HostHttpRequest, maxBody: number): Promise<HostHttpResponse> {
  const hasHost = req.headers.some(([n]) => n.toLowerCase() === "host");
  const client = Deno.createHttpClient({
    poolMaxIdlePerHost: 0,
    allowHost: hasHost,
    ...(req.caCert === undefined ? {} : { caCerts: [req.caCert] }),
    ...(req.clientCert === undefined ? {} : req.clientCert),
    ...(req.proxy === undefined ? {} : { proxy: { url: req.proxy } }),
  });
  const headers = new Headers();
  for (const [n, v] of req.headers) headers.append(n, v);
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers,
      client,
      redirect: req.followRedirects ? "follow" : "manual",
      signal: AbortSignal.timeout(req.timeoutMs),
      ...(req.body === undefined || req.body === "" ? {} : { body: req.body }),
    });
    const pairs: [string, string][] = [];
    for (const [n, v] of res.headers) {
      if (n === "set-cookie") continue;
      pairs.push([n, v]);
    }
    for (const c of res.headers.getSetCookie()) pairs.push(["set-cookie", c]);
    const { text, truncated } = await readCapped(res.body, maxBody);
    return { status: res.status, headers: pairs, body: text, bodyTruncated: truncated };
  } finally {
    client.close();
  }
}

/**
 * One request through node:http(s), for what fetch cannot do: skip TLS verification
 * (allow-insecure) and send a body with GET or HEAD.
 */
function nodeRequest(
  url: URL,
  req: HostHttpRequest,
  method: string,
  body: string | undefined,
  deadline: AbortSignal,
  maxBody: number,
): Promise<HostHttpResponse & { location: string | undefined }> {
  const headers: Record<string, string | string[]> = {};
  for (const [n, v] of req.headers) {
    const prev = headers[n];
    headers[n] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  if (
    body !== undefined && body !== "" &&
    !Object.keys(headers).some((n) => n.toLowerCase() === "content-length")
  ) {
    // node sends a GET body without framing unless told its length (Go sets it too).
    headers["Content-Length"] = String(new TextEncoder().encode(body).length);
  }
  const options: https.RequestOptions = {
    method,
    headers,
    agent: false,
    signal: deadline,
    // `ca` given (even empty) spares node:tls from loading the system roots, which needs
    // --allow-sys=ca; nothing is verified anyway.
    rejectUnauthorized: false,
    ca: req.caCert === undefined ? [] : [req.caCert],
    ...(req.clientCert === undefined ? {} : req.clientCert),
  };
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const r = mod.request(url, options, (res) => {
      const chunks: Uint8Array[] = [];
      let len = 0;
      let truncated = false;
      let finished = false;
      res.on("data", (chunk: Uint8Array) => {
        if (truncated) return;
        const room = maxBody - len;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          len += room;
          truncated = true;
          res.destroy();
          finish();
          return;
        }
        chunks.push(chunk);
        len += chunk.length;
      });
      function finish(): void {
        if (finished) return;
        finished = true;
        const all = new Uint8Array(len);
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        const pairs: [string, string][] = [];
        const raw = res.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
        }
        const loc = res.headers.location;
        resolve({
          status: res.statusCode ?? 0,
          headers: pairs,
          body: decoder.decode(all),
          bodyTruncated: truncated,
          location: typeof loc === "string" ? loc : undefined,
        });
      }
      res.on("end", finish);
      res.on("error", (e: Error) => (finished ? undefined : reject(e)));
    });
    r.on("error", reject);
    if (body !== undefined && body !== "") r.write(body);
    r.end();
  });
}

async function viaNode(req: HostHttpRequest, maxBody: number): Promise<HostHttpResponse> {
  if (req.proxy !== undefined) {
    throw new Error("a proxy cannot be used with allow-insecure or with a body on GET/HEAD");
  }
  const deadline = AbortSignal.timeout(req.timeoutMs);
  let url = new URL(req.url);
  let method = req.method;
  let body = req.body;
  for (let hop = 0;; hop++) {
    const res = await nodeRequest(url, req, method, body, deadline, maxBody);
    const redirect = [301, 302, 303, 307, 308].includes(res.status) && res.location !== undefined;
    if (!req.followRedirects || !redirect) {
      const { location: _, ...out } = res;
      return out;
    }
    if (hop + 1 >= MAX_REDIRECTS) throw new Error(`stopped after ${MAX_REDIRECTS} redirects`);
    url = new URL(res.location!, url);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method !== "HEAD")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      body = undefined;
    }
  }
}

function dialWithNode(o: HostDialOptions): Promise<HostDialResult> {
  return new Promise((resolve) => {
    let settled = false;
    const t = timer(o.timeoutMs);
    const done = (r: HostDialResult) => {
      if (settled) return;
      settled = true;
      t.cancel();
      socket.destroy();
      resolve(r);
    };
    const socket = net.connect({
      host: o.hostname,
      port: o.port,
      ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
    });
    socket.on("connect", () => done({ ok: true }));
    socket.on("error", (e: Error) => done({ ok: false, error: e.message }));
    t.done.then(() => done({ ok: false, error: `timed out after ${o.timeoutMs} ms` }));
  });
}

async function dialWithDeno(o: HostDialOptions): Promise<HostDialResult> {
  const t = timer(o.timeoutMs);
  const attempt = Deno.connect({ hostname: o.hostname, port: o.port });
  try {
    const won = await Promise.race([attempt, t.done.then(() => null)]);
    if (won === null) {
      attempt.then((c) => c.close(), () => {});
      return { ok: false, error: `timed out after ${o.timeoutMs} ms` };
    }
    won.close();
    return { ok: true };
  } catch (e) {
    return { ok: false, error: message(e) };
  } finally {
    t.cancel();
  }
}

/**
 * Builds the real GossHost. `run` resolves argv[0] on the search directories and runs it
 * through the ProcessRunner (own process group, killed on timeout, a minimal environment);
 * a program that cannot be found or started is a rejection. HTTP goes through fetch, except
 * `insecure` requests, which go through node:https (fetch has no per-request switch).
 */
export function createDenoGossHost(options: DenoGossHostOptions = {}): DenoGossHost {
  const runner = options.runner ?? createDenoRunner();
  const envAllow = new Set(options.envAllow ?? DEFAULT_ENV_ALLOW);
  const searchDirs = [...(options.searchDirs ?? defaultSearchDirs())];
  const childEnv = options.childEnv ??
    { PATH: searchDirs.join(":"), LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };
  const maxOutputBytes = options.maxOutputBytes ?? 4 * 1024 * 1024;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;

  async function executable(path: string): Promise<boolean> {
    try {
      const info = await Deno.stat(path);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  }

  async function which(program: string): Promise<string | null> {
    if (program === "") return null;
    if (program.includes("/")) {
      const abs = program.startsWith("/") ? program : `${Deno.cwd()}/${program}`;
      return (await executable(abs)) ? abs : null;
    }
    for (const dir of searchDirs) {
      const path = `${dir.replace(/\/+$/, "")}/${program}`;
      if (await executable(path)) return path;
    }
    return null;
  }

  return {
    async stat(path: string, follow: boolean): Promise<HostStat | null> {
      try {
        return toStat(follow ? await Deno.stat(path) : await Deno.lstat(path));
      } catch (e) {
        if (missing(e)) return null;
        throw e;
      }
    },
    readFile: (path) => Deno.readFile(path),
    readLink: (path) => Deno.readLink(path),
    async run(argv: string[], opts: { timeoutMs: number }): Promise<HostRun> {
      const [program, ...args] = argv;
      if (program === undefined) throw new Error("nothing to run (empty argv)");
      const cmd = await which(program);
      if (cmd === null) {
        throw new Error(`Cannot run "${program}": not found in ${searchDirs.join(":")}`);
      }
      const r = await runner.run({
        cmd,
        args,
        env: childEnv,
        timeoutMs: opts.timeoutMs,
        maxOutputBytes,
      });
      switch (r.kind) {
        case "exited":
          return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: false };
        case "signaled":
          return { code: null, stdout: r.stdout, stderr: r.stderr, timedOut: false };
        case "timeout":
        case "aborted":
          return { code: null, stdout: r.stdout, stderr: r.stderr, timedOut: true };
        case "spawn_error":
          throw new Error(r.message);
      }
    },
    env(name: string): string | undefined {
      return envAllow.has(name) ? readEnv(name) : undefined;
    },
    cwd: () => Deno.cwd(),
    realPath: (path) => Deno.realPath(path),
    async readDir(path: string): Promise<string[]> {
      const names: string[] = [];
      for await (const e of Deno.readDir(path)) names.push(e.name);
      return names;
    },
    which,
    async hashFile(path: string, algorithm: HostHashAlgorithm): Promise<string> {
      const hash = createHash(algorithm);
      using file = await Deno.open(path, { read: true });
      for await (const chunk of file.readable) hash.update(chunk);
      return hash.digest("hex");
    },
    async fetch(req: HostHttpRequest): Promise<HostHttpResponse> {
      const url = new URL(req.url);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new Error(`unsupported URL scheme "${url.protocol}" (only http: and https:)`);
      }
      // fetch refuses a body on GET/HEAD (goss sends one with any method): node:http can.
      const bodyOnGet = req.body !== undefined && req.body !== "" &&
        (req.method === "GET" || req.method === "HEAD");
      if (bodyOnGet && url.protocol === "https:" && !req.insecure) {
        throw new Error(
          `${req.method} ${req.url}: a request-body with ${req.method} over verified https is not supported (fetch refuses it); use another method or allow-insecure`,
        );
      }
      try {
        return (req.insecure && url.protocol === "https:") || bodyOnGet
          ? await viaNode(req, maxBodyBytes)
          : await viaFetch(req, maxBodyBytes);
      } catch (e) {
        if (isTimeout(e)) {
          throw new Error(`${req.method} ${req.url}: timed out after ${req.timeoutMs} ms`);
        }
        const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
        throw new Error(`${req.method} ${req.url}: ${message(e)}${cause}`);
      }
    },
    async resolveDns(
      name: string,
      type: HostDnsType,
      opts: { server?: { ip: string; port: number }; timeoutMs: number },
    ): Promise<HostDnsRecord[]> {
      const signal = AbortSignal.timeout(opts.timeoutMs);
      const dnsOptions: Deno.ResolveDnsOptions = {
        signal,
        ...(opts.server === undefined
          ? {}
          : { nameServer: { ipAddr: opts.server.ip, port: opts.server.port } }),
      };
      try {
        // One call per overload keeps the record types precise.
        switch (type) {
          case "MX":
            return await Deno.resolveDns(name, type, dnsOptions);
          case "SRV":
            return await Deno.resolveDns(name, type, dnsOptions);
          case "CAA":
            return await Deno.resolveDns(name, type, dnsOptions);
          case "TXT":
            return await Deno.resolveDns(name, type, dnsOptions);
          default:
            return await Deno.resolveDns(name, type, dnsOptions);
        }
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return [];
        if (signal.aborted || isTimeout(e)) {
          throw new Error(`DNS lookup timed out (${opts.timeoutMs} ms)`);
        }
        throw new Error(`DNS lookup of ${type} ${name} failed: ${message(e)}`);
      }
    },
    dialTcp(o: HostDialOptions): Promise<HostDialResult> {
      return o.localAddress === undefined ? dialWithDeno(o) : dialWithNode(o);
    },
  };
}
