/**
 * `scout hub`, first part: the SCOUT_EVENTS archive stream, the fleet state view fed by a durable
 * consumer of it, the republishing of verified events on Choria's subjects, and the HTTP JSON
 * API on loopback. The view is kept in `<state-dir>/hub/view.json` together with the last stream
 * sequence it holds, written at most once per `snapshotIntervalMs` and on stop, so a restart
 * resumes after that sequence (see startHub for why acknowledging every batch at once stays
 * exact); without a state directory (or when the snapshot is gone) the view is rebuilt from the
 * whole stream, and events already republished are not republished again. The hub's metrics
 * (`GET /metrics`, see metrics.ts) are counted from the same messages and kept in the same snapshot.
 * @module
 */
import { ScoutError } from "../errors.ts";
import { choriaSubjectOf } from "../events.ts";
import type { Logger } from "../runtime/mod.ts";
import {
  type Broker,
  type BrokerOptions,
  connectBroker,
  type Consumption,
  type StreamMessage,
} from "../transport/mod.ts";
import {
  applyMetrics,
  createMetrics,
  type HubMetrics,
  renderMetrics,
  restoreMetrics,
  snapshotMetrics,
} from "./metrics.ts";
import { LiveFeed } from "./live.ts";
import { pageResponse } from "./page.ts";
import {
  applyEvent,
  createView,
  type FleetView,
  listNodes,
  parseCheckFilter,
  queryChecks,
  restoreView,
  snapshotView,
} from "./view.ts";

/** The stream that archives every node event. */
export const EVENTS_STREAM = "SCOUT_EVENTS";
/** The subjects it covers. */
export const EVENTS_SUBJECTS: readonly string[] = ["scout.node.*.>"];
/** The hub's durable consumer of the stream. */
export const HUB_CONSUMER = "scout-hub-view";
/** Default duplicate window of the stream: a re-sent event id within it is dropped. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 10 * 60_000;
/** Default least time between two writes of the hub's view snapshot. */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 1000;

/** Options of startHub. */
export interface HubOptions {
  /** How to reach the broker (TLS always). */
  broker: BrokerOptions;
  /** HTTP API address, `host:port`; loopback only for now. Port 0 picks a free port. */
  listen: string;
  /** Oldest event the stream keeps, in ms; undefined keeps everything. */
  streamMaxAgeMs?: number;
  /** Duplicate window of the stream, in ms; default 10 minutes. */
  duplicateWindowMs?: number;
  /** A node silent for longer than this is flagged stale. */
  staleAfterMs: number;
  /** Where the view snapshot is kept; null keeps it in memory only. */
  stateDir: string | null;
  /** Where the hub logs. */
  logger: Logger;
  /** Events per consumer batch; default 256. */
  batch?: number;
  /**
   * Least time between two writes of the view snapshot (with a state directory), in ms; default
   * 1000. A snapshot is written this long after the last one once new events were applied, and on
   * stop.
   */
  snapshotIntervalMs?: number;
  /**
   * Keep trying when the broker cannot be reached at start (backoff 1 s doubling to 30 s, each
   * failure logged) until it answers or `signal` aborts; default false (fail at once).
   */
  retryFirstConnect?: boolean;
  /** Aborts a first-connect retry loop. */
  signal?: AbortSignal;
}

/** A running hub. */
export interface HubHandle {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The live view (read it, do not change it). */
  view: FleetView;
  /** The live metrics counters (read them, do not change them). */
  metrics: HubMetrics;
  /** The last stream sequence applied to the view. */
  lastSeq(): number;
  /**
   * Ends the open event streams, stops the consumer (after the batch in hand), the HTTP server
   * and the connection.
   */
  stop(): Promise<void>;
}

