/**
 * NATS implementations of the messaging ports, on npm:@nats-io/transport-node (the only client
 * whose TLS supports client certificates on nats-server's STARTTLS-style upgrade under Deno)
 * and @nats-io/jetstream. TLS is mandatory; connection failures become ScoutError BROKER_CONNECT
 * with the cause named.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import {
  createInbox,
  credsAuthenticator,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  nanos,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JsMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, type KvEntry as NatsKvEntry, Kvm, KvWatchInclude } from "@nats-io/kv";
import { ScoutError } from "../errors.ts";

/** A message delivered to a subscriber. */
export interface BusMessage {
  /** The subject it was published on. */
  subject: string;
  /** The payload. */
  data: Uint8Array;
  /** Headers (first value of each), empty when none. */
  headers: Record<string, string>;
  /** Replies to the sender; present only when the message is a request. */
  respond?(data: Uint8Array): void;
}

/** Core publish/subscribe and request/reply. */
export interface Bus {
  /** Publishes fire-and-forget; throws BROKER_CONNECT when no connection was ever made. */
  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): void;
  /** Subscribes; subscriptions made before the first connection start when it comes. */
  subscribe(subject: string, onMessage: (m: BusMessage) => void): { unsubscribe(): void };
  /** Sends a request and resolves with the first reply; rejects with BROKER_CONNECT on timeout. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Resolves once the broker has processed everything sent so far. */
  flush(): Promise<void>;
  /**
   * Scatter-gather: publishes every request with one shared reply inbox and collects the
   * replies until `expected` answers (replies plus no-responder notices) came, the signal
   * aborts, or `maxWaitMs` passed since the publish. Never rejects for a missing answer.
   */
  gather(requests: GatherRequest[], opts: GatherOptions): Promise<GatherResult>;
}

/** One request of Bus.gather. */
export interface GatherRequest {
  /** Subject to publish on. */
  subject: string;
  /** The payload. */
  data: Uint8Array;
}

/** Options of Bus.gather. */
export interface GatherOptions {
  /** Longest wait for answers, in ms from the publish. */
  maxWaitMs: number;
  /** Stop once this many answers came; default: wait the whole maxWaitMs. */
  expected?: number;
  /** Sees each reply as it arrives (progress); must not throw. */
  onReply?(data: Uint8Array): void;
  /** Stops gathering early; what came so far is returned. */
  signal?: AbortSignal;
}

/** What Bus.gather collected. */
export interface GatherResult {
  /** The reply payloads in arrival order. */
  replies: Uint8Array[];
  /** How many "no responders" notices the broker sent (a subject nobody listens on). */
  noResponders: number;
  /** Why gathering ended. */
  ended: "expected" | "timeout" | "aborted";
}

/** Options of Stream.ensure. */
export interface StreamOptions {
  /** Oldest message age kept, in ms; default unlimited. */
  maxAgeMs?: number;
  /** Window in which a repeated msgId is a duplicate, in ms; default the server's (2 min). */
  duplicateWindowMs?: number;
}

/** A message read from a stream by Stream.consume. */
export interface StreamMessage {
  /** The subject it was published on. */
  subject: string;
  /** The payload. */
  data: Uint8Array;
  /** Headers (first value of each), empty when none. */
  headers: Record<string, string>;
  /** Its stream sequence; strictly increasing across the batches of one consume. */
  seq: number;
  /** When the stream stored it, in ms since the epoch (the broker's clock, not the sender's). */
  timeMs: number;
  /**
   * True when this durable consumer had acknowledged it before: it comes again only because the
   * caller asked to start earlier (ConsumeOptions.fromSeq), e.g. to rebuild state it lost.
   */
  replay: boolean;
}

