/**
 * Test harness for web pages: headless Chromium driven over its DevTools protocol (CDP) with
 * Deno's own WebSocket — no puppeteer, no browser download. Launch reads the
 * `DevTools listening on ws://...` line from the browser's stderr; pages are targets attached in
 * flat mode, so every command goes over the one browser socket with its session id.
 * @module
 */

function which(bin: string): boolean {
  try {
    return new Deno.Command(bin, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** The Chromium binary on PATH, or null. */
export const CHROMIUM: string | null = ["chromium", "chromium-browser", "google-chrome"]
  .find(which) ?? null;

/** Browser tests are skipped only when Chromium is missing and env CI is unset. */
export const SKIP_CHROMIUM: boolean = CHROMIUM === null && !Deno.env.get("CI");

/** One CDP event. */
export interface CdpEvent {
  /** Method, e.g. `Log.entryAdded`. */
  method: string;
  /** Parameters. */
  params: Record<string, unknown>;
  /** The session it came from, if any. */
  sessionId?: string;
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };

/** A running headless Chromium. */
export class Browser {
  readonly #proc: Deno.ChildProcess;
  readonly #ws: WebSocket;
  readonly #dir: string;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  /** Every event received, in order. */
  readonly events: CdpEvent[] = [];

  private constructor(proc: Deno.ChildProcess, ws: WebSocket, dir: string) {
    this.#proc = proc;
    this.#ws = ws;
    this.#dir = dir;
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      if (typeof msg.id === "number") {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${JSON.stringify(msg.error)}`));
        else p?.resolve(msg.result ?? {});
      } else if (typeof msg.method === "string") {
        this.events.push(msg as CdpEvent);
      }
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP socket closed"));
      this.#pending.clear();
    };
  }

  /** Starts Chromium headless on a free debugging port and connects to it. */
  static async launch(): Promise<Browser> {
    if (!CHROMIUM) throw new Error("chromium is not installed (apt-get install chromium)");
    const dir = await Deno.makeTempDir({ prefix: "scout-chromium-" });
    const proc = new Deno.Command(CHROMIUM, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--remote-debugging-port=0",
        `--user-data-dir=${dir}`,
        "--window-size=1200,800",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "", wsUrl: string | null = null;
    const deadline = Date.now() + 30_000;
    while (wsUrl === null) {
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`chromium did not print its DevTools address:\n${buf}`);
      }
      const { value, done } = await lines.read();
      if (done) throw new Error(`chromium exited before listening:\n${buf}`);
      buf += value;
      wsUrl = /DevTools listening on (ws:\/\/\S+)/.exec(buf)?.[1] ?? null;
    }
    // Keep draining stderr so the browser never blocks on a full pipe.
    (async () => {
      try {
        while (!(await lines.read()).done) { /* discard */ }
      } catch { /* closed */ }
    })();
    const ws = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
    });
    return new Browser(proc, ws, dir);
  }

  /** Sends one command and waits for its result. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, { resolve, reject });
    this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return promise;
  }

  /** Opens a new tab, attaches to it and enables Page, Runtime and Log events. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, String(sessionId));
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Log.enable");
    return page;
  }

  /** Closes the browser (gracefully, else killed) and removes its profile. */
  async close(): Promise<void> {
    try {
      await Promise.race([
        this.send("Browser.close"),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
    } catch { /* the socket went away with the browser */ }
    const timer = setTimeout(() => {
      try {
        this.#proc.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5000);
    await this.#proc.status;
    clearTimeout(timer);
    try {
      this.#ws.close();
    } catch { /* closed */ }
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** One attached tab. */
export class Page {
  readonly #browser: Browser;
  /** Its CDP session id. */
  readonly sessionId: string;

  /** Use Browser.newPage. */
  constructor(browser: Browser, sessionId: string) {
    this.#browser = browser;
    this.sessionId = sessionId;
  }

  /** Sends a command to this tab. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#browser.send(method, params, this.sessionId);
  }

  /** Events of this tab received so far. */
  events(): CdpEvent[] {
    return this.#browser.events.filter((e) => e.sessionId === this.sessionId);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const res = await this.send("Page.navigate", { url });
    if (res.errorText) throw new Error(`cannot navigate to ${url}: ${res.errorText}`);
  }

  /** Evaluates an expression in the page (promises awaited) and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const res = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (res.exceptionDetails) {
      throw new Error(`evaluate failed: ${JSON.stringify(res.exceptionDetails)}`);
    }
    return (res.result as { value: T }).value;
  }

  /** Polls an expression until it is truthy; returns its value. */
  async waitFor<T>(what: string, expression: string, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await this.evaluate<T>(expression).catch(() => undefined);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A PNG screenshot of the viewport, written to `file`. */
  async screenshot(file: string): Promise<void> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    const bin = atob(String(data));
    await Deno.writeFile(file, Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  }
}
