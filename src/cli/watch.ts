import { ScoutError } from "../errors.ts";
import {
  parseEvent,
  type ScoutEvent,
  scoutSubject,
  TRANSITION_PROTOCOL,
  watcherProtocol,
} from "../events.ts";
import { NAGIOS_STATUSES } from "../nagios.ts";
import { connectBroker } from "../transport/mod.ts";
import { BROKER_FLAGS, brokerFlags, type CliIo, type Command, parseFlags } from "./_common.ts";
import { brokerOptions } from "./_remote.ts";

const HELP = `scout watch: live stream of the fleet's check transitions and results

Usage: scout watch --broker URL --tls-ca FILE (--tls-cert FILE --tls-key FILE | --creds FILE)
                   [--node SUBSTR] [--check SUBSTR] [--status LIST] [--transitions-only] [--json]

Subscribes to scout.node.*.> (live events only, no history) and prints one line per machine
transition (HH:MM:SS node check FROM => TO) and per check result
(HH:MM:SS STATUS node check: first line of output). Runs until SIGINT or SIGTERM.

Flags (broker flags have SCOUT_* environment twins, e.g. SCOUT_BROKER):
  --broker URL            the fleet's NATS broker (repeatable); TLS always
  --tls-ca FILE           CA that verifies the broker
  --tls-cert FILE         client certificate (mutual TLS)
  --tls-key FILE          client key
  --creds FILE            NATS creds (JWT + nkey) for operator-mode brokers, with --tls-ca
  --node SUBSTR           only nodes whose identity contains SUBSTR
  --check SUBSTR          only checks whose name contains SUBSTR
  --status LIST           only results with these statuses (OK,WARNING,CRITICAL,UNKNOWN);
                          transitions are not filtered by it
  --transitions-only      only transitions, no results
  --json                  print the CloudEvents as JSON lines

Colours (OK green, WARNING yellow, CRITICAL red, UNKNOWN magenta) only on a terminal and when
NO_COLOR is unset. Events that are not valid Scout events are ignored and counted.`;

/** What watch shows of one event, or null for an event it does not show. */
export type WatchItem =
  | { kind: "transition"; timeMs: number; node: string; check: string; from: string; to: string }
  | {
    kind: "result";
    timeMs: number;
    node: string;
    check: string;
    status: string;
    output: string;
  };

/** The filters of `scout watch`. */
export interface WatchFilter {
  /** Substring of the node identity. */
  node?: string;
  /** Substring of the check (machine) name. */
  check?: string;
  /** Statuses results must have (transitions are not filtered). */
  status?: string[];
  /** Only transitions. */
  transitionsOnly?: boolean;
}

const RESULT_TYPE = watcherProtocol("nagios");
const STATUSES: readonly string[] = NAGIOS_STATUSES;

/** The transition or check result an event carries; null for other events (lifecycle, exec...). */
export function watchItem(ev: ScoutEvent): WatchItem | null {
  const d = ev.data;
  const timeMs = Date.parse(ev.time);
  if (ev.type === TRANSITION_PROTOCOL) {
    return {
      kind: "transition",
      timeMs,
      node: ev.subject,
      check: String(d["machine"] ?? ""),
      from: String(d["from_state"] ?? ""),
      to: String(d["to_state"] ?? ""),
    };
  }
  if (ev.type === RESULT_TYPE) {
    return {
      kind: "result",
      timeMs,
      node: ev.subject,
      check: String(d["machine"] ?? ""),
      status: String(d["status"] ?? ""),
      output: String(d["output"] ?? ""),
    };
  }
  return null;
}

/** Whether an item passes the filters. */
export function matches(item: WatchItem, f: WatchFilter): boolean {
  if (f.node !== undefined && !item.node.includes(f.node)) return false;
  if (f.check !== undefined && !item.check.includes(f.check)) return false;
  if (item.kind === "result") {
    if (f.transitionsOnly) return false;
    if (f.status !== undefined && !f.status.includes(item.status)) return false;
  }
  return true;
}

const COLOURS: Record<string, string> = {
  OK: "\x1b[32m",
  WARNING: "\x1b[33m",
  CRITICAL: "\x1b[31m",
  UNKNOWN: "\x1b[35m",
};

function paint(text: string, colour: boolean): string {
  const c = COLOURS[text];
  return colour && c ? `${c}${text}\x1b[0m` : text;
}

