/**
 * The hub's live feed: `GET /api/v1/events`, a server-sent event stream telling the status page
 * (or any client) that the fleet view changed. It carries no view data: each message is a small
 * ping after which a client re-reads `/api/v1/nodes` and `/api/v1/checks`, so the JSON API stays
 * the one source of truth and a client that missed messages never holds a half-updated picture.
 *
 * Messages (`event:` name, JSON `data:`):
 * - `hello` `{"seq":N}` once on connect (N: the last stream sequence in the view);
 * - `changed` `{"seq":N}` at most once per debounce window (default 200 ms) after the view
 *   changed: the first change arms a timer, later ones in the window ride along, so the delay is
 *   bounded even under a steady stream of events;
 * - `heartbeat` `{"seq":N}` every heartbeat interval (default 15 s), which keeps proxies from
 *   closing an idle stream and lets the page refresh ages and stale marks.
 *
 * close() ends every open stream (the hub calls it first when it stops, so the HTTP server's
 * shutdown does not wait on them) and refuses new ones with 503.
 * @module
 */

/** Options of a LiveFeed. */
export interface LiveFeedOptions {
  /** Window in which view changes are coalesced into one `changed` message; default 200 ms. */
  debounceMs?: number;
  /** Interval of `heartbeat` messages; default 15 s. */
  heartbeatMs?: number;
  /** Most streams open at once; more are refused with 503. Default 64. */
  maxClients?: number;
}

/** Messages a slow client may have queued before it is dropped. */
const MAX_BACKLOG = 64;
const encoder = new TextEncoder();

/** The set of open event streams and the change notification that feeds them. */
export class LiveFeed {
  readonly #debounceMs: number;
  readonly #heartbeatMs: number;
  readonly #maxClients: number;
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #seq = 0;
  #pending: ReturnType<typeof setTimeout> | null = null;
  #beat: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  /** A feed with no clients yet. */
  constructor(opts: LiveFeedOptions = {}) {
    this.#debounceMs = opts.debounceMs ?? 200;
    this.#heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.#maxClients = opts.maxClients ?? 64;
  }

  /** How many streams are open. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Tells the feed the view changed and now holds stream sequence `seq`. */
  notify(seq: number): void {
    this.#seq = seq;
    if (this.#closed || this.#pending !== null || this.#clients.size === 0) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      this.#broadcast("changed");
    }, this.#debounceMs);
  }

  /** Answers `GET /api/v1/events` (HEAD gets the headers only). */
  response(method = "GET"): Response {
    if (this.#closed) return new Response("the hub is stopping\n", { status: 503 });
    if (this.#clients.size >= this.#maxClients) {
      return new Response("too many event streams\n", {
        status: 503,
        headers: { "retry-after": "10" },
      });
    }
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    };
    if (method === "HEAD") return new Response(null, { headers });
    let me: ReadableStreamDefaultController<Uint8Array> | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        me = c;
        this.#clients.add(c);
        c.enqueue(encoder.encode(`retry: 2000\n${message("hello", this.#seq)}`));
        this.#beat ??= setInterval(() => this.#broadcast("heartbeat"), this.#heartbeatMs);
      },
      cancel: () => {
        if (me) this.#drop(me);
      },
    });
    return new Response(body, { headers });
  }

  /** Ends every open stream and refuses new ones. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#pending !== null) clearTimeout(this.#pending);
    this.#pending = null;
    for (const c of [...this.#clients]) {
      this.#drop(c);
      try {
        c.close();
      } catch {
        // already closed or errored by the client going away
      }
    }
  }

  #drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.#clients.delete(c);
    if (this.#clients.size === 0 && this.#beat !== null) {
      clearInterval(this.#beat);
      this.#beat = null;
    }
  }

  #broadcast(event: string): void {
    const bytes = encoder.encode(message(event, this.#seq));
    for (const c of [...this.#clients]) {
      if (c.desiredSize !== null && c.desiredSize < -MAX_BACKLOG) {
        // A client that reads nothing: drop it rather than queue without bound.
        this.#drop(c);
        try {
          c.close();
        } catch {
          // gone already
        }
        continue;
      }
      try {
        c.enqueue(bytes);
      } catch {
        this.#drop(c);
      }
    }
  }
}

function message(event: string, seq: number): string {
  return `event: ${event}\ndata: ${JSON.stringify({ seq })}\n\n`;
}
