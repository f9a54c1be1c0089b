import { parse as parseYaml } from "yaml";
import {
  type BrokerConfigInput,
  type Fleet,
  parseFleet,
  renderBrokerConfig,
} from "../broker/mod.ts";
import { formatError, ScoutError } from "../errors.ts";
import { fileVersion, pollFile } from "../hub/mod.ts";
import { fileCaSigner, issueServerCertificate } from "../pki/mod.ts";
import { createDenoFs, type Logger } from "../runtime/mod.ts";
import { type CliIo, type Command, parseFlags } from "./_common.ts";

const HELP = `scout broker: the managed nats-server (2.9) configuration for a Scout fleet

Usage:
  scout broker config --out FILE --listen HOST:PORT --tls-cert F --tls-key F --tls-ca F
                      --store-dir DIR [--fleet FILE] [--monitor-port N]
                      [--max-memory BYTES] [--max-file BYTES]
  scout broker run    (the same flags) [--nats-server PATH]

  Instead of --tls-cert/--tls-key/--tls-ca: --ca-dir DIR [--server-name NAME]... [--cert-days N]
  issues the broker's own server certificate from the fleet's file CA (DIR/ca.pem, ca.key),
  with the names as SANs (default: localhost, 127.0.0.1 and the --listen host), into the
  directory of --out (key 0600); \`run\` renews it at two thirds of its life (default 30 days)
  and reloads nats-server.

config  writes the configuration to --out atomically (mode 0600).
run     writes it and supervises \`nats-server -c FILE\`: restarts it with backoff when it
        dies; when the --fleet file changes on disk (checked every second, e.g. rewritten by
        \`scout-hub hub\` after an enrolment or a deny) and on SIGHUP it re-reads --fleet,
        rewrites the config and reloads nats-server; it waits for a --fleet file that does not
        exist yet (the hub writes it before it connects); an invalid one keeps the running
        config (logged);
        SIGTERM or SIGINT stop it cleanly.

Clients authenticate with mutual TLS: nats-server's verify_and_map maps the client
certificate's SAN DNS name (= the identity) to a user; identities without a user (denied or
unknown) are refused. Nodes must connect with the inbox prefix _INBOX_<token>.

--fleet FILE (JSON or YAML):
  nodes:                      # one entry per node
    - identity: n1.example
      groups: [web]           # KV keys group.<name> the node may read
  hubs: [hub.example]         # full access
  operators: [op.example]     # API requests, read events, put checks
  denied: [old.example]       # no user: refused
The hub writes this file as <state-dir>/fleet.json (JSON): give it to --fleet.`;