/** HH:MM:SS of a time in local time. */
export function clockText(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The first line of a plugin output, without its perfdata (after "|"). */
export function firstLine(output: string): string {
  return (output.split("\n")[0] ?? "").split("|")[0]!.trim();
}

/** One line of text (no newline) for an item; states and statuses coloured when asked. */
export function formatItem(item: WatchItem, colour: boolean): string {
  const at = clockText(item.timeMs);
  if (item.kind === "transition") {
    return `${at} ${item.node} ${item.check} ${paint(item.from, colour)} => ${
      paint(item.to, colour)
    }`;
  }
  return `${at} ${paint(item.status, colour)} ${item.node} ${item.check}: ${
    firstLine(item.output)
  }`;
}

/** Reads `--status OK,warning,...`; throws USAGE for an unknown status. */
export function parseStatuses(text: string[]): string[] {
  const out = text.flatMap((s) => s.split(",")).map((s) => s.trim().toUpperCase())
    .filter((s) => s !== "");
  for (const s of out) {
    if (!STATUSES.includes(s)) {
      throw new ScoutError("USAGE", `--status: unknown status "${s}"`, {
        hint: "use OK, WARNING, CRITICAL or UNKNOWN, comma-separated",
      });
    }
  }
  return out;
}

/** What tests (and embedders) may inject into `scout watch`. */
export interface WatchOptions {
  /** Stops the watch when aborted, as SIGINT does. */
  stop?: AbortSignal;
  /** Called once the subscription is in place at the broker. */
  onReady?: () => void;
  /** Force colours on or off; default: stdout is a terminal and NO_COLOR is unset. */
  colour?: boolean;
  /** Whether to listen for SIGINT and SIGTERM; default true. */
  signals?: boolean;
}

/** Makes the `scout watch` command; options are for tests. */
export function makeWatchCommand(opts: WatchOptions = {}): Command {
  return {
    name: "watch",
    summary: "live stream of the fleet's check transitions and results",
    help: HELP,
    async run(args: string[], io: CliIo) {
      const { values, positionals } = parseFlags(args, {
        ...BROKER_FLAGS,
        node: { type: "string" },
        check: { type: "string" },
        status: { type: "string", multiple: true },
        "transitions-only": { type: "boolean" },
        json: { type: "boolean" },
      }, "watch");
      if (positionals.length > 0) {
        throw new ScoutError("USAGE", `unexpected argument "${positionals[0]}"`, {
          hint: "filter with --node and --check",
        });
      }
      const filter: WatchFilter = {};
      if (values.node !== undefined) filter.node = values.node;
      if (values.check !== undefined) filter.check = values.check;
      if (values.status !== undefined) filter.status = parseStatuses(values.status);
      if (values["transitions-only"]) filter.transitionsOnly = true;
      const broker = await brokerFlags(values, io);
      if (broker === null) {
        throw new ScoutError("USAGE", "scout watch needs a broker: no --broker given", {
          hint: "give --broker tls://host:4222 with --tls-ca and --tls-cert/--tls-key or --creds",
        });
      }
      const colour = opts.colour ??
        (io.env("NO_COLOR") === undefined && Deno.stdout.isTerminal());
      const done = Promise.withResolvers<void>();
      const onStop = () => done.resolve();
      if (opts.stop?.aborted) return 0;
      opts.stop?.addEventListener("abort", onStop, { once: true });
      const signals = opts.signals ?? true;
      if (signals) {
        Deno.addSignalListener("SIGINT", onStop);
        Deno.addSignalListener("SIGTERM", onStop);
      }
      let invalid = 0;
      try {
        const conn = await connectBroker({
          ...brokerOptions(broker, "scout-watch"),
          onEvent: (e) => {
            if (e.kind !== "connected") io.err(`scout watch: broker ${e.kind}: ${e.detail}\n`);
          },
        });
        try {
          const sub = conn.bus.subscribe("scout.node.*.>", (m) => {
            let ev: ScoutEvent;
            try {
              ev = parseEvent(new TextDecoder("utf-8", { fatal: true }).decode(m.data));
              // A node may only speak for itself: the subject must be its own.
              if (scoutSubject(ev.subject, ev) !== m.subject) throw new Error("foreign subject");
            } catch {
              invalid++;
              return;
            }
            const item = watchItem(ev);
            if (item === null || !matches(item, filter)) return;
            io.out(values.json ? JSON.stringify(ev) + "\n" : formatItem(item, colour) + "\n");
          });
          await conn.bus.flush();
          opts.onReady?.();
          await done.promise;
          sub.unsubscribe();
        } finally {
          await conn.close();
        }
      } finally {
        opts.stop?.removeEventListener("abort", onStop);
        if (signals) {
          Deno.removeSignalListener("SIGINT", onStop);
          Deno.removeSignalListener("SIGTERM", onStop);
        }
      }
      if (invalid > 0) io.err(`scout watch: ignored ${invalid} invalid event(s)\n`);
      return 0;
    },
  };
}

/** `scout watch`: prints the fleet's transitions and results until SIGINT or SIGTERM. */
export const watchCommand: Command = makeWatchCommand();
