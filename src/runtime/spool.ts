import { ScoutError } from "../errors.ts";

/** One spooled event: its unique id (sent as Nats-Msg-Id), its subject and its payload. */
export interface SpoolRecord {
  /** Unique event id; the stream de-duplicates a re-sent record by it. */
  id: string;
  /** Subject the event is published on. */
  subject: string;
  /** Payload, usually the CloudEvent as JSON text. */
  data: string;
}

/** Options of openSpool. */
export interface SpoolOptions {
  /** Directory of the spool (created 0700); the spool owns every file in it. */
  dir: string;
  /** Bound on the spool's files on disk, in bytes; the oldest segments are dropped beyond it. */
  maxBytes: number;
  /**
   * Size at which a new segment file is started; also the granularity of dropping when full.
   * Defaults to maxBytes / 8, at most 4 MiB; clamped to maxBytes.
   */
  segmentBytes?: number;
}

/**
 * A bounded on-disk FIFO of events waiting for a JetStream acknowledgement.
 *
 * Durability: `append` hands the whole line to the kernel in one write before it returns and
 * `ack` replaces the cursor file atomically (write + rename), so a process crash (SIGKILL, OOM)
 * loses nothing that was appended and un-acked, and re-delivers at most the records whose ack
 * had not been persisted yet (the stream de-duplicates them by id). There is no fsync: a power
 * loss may lose or tear the last writes and revert the cursor (a torn line is discarded on
 * reopen; a reverted cursor re-sends records).
 */
export interface Spool {
  /** Appends a record (oldest segments are dropped first when the spool would exceed its bound). */
  append(record: SpoolRecord): void;
  /** Returns up to `max` records, oldest first, without removing them. */
  peek(max: number): SpoolRecord[];
  /**
   * Removes the oldest `count` records of the last peek; records of that peek dropped meanwhile
   * (spool full) are not counted twice. Without a peek, counts from the head. Persistent at
   * once, unless `persist: false`: then the cursor file is rewritten only by a later
   * {@link Spool.persist} (or an ack that removes a segment, or close), so a crash before it
   * re-delivers those records (the stream drops them as duplicates by id) — one cursor write a
   * second instead of one per ack spares a device's flash and the agent's thread.
   */
  ack(count: number, opts?: { persist?: boolean }): void;
  /** Writes the cursor if an ack with `persist: false` moved it since the last write. */
  persist(): void;
  /** Un-acked records and their bytes (JSON lines). */
  size(): { records: number; bytes: number };
  /** Records dropped because the spool was full, over the spool's whole life (persisted). */
  dropped(): number;
  /** Persists the cursor and closes the spool's files; later calls throw. */
  close(): void;
}

interface Segment {
  seq: number;
  /** Length of the file: complete lines only. */
  bytes: number;
  /** Un-acked records in the file (from the cursor offset for the head segment). */
  records: number;
}

interface Cursor {
  segment: number;
  offset: number;
  dropped: number;
}