const FLAGS = {
  out: { type: "string" },
  listen: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
  "store-dir": { type: "string" },
  fleet: { type: "string" },
  "monitor-port": { type: "string" },
  "max-memory": { type: "string" },
  "max-file": { type: "string" },
  "nats-server": { type: "string" },
  "ca-dir": { type: "string" },
  "server-name": { type: "string", multiple: true },
  "cert-days": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = {
  -readonly [K in keyof typeof FLAGS]?: K extends "help" ? boolean
    : K extends "server-name" ? string[]
    : string;
};

/**
 * With --ca-dir: issues the broker's server certificate from the file CA next to --out, fills
 * in --tls-cert/--tls-key/--tls-ca, and returns when to renew it (ms since the epoch); null
 * without --ca-dir (the certificate files are the operator's).
 */
async function issueServerCert(values: Values): Promise<number | null> {
  const caDir = values["ca-dir"];
  if (caDir === undefined) return null;
  const out = need(values, "out");
  const dir = (out.startsWith("/") ? out : `${Deno.cwd()}/${out}`).replace(/\/[^/]*$/, "") || "/";
  const days = Number(values["cert-days"] ?? 30);
  if (!Number.isInteger(days) || days < 1) {
    throw new ScoutError("USAGE", "scout broker: --cert-days must be a whole number of days", {
      hint: "for example --cert-days 30",
    });
  }
  let ca;
  try {
    ca = {
      certPem: await Deno.readTextFile(`${caDir}/ca.pem`),
      keyPem: await Deno.readTextFile(`${caDir}/ca.key`),
    };
  } catch (e) {
    throw new ScoutError(
      "USAGE",
      `scout broker: cannot read the CA in ${caDir}: ${(e as Error).message}`,
      {
        hint: "make it with `scout-hub ca init --dir DIR`, or give --tls-cert/--tls-key/--tls-ca",
      },
    );
  }
  const host = parseListen(need(values, "listen")).host;
  const names = values["server-name"] ?? [
    "localhost",
    "127.0.0.1",
    ...(["0.0.0.0", "::", "localhost", "127.0.0.1"].includes(host) ? [] : [host]),
  ];
  const tls = await issueServerCertificate(fileCaSigner(ca), {
    identity: "broker",
    names,
    days,
    now: new Date(),
  });
  const fs = createDenoFs({ writeRoots: [dir] });
  await fs.writeAtomic(`${dir}/broker-key.pem`, tls.keyPem, { mode: 0o600 });
  await fs.writeAtomic(`${dir}/broker-cert.pem`, tls.certPem, { mode: 0o644 });
  values["tls-cert"] = `${dir}/broker-cert.pem`;
  values["tls-key"] = `${dir}/broker-key.pem`;
  values["tls-ca"] ??= `${caDir}/ca.pem`;
  return tls.renewAtMs;
}

function need(values: Values, flag: keyof Values): string {
  const v = values[flag];
  if (typeof v !== "string" || v === "") {
    throw new ScoutError("USAGE", `scout broker: --${flag} is required`, {
      hint: "see `scout broker --help`",
    });
  }
  return v;
}

function int(values: Values, flag: "monitor-port" | "max-memory" | "max-file"): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    throw new ScoutError("USAGE", `scout broker: --${flag} must be a whole number, got "${v}"`, {
      hint: "see `scout broker --help`",
    });
  }
  return Number(v);
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text);
  if (!m || m[1] === "" || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new ScoutError("USAGE", `scout broker: --listen must be HOST:PORT, got "${text}"`, {
      hint: "for example --listen 0.0.0.0:4222",
    });
  }
  return { host: m[1]!, port: Number(m[2]) };
}

/** Reads and validates a fleet file (JSON or YAML). */
export async function readFleetFile(path: string): Promise<Fleet> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ScoutError("USAGE", `Cannot read --fleet "${path}": ${(e as Error).message}`, {
      hint: "give --fleet a readable JSON or YAML file",
    });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (e) {
    throw new ScoutError("CONFIG_YAML", `${path}: ${(e as Error).message}`, {
      hint: "the fleet file is JSON or YAML with keys nodes, hubs, operators, denied",
    });
  }
  try {
    return parseFleet(value);
  } catch (e) {
    if (e instanceof ScoutError) {
      throw new ScoutError(e.code, `${path}: ${e.message}`, {
        ...(e.hint === undefined ? {} : { hint: e.hint }),
        context: { ...e.context, file: path },
      });
    }
    throw e;
  }
}

async function buildInput(values: Values): Promise<BrokerConfigInput> {
  const fleet: Fleet = values.fleet === undefined
    ? { nodes: [], hubs: [], operators: [], denied: [] }
    : await readFleetFile(values.fleet);
  const maxMemory = int(values, "max-memory"), maxFile = int(values, "max-file");
  return {
    listen: parseListen(need(values, "listen")),
    tls: {
      certFile: need(values, "tls-cert"),
      keyFile: need(values, "tls-key"),
      caFile: need(values, "tls-ca"),
    },
    jetstream: {
      storeDir: need(values, "store-dir"),
      ...(maxMemory === undefined ? {} : { maxMemory }),
      ...(maxFile === undefined ? {} : { maxFile }),
    },
    monitorPort: int(values, "monitor-port") ?? null,
    ...fleet,
  };
}

/** Renders the configuration from the flags and writes it atomically with mode 0600. */
async function writeConfig(values: Values): Promise<string> {
  const out = need(values, "out");
  const text = renderBrokerConfig(await buildInput(values));
  const abs = out.startsWith("/") ? out : `${Deno.cwd()}/${out}`;
  const dir = abs.slice(0, abs.lastIndexOf("/")) || "/";
  await createDenoFs({ writeRoots: [dir] }).writeAtomic(abs, text, { mode: 0o600 });
  return abs;
}