/** Splits `host:port`, `[v6]:port` or `:port`; throws USAGE when it is not one. */
export function parseListen(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new ScoutError("USAGE", `--listen "${addr}" is not host:port`, {
      hint: "give an address such as 127.0.0.1:8080",
      context: { listen: addr },
    });
  }
  return { hostname: m[1] ?? m[2] ?? "", port };
}

/** Whether a listen host stays on this machine. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Parses `--listen` and refuses addresses beyond loopback (they need TLS and a token). */
export function checkListen(addr: string): { hostname: string; port: number } {
  const l = parseListen(addr);
  if (!isLoopback(l.hostname)) {
    throw new ScoutError(
      "USAGE",
      `--listen ${addr} is not a loopback address; the hub's API beyond loopback needs TLS and ` +
        "an operator token, which this version does not support yet",
      {
        hint: "listen on 127.0.0.1 (the default) and put a TLS proxy with authentication in front",
        context: { listen: addr },
      },
    );
  }
  return l;
}

interface Snapshot {
  seq: number;
  view: unknown;
  metrics?: unknown;
}

interface Loaded {
  seq: number;
  view: FleetView;
  metrics: HubMetrics;
}

const fresh = (): Loaded => ({ seq: 0, view: createView(), metrics: createMetrics() });

async function loadSnapshot(file: string, logger: Logger): Promise<Loaded> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      logger.warn("cannot read the view snapshot; rebuilding from the stream", {
        file,
        error: String(e),
      });
    }
    return fresh();
  }
  try {
    const snap = JSON.parse(text) as Snapshot;
    if (!Number.isInteger(snap.seq) || snap.seq < 0) throw new Error("no sequence");
    // A snapshot without metrics (an older hub's) is rebuilt too, so the counters stay exact.
    if (snap.metrics === undefined) throw new Error("no metrics");
    return { seq: snap.seq, view: restoreView(snap.view), metrics: restoreMetrics(snap.metrics) };
  } catch (e) {
    logger.warn("the view snapshot is damaged; rebuilding from the stream", {
      file,
      error: e instanceof Error ? e.message : String(e),
    });
    return fresh();
  }
}

/** The snapshot's text, taken synchronously so that view, metrics and seq belong together. */
function snapshotText(seq: number, view: FleetView, metrics: HubMetrics): string {
  const snap: Snapshot = { seq, view: snapshotView(view), metrics: snapshotMetrics(metrics) };
  return JSON.stringify(snap);
}

async function writeSnapshot(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, file);
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * Starts the hub: connects, ensures the SCOUT_EVENTS stream, loads the view snapshot, consumes
 * the stream durably into the view (republishing each newly verified event on Choria's
 * subjects), and serves the status page `GET /` (page.ts) with its live feed
 * `GET /api/v1/events` (live.ts), `GET /api/v1/nodes`, `GET /api/v1/checks`, `GET /metrics` and
 * `GET /healthz`.
 *
 * Snapshots and acknowledgements, and why a restart neither loses nor double-counts: each batch
 * is acknowledged as soon as it is applied to the in-memory view, and the snapshot (view, metrics
 * and the last stream sequence they include, taken in one synchronous step between batches) is
 * written at most every `snapshotIntervalMs` and on stop. The two record different things:
 * - The snapshot's sequence is where the view resumes. A restarted hub always asks the consumer
 *   for `fromSeq` = that sequence + 1 (Stream.consume re-creates the durable consumer there when
 *   the acks went further), so the events applied after the last snapshot are read again and
 *   applied on top of exactly the state that did not include them: none is skipped, none counted
 *   twice. The stream keeps them: SCOUT_EVENTS has limits retention, so an ack removes nothing
 *   (only `streamMaxAgeMs`, far above the snapshot interval, ages events out).
 * - The ack floor is where republishing stopped. Messages at or below it come back with
 *   `replay` set and are applied to the view and metrics but not republished on Choria's subjects
 *   again; holding acks back to the snapshot would republish them twice after a crash.
 * Writing the snapshot is off the ack path, so ingest runs at the consumer's pace; a failed write
 * is logged and tried again an interval later (the view stays exact; a crash before the next good
 * write only means a longer replay).
 */