/** Options of Stream.consume. */
export interface ConsumeOptions {
  /** Most messages handed to one handler call; default 256. */
  batch?: number;
  /**
   * The first stream sequence the caller needs (the one after the last it has kept). When the
   * durable consumer already delivered it, the consumer is re-created to start there; messages
   * below it are skipped. Default: where the consumer's acknowledgements stopped.
   */
  fromSeq?: number;
  /** How long the broker waits for an ack before delivering again, in ms; default 30000. */
  ackWaitMs?: number;
  /** Wait before a batch whose handler threw is handed over again, in ms; default 1000. */
  retryMs?: number;
  /** Receives problems (a handler that threw, a lost ack); never throws into the consumer. */
  onError?(detail: string): void;
}

/** A running Stream.consume. */
export interface Consumption {
  /** Stops fetching, waits for the batch in hand to be handled and acked, and returns. */
  stop(): Promise<void>;
}

/** Durable (JetStream) publishing with acknowledgement and de-duplication. */
export interface Stream {
  /** Creates the stream, or updates it to this configuration when it exists. */
  ensure(name: string, subjects: string[], opts: StreamOptions): Promise<void>;
  /** Publishes and waits for the stream's ack; a repeated msgId is acked as a duplicate. */
  publish(
    subject: string,
    data: Uint8Array,
    opts: { msgId: string; timeoutMs?: number },
  ): Promise<{ seq: number; duplicate: boolean }>;
  /**
   * Reads a stream through a durable pull consumer named `durable` (created when missing, with
   * ack-all): hands messages to `handler` in stream order, in batches, and acknowledges a batch
   * (one ack-all on its last message) only after the handler returned. A handler that throws
   * gets the same batch again after `retryMs`, so nothing is skipped and order is kept. After a
   * restart the consumer resumes after the last acknowledged message (or at `fromSeq`), in order:
   * a consumer with deliveries that were never acknowledged is re-created at that point instead
   * of waiting for redelivery.
   */
  consume(
    stream: string,
    durable: string,
    handler: (batch: StreamMessage[]) => Promise<void>,
    opts?: ConsumeOptions,
  ): Promise<Consumption>;
}

/** A connection event reported through BrokerOptions.onEvent. */
export interface BrokerEvent {
  /** What happened. */
  kind: "connected" | "disconnected" | "reconnecting" | "error";
  /** The server or the error message. */
  detail: string;
}

/** TLS material as PEM text. */
export interface BrokerTls {
  /** CA certificate(s) that verify the broker. */
  ca: string;
  /** Client certificate for mutual TLS. */
  cert?: string;
  /** Client private key for mutual TLS. */
  key?: string;
}

/** Options of connectBroker. */
export interface BrokerOptions {
  /** Broker URLs, `tls://host:port` or `nats://host:port` (TLS is forced either way). */
  urls: string[];
  /** TLS material; null is refused with BROKER_TLS_REQUIRED. */
  tls: BrokerTls | null;
  /** Text of a creds file (JWT + nkey seed) for operator-mode brokers. */
  creds?: string;
  /** Connection name shown by the broker. */
  name: string;
  /**
   * Prefix of the client's reply subjects (default `_INBOX`). A node uses `_INBOX_<token>`:
   * the managed broker lets it subscribe to its own inbox only, so no node reads another's
   * replies (JetStream publish acks among them).
   */
  inboxPrefix?: string;
  /** Receives connection events; never throws into the client. */
  onEvent?(e: BrokerEvent): void;
  /**
   * What to do when the first connection fails. "fail" (default): connectBroker rejects with
   * BROKER_CONNECT naming the cause. "retry": connectBroker resolves at once without contacting
   * the broker; the handle keeps trying in the background with jittered backoff, forever,
   * reporting each failure as an "error" event, until it connects or is closed.
   */
  firstConnect?: "fail" | "retry";
  /** Base wait between reconnect attempts, in ms; default 2000. */
  reconnectWaitMs?: number;
  /** Random extra wait added to each reconnect attempt, in ms; default 1000. */
  reconnectJitterMs?: number;
  /**
   * Limit of one connection attempt, in ms; default 10000. When the broker rejects the client
   * certificate after the handshake, Deno's node:tls may only notice through this timeout.
   */
  connectTimeoutMs?: number;
}

