/**
 * The Deno implementation of the audit log's file port (src/rpc AuditSink): append, size,
 * rename and remove, confined to one directory.
 * @module
 */
import { ScoutError } from "../errors.ts";

/** File operations of an audit log (structurally the AuditSink port of src/rpc). */
export interface DenoAuditSink {
  /** Appends text to a file, creating it with mode 0600. */
  append(path: string, data: string): Promise<void>;
  /** Size in bytes; 0 when the file does not exist. */
  size(path: string): Promise<number>;
  /** Renames `from` over `to`; nothing when `from` does not exist. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; nothing when it does not exist. */
  remove(path: string): Promise<void>;
}

function inside(dir: string, path: string): boolean {
  const root = dir.endsWith("/") ? dir : dir + "/";
  return path.startsWith(root) && !path.slice(root.length).split("/").includes("..");
}

/**
 * Creates the audit file port; every path must lie inside `dir` (no `..`), else the call
 * rejects with WRITE_NOT_ALLOWED.
 */
export function createDenoAuditSink(dir: string): DenoAuditSink {
  const guard = (path: string): string => {
    if (!inside(dir, path)) {
      throw new ScoutError("WRITE_NOT_ALLOWED", `Refusing to write "${path}": outside ${dir}`, {
        hint: "put the audit log inside the state directory",
      });
    }
    return path;
  };
  const ignoreMissing = (e: unknown): void => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  };
  return {
    append: (path, data) =>
      Promise.resolve().then(() =>
        Deno.writeTextFileSync(guard(path), data, { append: true, create: true, mode: 0o600 })
      ),
    size: (path) =>
      Promise.resolve().then(() => {
        try {
          return Deno.statSync(guard(path)).size;
        } catch (e) {
          ignoreMissing(e);
          return 0;
        }
      }),
    rename: (from, to) =>
      Promise.resolve().then(() => {
        try {
          Deno.renameSync(guard(from), guard(to));
        } catch (e) {
          ignoreMissing(e);
        }
      }),
    remove: (path) =>
      Promise.resolve().then(() => {
        try {
          Deno.removeSync(guard(path));
        } catch (e) {
          ignoreMissing(e);
        }
      }),
  };
}
