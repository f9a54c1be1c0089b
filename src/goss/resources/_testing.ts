/**
 * Test helpers of the resource checkers (used only by *_test.ts): a fake GossHost whose
 * files, programs and network answers are plain data, and a tiny authoritative DNS server on
 * loopback UDP for real lookups through Deno.resolveDns.
 * @module
 */
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import type {
  Attrs,
  GossContext,
  GossDialOptions,
  GossDialResult,
  GossDnsRecord,
  GossDnsType,
  GossHashAlgorithm,
  GossHost,
  GossHttpRequest,
  GossHttpResponse,
  GossResourceType,
  GossRun,
  GossStat,
} from "../types.ts";

/** A file of the fake host: contents plus metadata (defaults: a 0644 root-owned file). */
export interface FakeFile {
  /** Contents (files) or link target (symlinks). */
  content?: string;
  /** Link target: makes this a symlink. */
  link?: string;
  /** Filetype when not a file or symlink ("directory", "socket"...). */
  filetype?: string;
  /** Permission bits. @default 0o644 */
  mode?: number;
  /** Owner. @default 0 */
  uid?: number;
  /** Group. @default 0 */
  gid?: number;
}

/** What a fake program answers: a result, or a function of the argv. */
export type FakeProgram = Partial<GossRun> | ((argv: string[]) => Partial<GossRun>);

/** The data a FakeHost serves. */
export interface FakeHostData {
  /** Absolute path -> file. Directories are implied by the paths of their entries. */
  files?: Record<string, FakeFile>;
  /** Program name -> answer; programs not listed are "not found" (which() gives null). */
  programs?: Record<string, FakeProgram>;
  /** Environment. */
  env?: Record<string, string>;
  /** Working directory. @default "/work" */
  cwd?: string;
  /** HTTP answers. */
  fetch?: (req: GossHttpRequest) => GossHttpResponse | Promise<GossHttpResponse>;
  /** DNS answers. */
  dns?: (
    name: string,
    type: GossDnsType,
    server: { ip: string; port: number } | undefined,
  ) => GossDnsRecord[] | Promise<GossDnsRecord[]>;
  /** TCP probe answers. */
  dial?: (o: GossDialOptions) => GossDialResult;
}

const enc = new TextEncoder();