/** One value (or deletion marker) of a key-value bucket. */
export interface KvEntry {
  /** The key. */
  key: string;
  /** The value; empty for deletions. */
  value: Uint8Array;
  /** The bucket's revision of this entry (its stream sequence). */
  revision: number;
  /** PUT for a value; DEL or PURGE for a deletion. */
  operation: "PUT" | "DEL" | "PURGE";
  /** When the bucket stored it, ms since the epoch (the broker's clock). */
  timeMs: number;
}

/** A running Kv.watch. */
export interface KvWatch {
  /** Stops watching. */
  stop(): void;
}

/** A JetStream key-value bucket. */
export interface Kv {
  /** The key's current entry (a deletion marker included), or null when it never existed. */
  get(key: string): Promise<KvEntry | null>;
  /** Stores a value; with `previousRevision` only when the key is still at that revision. */
  put(key: string, value: Uint8Array, opts?: { previousRevision?: number }): Promise<number>;
  /** Puts a deletion marker (history is kept). */
  delete(key: string): Promise<void>;
  /**
   * Watches one key: first its current entry (the initial snapshot, when there is one), then
   * every change, in order, to `onEntry`; survives reconnects.
   */
  watch(
    key: string,
    onEntry: (e: KvEntry) => void,
    opts?: { onError?: (detail: string) => void },
  ): Promise<KvWatch>;
  /** Every kept entry of a key, oldest first. */
  history(key: string): Promise<KvEntry[]>;
  /** The keys with a current value, matching the NATS subject filter (default all). */
  keys(filter?: string): Promise<string[]>;
}

/** Options of Broker.kv. */
export interface KvOptions {
  /** Create the bucket when it does not exist (needs the right to); default false. */
  create?: boolean;
  /** Entries kept per key when creating; default 10. */
  history?: number;
}

/** A broker connection: the ports plus lifecycle. */
export interface Broker {
  /** Core messaging. */
  bus: Bus;
  /** JetStream publishing. */
  stream: Stream;
  /**
   * Opens a JetStream key-value bucket; rejects with BROKER_CONNECT when it does not exist
   * (and `create` is not set) or the broker is not connected.
   */
  kv(bucket: string, opts?: KvOptions): Promise<Kv>;
  /** Whether the connection is up right now. */
  status(): "connected" | "disconnected";
  /** Closes the connection (and stops any first-connect retries). */
  close(): Promise<void>;
}

const TLS_HINT =
  "give the broker's CA with --tls-ca and a client certificate with --tls-cert/--tls-key " +
  "(mutual TLS), or --tls-ca with --creds for an operator-mode broker";

/** Checks the options; throws BROKER_TLS_REQUIRED when TLS is missing. Exported for tests. */
export function checkBrokerOptions(options: BrokerOptions): BrokerTls {
  if (options.urls.length === 0) {
    throw new ScoutError("BROKER_CONNECT", "no broker URL given", {
      hint: "give at least one broker URL, such as tls://nats.example.com:4222",
    });
  }
  for (const url of options.urls) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== "nats" && scheme !== "tls") {
      throw new ScoutError("BROKER_CONNECT", `broker URL ${url} has unsupported scheme ${scheme}`, {
        hint: "use tls://host:port (or nats://host:port together with TLS options)",
        context: { url },
      });
    }
  }
  const tls = options.tls;
  if (tls === null || !tls.ca) {
    const url = options.urls[0]!;
    throw new ScoutError(
      "BROKER_TLS_REQUIRED",
      `broker URL ${url} has no TLS configuration; Scout connects to brokers only over TLS`,
      { hint: TLS_HINT, context: { urls: options.urls } },
    );
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ScoutError(
      "BROKER_TLS_REQUIRED",
      "a client certificate needs its key and vice versa",
      {
        hint: "give both --tls-cert and --tls-key",
      },
    );
  }
  if (tls.cert === undefined && options.creds === undefined) {
    throw new ScoutError(
      "BROKER_TLS_REQUIRED",
      "no client credentials: neither a client certificate nor a creds file was given",
      { hint: TLS_HINT },
    );
  }
  return tls;
}

