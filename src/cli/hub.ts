import { parseDuration } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { type GatewayHandle, parseGatewayRules, startGateway, startHub } from "../hub/mod.ts";
import { createConsoleLogger, type LogLevel } from "../runtime/mod.ts";
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

const HELP = `scout hub: run the hub's central services (fleet view, event archive)

Usage: scout-hub hub --broker URL --tls-ca FILE (--tls-cert FILE --tls-key FILE | --creds FILE)
                     [flags]

Flags (each has a SCOUT_* environment twin, e.g. SCOUT_LISTEN):
  --broker URL            the fleet's NATS broker (repeatable); TLS always
  --tls-ca FILE           CA that verifies the broker
  --tls-cert FILE         client certificate (mutual TLS)
  --tls-key FILE          client key
  --creds FILE            NATS creds (JWT + nkey) for operator-mode brokers, with --tls-ca
  --listen ADDR           HTTP JSON API (default 127.0.0.1:8080); loopback only for now
  --retention DURATION    how long the SCOUT_EVENTS stream keeps events (default 30d)
  --stale-after DURATION  a node silent for longer is flagged stale (default 10m)
  --state-dir DIR         state directory; the view snapshot goes to DIR/hub (default /var/lib/scout)
  --log-level LEVEL       debug, info, warn or error (default info)
  --gateway FILE          event gateway rules (YAML or JSON): POST matching events to HTTP
                          endpoints as CloudEvents (no environment twin)

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

/** `scout-hub hub`: runs the hub until SIGINT or SIGTERM. */
export const hubCommand: Command = {
  name: "hub",
  summary: "run the hub: fleet state view, event archive and HTTP API",
  help: HELP,
  async run(args: string[], io: CliIo) {
    const { values } = parseFlags(args, {
      ...BROKER_FLAGS,
      listen: { type: "string" },
      retention: { type: "string" },
      "stale-after": { type: "string" },
      "state-dir": { type: "string" },
      "log-level": { type: "string" },
      gateway: { type: "string" },
    }, "hub");
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
    const done = Promise.withResolvers<void>();
    const onSignal = () => done.resolve();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    try {
      const brokerOptions: BrokerOptions = {
        urls: broker.urls,
        tls: {
          ca: broker.ca,
          ...(broker.cert === undefined ? {} : { cert: broker.cert }),
          ...(broker.key === undefined ? {} : { key: broker.key }),
        },
        ...(broker.creds === undefined ? {} : { creds: broker.creds }),
        name: "scout-hub",
      };
      const hub = await startHub({
        broker: brokerOptions,
        listen,
        streamMaxAgeMs: retentionMs,
        staleAfterMs,
        stateDir: flagOrEnv(values["state-dir"], io, "SCOUT_STATE_DIR", DEFAULT_STATE_DIR),
        logger,
      });
      // startHub owns its connection: the gateway gets its own, with the same broker flags.
      let gwBroker: Broker | null = null;
      let gateway: GatewayHandle | null = null;
      try {
        if (rules !== null) {
          gwBroker = await connectBroker({
            ...brokerOptions,
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
        await done.promise;
      } finally {
        await gateway?.stop();
        await gwBroker?.close();
        await hub.stop();
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
    return 0;
  },
};
