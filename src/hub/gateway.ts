/**
 * The event gateway: forwards verified events of the SCOUT_EVENTS stream to HTTP endpoints as
 * CloudEvents (HTTP protocol binding, binary or structured content mode), one rule per endpoint.
 *
 * Design: one durable JetStream consumer per rule, `scout-gateway-<rule>`, so an endpoint that is
 * down holds back only its own rule. Events are handed over in stream order; each batch is
 * acknowledged only after every event in it was delivered (2xx) or dead-lettered, so the
 * consumer is never acknowledged past an undelivered event. A failure that may pass (network
 * error, timeout, 408, 429, 5xx, anything not 2xx/4xx) is retried inside the handler with
 * exponential backoff (default 1s doubling to 60s), forever, without moving on: order is kept
 * and nothing is lost however long the outage. Any other 4xx is permanent: the event is published
 * on `scout.gateway.deadletter.<rule>` (the original event JSON, the reason in the
 * `Scout-Gateway-Reason` header) and delivery moves on. Each message is verified as the view
 * does (verifyEvent); malformed, schema-invalid and foreign ones are dropped and counted.
 *
 * A rule seen for the first time starts with the events stored after the gateway starts (not the
 * whole retained stream); after that it resumes where its acknowledgements stopped. Delivery is
 * exactly once while the gateway runs; when it is stopped in the middle of a batch during an
 * outage, the events of that batch already delivered are delivered again after the restart
 * (receivers can de-duplicate on the CloudEvent id).
 * @module
 */
import type { ScoutEvent } from "../events.ts";
import type { Logger } from "../runtime/mod.ts";
import type { Bus, Consumption, Stream, StreamMessage } from "../transport/mod.ts";
import { type GatewayRule, matchesRule } from "./_gateway_rules.ts";
import { type RejectReason, verifyEvent } from "./view.ts";

/** The stream the gateway reads (the hub's archive). */
export const GATEWAY_STREAM = "SCOUT_EVENTS";
/** Default prefix of the gateway's durable consumers; the rule name follows. */
export const GATEWAY_CONSUMER_PREFIX = "scout-gateway-";
/** Prefix of the dead-letter subjects; the rule name follows. */
export const DEADLETTER_PREFIX = "scout.gateway.deadletter.";
/** Header of a dead-lettered message that says why delivery gave up. */
export const DEADLETTER_REASON_HEADER = "Scout-Gateway-Reason";

/** Backoff between delivery attempts of one event. */
export interface RetryOptions {
  /** First wait, in ms; default 1000. */
  minMs?: number;
  /** Longest wait, in ms; default 60000. */
  maxMs?: number;
}

/** Options of startGateway. */
export interface GatewayOptions {
  /** JetStream port of the broker connection. */
  stream: Stream;
  /** Core messaging port (dead letters, JetStream API look-ups). */
  bus: Bus;
  /** The rules (parseGatewayRules). */
  rules: GatewayRule[];
  /** Where the gateway logs. */
  logger: Logger;
  /** Prefix of the durable consumer names; default `scout-gateway-`. */
  durable?: string;
  /** Backoff of failed deliveries. */
  retry?: RetryOptions;
  /** Events per consumer batch; default 32. */
  batch?: number;
  /** Where a rule without a consumer yet starts: new events (default) or the whole stream. */
  startAt?: "new" | "first";
}

/** Counters of one rule. */
export interface RuleStats {
  /** Events delivered (2xx). */
  delivered: number;
  /** Events that got a permanent refusal and went to the dead-letter subject. */
  deadLettered: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** Verified events that did not match the rule. */
  skipped: number;
  /** Messages refused by verification, by reason. */
  dropped: Record<RejectReason, number>;
  /** The last stream sequence handled (delivered, dead-lettered, skipped or dropped). */
  lastSeq: number;
  /** Why the event in hand is failing right now; null when delivery is flowing. */
  failing: string | null;
}

/** A running gateway. */
export interface GatewayHandle {
  /** Counters per rule name. */
  stats(): Record<string, RuleStats>;
  /** Stops every consumer (an event in retry is given up and stays unacknowledged). */
  stop(): Promise<void>;
}

/** An HTTP request body and headers for one event. */
export interface EncodedEvent {
  /** Request headers (lower-case names). */
  headers: Record<string, string>;
  /** Request body. */
  body: string;
}

const utf8 = new TextEncoder();

/**
 * Percent-encodes a binary-mode header value as the CloudEvents HTTP binding asks: every byte
 * outside printable ASCII, space, double quote and percent become `%XX`.
 */