function toStr(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function codeOf(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === "string") return c;
    cur = cur.cause;
  }
  return "";
}

/** Explains why a connection attempt failed, inspecting our own certificate where the broker's reply is opaque. */
export function diagnose(err: unknown, tls: BrokerTls, now: Date = new Date()): string {
  const code = codeOf(err);
  const msg = toStr(err);
  if (code === "ECONNREFUSED" || /connection refused/i.test(msg)) {
    return "connection refused: nothing listens at the broker address";
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `broker host not found (${msg})`;
  if (
    /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE)$/
      .test(code) || /UnknownIssuer|unknown ca/i.test(msg)
  ) {
    return `unknown CA: the broker's certificate is not signed by the CA given with --tls-ca (${msg})`;
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
    return `broker certificate expired or not yet valid (${msg})`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `broker certificate does not name the host in the URL (${msg})`;
  }
  if (/does not support 'tls'/.test(msg)) {
    return "the broker does not offer TLS; Scout connects only over TLS";
  }
  if (/unable to parse credentials/.test(msg)) {
    return "creds file unreadable: expected a NATS USER JWT block and a USER NKEY SEED block";
  }
  if (/Authorization Violation|authentication/i.test(msg)) {
    return `the broker refused the credentials: ${msg}`;
  }
  // The broker aborted the handshake (EPIPE/EPERM/ECONNRESET/fatal alert): look at our certificate.
  if (tls.cert === undefined) {
    return `no client certificate: the broker requires mutual TLS and closed the handshake (${msg})`;
  }
  try {
    const cert = new X509Certificate(tls.cert);
    if (cert.validToDate.getTime() < now.getTime()) {
      return `client certificate expired on ${cert.validToDate.toISOString()}; the broker rejected it`;
    }
    if (cert.validFromDate.getTime() > now.getTime()) {
      return `client certificate not valid before ${cert.validFromDate.toISOString()}`;
    }
    const ca = new X509Certificate(tls.ca);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
      return `unknown CA: the client certificate (issuer ${cert.issuer}) is not signed by the CA ` +
        `given with --tls-ca, and the broker rejected it`;
    }
  } catch (e) {
    return `client certificate unreadable: ${toStr(e)}`;
  }
  return `the broker rejected the TLS handshake: ${msg}`;
}

// Deno's node:tls raises a late TLS alert (the server rejecting our client certificate after
// the handshake finished on our side) as an uncaught error instead of a socket event. While any
// broker is open, such alerts are swallowed here and reported as "error" events.
const alertSinks = new Set<(detail: string) => void>();
function onGlobalError(e: Event): void {
  const err = (e as ErrorEvent).error;
  const code = codeOf(err);
  if (/^received fatal alert/.test(toStr(err)) || code.startsWith("ERR_SSL_")) {
    e.preventDefault();
    for (const sink of alertSinks) sink(`TLS alert from broker: ${toStr(err)}`);
  }
}
function addAlertSink(sink: (detail: string) => void): void {
  if (alertSinks.size === 0) globalThis.addEventListener("error", onGlobalError);
  alertSinks.add(sink);
}
function removeAlertSink(sink: (detail: string) => void): void {
  alertSinks.delete(sink);
  if (alertSinks.size === 0) globalThis.removeEventListener("error", onGlobalError);
}

function toRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [k, v] of h) if (v[0] !== undefined) out[k] = v[0];
  return out;
}

interface SubRecord {
  subject: string;
  onMessage: (m: BusMessage) => void;
  sub: Subscription | null;
  done: boolean;
}

/**
 * Connects to a broker over TLS (mutual TLS with a client certificate, or a creds file over
 * server-verified TLS) and returns the Bus and Stream ports.
 *
 * Refuses at once, without contacting anything, with BROKER_TLS_REQUIRED when `tls` is null or
 * lacks client credentials. With `firstConnect: "fail"` (the default) it waits for the first
 * connection and rejects with BROKER_CONNECT naming the cause (unknown CA, certificate expired,
 * no client certificate, connection refused, ...). With `firstConnect: "retry"` it resolves
 * immediately and connects in the background, so a caller (the agent) never blocks on the
 * network and a broker that is down at start is picked up when it comes. Once connected, the
 * connection reconnects forever (maxReconnectAttempts -1) with jittered backoff.
 */
