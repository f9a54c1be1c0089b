import { IDENTITY_PATTERN, parseDuration } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import {
  checkListen,
  defaultEnrolNames,
  DENIED_FILE,
  type EnrolmentHandle,
  fileVersion,
  type GatewayHandle,
  type HubHandle,
  parseDeniedFile,
  parseGatewayRules,
  parseListen,
  renderDeniedFile,
  startEnrolment,
  startGateway,
  startHub,
} from "../hub/mod.ts";
import { certInfo } from "../pki/mod.ts";
import { createConsoleLogger, createDenoFs, ensureDir, type LogLevel } from "../runtime/mod.ts";
import { type Broker, type BrokerOptions, connectBroker } from "../transport/mod.ts";
import {
  BROKER_FLAGS,
  brokerFlags,
  type CliIo,
  type Command,
  DEFAULT_STATE_DIR,
  flagOrEnv,
  parseFlags,
} from "./_common.ts";
import { brokerOptions } from "./_remote.ts";

const HELP = `scout hub: run the hub's central services (provisioner, fleet view, event archive)

Usage: scout-hub hub --broker URL --tls-ca FILE (--tls-cert FILE --tls-key FILE | --creds FILE)
                     [flags]
       scout-hub hub deny IDENTITY [--state-dir DIR] [--json]
       scout-hub hub allow IDENTITY [--state-dir DIR] [--json]

Flags (a SCOUT_* environment twin where named, e.g. SCOUT_LISTEN):
  --broker URL            the fleet's NATS broker (repeatable); TLS always
  --tls-ca FILE           CA that verifies the broker
  --tls-cert FILE         client certificate (mutual TLS); its CN is the hub's identity
  --tls-key FILE          client key
  --creds FILE            NATS creds (JWT + nkey) for operator-mode brokers, with --tls-ca
  --listen ADDR           HTTP JSON API (default 127.0.0.1:8080); loopback only for now
  --retention DURATION    how long the SCOUT_EVENTS stream keeps events (default 30d)
  --stale-after DURATION  a node silent for longer is flagged stale (default 10m)
  --state-dir DIR         state directory; the view snapshot goes to DIR/hub, the provisioner's
                          state to DIR/provisioner, the broker's fleet file to DIR/fleet.json
                          (default /var/lib/scout)
  --log-level LEVEL       debug, info, warn or error (default info)
  --gateway FILE          event gateway rules (YAML or JSON): POST matching events to HTTP
                          endpoints as CloudEvents (no environment twin)

Enrolment (the provisioner, HTTPS; agents verify it with the CA their token pins):
  --enrol-listen ADDR     HTTPS enrolment address (default :8443, every interface: enrolling
                          devices are elsewhere); "off" disables enrolment. When none of
                          --enrol-listen, --ca-dir, --signer is given and the default CA
                          folder has no ca.pem, enrolment is off (with a warning)
  --ca-dir DIR            the fleet CA folder: ca.pem and, for the built-in signer, ca.key
                          (default <state-dir>/ca; make it with \`scout-hub ca init --dir DIR\`)
  --signer PROGRAM        absolute path of an external signer program (JSON on stdin and stdout,
                          see docs); default: the file CA in --ca-dir. It runs with an empty
                          environment plus SCOUT_CA_DIR
  --advertise-broker URL  broker URL handed to enrolled nodes (repeatable; default the --broker
                          URLs; no environment twin)
  --enrol-name NAME       DNS name or IP address in the enrolment listener's certificate
                          (repeatable; default the host name, localhost and 127.0.0.1; no twin)
  --cert-days N           lifetime of issued certificates in days (default 30; no twin)
  --operator NAME         operator identity written to the fleet file (repeatable; no twin)

At start the hub issues its enrolment listener's server certificate from the fleet CA (through
--signer when given; a fresh key each start, kept in memory, re-issued after 2/3 of its life).
Whenever an identity enrols or is denied or allowed, the hub rewrites DIR/fleet.json
atomically (nodes: enrolled identities; hubs: the hub's identity; operators; denied), the file
\`scout-hub broker run --fleet DIR/fleet.json\` watches.

deny, allow  edit the deny list DIR/provisioner/denied.json (written only by these commands).
             A running hub applies it within a second: a denied identity can no longer enrol or
             renew, and it leaves the fleet file, so the broker refuses it. Without a running hub
             it applies at the next start.

HTTP API: GET /api/v1/nodes, GET /api/v1/checks?status=CRITICAL,WARNING&node=N&check=C&
annotation=key=value&stale=true, GET /healthz.`;

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new ScoutError("USAGE", `${flag}: ${(e as Error).message}`, {
      hint: 'use a number with a unit, e.g. "10m" or "30d"',
      cause: e,
    });
  }
}

