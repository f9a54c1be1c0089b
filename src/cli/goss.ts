import { parseDuration } from "../config/mod.ts";
import { formatError, ScoutError } from "../errors.ts";
import {
  createPrometheusCounters,
  EXIT_LOAD_ERROR,
  FORMAT_OPTIONS,
  type GossHost,
  type GossResourceType,
  type GossResults,
  type GossSpec,
  isOutputFormat,
  loadGossfile,
  OUTPUT_FORMATS,
  type PrometheusCounters,
  renderOutput,
  RESOURCE_TYPES,
  validate,
} from "../goss/mod.ts";
import { createDenoGossHost } from "../runtime/mod.ts";
import { stringify } from "yaml";
import type { CliIo, Command } from "./_common.ts";
import { parseArgs } from "node:util";

const HELP = `scout goss: run standard gossfiles (goss-compatible flags, formats and exit codes)

Usage:
  scout goss validate [-g FILE] [--vars FILE]... [--vars-inline YAML] [-f FORMAT] [-o OPTION]...
                      [--max-concurrent N] [-r DURATION [-s DURATION]]
  scout goss serve    [-g FILE] [-l ADDR] [-e PATH] [-c DURATION] [-f FORMAT] [-o OPTION]...
  scout goss render   [-g FILE] [--vars FILE]... [--vars-inline YAML]

Flags:
  -g, --gossfile FILE      gossfile (YAML or JSON; "-" reads stdin) [$GOSS_FILE] (default ./goss.yaml)
      --vars FILE          vars file, YAML or JSON; repeatable, later files win [$GOSS_VARS]
      --vars-inline YAML   inline vars; their top-level keys replace the files' [$GOSS_VARS_INLINE]
  -f, --format FORMAT      ${OUTPUT_FORMATS.join(", ")} [$GOSS_FMT] (default rspecish)
  -o, --format-options O   sort, pretty, perfdata, verbose, exclude_raw; repeatable
      --max-concurrent N   resources checked at once (default 50; workers = min(5 x CPUs, N))
  -r, --retry-timeout D    validate: retry until passing or D has elapsed (exit 3), e.g. 30s
  -s, --sleep D            validate: pause between retries (default 1s)
  -l, --listen-addr ADDR   serve: address (default 127.0.0.1:8080, not goss's :8080) [$GOSS_LISTEN]
  -e, --endpoint PATH      serve: health endpoint (default /healthz) [$GOSS_ENDPOINT]
  -c, --cache D            serve: how long results are reused (default 5s) [$GOSS_CACHE]

Exit codes are goss's: 0 all passed (or skipped), 1 failures (2 with -f nagios; structured
always 0), 3 retry timeout, 78 the gossfile, vars, a template or an include could not be loaded.`;

const FLAGS = {
  gossfile: { type: "string", short: "g" },
  vars: { type: "string", multiple: true },
  "vars-inline": { type: "string" },
  format: { type: "string", short: "f" },
  "format-options": { type: "string", short: "o", multiple: true },
  "max-concurrent": { type: "string" },
  "retry-timeout": { type: "string", short: "r" },
  sleep: { type: "string", short: "s" },
  "listen-addr": { type: "string", short: "l" },
  endpoint: { type: "string", short: "e" },
  cache: { type: "string", short: "c" },
  color: { type: "boolean" },
  "no-color": { type: "boolean" },
} as const;

/** What the goss command needs from outside; tests replace any of it. */
export interface GossCommandDeps {
  /** Resource types (the engine adds `matching`). @default RESOURCE_TYPES */
  resources?: readonly GossResourceType[];
  /** System access; `.Env` reads the CLI's environment. @default createDenoGossHost() */
  host?: (io: CliIo) => GossHost | Promise<GossHost>;
  /** Wall clock for results, epoch nanoseconds. @default the engine's clock */
  now?: () => bigint;
  /** Milliseconds clock for the serve cache and retries. @default Date.now */
  clockMs?: () => number;
  /** Pause between retries. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** Stops `serve` when aborted. @default SIGINT / SIGTERM */
  signal?: AbortSignal;
  /** Called once serve listens (tests learn the port). */
  onListen?: (addr: { hostname: string; port: number }) => void;
  /** Reads stdin for `-g -`. @default Deno.stdin */
  readStdin?: () => Promise<string>;
}

interface Parsed {
  sub: string;
  gossfile: string;
  vars: string[];
  varsInline: string | undefined;
  format: string;
  formatOptions: string[];
  maxConcurrent: number;
  values: Record<string, unknown>;
}

function usage(message: string): ScoutError {
  return new ScoutError("USAGE", message, { hint: "see `scout goss --help`" });
}