export function encodeHeaderValue(value: string): string {
  let out = "";
  for (const b of utf8.encode(value)) {
    out += b > 0x20 && b < 0x7f && b !== 0x22 && b !== 0x25
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Binary content mode: every attribute as a `ce-` header, the data as the body. */
export function encodeBinary(ev: ScoutEvent): EncodedEvent {
  const headers: Record<string, string> = {
    "content-type": String(ev.datacontenttype ?? "application/json"),
  };
  for (const [k, v] of Object.entries(ev)) {
    if (k === "data" || k === "datacontenttype" || v === undefined || v === null) continue;
    headers[`ce-${k}`] = encodeHeaderValue(typeof v === "string" ? v : String(v));
  }
  return { headers, body: JSON.stringify(ev.data) };
}

/** Structured content mode: the whole event as `application/cloudevents+json`. */
export function encodeStructured(ev: ScoutEvent): EncodedEvent {
  return {
    headers: { "content-type": "application/cloudevents+json; charset=utf-8" },
    body: JSON.stringify(ev),
  };
}

/** The outcome of one delivery attempt. */
export type Attempt =
  | { ok: true }
  | { ok: false; permanent: boolean; reason: string; status?: number };

/** Whether an HTTP status is a permanent refusal (4xx other than 408 and 429). */
export function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function oneLine(text: string, max = 300): string {
  const t = text.replace(/[\r\n\t]+/g, " ").replace(/[^\x20-\x7e]/g, "?").trim();
  return t.length > max ? `${t.slice(0, max)}...` : t;
}

/** POSTs one event to a rule's endpoint; never throws (a stop turns into a failed attempt). */
export async function deliver(
  rule: GatewayRule,
  ev: ScoutEvent,
  stop: AbortSignal,
): Promise<Attempt> {
  const enc = rule.mode === "binary" ? encodeBinary(ev) : encodeStructured(ev);
  const timeout = AbortSignal.timeout(rule.timeoutMs);
  try {
    const res = await fetch(rule.url, {
      method: "POST",
      headers: { "user-agent": "scout-gateway", ...rule.headers, ...enc.headers },
      body: enc.body,
      signal: AbortSignal.any([stop, timeout]),
      redirect: "manual",
    });
    const text = await res.text().catch(() => "");
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const detail = text === "" ? "" : `: ${oneLine(text, 200)}`;
    return {
      ok: false,
      permanent: isPermanent(res.status),
      reason: `HTTP ${res.status} ${oneLine(res.statusText)}${detail}`.trim(),
      status: res.status,
    };
  } catch (e) {
    const reason = timeout.aborted
      ? `timed out after ${rule.timeoutMs}ms`
      : stop.aborted
      ? "gateway stopping"
      : oneLine(errText(e));
    return { ok: false, permanent: false, reason };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** Where a consumer that does not exist yet should start: after the stream's last message. */
async function startSeq(bus: Bus, durable: string): Promise<number | undefined> {
  const api = async (subject: string) =>
    JSON.parse(new TextDecoder().decode(await bus.request(subject, new Uint8Array(), 5000))) as {
      error?: { code?: number; err_code?: number; description?: string };
      state?: { last_seq?: number };
    };
  const consumer = await api(`$JS.API.CONSUMER.INFO.${GATEWAY_STREAM}.${durable}`);
  if (consumer.error === undefined) return undefined; // it exists: resume after its acks
  if (consumer.error.code !== 404) {
    throw new Error(`consumer ${durable}: ${consumer.error.description ?? "JetStream API error"}`);
  }
  const stream = await api(`$JS.API.STREAM.INFO.${GATEWAY_STREAM}`);
  if (stream.error !== undefined || stream.state?.last_seq === undefined) {
    throw new Error(
      `stream ${GATEWAY_STREAM}: ${stream.error?.description ?? "no state in the reply"}`,
    );
  }
  return stream.state.last_seq + 1;
}

/**
 * Starts one durable consumer per rule on SCOUT_EVENTS (which must exist: the hub ensures it)
 * and forwards matching verified events. Resolves once every consumer runs.
 */
export async function startGateway(opts: GatewayOptions): Promise<GatewayHandle> {
  const { stream, bus, rules, logger } = opts;
  const prefix = opts.durable ?? GATEWAY_CONSUMER_PREFIX;
  const minMs = Math.max(1, opts.retry?.minMs ?? 1000);
  const maxMs = Math.max(minMs, opts.retry?.maxMs ?? 60_000);
  const stopper = new AbortController();
  const stats: Record<string, RuleStats> = {};
  const consumptions: Consumption[] = [];

  const deadLetter = async (rule: GatewayRule, m: StreamMessage, reason: string, st?: number) => {
    bus.publish(`${DEADLETTER_PREFIX}${rule.name}`, m.data, {
      [DEADLETTER_REASON_HEADER]: oneLine(reason),
      "Scout-Gateway-Rule": rule.name,
      "Scout-Gateway-Subject": m.subject,
      "Scout-Gateway-Seq": String(m.seq),
      ...(st === undefined ? {} : { "Scout-Gateway-Status": String(st) }),
    });
    await bus.flush();
  };

  const handlerFor = (rule: GatewayRule, s: RuleStats) => async (batch: StreamMessage[]) => {
    for (const m of batch) {
      if (m.seq <= s.lastSeq) continue;
      const verdict = verifyEvent(m.subject, m.data);
      if (!verdict.ok) {
        s.dropped[verdict.reason]++;
        s.lastSeq = m.seq;
        logger.debug(`gateway rule ${rule.name} dropped a ${verdict.reason} event`, {
          subject: m.subject,
          seq: m.seq,
          detail: verdict.detail,
        });
        continue;
      }
      const ev = verdict.event;
      if (!matchesRule(rule.match, ev)) {
        s.skipped++;
        s.lastSeq = m.seq;
        continue;
      }
      for (let attempt = 1;; attempt++) {
        if (stopper.signal.aborted) throw new Error("gateway stopping");
        const r = await deliver(rule, ev, stopper.signal);
        let failure: string;
        if (r.ok) {
          s.delivered++;
          if (s.failing !== null) {
            logger.info(`gateway rule ${rule.name} delivers again`, { attempts: attempt });
          }
          s.failing = null;
          break;
        }
        if (stopper.signal.aborted) throw new Error("gateway stopping");
        if (r.permanent) {
          try {
            await deadLetter(rule, m, r.reason, r.status);
            s.deadLettered++;
            s.failing = null;
            logger.warn(`gateway rule ${rule.name} refused an event; sent to dead letters`, {
              id: ev.id,
              seq: m.seq,
              reason: r.reason,
            });
            break;
          } catch (e) {
            failure = `dead-letter publish failed: ${errText(e)}`;
          }
        } else {
          failure = r.reason;
        }
        s.retries++;
        const wait = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
        if (s.failing === null || attempt === 1 || wait === maxMs && attempt % 10 === 0) {
          logger.warn(`gateway rule ${rule.name} cannot deliver; retrying`, {
            id: ev.id,
            seq: m.seq,
            attempt,
            retryInMs: wait,
            reason: failure,
          });
        }
        s.failing = failure;
        await sleep(wait, stopper.signal);
      }
      s.lastSeq = m.seq;
    }
  };

  try {
    for (const rule of rules) {
      const s: RuleStats = {
        delivered: 0,
        deadLettered: 0,
        retries: 0,
        skipped: 0,
        dropped: { malformed: 0, foreign: 0, schema: 0 },
        lastSeq: 0,
        failing: null,
      };
      stats[rule.name] = s;
      const durable = `${prefix}${rule.name}`;
      const fromSeq = (opts.startAt ?? "new") === "new" ? await startSeq(bus, durable) : undefined;
      const c = await stream.consume(GATEWAY_STREAM, durable, handlerFor(rule, s), {
        batch: opts.batch ?? 32,
        // A long outage keeps a batch in hand; a short ack wait would only make the broker
        // resend what the consumer already holds.
        ackWaitMs: 10 * 60_000,
        ...(fromSeq === undefined ? {} : { fromSeq }),
        onError: (detail) => {
          if (!stopper.signal.aborted) logger.warn("gateway consumer", { rule: rule.name, detail });
        },
      });
      consumptions.push(c);
      logger.info("gateway rule started", {
        rule: rule.name,
        url: rule.url,
        mode: rule.mode,
        consumer: durable,
      });
    }
  } catch (e) {
    stopper.abort();
    await Promise.all(consumptions.map((c) => c.stop()));
    throw e;
  }

  let stopped: Promise<void> | null = null;
  return {
    stats: () => structuredClone(stats),
    stop() {
      if (stopped === null) {
        const pending = consumptions.map((c) => c.stop());
        stopper.abort();
        stopped = Promise.all(pending).then(() => {});
      }
      return stopped;
    },
  };
}