const FLAGS = {
  ...BROKER_FLAGS,
  listen: { type: "string" },
  retention: { type: "string" },
  "stale-after": { type: "string" },
  "state-dir": { type: "string" },
  "log-level": { type: "string" },
  gateway: { type: "string" },
  "enrol-listen": { type: "string" },
  "ca-dir": { type: "string" },
  signer: { type: "string" },
  "advertise-broker": { type: "string", multiple: true },
  "enrol-name": { type: "string", multiple: true },
  "cert-days": { type: "string" },
  operator: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const;

/** Adds or removes an identity in `<state-dir>/provisioner/denied.json`; returns the new list. */
export async function editDenyList(
  stateDir: string,
  identity: string,
  denied: boolean,
): Promise<string[]> {
  if (!IDENTITY_PATTERN.test(identity)) {
    throw new ScoutError("IDENTITY_INVALID", `"${identity}" is not a valid identity`, {
      hint: 'an identity is like a host name: letters, digits, "." and "-"',
    });
  }
  const dir = `${stateDir}/provisioner`;
  const file = `${dir}/${DENIED_FILE}`;
  let list: string[];
  try {
    list = parseDeniedFile(await Deno.readTextFile(file), file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    // First edit: start from the deny list the provisioner already keeps.
    list = [];
    try {
      const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`)) as {
        denied?: unknown;
      };
      if (Array.isArray(state.denied)) {
        list = state.denied.filter((d): d is string =>
          typeof d === "string" && IDENTITY_PATTERN.test(d)
        );
      }
    } catch { /* no state yet */ }
  }
  const set = new Set(list);
  if (denied) set.add(identity);
  else set.delete(identity);
  await ensureDir(dir);
  await createDenoFs({ writeRoots: [dir] }).writeAtomic(file, renderDeniedFile([...set]));
  return [...set].sort();
}

/** What the hub reports once it runs (tests use it to find the ports). */
export interface HubReady {
  /** Base URL of the HTTP API. */
  apiUrl: string;
  /** The enrolment URL, or null with `--enrol-listen off`. */
  enrolUrl: string | null;
  /** The fleet file, or null with `--enrol-listen off`. */
  fleetFile: string | null;
}

/** Options of runHub. */
export interface RunHubOptions {
  /** Stops the hub when aborted (the command aborts it on SIGINT and SIGTERM). */
  signal: AbortSignal;
  /** Called once everything listens. @default none */
  onReady?(ready: HubReady): void;
}

function certDays(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 3650) {
    throw new ScoutError("USAGE", `--cert-days must be a whole number of days, got "${text}"`, {
      hint: "for example --cert-days 30",
    });
  }
  return Number(text);
}

async function denyCommand(
  action: "deny" | "allow",
  positionals: string[],
  values: { "state-dir"?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const identity = positionals[1];
  if (identity === undefined || positionals.length > 2) {
    throw new ScoutError("USAGE", `scout hub ${action} takes one IDENTITY`, {
      hint: `scout-hub hub ${action} n1.example --state-dir /var/lib/scout`,
    });
  }
  const stateDir = flagOrEnv(values["state-dir"], io, "SCOUT_STATE_DIR", DEFAULT_STATE_DIR);
  const list = await editDenyList(stateDir, identity, action === "deny");
  if (values.json) {
    io.out(JSON.stringify({ identity, denied: action === "deny", list }) + "\n");
  } else {
    io.out(
      `${action === "deny" ? "denied" : "allowed"} ${identity}; deny list: ${
        list.length === 0 ? "(empty)" : list.join(", ")
      }\na running hub applies it within a second (then fleet.json and the broker follow)\n`,
    );
  }
  return 0;
}

/**
 * `scout-hub hub` with its arguments: the deny/allow subcommands, or the hub itself until
 * `signal` aborts.
 */
export async function runHub(args: string[], io: CliIo, opts: RunHubOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, "hub");
  const sub = positionals[0];
  if (sub === "deny" || sub === "allow") return await denyCommand(sub, positionals, values, io);
  if (sub !== undefined) {
    throw new ScoutError("USAGE", `scout hub: unknown subcommand "${sub}"`, {
      hint: "run `scout-hub hub` with flags, or `scout-hub hub deny|allow IDENTITY`",
    });
  }
  const broker = await brokerFlags(values, io);
  if (broker === null) {
    throw new ScoutError("USAGE", "scout hub needs a broker: no --broker given", {
      hint: "give --broker tls://host:4222 with --tls-ca and --tls-cert/--tls-key",
    });
  }
  const listen = flagOrEnv(values.listen, io, "SCOUT_LISTEN", "127.0.0.1:8080");
  const retentionMs = duration(
    "--retention",
    flagOrEnv(values.retention, io, "SCOUT_RETENTION", "30d"),
  );
  const staleAfterMs = duration(
    "--stale-after",
    flagOrEnv(values["stale-after"], io, "SCOUT_STALE_AFTER", "10m"),
  );
  const stateDir = flagOrEnv(values["state-dir"], io, "SCOUT_STATE_DIR", DEFAULT_STATE_DIR);
  checkListen(listen); // refused before anything starts
  const enrolListenGiven = values["enrol-listen"] ?? io.env("SCOUT_ENROL_LISTEN");
  const enrolListen = enrolListenGiven ?? ":8443";
  let enrolAddr = enrolListen === "off" ? null : parseListen(enrolListen);
  const caDirGiven = values["ca-dir"] ?? io.env("SCOUT_CA_DIR");
  const caDir = caDirGiven ?? `${stateDir}/ca`;
  const signerProgram = values.signer ?? io.env("SCOUT_SIGNER") ?? null;
  const days = certDays(values["cert-days"] ?? "30");
  const hubIdentity = broker.cert === undefined ? null : (await certInfo(broker.cert)).subjectCn;
  if (hubIdentity !== null && !IDENTITY_PATTERN.test(hubIdentity)) {
    throw new ScoutError("USAGE", `--tls-cert names "${hubIdentity}", not a valid identity`, {
      hint: "the hub's certificate CN is its identity in the fleet file; issue one with a " +
        "host-name-like CN",
    });
  }
  for (const op of values.operator ?? []) {
    if (!IDENTITY_PATTERN.test(op)) {
      throw new ScoutError("USAGE", `--operator "${op}" is not a valid identity`, {
        hint: 'an identity is like a host name: letters, digits, "." and "-"',
      });
    }
  }
  const gatewayFile = values.gateway;
  let rules = null;
  if (gatewayFile !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(gatewayFile);
    } catch (e) {
      throw new ScoutError(
        "USAGE",
        `Cannot read --gateway "${gatewayFile}": ${(e as Error).message}`,
        {
          hint: "give --gateway a readable rules file",
        },
      );
    }
    rules = parseGatewayRules(text, gatewayFile);
  }
  const level = (values["log-level"] ?? io.env("SCOUT_LOG_LEVEL") ?? "info") as LogLevel;
  const logger = createConsoleLogger({ level });
  if (
    enrolAddr !== null && enrolListenGiven === undefined && caDirGiven === undefined &&
    signerProgram === null && (await fileVersion(`${caDir}/ca.pem`)) === ""
  ) {
    // Nothing asked for enrolment and there is no fleet CA: a hub without PKI still runs.
    logger.warn("enrolment off: no fleet CA", {
      caDir,
      hint: `make one with \`scout-hub ca init --dir ${caDir}\` (or give --ca-dir, --signer)`,
    });
    enrolAddr = null;
  }
  const hubBroker: BrokerOptions = brokerOptions(broker, "scout-hub");
  // Enrolment first: it writes the fleet file, which a broker started from it needs before
  // it lets the hub in (no chicken-and-egg on a fresh install).
  let enrolment: EnrolmentHandle | null = null;
  let hub: HubHandle | null = null;
  // startHub owns its connection: the gateway gets its own, with the same broker flags.
  let gwBroker: Broker | null = null;
  let gateway: GatewayHandle | null = null;
  try {
    if (enrolAddr !== null) {
      const names = values["enrol-name"] ?? defaultEnrolNames();
      enrolment = await startEnrolment({
        stateDir,
        caDir,
        signerProgram,
        listen: enrolAddr,
        names,
        hubIdentity: hubIdentity ?? names.find((n) =>
          IDENTITY_PATTERN.test(n) && !/^[\d.]+$/.test(n)
        ) ??
          "scout-hub",
        hubInFleet: hubIdentity !== null,
        operators: values.operator ?? [],
        advertiseBrokers: values["advertise-broker"] ?? broker.urls,
        certDays: days,
        logger,
      });
    }
    hub = await startHub({
      broker: hubBroker,
      listen,
      streamMaxAgeMs: retentionMs,
      staleAfterMs,
      stateDir,
      logger,
      retryFirstConnect: true,
      signal: opts.signal,
    });
    if (rules !== null) {
      gwBroker = await connectBroker({
        ...hubBroker,
        name: "scout-hub-gateway",
        onEvent: (e) => {
          if (e.kind === "error") logger.warn("gateway broker", { detail: e.detail });
          else logger.info(`gateway broker ${e.kind}`, { detail: e.detail });
        },
      });
      gateway = await startGateway({
        stream: gwBroker.stream,
        bus: gwBroker.bus,
        rules,
        logger,
      });
    }
    opts.onReady?.({
      apiUrl: (hub as HubHandle).url,
      enrolUrl: enrolment?.url ?? null,
      fleetFile: enrolment?.fleetFile ?? null,
    });
    if (!opts.signal.aborted) {
      await new Promise<void>((resolve) =>
        opts.signal.addEventListener("abort", () => resolve(), { once: true })
      );
    }
  } finally {
    await enrolment?.stop();
    await gateway?.stop();
    await gwBroker?.close();
    await hub?.stop();
  }
  return 0;
}

/** `scout-hub hub`: runs the hub until SIGINT or SIGTERM; `hub deny|allow IDENTITY`. */
export const hubCommand: Command = {
  name: "hub",
  summary: "run the hub: provisioner, fleet state view, event archive and HTTP API",
  help: HELP,
  async run(args: string[], io: CliIo) {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    try {
      return await runHub(args, io, { signal: stop.signal });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  },
};
