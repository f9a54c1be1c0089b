import { ScoutError } from "../errors.ts";

/** Options of resolveProgram. */
export interface ResolveProgramOptions {
  /** Directories a bare name is looked up in, in order; the first entry that exists wins. */
  searchDirs: string[];
  /**
   * Directories the program's real path must lie in (after `..` and symlinks are resolved).
   * Directories that do not exist are ignored.
   */
  allowedDirs: string[];
}

/** The outcome of resolveProgram: an absolute path to run, or why it may not run. */
export type ResolveProgramResult =
  | { ok: true; path: string }
  | { ok: false; error: ScoutError };

const NOT_FOUND_HINT =
  "install the plugins (apt install monitoring-plugins-basic) or point --plugin-dir at their directory";
const NOT_EXECUTABLE_HINT = "make it executable (chmod +x) or fix the path";

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : root + "/");
}

function fail(
  code: "PLUGIN_NOT_FOUND" | "PLUGIN_NOT_ALLOWED" | "PLUGIN_NOT_EXECUTABLE",
  name: string,
  reason: string,
  options: { hint: string; context: Record<string, unknown>; cause?: unknown },
): ResolveProgramResult {
  return {
    ok: false,
    error: new ScoutError(code, `Cannot run plugin "${name}": ${reason}`, options),
  };
}

// Synchronous file calls on purpose: each asynchronous one runs on a thread of Deno's blocking
// pool, and many checks resolving at once (an agent's start) grew that pool by dozens of threads.

/** Real paths of the allowed directories that exist. */
function realDirs(dirs: string[]): string[] {
  const out: string[] = [];
  for (const dir of dirs) {
    try {
      const real = Deno.realPathSync(dir);
      if ((Deno.statSync(real)).isDirectory) out.push(real);
    } catch {
      // An allowed directory that does not exist (or cannot be read) allows nothing.
    }
  }
  return out;
}

/** Stats a path following symlinks; undefined when it (or its target) does not exist. */
function statIfExists(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/**
 * Resolves a plugin name or path to an absolute path Scout may run. A bare name (no "/") is
 * looked up in `searchDirs` in order; a path is taken as it is, relative to the working
 * directory. The program's real path must lie inside the real path of an allowed directory,
 * so `..` and symlinks cannot escape, and it must be a regular file with an execute bit.
 * The returned path keeps the program's own file name (not its symlink target), since
 * plugins such as check_ftp -> check_tcp behave by the name they are called by.
 */
export function resolveProgram(
  nameOrPath: string,
  options: ResolveProgramOptions,
): Promise<ResolveProgramResult> {
  return Promise.resolve(resolveNow(nameOrPath, options));
}

function resolveNow(nameOrPath: string, options: ResolveProgramOptions): ResolveProgramResult {
  const name = nameOrPath;
  const context: Record<string, unknown> = { plugin: name };
  try {
    // 1. Find a candidate.
    let candidate: string | undefined;
    if (name === "") {
      return fail("PLUGIN_NOT_FOUND", name, "empty plugin name", {
        hint: NOT_FOUND_HINT,
        context,
      });
    }
    if (name.includes("/")) {
      const abs = absolute(name);
      if (statIfExists(abs)) candidate = abs;
      else {
        return fail("PLUGIN_NOT_FOUND", name, `no such file ${abs}`, {
          hint: NOT_FOUND_HINT,
          context: { ...context, path: abs },
        });
      }
    } else {
      for (const dir of options.searchDirs) {
        const path = `${absolute(dir).replace(/\/+$/, "")}/${name}`;
        if (statIfExists(path)) {
          candidate = path;
          break;
        }
      }
      if (candidate === undefined) {
        const where = options.searchDirs.length
          ? options.searchDirs.join(", ")
          : "(no directories)";
        return fail("PLUGIN_NOT_FOUND", name, `not found in ${where}`, {
          hint: NOT_FOUND_HINT,
          context: { ...context, searchDirs: options.searchDirs },
        });
      }
    }

    // 2. Confine its real path to the allowed directories.
    const real = Deno.realPathSync(candidate);
    const allowed = realDirs(options.allowedDirs);
    if (!allowed.some((root) => within(real, root))) {
      const dirs = options.allowedDirs.length ? options.allowedDirs.join(", ") : "(none)";
      return fail(
        "PLUGIN_NOT_ALLOWED",
        name,
        `${real} is outside the allowed plugin directories`,
        {
          hint: `plugins may run only from ${dirs}; add the plugin's directory with --plugin-dir`,
          context: { ...context, path: candidate, real, allowedDirs: options.allowedDirs },
        },
      );
    }

    // 3. It must be a regular file someone may execute.
    const info = Deno.statSync(real);
    if (!info.isFile || ((info.mode ?? 0) & 0o111) === 0) {
      const what = info.isFile ? "is not executable" : "is not a regular file";
      return fail("PLUGIN_NOT_EXECUTABLE", name, `${real} ${what}`, {
        hint: NOT_EXECUTABLE_HINT,
        context: { ...context, path: candidate, real },
      });
    }

    // Return the normalised directory plus the name the plugin is called by.
    const slash = candidate.lastIndexOf("/");
    const dir = Deno.realPathSync(candidate.slice(0, slash) || "/");
    const base = candidate.slice(slash + 1);
    return { ok: true, path: dir === "/" ? `/${base}` : `${dir}/${base}` };
  } catch (e) {
    // Permission problems and other surprises while inspecting the file.
    const reason = e instanceof Error ? e.message : String(e);
    const code = e instanceof Deno.errors.NotFound ? "PLUGIN_NOT_FOUND" : "PLUGIN_NOT_EXECUTABLE";
    return fail(code, name, `cannot inspect it: ${reason}`, {
      hint: code === "PLUGIN_NOT_FOUND" ? NOT_FOUND_HINT : NOT_EXECUTABLE_HINT,
      context,
      cause: e,
    });
  }
}

/** A program resolver, as resolveProgram. */
export type ProgramResolverFn = (
  nameOrPath: string,
  options: ResolveProgramOptions,
) => Promise<ResolveProgramResult>;

/**
 * Wraps resolveProgram with a cache of successful resolutions for `ttlMs`: a check at a short
 * interval would otherwise pay about nine file-system calls per run. Failures are never cached,
 * so a missing plugin is looked for again on every run and reported each time.
 */
export function createCachedResolver(
  ttlMs = 60_000,
  resolve: ProgramResolverFn = resolveProgram,
  now: () => number = () => performance.now(),
): ProgramResolverFn {
  const cache = new Map<string, { path: string; atMs: number }>();
  return async (nameOrPath, options) => {
    const key = JSON.stringify([nameOrPath, options.searchDirs, options.allowedDirs]);
    const hit = cache.get(key);
    if (hit && now() - hit.atMs < ttlMs) return { ok: true, path: hit.path };
    const r = await resolve(nameOrPath, options);
    if (r.ok) cache.set(key, { path: r.path, atMs: now() });
    else cache.delete(key);
    return r;
  };
}