function parent(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** A GossHost over plain data, recording the programs it was asked to run. */
export class FakeHost implements GossHost {
  /** Every argv run, in order. */
  readonly ran: string[][] = [];
  /** Every HTTP request made. */
  readonly requests: GossHttpRequest[] = [];
  /** Every DNS question asked. */
  readonly questions: { name: string; type: GossDnsType; server?: { ip: string; port: number } }[] =
    [];
  readonly #data: FakeHostData;

  /** Wraps the data; it may be changed later through `data`. */
  constructor(data: FakeHostData = {}) {
    this.#data = data;
  }

  /** The served data (mutable). */
  get data(): FakeHostData {
    return this.#data;
  }

  #file(path: string): FakeFile | undefined {
    return this.#data.files?.[path];
  }

  #isDir(path: string): boolean {
    const f = this.#file(path);
    if (f?.filetype === "directory") return true;
    const prefix = path === "/" ? "/" : path + "/";
    return Object.keys(this.#data.files ?? {}).some((p) => p.startsWith(prefix));
  }

  #resolve(path: string, depth = 0): string {
    if (depth > 20) throw new Error(`too many levels of symbolic links: ${path}`);
    const f = this.#file(path);
    if (f?.link !== undefined) {
      const target = f.link.startsWith("/") ? f.link : `${parent(path)}/${f.link}`;
      return this.#resolve(normalize(target), depth + 1);
    }
    return path;
  }

  stat(path: string, follow: boolean): Promise<GossStat | null> {
    const p = follow ? this.#resolve(path) : path;
    const f = this.#file(p);
    if (f === undefined) {
      if (!this.#isDir(p)) return Promise.resolve(null);
      return Promise.resolve({
        filetype: "directory",
        mode: 0o755,
        size: 4096,
        uid: 0,
        gid: 0,
        mtimeMs: 0,
      });
    }
    const filetype = f.link !== undefined ? "symlink" : f.filetype ?? "file";
    const size = f.link !== undefined ? f.link.length : enc.encode(f.content ?? "").length;
    return Promise.resolve({
      filetype,
      mode: f.mode ?? (filetype === "symlink" ? 0o777 : 0o644),
      size,
      uid: f.uid ?? 0,
      gid: f.gid ?? 0,
      mtimeMs: 0,
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    const f = this.#file(this.#resolve(path));
    if (f === undefined || f.content === undefined) {
      return Promise.reject(new Error(`No such file or directory (os error 2): ${path}`));
    }
    return Promise.resolve(enc.encode(f.content));
  }

  readLink(path: string): Promise<string> {
    const f = this.#file(path);
    if (f?.link === undefined) return Promise.reject(new Error(`not a symlink: ${path}`));
    return Promise.resolve(f.link);
  }

  async run(argv: string[], _options: { timeoutMs: number }): Promise<GossRun> {
    this.ran.push(argv);
    const name = argv[0] ?? "";
    const base = name.slice(name.lastIndexOf("/") + 1);
    const prog = this.#data.programs?.[name] ?? this.#data.programs?.[base];
    if (prog === undefined) throw new Error(`Cannot run "${name}": not found`);
    const r = typeof prog === "function" ? prog(argv) : prog;
    return await Promise.resolve({
      code: r.code === undefined ? 0 : r.code,
      stdout: r.stdout ?? "",
      stderr: r.stderr ?? "",
      timedOut: r.timedOut ?? false,
    });
  }

  env(name: string): string | undefined {
    return this.#data.env?.[name];
  }

  cwd(): string {
    return this.#data.cwd ?? "/work";
  }

  realPath(path: string): Promise<string> {
    // Resolve every component, as realpath(3) does.
    let cur = "/";
    for (const seg of normalize(path).split("/").filter((s) => s !== "")) {
      cur = this.#resolve(normalize(`${cur}/${seg}`));
    }
    if (this.#file(cur) === undefined && !this.#isDir(cur)) {
      return Promise.reject(new Error(`No such file or directory: ${path}`));
    }
    return Promise.resolve(cur);
  }

  readDir(path: string): Promise<string[]> {
    if (!this.#isDir(path)) return Promise.reject(new Error(`No such directory: ${path}`));
    const prefix = path === "/" ? "/" : path + "/";
    const names = new Set<string>();
    for (const p of Object.keys(this.#data.files ?? {})) {
      if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split("/")[0]!);
    }
    return Promise.resolve([...names]);
  }

  which(program: string): Promise<string | null> {
    const known = this.#data.programs ?? {};
    if (program in known) {
      return Promise.resolve(program.includes("/") ? program : `/usr/bin/${program}`);
    }
    return Promise.resolve(null);
  }

  async hashFile(path: string, algorithm: GossHashAlgorithm): Promise<string> {
    const bytes = await this.readFile(path);
    return createHash(algorithm).update(bytes).digest("hex");
  }

  async fetch(req: GossHttpRequest): Promise<GossHttpResponse> {
    this.requests.push(req);
    if (this.#data.fetch === undefined) throw new Error(`connection refused: ${req.url}`);
    return await this.#data.fetch(req);
  }

  async resolveDns(
    name: string,
    type: GossDnsType,
    options: { server?: { ip: string; port: number }; timeoutMs: number },
  ): Promise<GossDnsRecord[]> {
    this.questions.push({ name, type, ...(options.server ? { server: options.server } : {}) });
    if (this.#data.dns === undefined) return [];
    return await this.#data.dns(name, type, options.server);
  }

  dialTcp(o: GossDialOptions): Promise<GossDialResult> {
    const d = this.#data.dial;
    return Promise.resolve(d === undefined ? { ok: false, error: "connection refused" } : d(o));
  }
}

/** A context over a host with no denied paths unless given. */
export function ctxOf(host: GossHost, deniedPaths: readonly string[] = []): GossContext {
  return { host, deniedPaths };
}

/** Asks one resource for one property, as the engine would. */
export function actual(
  type: GossResourceType,
  target: string,
  attrs: Attrs,
  ctx: GossContext,
  property: string,
): Promise<unknown> {
  return type.system(target, attrs, ctx).get(property);
}

/** Rejection message of a promise that must reject. */
export async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("expected a rejection, got a value");
}

// ---- a tiny DNS server -------------------------------------------------------------------

/** Answers of the test DNS server: "name|TYPE" -> records; names are lowercase, no final dot. */
export type DnsZone = Record<string, GossDnsRecord[]>;

const TYPE_CODES: Record<GossDnsType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  CAA: 257,
};

function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.replace(/\.$/, "").split(".").filter((l) => l !== "")) {
    const b = enc.encode(label);
    out.push(b.length, ...b);
  }
  out.push(0);
  return out;
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function ipv6Bytes(ip: string): number[] {
  const [head, tail] = ip.includes("::") ? ip.split("::") as [string, string] : [ip, undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

function rdata(type: GossDnsType, r: GossDnsRecord): number[] {
  switch (type) {
    case "A":
      return String(r).split(".").map(Number);
    case "AAAA":
      return ipv6Bytes(String(r));
    case "CNAME":
    case "NS":
    case "PTR":
      return encodeName(String(r));
    case "MX": {
      const m = r as { preference: number; exchange: string };
      return [...u16(m.preference), ...encodeName(m.exchange)];
    }
    case "SRV": {
      const s = r as { priority: number; weight: number; port: number; target: string };
      return [...u16(s.priority), ...u16(s.weight), ...u16(s.port), ...encodeName(s.target)];
    }
    case "TXT":
      return (r as string[]).flatMap((s) => {
        const b = enc.encode(s);
        return [b.length, ...b];
      });
    case "CAA": {
      const c = r as { critical: boolean; tag: string; value: string };
      const tag = enc.encode(c.tag);
      return [c.critical ? 128 : 0, tag.length, ...tag, ...enc.encode(c.value)];
    }
  }
}

/** A running test DNS server; `silent` names are never answered (for timeouts). */
export interface TestDnsServer {
  /** UDP port on 127.0.0.1. */
  port: number;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Starts an authoritative DNS server on 127.0.0.1 (a random UDP port) answering from `zone`:
 * unknown names get NXDOMAIN, known names without records of the asked type an empty NOERROR,
 * names in `silent` nothing at all.
 */
export function startDnsServer(
  zone: DnsZone,
  silent: readonly string[] = [],
): Promise<TestDnsServer> {
  const sock = dgram.createSocket("udp4");
  const names = new Set(Object.keys(zone).map((k) => k.split("|")[0]!));
  sock.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    // Header (12 bytes), then one question: labels, type, class.
    let at = 12;
    const labels: string[] = [];
    while (at < msg.length && msg[at] !== 0) {
      const len = msg[at]!;
      labels.push(new TextDecoder().decode(msg.subarray(at + 1, at + 1 + len)));
      at += 1 + len;
    }
    at += 1;
    const qtype = (msg[at]! << 8) | msg[at + 1]!;
    const question = msg.subarray(12, at + 4);
    const name = labels.join(".").toLowerCase();
    if (silent.includes(name)) return;
    const type = (Object.keys(TYPE_CODES) as GossDnsType[]).find((t) => TYPE_CODES[t] === qtype);
    const records = type === undefined ? [] : zone[`${name}|${type}`] ?? [];
    const rcode = names.has(name) ? 0 : 3;
    const answers: number[] = [];
    for (const r of records) {
      const data = rdata(type!, r);
      answers.push(0xc0, 12, ...u16(qtype), 0, 1, 0, 0, 0, 60, ...u16(data.length), ...data);
    }
    const header = [
      msg[0]!,
      msg[1]!,
      0x84 | (msg[2]! & 0x01),
      rcode,
      0,
      1,
      ...u16(records.length),
      0,
      0,
      0,
      0,
    ];
    const reply = new Uint8Array([...header, ...question, ...answers]);
    sock.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => {
    sock.bind(0, "127.0.0.1", () => {
      resolve({
        port: sock.address().port,
        close: () => new Promise<void>((r) => sock.close(() => r())),
      });
    });
  });
}
