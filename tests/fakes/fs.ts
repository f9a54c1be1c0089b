import type { DirEntry, Fs } from "../../src/runtime/mod.ts";

/** An in-memory Fs: files by absolute path; directories exist implicitly. */
export class MemoryFs implements Fs {
  /** File contents by path. */
  readonly files = new Map<string, string>();
  /** Number of writes per path. */
  readonly writes = new Map<string, number>();

  /** Reads a file or throws a NotFound-named error. */
  readText(path: string): Promise<string> {
    const text = this.files.get(path);
    if (text === undefined) {
      const e = new Error(`not found: ${path}`);
      e.name = "NotFound";
      return Promise.reject(e);
    }
    return Promise.resolve(text);
  }

  /** Replaces a file. */
  writeAtomic(path: string, data: string): Promise<void> {
    this.files.set(path, data);
    this.writes.set(path, (this.writes.get(path) ?? 0) + 1);
    return Promise.resolve();
  }

  /** Appends to a file. */
  append(path: string, data: string): Promise<void> {
    this.files.set(path, (this.files.get(path) ?? "") + data);
    return Promise.resolve();
  }

  /** Lists direct children of a directory. */
  list(path: string): Promise<DirEntry[]> {
    const prefix = path.endsWith("/") ? path : path + "/";
    const names = new Map<string, DirEntry>();
    for (const file of this.files.keys()) {
      if (!file.startsWith(prefix)) continue;
      const rest = file.slice(prefix.length);
      const [head, ...more] = rest.split("/");
      if (!head) continue;
      names.set(head, { name: head, isFile: more.length === 0, isDirectory: more.length > 0 });
    }
    return Promise.resolve([...names.values()].sort((a, b) => a.name.localeCompare(b.name)));
  }

  /** Deletes a file. */
  remove(path: string): Promise<void> {
    this.files.delete(path);
    return Promise.resolve();
  }
}