export async function startHub(opts: HubOptions): Promise<HubHandle> {
  const { hostname, port } = checkListen(opts.listen);
  const logger = opts.logger;
  let snapFile: string | null = null;
  if (opts.stateDir !== null) {
    const dir = `${opts.stateDir}/hub`;
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ScoutError("CONFIG_STATE", `cannot create the hub's state directory ${dir}`, {
        hint: "give --state-dir a directory the hub may write",
        context: { dir },
        cause: e,
      });
    }
    snapFile = `${dir}/view.json`;
  }
  const loaded = snapFile ? await loadSnapshot(snapFile, logger) : fresh();
  const view = loaded.view;
  const metrics = loaded.metrics;
  let lastSeq = loaded.seq;
  const snapshotIntervalMs = opts.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS;
  let savedSeq = loaded.seq;
  let lastSaveAt = -Infinity;
  let snapTimer: ReturnType<typeof setTimeout> | undefined;
  let saving: Promise<void> = Promise.resolve();
  /** Writes a snapshot of everything applied so far unless it is on disk already; one at a time. */
  const saveNow = (): Promise<void> => {
    saving = saving.then(async () => {
      if (snapFile === null || lastSeq === savedSeq) return;
      const seq = lastSeq;
      const text = snapshotText(seq, view, metrics);
      lastSaveAt = performance.now();
      try {
        await writeSnapshot(snapFile, text);
        savedSeq = seq;
      } catch (e) {
        logger.warn("cannot write the view snapshot; trying again", {
          file: snapFile,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    });
    return saving;
  };
  let snapshotsOn = true;
  /** Arms the snapshot timer when events were applied since the last snapshot. */
  const scheduleSnapshot = () => {
    if (snapFile === null || !snapshotsOn || snapTimer !== undefined) return;
    if (lastSeq === savedSeq) return;
    const wait = Math.max(0, lastSaveAt + snapshotIntervalMs - performance.now());
    snapTimer = setTimeout(() => {
      snapTimer = undefined;
      void saveNow().then(scheduleSnapshot);
    }, wait);
  };
  /** choriaSubject by event type: only the few verified types Scout knows reach it. */
  const choriaSubjects = new Map<string, string | null>();

  const connectOnce = () =>
    connectBroker({
      ...opts.broker,
      onEvent: (e) => {
        opts.broker.onEvent?.(e);
        if (e.kind === "error") logger.warn("broker", { detail: e.detail });
        else logger.info(`broker ${e.kind}`, { detail: e.detail });
      },
    });
  let broker: Broker;
  for (let waitMs = 1000;; waitMs = Math.min(waitMs * 2, 30_000)) {
    try {
      broker = await connectOnce();
      break;
    } catch (e) {
      if (!opts.retryFirstConnect || opts.signal?.aborted) throw e;
      logger.warn(`the broker is not reachable; trying again in ${waitMs / 1000} s`, {
        error: e instanceof Error ? e.message : String(e),
      });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        opts.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      if (opts.signal?.aborted) throw e;
    }
  }
  let consumption: Consumption | null = null;
  let server: Deno.HttpServer<Deno.NetAddr> | null = null;
  const feed = new LiveFeed();
  try {
    await broker.stream.ensure(EVENTS_STREAM, [...EVENTS_SUBJECTS], {
      duplicateWindowMs: opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS,
      ...(opts.streamMaxAgeMs === undefined ? {} : { maxAgeMs: opts.streamMaxAgeMs }),
    });
    const handle = (batch: StreamMessage[]): Promise<void> => {
      const before = lastSeq;
      for (const m of batch) {
        if (m.seq <= lastSeq) continue;
        const verdict = applyEvent(view, m.subject, m.data, m.timeMs);
        applyMetrics(metrics, m.subject, verdict);
        if (verdict.ok) {
          if (!m.replay) {
            try {
              const type = verdict.event.type;
              let choria = choriaSubjects.get(type);
              if (choria === undefined) {
                // null: Choria has no such event (Scout's push events), nothing to republish.
                choria = choriaSubjectOf(verdict.event);
                choriaSubjects.set(type, choria);
              }
              if (choria !== null) broker.bus.publish(choria, m.data);
            } catch (e) {
              logger.warn("cannot republish an event on Choria's subjects", {
                seq: m.seq,
                error: e instanceof Error ? e.message : String(e),
              });
            }
          }
        } else {
          logger.warn(`rejected a ${verdict.reason} event`, {
            subject: m.subject,
            seq: m.seq,
            detail: verdict.detail,
          });
        }
        lastSeq = m.seq;
      }
      if (lastSeq !== before) {
        scheduleSnapshot();
        feed.notify(lastSeq);
      }
      return Promise.resolve();
    };
    consumption = await broker.stream.consume(EVENTS_STREAM, HUB_CONSUMER, handle, {
      fromSeq: lastSeq + 1,
      ...(opts.batch === undefined ? {} : { batch: opts.batch }),
      onError: (detail) => logger.warn("event consumer", { detail }),
    });

    const serving = Promise.withResolvers<Deno.NetAddr>();
    server = Deno.serve({
      hostname,
      port,
      onListen: (addr) => serving.resolve(addr as Deno.NetAddr),
      onError: (e) => {
        logger.error("HTTP handler failed", { error: String(e) });
        return json({ error: "internal error" }, 500);
      },
    }, (req) => {
      const url = new URL(req.url);
      if (req.method !== "GET" && req.method !== "HEAD") {
        return json({ error: `method ${req.method} not allowed` }, 405);
      }
      const now = Date.now();
      switch (url.pathname) {
        case "/":
          return pageResponse(req.method);
        case "/api/v1/events":
          return feed.response(req.method);
        case "/healthz":
          return json({
            status: broker.status() === "connected" ? "ok" : "degraded",
            broker: broker.status(),
            lastSeq,
            counters: view.counters,
          }, broker.status() === "connected" ? 200 : 503);
        case "/metrics":
          return new Response(renderMetrics(metrics, view, now, opts.staleAfterMs), {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          });
        case "/api/v1/nodes":
          return json({ nodes: listNodes(view, now, opts.staleAfterMs), counters: view.counters });
        case "/api/v1/checks": {
          try {
            const filter = parseCheckFilter(url.searchParams);
            return json({ checks: queryChecks(view, filter, now, opts.staleAfterMs) });
          } catch (e) {
            if (e instanceof ScoutError) return json({ error: e.message, hint: e.hint }, 400);
            throw e;
          }
        }
        default:
          return json({ error: `no such path ${url.pathname}` }, 404);
      }
    });
    const addr = await serving.promise;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    const url = `http://${host}:${addr.port}`;
    logger.info("hub listening", { url, stream: EVENTS_STREAM, fromSeq: lastSeq + 1 });
    let stopped = false;
    const c = consumption, s = server;
    return {
      url,
      view,
      metrics,
      lastSeq: () => lastSeq,
      async stop() {
        if (stopped) return;
        stopped = true;
        feed.close();
        await c.stop();
        snapshotsOn = false;
        clearTimeout(snapTimer);
        snapTimer = undefined;
        await saveNow();
        await s.shutdown();
        await broker.close();
      },
    };
  } catch (e) {
    feed.close();
    await consumption?.stop();
    snapshotsOn = false;
    clearTimeout(snapTimer);
    await saving;
    await server?.shutdown();
    await broker.close();
    if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) {
      throw new ScoutError("USAGE", `cannot listen on ${opts.listen}: ${e.message}`, {
        hint: "choose a free address with --listen",
        cause: e,
      });
    }
    throw e;
  }
}
