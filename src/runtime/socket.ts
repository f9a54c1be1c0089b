import { ScoutError } from "../errors.ts";

/** A running local socket server. */
export interface SocketServer {
  /** Stops listening, closes connections and removes the socket file. */
  stop(): Promise<void>;
}

/** Handles one decoded JSON request and returns the JSON reply. */
export type SocketHandler = (request: unknown) => Promise<unknown>;

const MAX_REQUEST_BYTES = 64 * 1024;
const MAX_REPLY_BYTES = 256 * 1024 * 1024;

async function readLine(conn: Deno.Conn, maxBytes: number): Promise<string> {
  const buf = new Uint8Array(4096);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    const chunk = buf.slice(0, n);
    const nl = chunk.indexOf(10);
    chunks.push(nl >= 0 ? chunk.slice(0, nl) : chunk);
    size += n;
    if (nl >= 0) break;
    if (size > maxBytes) throw new Error(`message over ${maxBytes} bytes`);
  }
  const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const data = new TextEncoder().encode(text);
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

async function isLive(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Serves JSON-line requests on a Unix socket readable and writable by the owner only
 * (mode 0600, inside the 0700 state directory). A stale socket file is replaced; a live
 * one means another agent runs with this state directory, which is refused.
 */
export async function serveSocket(path: string, handler: SocketHandler): Promise<SocketServer> {
  if (await isLive(path)) {
    throw new ScoutError(
      "CONTROL",
      `Another agent is already running with control socket "${path}"`,
      {
        hint: "stop it first, or give this agent another --state-dir",
      },
    );
  }
  await Deno.remove(path).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        try {
          const line = await readLine(conn, MAX_REQUEST_BYTES);
          let reply: unknown;
          try {
            reply = await handler(JSON.parse(line));
          } catch (e) {
            reply = { ok: false, error: { code: "USAGE", message: (e as Error).message } };
          }
          await writeAll(conn, JSON.stringify(reply) + "\n");
        } catch {
          // client went away
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    async stop() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
      await Deno.remove(path).catch(() => {});
    },
  };
}

/** Sends one JSON request to the agent's socket and returns its reply; NO_AGENT when none listens. */
export async function requestSocket(path: string, request: unknown): Promise<unknown> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    throw new ScoutError("NO_AGENT", `No running agent answers on "${path}"`, {
      hint: "start it with `scout agent`, or pass the --state-dir the agent uses",
      cause: e,
    });
  }
  try {
    await writeAll(conn, JSON.stringify(request) + "\n");
    const line = await readLine(conn, MAX_REPLY_BYTES);
    return JSON.parse(line);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
