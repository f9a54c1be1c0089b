/**
 * goss `mount`: the first mount (in mountinfo order) whose mount point equals the key, its
 * per-mount options (`opts`), superblock options (`vfs-opts`), source, filesystem type and
 * usage percent (round((1 - bfree/blocks) * 100), as goss computes it). goss reads
 * /proc/self/mountinfo; Deno refuses /proc reads without --allow-all, so this asks
 * `findmnt --kernel` (util-linux), which reads the same table and does the statfs.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { firstLine, lazy, msOption, runTool, systemOf } from "./_util.ts";

/** goss's guard on reading the mount table. */
const DEFAULT_TIMEOUT_MS = 1000;

/** One mount as findmnt reports it. */
export interface MountEntry {
  /** Mount point. */
  target: string;
  /** Mount source (device, server:/export, tmpfs...), without a bind mount's [/root]. */
  source: string;
  /** Filesystem type. */
  fstype: string;
  /** Per-mount options, mountinfo field 6 (goss `opts`). */
  opts: string[];
  /** Superblock options, after " - " in mountinfo (goss `vfs-opts`). */
  vfsOpts: string[];
}

/** Splits a mount option string on commas outside double quotes, dropping duplicates. */
export function splitOptions(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return [...new Set(out.filter((o) => o !== ""))];
}

function str(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/** Parses `findmnt --kernel -J -l -v -o TARGET,SOURCE,FSTYPE,VFS-OPTIONS,FS-OPTIONS`. */
export function parseFindmnt(json: string): MountEntry[] {
  const doc = JSON.parse(json) as { filesystems?: Record<string, unknown>[] };
  return (doc.filesystems ?? []).map((f) => ({
    target: str(f.target),
    source: str(f.source),
    fstype: str(f.fstype),
    opts: splitOptions(str(f["vfs-options"])),
    vfsOpts: splitOptions(str(f["fs-options"])),
  }));
}

/** Usage percent from `findmnt -b -o SIZE,USED` (numbers, or numeric strings in old versions). */
export function parseUsage(json: string): number {
  const doc = JSON.parse(json) as { filesystems?: Record<string, unknown>[] };
  const f = doc.filesystems?.[0];
  if (f === undefined) throw new Error("findmnt reported no filesystem");
  const size = Number(f.size), used = Number(f.used);
  if (!Number.isFinite(size) || !Number.isFinite(used)) {
    throw new Error(`findmnt gave no size for ${str(f.target)}`);
  }
  return size === 0 ? 0 : Math.round((used / size) * 100);
}

function mountSystem(target: string, attrs: Attrs, ctx: GossContext): GossSystem {
  const timeoutMs = () => msOption(attrs, "timeout", DEFAULT_TIMEOUT_MS);
  const findmnt = async (args: string[]): Promise<string> => {
    const r = await runTool(ctx, ["findmnt", "--kernel", "-J", "-l", "-v", ...args], {
      purpose: "to read the mount table",
      timeoutMs: timeoutMs(),
    });
    // findmnt exits 1 with no output when nothing matches a filter.
    if (r.code === 1 && r.stdout.trim() === "") return '{"filesystems":[]}';
    if (r.code !== 0) throw new Error(`findmnt failed (exit ${r.code}): ${firstLine(r.stderr)}`);
    return r.stdout;
  };
  const entry = lazy(async () => {
    const all = parseFindmnt(await findmnt(["-o", "TARGET,SOURCE,FSTYPE,VFS-OPTIONS,FS-OPTIONS"]));
    return all.find((m) => m.target === target) ?? null;
  });
  const found = async (): Promise<MountEntry> => {
    const e = await entry();
    if (e === null) throw new Error(`Mountpoint not found: ${target}`);
    return e;
  };
  return systemOf("Mount", {
    exists: async () => (await entry()) !== null,
    opts: async () => (await found()).opts,
    "vfs-opts": async () => (await found()).vfsOpts,
    source: async () => (await found()).source,
    filesystem: async () => (await found()).fstype,
    usage: async () => {
      await found();
      return parseUsage(await findmnt(["-b", "-o", "TARGET,SIZE,USED", "--mountpoint", target]));
    },
  });
}

/** The `mount` resource type. */
export const mount: GossResourceType = {
  type: "mount",
  resultType: "Mount",
  idAttr: "mountpoint",
  tested: ["exists", "opts", "vfs-opts", "source", "filesystem", "usage"],
  options: ["timeout"],
  required: ["exists"],
  gate: "exists",
  system: mountSystem,
};