function parse(args: string[], io: CliIo): Parsed {
  let r;
  try {
    r = parseArgs({ args, options: FLAGS, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage((e as Error).message.replace(/\. To specify.*$/, ""));
  }
  const { values, positionals } = r;
  const sub = positionals[0];
  if (!sub) throw usage("missing subcommand: validate, serve or render");
  if (!["validate", "serve", "render"].includes(sub)) throw usage(`unknown subcommand "${sub}"`);
  if (positionals.length > 1) throw usage(`unexpected argument "${positionals[1]}"`);
  const env = (n: string) => safeEnv(io, n);
  const format = values.format ?? env("GOSS_FMT") ?? "rspecish";
  if (!isOutputFormat(format)) throw usage(`bad output format: ${format}`);
  for (const o of values["format-options"] ?? []) {
    if (!(FORMAT_OPTIONS as readonly string[]).includes(o)) {
      throw usage(`bad format option: ${o} (valid: ${FORMAT_OPTIONS.join(", ")})`);
    }
  }
  const mc = values["max-concurrent"] ?? "50";
  if (!/^[1-9][0-9]*$/.test(mc)) {
    throw usage(`--max-concurrent must be a positive integer, got "${mc}"`);
  }
  if (sub !== "serve") {
    for (const f of ["listen-addr", "endpoint", "cache"] as const) {
      if (values[f] !== undefined) throw usage(`--${f} is a flag of \`scout goss serve\``);
    }
  }
  if (sub !== "validate") {
    for (const f of ["retry-timeout", "sleep"] as const) {
      if (values[f] !== undefined) throw usage(`--${f} is a flag of \`scout goss validate\``);
    }
  }
  const envVars = env("GOSS_VARS");
  return {
    sub,
    gossfile: values.gossfile ?? env("GOSS_FILE") ?? "./goss.yaml",
    vars: values.vars ?? (envVars ? [envVars] : []),
    varsInline: values["vars-inline"] ?? env("GOSS_VARS_INLINE"),
    format,
    formatOptions: values["format-options"] ?? [],
    maxConcurrent: Number(mc),
    values,
  };
}

/** An environment lookup that treats a refused variable (Deno permissions) as unset. */
function safeEnv(io: CliIo, name: string): string | undefined {
  try {
    return io.env(name);
  } catch {
    return undefined;
  }
}

async function defaultHost(io: CliIo): Promise<GossHost> {
  const base = await createDenoGossHost();
  // Templates' .Env sees the environment of `scout goss` itself, as goss's does.
  return Object.assign(Object.create(base) as GossHost, { env: (n: string) => safeEnv(io, n) });
}

async function readAllStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

async function load(
  p: Parsed,
  host: GossHost,
  deps: GossCommandDeps,
  io: CliIo,
): Promise<GossSpec> {
  const text = p.gossfile === "-" ? await (deps.readStdin ?? readAllStdin)() : undefined;
  const spec = await loadGossfile(p.gossfile === "-" ? "STDIN" : p.gossfile, {
    host,
    vars: p.vars,
    ...(p.varsInline !== undefined ? { varsInline: p.varsInline } : {}),
    resources: deps.resources ?? RESOURCE_TYPES,
    ...(text !== undefined ? { text } : {}),
  });
  for (const w of spec.warnings) io.err(`WARNING: ${w}\n`);
  return spec;
}

function durationFlag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value);
  } catch (e) {
    throw usage(`--${name}: ${(e as Error).message}`);
  }
}

async function runValidate(p: Parsed, deps: GossCommandDeps, io: CliIo): Promise<number> {
  const retryMs = durationFlag(p.values["retry-timeout"] as string | undefined, "retry-timeout", 0);
  const sleepMs = durationFlag(p.values.sleep as string | undefined, "sleep", 1000);
  const host = await (deps.host ?? defaultHost)(io);
  const spec = await load(p, host, deps, io);
  const clock = deps.clockMs ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = clock();
  while (true) {
    const results = await validate(spec, {
      resources: deps.resources ?? RESOURCE_TYPES,
      host,
      maxConcurrent: p.maxConcurrent,
      ...(deps.now ? { now: deps.now } : {}),
    });
    const out = renderOutput(p.format, results, { formatOptions: p.formatOptions });
    if (out.exitCode === 0 || retryMs === 0) {
      io.out(out.text);
      return out.exitCode;
    }
    const elapsed = clock() - start;
    if (elapsed + sleepMs > retryMs) {
      io.out(out.text);
      io.err(
        `ERROR: Timeout of ${
          p.values["retry-timeout"]
        } reached before tests entered a passing state\n`,
      );
      return 3;
    }
    io.err(
      `Retrying in ${p.values.sleep ?? "1s"} (elapsed/timeout time: ${
        (elapsed / 1000).toFixed(3)
      }s/${p.values["retry-timeout"]})\n\n\n`,
    );
    await sleep(sleepMs);
  }
}

async function runRender(p: Parsed, deps: GossCommandDeps, io: CliIo): Promise<number> {
  const host = await (deps.host ?? defaultHost)(io);
  const spec = await load(p, host, deps, io);
  const doc: Record<string, Record<string, unknown>> = {};
  for (const r of spec.resources) (doc[r.type] ??= {})[r.key] = r.attrs;
  io.out(stringify(doc));
  return 0;
}

