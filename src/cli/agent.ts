import {
  DEFAULT_PLUGIN_DIRS,
  DEFAULT_POLICY_FILE,
  type FleetConfig,
  type ProvisioningConfig,
  type RpcConfig,
  startAgent,
} from "../agent.ts";
import { parseDuration, parseIdentity } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { PUBLISH_POLICIES, type PublishPolicy } from "../events.ts";
import { createConsoleLogger, type LogLevel, parseNameServer } from "../runtime/mod.ts";
import {
  BROKER_FLAGS,
  brokerFlags,
  type CliIo,
  type Command,
  DEFAULT_STATE_DIR,
  flagOrEnv,
  parseFlags,
} from "./_common.ts";

const HELP = `scout agent: run the node agent

Usage: scout agent [--standalone] [flags]

Flags (each has a SCOUT_* environment twin, e.g. SCOUT_STATE_DIR):
  --standalone            run without looking for a broker
  --identity NAME         node identity (default: host name; in Kubernetes the pod name)
  --checks DIR            check files directory (default /etc/scout/checks)
  --machines DIR          Choria machine directories (default /etc/scout/machines)
  --state-dir DIR         state directory (default /var/lib/scout)
  --textfile-dir DIR      Prometheus textfile directory
                          (default /var/lib/prometheus/node-exporter when it exists)
  --events-file FILE      write one CloudEvent JSON per line to FILE
  --plugin-dir DIR        extra plugin directory (repeatable)
  --max-output BYTES      plugin output kept per run (default 65536)
  --rescan DURATION       periodic rescan of check files (default 30s)
  --max-concurrent N      most plugins running at once; more wait for a slot (default 32)
  --broker URL            the fleet's NATS broker (repeatable); TLS always
  --tls-ca FILE           CA that verifies the broker
  --tls-cert FILE         client certificate (mutual TLS)
  --tls-key FILE          client key
  --creds FILE            NATS creds (JWT + nkey) for operator-mode brokers, with --tls-ca
  --spool-size BYTES      events kept on disk while the broker is away (default 64 MiB)
  --publish POLICY        all (default), changes (transitions and non-OK results) or non-ok
  --announce DURATION     re-send every check's state this often, for fleet views (default 5m;
                          0 turns it off)
  --no-splay              start checks at once instead of after a random splay
  --quiet                 do not print results on the terminal
  --log-level LEVEL       debug, info, warn or error (default info)
  --provisioning-token FILE
                          enrol with this provisioning token (else the token embedded at
                          build time, else /etc/scout/provisioning.jwt)
  --dns-server HOST:PORT  DNS server for the SRV lookup of a token that names a domain
  --group NAME            this node is in group NAME (repeatable; enrolment adds its groups):
                          checks pushed to group:NAME apply here
  --rpc-trust FILE        trust operator tokens from this issuer (repeatable): a CA certificate
                          (PEM) or a JWKS document with an "issuer" member (JSON); enrolment's
                          issuers, or the --tls-ca CA, are trusted too (SCOUT_RPC_TRUST: a
                          ":"-separated list)
  --rpc-policy FILE       local policy of the node API (default /etc/scout/policy.yaml when it
                          exists)
  --rpc-rate N            node API requests a minute per caller (default 120)
  --rpc-max-concurrent N  node API requests handled at once (default 2); up to 2,000 more wait,
                          beyond them "busy"; checks due meanwhile start first

Without --broker and --standalone the agent enrols: it finds a provisioning token, makes its
key, gets a certificate from the hub and joins the fleet over mutual TLS, in this process,
renewing before expiry. With no token to find it runs standalone and keeps looking.

In the fleet the agent answers the node API (scout.api.<token>.<action>, scout.api._all.<action>):
signed requests with an operator token, authorized by the token and the local policy, audited
in <state-dir>/audit/rpc.log.`;

/** Where `scripts/build.ts --provisioning-token FILE` puts the token it embeds in the binary. */
const EMBEDDED_TOKEN = new URL("../../dist/provisioning.jwt", import.meta.url);