export async function connectBroker(options: BrokerOptions): Promise<Broker> {
  const tls = checkBrokerOptions(options);
  const emit = (kind: BrokerEvent["kind"], detail: string) => {
    try {
      options.onEvent?.({ kind, detail });
    } catch { /* a listener must not break the client */ }
  };
  const wait = options.reconnectWaitMs ?? 2000;
  const jitter = options.reconnectJitterMs ?? 1000;
  const tlsOpts: { ca: string; cert?: string; key?: string } = { ca: tls.ca };
  if (tls.cert !== undefined && tls.key !== undefined) {
    tlsOpts.cert = tls.cert;
    tlsOpts.key = tls.key;
  }
  const creds = options.creds;
  const natsOpts = {
    servers: options.urls.map((u) => u.replace(/^nats:\/\//i, "tls://")),
    tls: tlsOpts,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: wait,
    reconnectJitter: jitter,
    reconnectJitterTLS: jitter,
    timeout: options.connectTimeoutMs ?? 10_000,
    ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix }),
    ...(creds === undefined ? {} : {
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    }),
  };

  let nc: NatsConnection | null = null;
  let js: JetStreamClient | null = null;
  let connected = false;
  let closed = false;
  const subs = new Set<SubRecord>();
  const alertSink = (detail: string) => emit("error", detail);
  addAlertSink(alertSink);

  const attach = (rec: SubRecord) => {
    if (!nc || rec.done || rec.sub) return;
    rec.sub = nc.subscribe(rec.subject, {
      callback: (err: Error | null, m: Msg) => {
        if (err) return emit("error", `subscription ${rec.subject}: ${err.message}`);
        const bm: BusMessage = { subject: m.subject, data: m.data, headers: toRecord(m.headers) };
        if (m.reply) bm.respond = (data: Uint8Array) => void m.respond(data);
        try {
          rec.onMessage(bm);
        } catch (e) {
          emit("error", `subscriber of ${rec.subject} threw: ${toStr(e)}`);
        }
      },
    });
  };

  const adopt = (conn: NatsConnection) => {
    nc = conn;
    js = jetstream(conn);
    connected = true;
    emit("connected", conn.getServer());
    for (const rec of subs) attach(rec);
    (async () => {
      for await (const s of conn.status()) {
        switch (s.type) {
          case "disconnect":
            connected = false;
            emit("disconnected", s.server);
            break;
          case "reconnect":
            connected = true;
            emit("connected", s.server);
            break;
          case "reconnecting":
            emit("reconnecting", "");
            break;
          case "error":
            emit("error", s.error.message);
            break;
          default:
            break;
        }
      }
    })().catch((e) => emit("error", toStr(e)));
    conn.closed().then(() => {
      connected = false;
    });
  };

  const attempt = async (): Promise<NatsConnection> => {
    try {
      return await connect(natsOpts);
    } catch (e) {
      throw new ScoutError(
        "BROKER_CONNECT",
        `cannot connect to broker ${options.urls.join(",")}: ${diagnose(e, tls)}`,
        {
          hint: "check the broker address and that --tls-ca/--tls-cert/--tls-key (or --creds) " +
            "match the broker's configuration and are not expired",
          context: { urls: options.urls },
          cause: e,
        },
      );
    }
  };

  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  if ((options.firstConnect ?? "fail") === "fail") {
    try {
      adopt(await attempt());
    } catch (e) {
      removeAlertSink(alertSink);
      throw e;
    }
  } else {
    (async () => {
      while (!closed) {
        try {
          const conn = await attempt();
          if (closed) {
            await conn.close();
            return;
          }
          adopt(conn);
          return;
        } catch (e) {
          emit("error", toStr(e));
        }
        await new Promise<void>((r) => {
          wake = r;
          retryTimer = setTimeout(r, wait + Math.random() * jitter);
        });
      }
    })();
  }

  const notConnected = () =>
    new ScoutError("BROKER_CONNECT", "not connected to the broker yet", {
      hint: "the connection is still being established; retry later",
      context: { urls: options.urls },
    });

  const bus: Bus = {
    publish(subject, data, headers) {
      if (!nc) throw notConnected();
      if (headers && Object.keys(headers).length > 0) {
        const h = natsHeaders();
        for (const [k, v] of Object.entries(headers)) h.set(k, v);
        nc.publish(subject, data, { headers: h });
      } else {
        nc.publish(subject, data);
      }
    },
    subscribe(subject, onMessage) {
      const rec: SubRecord = { subject, onMessage, sub: null, done: false };
      subs.add(rec);
      attach(rec);
      return {
        unsubscribe() {
          rec.done = true;
          subs.delete(rec);
          rec.sub?.unsubscribe();
        },
      };
    },
    async request(subject, data, timeoutMs) {
      if (!nc) throw notConnected();
      try {
        const m = await nc.request(subject, data, { timeout: timeoutMs });
        return m.data;
      } catch (e) {
        throw new ScoutError("BROKER_CONNECT", `request on ${subject} failed: ${toStr(e)}`, {
          hint: "check that a responder listens on the subject and the broker is reachable",
          context: { subject },
          cause: e,
        });
      }
    },
    async flush() {
      if (!nc) throw notConnected();
      await nc.flush();
    },
    async gather(requests, opts) {
      const conn = nc as NatsConnection | null;
      if (!conn) throw notConnected();
      const replies: Uint8Array[] = [];
      let noResponders = 0;
      const done = Promise.withResolvers<GatherResult["ended"]>();
      const enough = () =>
        opts.expected !== undefined && replies.length + noResponders >= opts.expected;
      const inbox = createInbox(options.inboxPrefix);
      const sub = conn.subscribe(inbox, {
        callback: (err: Error | null, m: Msg) => {
          if (err) return emit("error", `gather inbox: ${err.message}`);
          if (m.data.length === 0 && m.headers?.code === 503) noResponders++;
          else {
            replies.push(m.data);
            try {
              opts.onReply?.(m.data);
            } catch { /* progress must not break gathering */ }
          }
          if (enough()) done.resolve("expected");
        },
      });
      const timer = setTimeout(() => done.resolve("timeout"), Math.max(0, opts.maxWaitMs));
      const onAbort = () => done.resolve("aborted");
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      if (opts.signal?.aborted) onAbort();
      try {
        for (const r of requests) conn.publish(r.subject, r.data, { reply: inbox });
        if (opts.expected !== undefined && opts.expected <= 0) done.resolve("expected");
        const ended = await done.promise;
        return { replies: [...replies], noResponders, ended };
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        sub.unsubscribe();
      }
    },
  };

  const consume: Stream["consume"] = async (name, durable, handler, opts = {}) => {
    if (!nc || !js) throw notConnected();
    const batch = Math.max(1, opts.batch ?? 256);
    const report = (detail: string) => {
      try {
        opts.onError?.(detail);
      } catch { /* a listener must not break the consumer */ }
      emit("error", detail);
    };
    const fail = (what: string, e: unknown) =>
      new ScoutError(
        "BROKER_CONNECT",
        `cannot ${what} consumer ${durable} on ${name}: ${toStr(e)}`,
        {
          hint: "check that JetStream is enabled and the stream exists",
          context: { stream: name, consumer: durable },
          cause: e,
        },
      );
    let ackedBefore = 0;
    let start: number;
    try {
      const jsm = await js.jetstreamManager();
      let info = null;
      try {
        info = await jsm.consumers.info(name, durable);
      } catch (e) {
        if (!/consumer not found/i.test(toStr(e))) throw e;
      }
      const config: Partial<ConsumerConfig> = {
        durable_name: durable,
        ack_policy: AckPolicy.All,
        ack_wait: nanos(opts.ackWaitMs ?? 30_000),
        max_ack_pending: Math.max(1000, batch * 4),
      };
      if (info) {
        ackedBefore = info.ack_floor.stream_seq;
        start = opts.fromSeq ??
          Math.max(ackedBefore + 1, info.config.opt_start_seq ?? 1);
        if (info.delivered.stream_seq >= start) {
          await jsm.consumers.delete(name, durable);
          info = null;
        }
      } else {
        start = opts.fromSeq ?? 1;
      }
      if (!info) {
        await jsm.consumers.add(name, {
          ...config,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: Math.max(1, start),
        });
      }
    } catch (e) {
      throw fail("create", e);
    }
    let messages: ConsumerMessages;
    try {
      const consumer = await js.consumers.get(name, durable);
      messages = await consumer.consume({ max_messages: batch * 2 });
    } catch (e) {
      throw fail("start", e);
    }
    let stopped = false;
    const buffer: JsMsg[] = [];
    let signal = Promise.withResolvers<void>();
    const pump = (async () => {
      try {
        for await (const m of messages) {
          buffer.push(m);
          signal.resolve();
        }
      } catch (e) {
        if (!stopped) report(`consumer ${durable} on ${name} ended: ${toStr(e)}`);
      }
      signal.resolve();
    })();
    let last = start - 1;
    const retryMs = opts.retryMs ?? 1000;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let wakeRetry: (() => void) | undefined;
    const worker = (async () => {
      while (!stopped) {
        if (buffer.length === 0) {
          await signal.promise;
          signal = Promise.withResolvers<void>();
          continue;
        }
        const taken = buffer.splice(0, batch);
        const fresh = taken.filter((m) => m.seq > last);
        if (fresh.length > 0) {
          const items: StreamMessage[] = fresh.map((m) => ({
            subject: m.subject,
            data: m.data,
            headers: toRecord(m.headers),
            seq: m.seq,
            timeMs: Number(m.timestampNanos / 1_000_000n),
            replay: m.seq <= ackedBefore,
          }));
          for (;;) {
            try {
              await handler(items);
              break;
            } catch (e) {
              report(`handler of ${durable} on ${name} failed, retrying: ${toStr(e)}`);
              if (stopped) return;
              await new Promise<void>((r) => {
                wakeRetry = r;
                retryTimer = setTimeout(r, retryMs);
              });
              if (stopped) return;
            }
          }
          last = fresh[fresh.length - 1]!.seq;
        }
        if (closed || (nc as NatsConnection | null)?.isClosed()) return;
        try {
          await taken[taken.length - 1]!.ackAck({ timeout: 5000 });
        } catch (e) {
          report(`ack of ${durable} on ${name} failed: ${toStr(e)}`);
        }
      }
    })();
    return {
      async stop() {
        if (stopped) return;
        stopped = true;
        if (retryTimer !== undefined) clearTimeout(retryTimer);
        wakeRetry?.();
        signal.resolve();
        await worker;
        await messages.close().catch(() => {});
        await pump;
      },
    };
  };
  const stream: Stream = {
    consume,
    async ensure(name, subjects, opts) {
      if (!nc) throw notConnected();
      const jsm = await js!.jetstreamManager();
      const cfg: Partial<StreamConfig> & { name: string } = { name, subjects };
      if (opts.maxAgeMs !== undefined) cfg.max_age = nanos(opts.maxAgeMs);
      if (opts.duplicateWindowMs !== undefined) {
        cfg.duplicate_window = nanos(opts.duplicateWindowMs);
      }
      try {
        await jsm.streams.add(cfg);
      } catch (e) {
        if (!/already in use/i.test(toStr(e))) {
          throw new ScoutError("BROKER_CONNECT", `cannot create stream ${name}: ${toStr(e)}`, {
            hint:
              "check that JetStream is enabled on the broker and the account may create streams",
            context: { stream: name },
            cause: e,
          });
        }
        const { name: _n, ...rest } = cfg;
        await jsm.streams.update(name, rest);
      }
    },
    async publish(subject, data, opts) {
      if (!js) throw notConnected();
      try {
        const ack = await js.publish(subject, data, {
          msgID: opts.msgId,
          timeout: opts.timeoutMs ?? 5000,
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (e) {
        throw new ScoutError(
          "BROKER_CONNECT",
          `durable publish on ${subject} failed: ${toStr(e)}`,
          {
            hint: "check that a stream covers the subject and the broker is reachable",
            context: { subject },
            cause: e,
          },
        );
      }
    },
  };

  const kv = async (bucket: string, kvOpts: KvOptions = {}): Promise<Kv> => {
    if (!nc || !js) throw notConnected();
    let b: KV;
    try {
      const kvm = new Kvm(js);
      b = kvOpts.create
        ? await kvm.create(bucket, { history: kvOpts.history ?? 10 })
        : await kvm.open(bucket);
    } catch (e) {
      throw new ScoutError(
        "BROKER_CONNECT",
        `cannot open key-value bucket ${bucket}: ${toStr(e)}`,
        {
          hint: "check that JetStream is enabled and the bucket exists (an operator creates it)",
          context: { bucket },
          cause: e,
        },
      );
    }
    return wrapKv(b, bucket);
  };

  return {
    bus,
    stream,
    kv,
    status: () => (connected && nc !== null && !nc.isClosed() ? "connected" : "disconnected"),
    async close() {
      if (closed) return;
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      wake?.();
      const conn = nc as NatsConnection | null;
      if (conn && !conn.isClosed()) await conn.close();
      connected = false;
      removeAlertSink(alertSink);
    },
  };
}

function toKvEntry(e: NatsKvEntry): KvEntry {
  return {
    key: e.key,
    value: e.value,
    revision: e.revision,
    operation: e.operation,
    timeMs: e.created.getTime(),
  };
}

function wrapKv(b: KV, bucket: string): Kv {
  const fail = (what: string, e: unknown) =>
    new ScoutError("BROKER_CONNECT", `${what} on bucket ${bucket} failed: ${toStr(e)}`, {
      hint: "check that the broker is reachable and the account may use the bucket",
      context: { bucket },
      cause: e,
    });
  return {
    async get(key) {
      try {
        const e = await b.get(key);
        return e === null ? null : toKvEntry(e);
      } catch (e) {
        throw fail(`get ${key}`, e);
      }
    },
    async put(key, value, opts = {}) {
      try {
        return await b.put(
          key,
          value,
          opts.previousRevision === undefined ? {} : { previousSeq: opts.previousRevision },
        );
      } catch (e) {
        throw fail(`put ${key}`, e);
      }
    },
    async delete(key) {
      try {
        await b.delete(key);
      } catch (e) {
        throw fail(`delete ${key}`, e);
      }
    },
    async watch(key, onEntry, opts = {}) {
      let iter;
      try {
        iter = await b.watch({ key, include: KvWatchInclude.LastValue });
      } catch (e) {
        throw fail(`watch ${key}`, e);
      }
      const it = iter;
      let stopped = false;
      (async () => {
        for await (const e of it) {
          try {
            onEntry(toKvEntry(e));
          } catch (err) {
            opts.onError?.(`watcher of ${key} threw: ${toStr(err)}`);
          }
        }
      })().catch((e) => {
        if (!stopped) opts.onError?.(`watch of ${key} ended: ${toStr(e)}`);
      });
      return {
        stop() {
          stopped = true;
          it.stop();
        },
      };
    },
    async history(key) {
      try {
        const out: KvEntry[] = [];
        const it = await b.history({ key });
        for await (const e of it) out.push(toKvEntry(e));
        return out.sort((x, y) => x.revision - y.revision);
      } catch (e) {
        throw fail(`history ${key}`, e);
      }
    },
    async keys(filter) {
      try {
        const out: string[] = [];
        const it = await b.keys(filter ?? ">");
        for await (const k of it) out.push(k);
        return out.sort();
      } catch (e) {
        throw fail("keys", e);
      }
    },
  };
}