const SEGMENT_RE = /^(\d{16})\.jsonl$/;
const CURSOR = "cursor.json";
const NL = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function segName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.jsonl`;
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function parseRecord(line: Uint8Array): SpoolRecord | null {
  try {
    const v = JSON.parse(decoder.decode(line)) as Record<string, unknown>;
    if (
      v !== null && typeof v === "object" && typeof v.id === "string" &&
      typeof v.subject === "string" && typeof v.data === "string"
    ) return { id: v.id, subject: v.subject, data: v.data };
  } catch {
    // fall through: not a record
  }
  return null;
}

function readCursor(path: string): Cursor | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path)) as Record<string, unknown>;
    if (isCount(v.segment) && isCount(v.offset) && isCount(v.dropped)) {
      return { segment: v.segment, offset: v.offset, dropped: v.dropped };
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    // corrupt cursor (only after a power loss): start from the oldest segment, re-send
  }
  return null;
}

function readAt(file: Deno.FsFile, pos: number, buf: Uint8Array): void {
  file.seekSync(pos, Deno.SeekMode.Start);
  let off = 0;
  while (off < buf.length) {
    const n = file.readSync(buf.subarray(off));
    if (n === null || n === 0) {
      throw new ScoutError("INTERNAL", "spool segment shorter than expected", {
        hint: "another process may be writing the spool directory",
      });
    }
    off += n;
  }
}

/**
 * Opens (or creates) the spool in `options.dir`, recovering after a crash: a torn last line is
 * discarded and segments already acknowledged are removed. Uses synchronous file calls on
 * purpose (see fs.ts: asynchronous ones grow Deno's blocking thread pool).
 */
export function openSpool(options: SpoolOptions): Spool {
  const { dir, maxBytes } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new ScoutError("CONFIG_INVALID", `spool maxBytes must be a positive integer`, {
      context: { maxBytes },
      hint: "set the spool size to a positive number of bytes",
    });
  }
  const wanted = options.segmentBytes ?? Math.min(4 << 20, Math.max(1, Math.floor(maxBytes / 8)));
  if (!Number.isSafeInteger(wanted) || wanted <= 0) {
    throw new ScoutError("CONFIG_INVALID", `spool segmentBytes must be a positive integer`, {
      context: { segmentBytes: options.segmentBytes },
      hint: "leave segmentBytes unset to use maxBytes / 8",
    });
  }
  const segmentBytes = Math.min(wanted, maxBytes);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = (name: string) => `${dir}/${name}`;

  // --- recovery -------------------------------------------------------------------------
  const found: number[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const m = SEGMENT_RE.exec(e.name);
    if (m && e.isFile) found.push(Number(m[1]));
    else if (e.name.startsWith(`.${CURSOR}.`)) Deno.removeSync(path(e.name)); // stale temp file
  }
  found.sort((a, b) => a - b);
  const saved = readCursor(path(CURSOR));
  let dropped = saved?.dropped ?? 0;
  let headOff = 0;
  const segments: Segment[] = [];
  if (saved) {
    for (const seq of found) {
      // Acked or dropped before a crash between the cursor write and the removal.
      if (seq < saved.segment) Deno.removeSync(path(segName(seq)));
    }
  }
  const live = saved ? found.filter((s) => s >= saved.segment) : found;
  if (saved && live[0] === saved.segment) headOff = saved.offset;
  for (const [i, seq] of live.entries()) {
    const file = path(segName(seq));
    const bytes = Deno.readFileSync(file);
    let from = i === 0 ? headOff : 0;
    // A cursor off a line boundary can only come from a power loss: re-read the segment.
    if (from > bytes.length || (from > 0 && bytes[from - 1] !== NL)) from = headOff = 0;
    let records = 0, valid = from, pos = from, bad = false;
    while (pos < bytes.length) {
      const nl = bytes.indexOf(NL, pos);
      if (nl < 0) break; // torn last line: never acknowledged to the caller
      if (!bad && parseRecord(bytes.subarray(pos, nl)) !== null) {
        records++;
        valid = nl + 1;
      } else {
        bad = true; // corrupt line (power loss): cut here, count what is lost
        dropped++;
      }
      pos = nl + 1;
    }
    if (valid < bytes.length) Deno.truncateSync(file, valid);
    segments.push({ seq, bytes: valid, records });
  }
  if (segments.length === 0) {
    const seq = Math.max(saved?.segment ?? 1, (found.at(-1) ?? 0) + 1);
    Deno.writeFileSync(path(segName(seq)), new Uint8Array(0), { mode: 0o600 });
    segments.push({ seq, bytes: 0, records: 0 });
    headOff = 0;
  }

  let active = openForAppend(segments.at(-1)!.seq);
  let closed = false;
  /** Ordinal of the head record (in-memory, per open) and of the head at the last peek. */
  let headOrd = 0, peekOrd = 0;
  /** End offsets of the records returned by the last peek, valid while peekOrd === headOrd. */
  let peekEnds: { seq: number; end: number }[] = [];
  /** True when an ack with `persist: false` moved the head past the cursor on disk. */
  let cursorDirty = false;
  writeCursor();

  function openForAppend(seq: number): Deno.FsFile {
    return Deno.openSync(path(segName(seq)), {
      write: true,
      append: true,
      create: true,
      mode: 0o600,
    });
  }

  function writeCursor(): void {
    cursorDirty = false;
    const head = segments[0]!;
    const text = JSON.stringify({ segment: head.seq, offset: headOff, dropped });
    const tmp = path(`.${CURSOR}.tmp`);
    Deno.writeTextFileSync(tmp, text, { mode: 0o600 });
    Deno.renameSync(tmp, path(CURSOR));
  }

  function diskBytes(): number {
    let n = 0;
    for (const s of segments) n += s.bytes;
    return n;
  }

  function newSegment(): void {
    const seq = segments.at(-1)!.seq + 1;
    active.close();
    active = openForAppend(seq);
    segments.push({ seq, bytes: 0, records: 0 });
  }

  /** Removes leading segments that hold no un-acked record (after cursor moves). */
  function removeConsumed(): void {
    const gone: number[] = [];
    while (segments.length > 1 && segments[0]!.records === 0) {
      gone.push(segments.shift()!.seq);
      headOff = 0;
    }
    if (gone.length === 0) return;
    writeCursor();
    for (const seq of gone) Deno.removeSync(path(segName(seq)));
  }

  function countRecords(): number {
    let n = 0;
    for (const s of segments) n += s.records;
    return n;
  }

  function ensureOpen(): void {
    if (closed) throw new ScoutError("INTERNAL", "spool used after close", { context: { dir } });
  }

  /** Scans up to `max` records from the head; `emit` gets each line and where it ends. */
  function scan(max: number, emit: (line: Uint8Array, seq: number, end: number) => void): void {
    let count = 0;
    for (const [i, seg] of segments.entries()) {
      if (count >= max) break;
      if (seg.records === 0) continue;
      const file = Deno.openSync(path(segName(seg.seq)), { read: true });
      try {
        let pos = i === 0 ? headOff : 0;
        let chunk = 64 * 1024;
        while (count < max && pos < seg.bytes) {
          const buf = new Uint8Array(Math.min(chunk, seg.bytes - pos));
          readAt(file, pos, buf);
          let start = 0;
          while (count < max) {
            const nl = buf.indexOf(NL, start);
            if (nl < 0) break;
            emit(buf.subarray(start, nl), seg.seq, pos + nl + 1);
            count++;
            start = nl + 1;
          }
          if (start === 0) {
            if (buf.length === seg.bytes - pos) {
              throw new ScoutError("INTERNAL", "spool segment ends inside a line", {
                context: { segment: segName(seg.seq) },
              });
            }
            chunk *= 2; // a line longer than the chunk
          }
          pos += start;
        }
      } finally {
        file.close();
      }
    }
  }

  return {
    append(record) {
      ensureOpen();
      const line = encoder.encode(
        JSON.stringify({ id: record.id, subject: record.subject, data: record.data }) + "\n",
      );
      if (line.length > maxBytes) {
        dropped++; // larger than the whole spool: it can never be kept
        writeCursor();
        return;
      }
      let last = segments.at(-1)!;
      if (last.bytes > 0 && last.bytes + line.length > segmentBytes) {
        newSegment();
        removeConsumed();
        last = segments.at(-1)!;
      }
      let total = diskBytes();
      if (total + line.length > maxBytes) {
        const gone: number[] = [];
        while (total + line.length > maxBytes) {
          if (segments.length === 1) newSegment();
          const victim = segments.shift()!;
          total -= victim.bytes;
          dropped += victim.records;
          headOrd += victim.records;
          gone.push(victim.seq);
          headOff = 0;
        }
        peekEnds = [];
        writeCursor();
        for (const seq of gone) Deno.removeSync(path(segName(seq)));
        last = segments.at(-1)!;
      }
      let off = 0;
      try {
        while (off < line.length) off += active.writeSync(line.subarray(off));
      } catch (e) {
        // Never leave a partial line in the middle of a segment (ENOSPC and the like).
        if (off > 0) active.truncateSync(last.bytes);
        throw e;
      }
      last.bytes += line.length;
      last.records++;
    },
    peek(max) {
      ensureOpen();
      const out: SpoolRecord[] = [];
      peekOrd = headOrd;
      peekEnds = [];
      scan(max, (line, seq, end) => {
        const rec = parseRecord(line);
        if (rec === null) {
          throw new ScoutError("INTERNAL", "spool holds a corrupt line", {
            context: { segment: segName(seq), end },
            hint: "the spool directory was changed by something else than Scout",
          });
        }
        out.push(rec);
        peekEnds.push({ seq, end });
      });
      return out;
    },
    ack(count, opts) {
      ensureOpen();
      const n = Math.min(peekOrd + count - headOrd, countRecords());
      if (!(n > 0)) {
        peekOrd = headOrd;
        return;
      }
      let ends = peekOrd === headOrd ? peekEnds : [];
      if (ends.length < n) {
        ends = [];
        scan(n, (_line, seq, end) => ends.push({ seq, end }));
      }
      const to = ends[n - 1]!;
      let left = n;
      for (const seg of segments) {
        if (seg.seq === to.seq) {
          seg.records -= left;
          break;
        }
        left -= seg.records;
        seg.records = 0;
      }
      headOrd += n;
      peekOrd = headOrd;
      peekEnds = ends.slice(n);
      const gone: number[] = [];
      while (segments[0]!.seq !== to.seq) gone.push(segments.shift()!.seq);
      headOff = to.end;
      while (segments.length > 1 && segments[0]!.records === 0) {
        gone.push(segments.shift()!.seq);
        headOff = 0;
      }
      // A removed segment must never be named by the cursor on disk: write it first.
      if (opts?.persist === false && gone.length === 0) {
        cursorDirty = true;
        return;
      }
      writeCursor();
      for (const seq of gone) Deno.removeSync(path(segName(seq)));
    },
    persist() {
      ensureOpen();
      if (cursorDirty) writeCursor();
    },
    size() {
      ensureOpen();
      let records = 0, bytes = 0;
      for (const s of segments) {
        records += s.records;
        bytes += s.bytes;
      }
      return { records, bytes: bytes - headOff };
    },
    dropped() {
      ensureOpen();
      return dropped;
    },
    close() {
      if (closed) return;
      if (cursorDirty) writeCursor();
      closed = true;
      active.close();
    },
  };
}
