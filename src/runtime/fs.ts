import { ScoutError } from "../errors.ts";

/** One entry of a directory listing. */
export interface DirEntry {
  /** File name without the directory. */
  name: string;
  /** True for a regular file, or a symlink to one. */
  isFile: boolean;
  /** True for a directory, or a symlink to one. */
  isDirectory: boolean;
}

/** The Fs port: the file operations Scout needs, with writes confined to known roots. */
export interface Fs {
  /** Reads a UTF-8 text file. */
  readText(path: string): Promise<string>;
  /**
   * Writes a file atomically (temp file, rename) so readers never see half a file; with
   * `sync` (the default) the data is flushed to disk before the rename.
   */
  writeAtomic(
    path: string,
    data: string,
    options?: { mode?: number; sync?: boolean },
  ): Promise<void>;
  /** Appends text to a file, creating it. */
  append(path: string, data: string): Promise<void>;
  /** Lists a directory, following symlinks; an absent directory lists as empty. */
  list(path: string): Promise<DirEntry[]>;
  /** Removes a file if it exists. */
  remove(path: string): Promise<void>;
}

/** Options of createDenoFs. */
export interface DenoFsOptions {
  /**
   * Directories and files Scout may write to (state dir, textfile dir, events file).
   * Every write outside them is refused with WRITE_NOT_ALLOWED, whatever Deno's
   * permission set allows.
   */
  writeRoots: string[];
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : root + "/");
}

// Small-file operations use Deno's synchronous calls on purpose: each asynchronous file call
// runs on a thread of Deno's blocking pool, and an agent writing state for many checks grew
// that pool (and its memory) by a dozen threads. Only fsync stays asynchronous.

/**
 * Resolves where a write would really land: the real path of the parent directory plus
 * the base name, so `..` and symlinked parents cannot escape. A final-component symlink
 * is resolved too when it exists.
 */
function realTarget(path: string, depth = 0): string {
  const abs = absolute(path);
  let link: string | null = null;
  try {
    if ((Deno.lstatSync(abs)).isSymlink) link = Deno.readLinkSync(abs);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (link !== null) {
    // Follow the link, even a dangling one: appending through it would write its target.
    if (depth > 16) throw new Deno.errors.FilesystemLoop(`too many symlinks at "${path}"`);
    return realTarget(link.startsWith("/") ? link : `${parentOf(abs)}/${link}`, depth + 1);
  }
  const dir = Deno.realPathSync(parentOf(abs));
  const name = baseOf(abs);
  if (name === ".." || name === ".") return Deno.realPathSync(abs);
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** Creates the directory (and parents) of each write root that is a directory. */
export async function ensureDir(path: string, mode = 0o700): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode });
}

/** The real Fs over Deno's file APIs; writes are confined to the given roots. */
export function createDenoFs(options: DenoFsOptions): Fs {
  const roots: string[] = [];
  for (const root of options.writeRoots) roots.push(realTarget(root));

  function guard(path: string): string {
    const real = realTarget(path);
    if (!roots.some((root) => within(real, root))) {
      throw new ScoutError(
        "WRITE_NOT_ALLOWED",
        `Refusing to write "${path}": outside Scout's write roots`,
        {
          context: { path, real, roots },
          hint: "Scout writes only inside --state-dir, --textfile-dir and --events-file",
        },
      );
    }
    return real;
  }

  return {
    readText: (path) => Deno.readTextFile(path),
    async writeAtomic(path, data, opts = {}) {
      const real = guard(path);
      const tmp = `${parentOf(real)}/.${baseOf(real)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      const file = Deno.openSync(tmp, {
        write: true,
        create: true,
        truncate: true,
        mode: opts.mode ?? 0o600,
      });
      try {
        const bytes = new TextEncoder().encode(data);
        let off = 0;
        while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
        if (opts.sync !== false) await file.sync();
      } finally {
        file.close();
      }
      if (opts.mode !== undefined) Deno.chmodSync(tmp, opts.mode);
      Deno.renameSync(tmp, real);
    },
    append(path, data) {
      return Promise.resolve().then(() => {
        const real = guard(path);
        Deno.writeTextFileSync(real, data, { append: true, create: true, mode: 0o600 });
      });
    },
    async list(path) {
      const out: DirEntry[] = [];
      try {
        for await (const e of Deno.readDir(path)) {
          let isFile = e.isFile, isDirectory = e.isDirectory;
          if (e.isSymlink) {
            try {
              const s = await Deno.stat(`${path}/${e.name}`);
              isFile = s.isFile;
              isDirectory = s.isDirectory;
            } catch {
              continue; // dangling symlink
            }
          }
          out.push({ name: e.name, isFile, isDirectory });
        }
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return [];
        throw e;
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },
    async remove(path) {
      const real = guard(path);
      try {
        await Deno.remove(real);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    },
  };
}