/** The format a request asks for (goss.md §3.6): vnd.goss-<format>, JSON, else the server's. */
export function negotiateFormat(accept: string | null, fallback: string): string {
  for (const part of (accept ?? "").split(",")) {
    const media = part.split(";")[0]!.trim().toLowerCase();
    const m = /^application\/vnd\.goss-([a-z_]+)$/.exec(media);
    if (m && isOutputFormat(m[1]!)) return m[1]!;
    if (media === "application/json" || media === "text/json") return "json";
  }
  return fallback;
}

/** The Content-Type goss serve answers with for a format. */
export function contentTypeOf(format: string): string {
  if (format === "json") return "application/json";
  if (format === "prometheus") return "text/plain; version=0.0.4";
  return `application/vnd.goss-${format}`;
}

/** Splits `host:port` / `:port` / `[v6]:port` into Deno.serve's hostname and port. */
export function parseListenAddr(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw usage(`--listen-addr must be HOST:PORT or :PORT, got "${addr}"`);
  const port = Number(m[3]);
  if (port > 65535) throw usage(`--listen-addr port out of range: ${port}`);
  const hostname = m[1] ?? m[2] ?? "";
  return { hostname: hostname === "" ? "0.0.0.0" : hostname, port };
}

/** A cache of results that runs the suite once even under concurrent requests. */
export function createResultCache(
  run: () => Promise<GossResults>,
  ttlMs: number,
  clockMs: () => number,
): () => Promise<GossResults> {
  let cached: { at: number; results: GossResults } | null = null;
  let inflight: Promise<GossResults> | null = null;
  return () => {
    if (cached && clockMs() - cached.at < ttlMs) return Promise.resolve(cached.results);
    if (!inflight) {
      inflight = run().then((results) => {
        cached = { at: clockMs(), results };
        return results;
      }).finally(() => {
        inflight = null;
      });
    }
    return inflight;
  };
}

async function runServe(p: Parsed, deps: GossCommandDeps, io: CliIo): Promise<number> {
  const env = (n: string) => safeEnv(io, n);
  const listen = parseListenAddr(
    (p.values["listen-addr"] as string | undefined) ?? env("GOSS_LISTEN") ?? "127.0.0.1:8080",
  );
  const endpoint = (p.values.endpoint as string | undefined) ?? env("GOSS_ENDPOINT") ?? "/healthz";
  const cacheMs = durationFlag(
    (p.values.cache as string | undefined) ?? env("GOSS_CACHE"),
    "cache",
    5000,
  );
  const host = await (deps.host ?? defaultHost)(io);
  const spec = await load(p, host, deps, io);
  const counters: PrometheusCounters = createPrometheusCounters();
  const results = createResultCache(
    () =>
      validate(spec, {
        resources: deps.resources ?? RESOURCE_TYPES,
        host,
        maxConcurrent: p.maxConcurrent,
        ...(deps.now ? { now: deps.now } : {}),
      }),
    cacheMs,
    deps.clockMs ?? Date.now,
  );
  const handler = async (req: Request): Promise<Response> => {
    if (new URL(req.url).pathname !== endpoint) {
      return new Response("404 page not found\n", { status: 404 });
    }
    const format = negotiateFormat(req.headers.get("accept"), p.format);
    try {
      const out = renderOutput(format, await results(), {
        formatOptions: p.formatOptions,
        prometheus: counters,
      });
      return new Response(out.text, {
        status: out.exitCode === 0 ? 200 : 503,
        headers: { "content-type": contentTypeOf(format) },
      });
    } catch (e) {
      return new Response(formatError(e) + "\n", {
        status: 500,
        headers: { "content-type": "text/plain" },
      });
    }
  };
  const controller = new AbortController();
  const signal = deps.signal ?? controller.signal;
  const onSignal = () => controller.abort();
  if (!deps.signal) {
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  }
  try {
    const server = Deno.serve({
      hostname: listen.hostname,
      port: listen.port,
      signal,
      onListen: (addr) => {
        io.err(`Starting to listen on: ${addr.hostname}:${addr.port}\n`);
        deps.onListen?.({ hostname: addr.hostname, port: addr.port });
      },
    }, handler);
    await server.finished;
  } finally {
    if (!deps.signal) {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  }
  return 0;
}

/** Exit code of an error: goss's 78 for anything about loading the gossfile, else 1. */
function exitFor(e: unknown): number {
  if (e instanceof ScoutError && e.code.startsWith("CONFIG")) return EXIT_LOAD_ERROR;
  return 1;
}

/** Builds the `scout goss` command over the given dependencies. */
export function createGossCommand(deps: GossCommandDeps = {}): Command {
  return {
    name: "goss",
    summary: "run standard gossfiles (validate, serve, render) with goss's outputs",
    help: HELP,
    async run(args, io) {
      try {
        const p = parse(args, io);
        switch (p.sub) {
          case "validate":
            return await runValidate(p, deps, io);
          case "serve":
            return await runServe(p, deps, io);
          default:
            return await runRender(p, deps, io);
        }
      } catch (e) {
        io.err(`scout goss: ${formatError(e)}\n`);
        return exitFor(e);
      }
    },
  };
}

/** `scout goss`: goss-compatible validate / serve / render over Scout's goss engine. */
export const gossCommand: Command = createGossCommand();
