/**
 * POSIX path helpers and glob matching (Go's path/filepath Clean, Join, Dir and Match), so the
 * gossfile loader resolves includes the way goss does without touching the file system.
 * Private to src/goss/.
 * @module
 */

/** filepath.Clean: removes `.`, resolves `..` lexically, collapses slashes; "" becomes ".". */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  return abs ? "/" + joined : joined || ".";
}

/** filepath.Join: the cleaned concatenation of the non-empty parts. */
export function joinPath(...parts: string[]): string {
  return cleanPath(parts.filter((p) => p !== "").join("/"));
}

/** filepath.Dir: everything but the last element, cleaned. */
export function dirName(p: string): string {
  const i = p.lastIndexOf("/");
  if (i < 0) return ".";
  return cleanPath(p.slice(0, i) || "/");
}

/** True when the pattern has glob meta characters (`*`, `?`, `[`). */
export function hasGlobMeta(p: string): boolean {
  return /[*?[\\]/.test(p);
}

/** filepath.Match for one path element: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes; `/` never matches. */
export function matchGlobSegment(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!);
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new Error(`syntax error in pattern: ${pattern}`);
      let body = pattern.slice(i + 1, end);
      let neg = false;
      if (body.startsWith("^") || body.startsWith("!")) {
        neg = true;
        body = body.slice(1);
      }
      re += `[${neg ? "^" : ""}${body.replace(/[\]\\]/g, "\\$&")}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(re + "$", "u").test(name);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
}

/**
 * filepath.Glob over a directory lister: the sorted matches of `pattern`. `exists` answers for
 * a pattern without meta characters (matched only when it exists).
 */
export async function globPaths(
  pattern: string,
  readDir: (dir: string) => Promise<string[]>,
  exists: (path: string) => Promise<boolean>,
): Promise<string[]> {
  const clean = cleanPath(pattern);
  if (!hasGlobMeta(clean)) return (await exists(clean)) ? [clean] : [];
  const abs = clean.startsWith("/");
  const segs = clean.split("/").filter((s) => s !== "");
  let bases: string[] = [abs ? "/" : "."];
  for (const seg of segs) {
    const next: string[] = [];
    for (const base of bases) {
      if (!hasGlobMeta(seg)) {
        next.push(base === "." ? seg : joinPath(base, seg));
        continue;
      }
      let names: string[];
      try {
        names = await readDir(base);
      } catch {
        continue;
      }
      for (const n of names.sort()) {
        if (matchGlobSegment(seg, n)) next.push(base === "." ? n : joinPath(base, n));
      }
    }
    bases = next;
  }
  const out: string[] = [];
  for (const p of bases) if (await exists(p)) out.push(p);
  return out.sort();
}