/** Options of superviseNatsServer. */
export interface SuperviseOptions {
  /** The configuration file nats-server runs with. */
  configFile: string;
  /** The nats-server program; default "nats-server" from PATH. */
  program?: string;
  /** First restart delay in ms, doubled per quick crash up to maxBackoffMs; default 500. */
  backoffMs?: number;
  /** Longest restart delay in ms; default 30000. */
  maxBackoffMs?: number;
  /** Receives one line per supervision event. */
  log(line: string): void;
}

/** A supervised nats-server. */
export interface Supervisor {
  /** The running child's pid, or null between restarts. */
  pid(): number | null;
  /** Asks the running nats-server to reload its configuration (SIGHUP). */
  reload(): void;
  /** Stops nats-server (SIGTERM) and the supervision; resolves when it has exited. */
  stop(): Promise<void>;
  /** Resolves when supervision ended. */
  done: Promise<void>;
}

/** Refuses with a clear error and the install hint when the program cannot be run. */
export async function checkNatsServer(program = "nats-server"): Promise<string> {
  try {
    const out = await new Deno.Command(program, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch (e) {
    throw new ScoutError("USAGE", `cannot run "${program}": ${(e as Error).message}`, {
      hint: "install it with `apt install nats-server` (or give its path with --nats-server)",
      context: { program },
    });
  }
}

/** Runs `nats-server -c FILE` and restarts it with backoff whenever it dies, until stop(). */
export function superviseNatsServer(opts: SuperviseOptions): Supervisor {
  const program = opts.program ?? "nats-server";
  const base = opts.backoffMs ?? 500, max = opts.maxBackoffMs ?? 30_000;
  let child: Deno.ChildProcess | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;
  const loop = async () => {
    let delay = base;
    while (!stopping) {
      const started = performance.now();
      try {
        child = new Deno.Command(program, {
          args: ["-c", opts.configFile],
          stdin: "null",
          stdout: "inherit",
          stderr: "inherit",
        }).spawn();
      } catch (e) {
        opts.log(`cannot start ${program}: ${(e as Error).message}`);
        child = null;
      }
      if (child) {
        opts.log(`nats-server started (pid ${child.pid})`);
        const status = await child.status;
        child = null;
        if (stopping) break;
        opts.log(`nats-server exited (code ${status.code}, signal ${status.signal ?? "none"})`);
        if (performance.now() - started > 60_000) delay = base;
      }
      opts.log(`restarting nats-server in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
      delay = Math.min(delay * 2, max);
    }
  };
  const done = loop();
  return {
    pid: () => (child as Deno.ChildProcess | null)?.pid ?? null,
    reload() {
      const c = child as Deno.ChildProcess | null;
      if (!c) return opts.log("reload skipped: nats-server is not running");
      try {
        c.kill("SIGHUP");
        opts.log("nats-server asked to reload (SIGHUP)");
      } catch (e) {
        opts.log(`reload failed: ${(e as Error).message}`);
      }
    },
    async stop() {
      stopping = true;
      (wake as (() => void) | null)?.();
      const c = child as Deno.ChildProcess | null;
      if (c) {
        try {
          c.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      await done;
    },
    done,
  };
}

/** Options of runBroker. */
export interface RunBrokerOptions {
  /** Stops nats-server and the supervision when aborted (the command: SIGINT, SIGTERM). */
  signal: AbortSignal;
  /** How often the --fleet file's mtime is looked at, ms. @default 1000 */
  fleetPollMs?: number;
  /** Called with the supervisor once it runs. @default none */
  onStarted?(sup: Supervisor): void;
}

/**
 * `scout broker run` with its flags: writes the configuration and supervises nats-server until
 * `signal` aborts. The configuration is rewritten and nats-server reloaded on SIGHUP and
 * whenever the --fleet file changes on disk (its mtime, size or inode, polled), so a hub's
 * enrolment or deny reaches nats-server within seconds. When the --fleet file does not exist
 * yet it waits for it (an empty fleet would let any certificate of the CA in); an invalid one
 * keeps the running configuration.
 */
export async function runBroker(
  args: string[],
  io: CliIo,
  opts: RunBrokerOptions,
): Promise<number> {
  const { values } = parseFlags(args, FLAGS, "broker");
  const program = values["nats-server"] ?? "nats-server";
  const version = await checkNatsServer(program);
  const fleetFile = values.fleet;
  if (fleetFile !== undefined && (await fileVersion(fleetFile)) === "") {
    // Not an empty fleet meanwhile: nats-server with no users lets any certificate of the CA in.
    io.err(`scout broker: waiting for ${fleetFile} (e.g. written by \`scout-hub hub\`)\n`);
    while ((await fileVersion(fleetFile)) === "") {
      if (opts.signal.aborted) return 0;
      await new Promise((r) => setTimeout(r, opts.fleetPollMs ?? 1000));
    }
  }
  let renewAt = await issueServerCert(values);
  const write = () => writeConfig(values);
  const file = await write();
  io.err(`scout broker: wrote ${file}; running ${program} (${version})\n`);
  const sup = superviseNatsServer({
    configFile: file,
    program,
    log: (line) => io.err(`scout broker: ${line}\n`),
  });
  const reload = async (why: string) => {
    try {
      await write();
      io.err(`scout broker: ${why}: configuration rewritten\n`);
      sup.reload();
    } catch (e) {
      io.err(`scout broker: config not reloaded: ${formatError(e)}\n`);
    }
  };
  const onHup = () => void reload("SIGHUP");
  const logger: Logger = {
    debug() {},
    info: (m) => io.err(`scout broker: ${m}\n`),
    warn: (m, f) => io.err(`scout broker: ${m} ${JSON.stringify(f ?? {})}\n`),
    error: (m, f) => io.err(`scout broker: ${m} ${JSON.stringify(f ?? {})}\n`),
  };
  const poll = fleetFile === undefined ? null : pollFile(
    fleetFile,
    () => reload(`${fleetFile} changed`),
    { logger, ...(opts.fleetPollMs === undefined ? {} : { intervalMs: opts.fleetPollMs }) },
  );
  // The server certificate from --ca-dir is renewed at two thirds of its life.
  let renewTimer: ReturnType<typeof setTimeout> | undefined;
  const armRenewal = () => {
    if (renewAt === null) return;
    renewTimer = setTimeout(async () => {
      try {
        renewAt = await issueServerCert(values);
        await reload("server certificate renewed");
      } catch (e) {
        io.err(`scout broker: cannot renew the server certificate: ${formatError(e)}\n`);
        renewAt = Date.now() + 3_600_000; // try again in an hour
      }
      armRenewal();
    }, Math.min(Math.max(0, renewAt - Date.now()), 2 ** 31 - 1));
  };
  armRenewal();
  const onAbort = () => {
    clearTimeout(renewTimer);
    void sup.stop();
  };
  opts.signal.addEventListener("abort", onAbort, { once: true });
  if (opts.signal.aborted) onAbort();
  Deno.addSignalListener("SIGHUP", onHup);
  opts.onStarted?.(sup);
  try {
    await sup.done;
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    Deno.removeSignalListener("SIGHUP", onHup);
    await poll?.stop();
  }
  io.err("scout broker: stopped\n");
  return 0;
}

async function runCommand(args: string[], io: CliIo): Promise<number> {
  const stop = new AbortController();
  const onStop = () => stop.abort();
  Deno.addSignalListener("SIGTERM", onStop);
  Deno.addSignalListener("SIGINT", onStop);
  try {
    return await runBroker(args, io, { signal: stop.signal });
  } finally {
    Deno.removeSignalListener("SIGTERM", onStop);
    Deno.removeSignalListener("SIGINT", onStop);
  }
}

/** `scout broker`: writes the managed nats-server configuration, or runs nats-server with it. */
export const brokerCommand: Command = {
  name: "broker",
  summary: "write the managed nats-server configuration, or run nats-server with it",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, FLAGS, "broker");
    if (values.help) {
      io.out(HELP + "\n");
      return 0;
    }
    switch (positionals[0]) {
      case "config": {
        await issueServerCert(values);
        const file = await writeConfig(values);
        io.out(`wrote ${file}\n`);
        return 0;
      }
      case "run":
        return await runCommand(args, io);
      default:
        throw new ScoutError(
          "USAGE",
          positionals[0] === undefined
            ? "scout broker: missing subcommand"
            : `scout broker: unknown subcommand "${positionals[0]}"`,
          { hint: "use `scout broker config ...` or `scout broker run ...`" },
        );
    }
  },
};