function embeddedToken(): string | undefined {
  try {
    return Deno.readTextFileSync(EMBEDDED_TOKEN).trim() || undefined;
  } catch {
    return undefined; // not built with a token (or run from source)
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

function defaultIdentity(io: CliIo): string {
  const pod = io.env("POD_NAME") ??
    (io.env("KUBERNETES_SERVICE_HOST") ? io.env("HOSTNAME") : undefined);
  return pod ?? Deno.hostname();
}

/** The fleet settings from flags and their SCOUT_* twins; null without a broker. */
async function fleetConfig(
  values: Record<string, string | boolean | string[] | undefined>,
  io: CliIo,
): Promise<FleetConfig | null> {
  const broker = await brokerFlags(values as Parameters<typeof brokerFlags>[0], io);
  if (broker === null) return null;
  return { ...broker, ...fleetSettings(values) };
}

/** Spool, publish policy and announcements: for a broker given by flags or by enrolment. */
function fleetSettings(
  values: Record<string, string | boolean | string[] | undefined>,
): Pick<FleetConfig, "spoolBytes" | "policy" | "announceMs"> {
  const spoolBytes = Number(values["spool-size"] ?? 64 * 1024 * 1024);
  if (!Number.isInteger(spoolBytes) || spoolBytes < 65536) {
    throw new ScoutError("USAGE", "--spool-size must be a whole number of bytes, at least 65536");
  }
  const policy = (values.publish as string | undefined) ?? "all";
  if (!(PUBLISH_POLICIES as readonly string[]).includes(policy)) {
    throw new ScoutError("USAGE", `Unknown --publish policy "${policy}"`, {
      hint: `use one of ${PUBLISH_POLICIES.join(", ")}`,
    });
  }
  const announce = (values.announce as string | undefined) ?? "5m";
  const announceMs = announce === "0" ? 0 : parseDuration(announce);
  if (announceMs !== 0 && announceMs < 60_000) {
    throw new ScoutError("USAGE", "--announce must be at least 1m (or 0 to turn it off)");
  }
  return { spoolBytes, policy: policy as PublishPolicy, announceMs };
}

/** Node API settings from the --rpc-* flags and their SCOUT_* twins. */
async function rpcConfig(
  values: Record<string, string | boolean | string[] | undefined>,
  io: CliIo,
): Promise<RpcConfig> {
  const files = (values["rpc-trust"] as string[] | undefined) ??
    io.env("SCOUT_RPC_TRUST")?.split(":").filter((f) => f !== "") ?? [];
  const trust = [];
  for (const file of files) {
    try {
      trust.push({ text: await Deno.readTextFile(file), where: file });
    } catch (e) {
      throw new ScoutError("USAGE", `cannot read --rpc-trust ${file}: ${(e as Error).message}`, {
        hint: "give a CA certificate (PEM) or a JWKS document (JSON) the agent can read",
      });
    }
  }
  const policyFlag = (values["rpc-policy"] as string | undefined) ?? io.env("SCOUT_RPC_POLICY");
  if (policyFlag !== undefined) {
    try {
      await Deno.stat(policyFlag);
    } catch (e) {
      throw new ScoutError(
        "USAGE",
        `cannot read --rpc-policy ${policyFlag}: ${(e as Error).message}`,
      );
    }
  }
  const count = (flag: string, dflt: number) => {
    const n = Number(values[flag] ?? dflt);
    if (!Number.isInteger(n) || n < 1) {
      throw new ScoutError("USAGE", `--${flag} must be a whole number of at least 1`);
    }
    return n;
  };
  return {
    trust,
    policyFile: policyFlag ?? DEFAULT_POLICY_FILE,
    perCallerPerMinute: count("rpc-rate", 120),
    maxConcurrent: count("rpc-max-concurrent", 2),
  };
}

/** Enrolment settings, unless --standalone or a broker was given. */
function provisioningConfig(
  values: Record<string, string | boolean | string[] | undefined>,
  io: CliIo,
): ProvisioningConfig | null {
  if (values.standalone) return null;
  const flag = values["provisioning-token"] as string | undefined;
  const env = io.env("SCOUT_PROVISIONING_TOKEN");
  const embedded = embeddedToken();
  const dns = (values["dns-server"] as string | undefined) ?? io.env("SCOUT_DNS_SERVER");
  return {
    sources: {
      ...(flag ? { flag } : {}),
      ...(env ? { env } : {}),
      ...(embedded ? { embedded } : {}),
    },
    dnsServer: dns ? parseNameServer(dns) : null,
    fleet: fleetSettings(values),
  };
}

/** `scout agent`: runs the node agent until SIGINT or SIGTERM. */
export const agentCommand: Command = {
  name: "agent",
  summary: "run the node agent",
  help: HELP,
  async run(args, io) {
    const { values } = parseFlags(args, {
      standalone: { type: "boolean" },
      identity: { type: "string" },
      checks: { type: "string" },
      machines: { type: "string" },
      "state-dir": { type: "string" },
      "textfile-dir": { type: "string" },
      "events-file": { type: "string" },
      "plugin-dir": { type: "string", multiple: true },
      "max-output": { type: "string" },
      rescan: { type: "string" },
      "max-concurrent": { type: "string" },
      ...BROKER_FLAGS,
      "spool-size": { type: "string" },
      publish: { type: "string" },
      announce: { type: "string" },
      "no-splay": { type: "boolean" },
      quiet: { type: "boolean" },
      "log-level": { type: "string" },
      "provisioning-token": { type: "string" },
      "dns-server": { type: "string" },
      "rpc-trust": { type: "string", multiple: true },
      group: { type: "string", multiple: true },
      "rpc-policy": { type: "string" },
      "rpc-rate": { type: "string" },
      "rpc-max-concurrent": { type: "string" },
    }, "agent");
    const identity = parseIdentity(
      flagOrEnv(values.identity, io, "SCOUT_IDENTITY", defaultIdentity(io)),
    );
    const textfile = values["textfile-dir"] ?? io.env("SCOUT_TEXTFILE_DIR") ??
      ((await isDir("/var/lib/prometheus/node-exporter"))
        ? "/var/lib/prometheus/node-exporter"
        : null);
    const extraPlugins = values["plugin-dir"] ?? io.env("SCOUT_PLUGIN_DIR")?.split(":") ?? [];
    const maxOutput = Number(values["max-output"] ?? 65536);
    if (!Number.isInteger(maxOutput) || maxOutput < 1024) {
      throw new ScoutError("USAGE", `--max-output must be a whole number of bytes, at least 1024`);
    }
    const maxConcurrent = Number(values["max-concurrent"] ?? 32);
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new ScoutError("USAGE", `--max-concurrent must be a whole number of at least 1`);
    }
    const groups = (values.group as string[] | undefined) ?? [];
    const badGroup = groups.find((g) => !/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$/.test(g));
    if (badGroup !== undefined) {
      throw new ScoutError("USAGE", `--group ${badGroup}: not a group name`, {
        hint: "a group name has letters, digits, '_' and '-' (at most 64)",
      });
    }
    const fleet = await fleetConfig(values, io);
    const rpc = await rpcConfig(values, io);
    const provisioning = fleet ? null : provisioningConfig(values, io);
    const level = (values["log-level"] ?? io.env("SCOUT_LOG_LEVEL") ?? "info") as LogLevel;
    const logger = createConsoleLogger({ level });
    // Signals are caught before anything starts, so a stop during start-up still stops
    // plugins cleanly.
    const done = Promise.withResolvers<void>();
    const onSignal = () => done.resolve();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    const handle = await startAgent({
      identity,
      checksDirs: [flagOrEnv(values.checks, io, "SCOUT_CHECKS", "/etc/scout/checks")],
      machinesDirs: [flagOrEnv(values.machines, io, "SCOUT_MACHINES", "/etc/scout/machines")],
      stateDir: flagOrEnv(values["state-dir"], io, "SCOUT_STATE_DIR", DEFAULT_STATE_DIR),
      textfileDir: textfile,
      eventsFile: values["events-file"] ?? io.env("SCOUT_EVENTS_FILE") ?? null,
      pluginDirs: [...extraPlugins, ...DEFAULT_PLUGIN_DIRS],
      noSplay: values["no-splay"] ?? false,
      maxOutputBytes: maxOutput,
      rescanMs: parseDuration(values.rescan ?? "30s"),
      maxConcurrent,
      fleet,
      provisioning,
      printEvents: !(values.quiet ?? false),
      rpc,
      groups,
    }, { logger });
    await done.promise;
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await handle.stop();
    return 0;
  },
};
