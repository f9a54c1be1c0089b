/**
 * YAML text -> document with positions, and path -> `file:line:col` lookups for error reports.
 * @module
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import { type ErrorCode, ScoutError, type SourceLocation } from "../errors.ts";

/** A path into a parsed value: map keys and list indexes. */
export type Path = readonly (string | number)[];

/** A parsed YAML file with what is needed to point at its nodes. */
export interface YamlSource {
  /** File name as the user gave it. */
  readonly file: string;
  /** The parsed document. */
  readonly doc: Document;
  /** Offsets -> line and column. */
  readonly lines: LineCounter;
  /** The plain JavaScript value of the document (null for an empty file). */
  readonly value: unknown;
}

/** Parses YAML (or JSON) text; syntax errors come back as CONFIG_YAML errors with positions. */
export function parseYaml(
  text: string,
  file: string,
): { ok: true; source: YamlSource } | { ok: false; errors: ScoutError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((err) => {
      const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
      const first = (err.message.split("\n")[0] ?? err.message).replace(
        / at line \d+, column \d+:?$/,
        "",
      );
      return new ScoutError("CONFIG_YAML", `YAML syntax error: ${lowerFirst(first)}`, {
        hint: yamlHint(err.code),
        context: { yamlCode: err.code },
        location: { file, line: pos.line, col: pos.col },
      });
    });
    return { ok: false, errors };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      errors: [
        new ScoutError("CONFIG_YAML", `YAML error: ${lowerFirst(message)}`, {
          hint: "simplify the document: avoid deeply nested or excessive aliases",
          location: { file, line: 1, col: 1 },
        }),
      ],
    };
  }
  return { ok: true, source: { file, doc, lines, value } };
}

function lowerFirst(text: string): string {
  return text.length > 1 && /^[A-Z][a-z]/.test(text)
    ? text[0]?.toLowerCase() + text.slice(1)
    : text;
}

function yamlHint(code: string): string {
  switch (code) {
    case "DUPLICATE_KEY":
      return "remove or rename one of the repeated keys";
    case "MULTIPLE_DOCS":
      return 'keep one YAML document per file (remove the "---" separator)';
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    case "BAD_INDENT":
    case "MISSING_CHAR":
    case "UNEXPECTED_TOKEN":
      return "check the indentation, brackets and quotes near this position";
    default:
      return "fix the YAML syntax near this position (quote values that contain ': ' or '#')";
  }
}

interface Found {
  /** Deepest existing node along the path (the value node when `complete`). */
  node: Node | null;
  /** Key node of the last path segment, when that segment is a map key that exists. */
  key: Node | null;
  /** Whether the whole path exists. */
  complete: boolean;
}

function deref(source: YamlSource, node: unknown): unknown {
  let current = node;
  for (let i = 0; i < 10 && isAlias(current); i++) current = current.resolve(source.doc);
  return current;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) {
    const v = key.value;
    return typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v === null
      ? String(v)
      : undefined;
  }
  return undefined;
}

function find(source: YamlSource, path: Path): Found {
  let node = deref(source, source.doc.contents) as Node | null;
  let key: Node | null = null;
  for (const segment of path) {
    key = null;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(segment));
      if (pair === undefined) return { node, key: null, complete: false };
      key = isScalar(pair.key) ? pair.key : null;
      const value = deref(source, pair.value) as Node | null;
      if (value === null || value === undefined) return { node: key, key, complete: true };
      node = value;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = deref(source, node.items[segment]) as Node | null | undefined;
      if (item === null || item === undefined) return { node, key: null, complete: false };
      node = item;
    } else {
      return { node, key: null, complete: false };
    }
  }
  return { node, key, complete: true };
}

function position(source: YamlSource, node: Node | null): SourceLocation {
  const offset = node?.range?.[0];
  if (offset === undefined) return { file: source.file, line: 1, col: 1 };
  const { line, col } = source.lines.linePos(offset);
  return { file: source.file, line, col };
}

function isEmptyScalar(node: Node | null): boolean {
  return isScalar(node) && node.value === null && !!node.range && node.range[0] === node.range[1];
}

/**
 * Location of the node at `path`: its key (`target: "key"`) or its value. A missing node falls
 * back to the nearest existing parent; an empty value (`key:` with nothing) points at the key.
 */
export function locate(source: YamlSource, path: Path, target: "key" | "value"): SourceLocation {
  const found = find(source, path);
  if (found.complete) {
    if (target === "key" && found.key !== null) return position(source, found.key);
    if (isEmptyScalar(found.node) && found.key !== null) return position(source, found.key);
    return position(source, found.node);
  }
  return position(source, found.node);
}

/** Renders a path as `checks[0].remediate.interval`. */
export function formatPath(path: Path): string {
  let out = "";
  for (const segment of path) {
    out += typeof segment === "number" ? `[${segment}]` : out === "" ? segment : `.${segment}`;
  }
  return out;
}

/** Options of errorAt. */
export interface ErrorAtOptions {
  /** Point at the key rather than the value (default: the value). */
  target?: "key" | "value";
  /** How to fix it. */
  hint?: string;
  /** Extra identifying data; `path` is always added. */
  context?: Record<string, unknown>;
}

/** A ScoutError located at the node found at `path`. */
export function errorAt(
  source: YamlSource,
  path: Path,
  code: ErrorCode,
  message: string,
  options: ErrorAtOptions = {},
): ScoutError {
  const location = locate(source, path, options.target ?? "value");
  const context = { ...options.context, path: formatPath(path) };
  return options.hint === undefined
    ? new ScoutError(code, message, { context, location })
    : new ScoutError(code, message, { hint: options.hint, context, location });
}

/** Reads the plain value at `path` (undefined when any segment is missing). */
export function valueAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    if (Array.isArray(current)) {
      if (typeof segment !== "number") return undefined;
      current = current[segment];
    } else {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[String(segment)];
    }
  }
  return current;
}

/** Whether `value` is a plain map (not a list, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Sorts errors by position (stable) and drops exact repeats. */
export function sortErrors(errors: readonly ScoutError[]): ScoutError[] {
  const seen = new Set<string>();
  const unique = errors.filter((err) => {
    const key = `${err.location?.line}:${err.location?.col}:${err.code}:${err.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique
    .map((err, index) => ({ err, index }))
    .sort((a, b) =>
      (a.err.location?.line ?? 0) - (b.err.location?.line ?? 0) ||
      (a.err.location?.col ?? 0) - (b.err.location?.col ?? 0) || a.index - b.index
    )
    .map(({ err }) => err);
}

/** One CONFIG_DUPLICATE error per repeated `name` in a list of maps, pointing at the repeat. */
export function duplicateErrors(
  source: YamlSource,
  list: readonly unknown[],
  listPath: Path,
  noun: string,
): ScoutError[] {
  const errors: ScoutError[] = [];
  const first = new Map<string, number>();
  list.forEach((raw, index) => {
    if (!isRecord(raw) || typeof raw.name !== "string") return;
    const seen = first.get(raw.name);
    if (seen === undefined) {
      first.set(raw.name, index);
      return;
    }
    const firstLine = locate(source, [...listPath, seen, "name"], "value").line;
    errors.push(
      errorAt(
        source,
        [...listPath, index, "name"],
        "CONFIG_DUPLICATE",
        `duplicate ${noun} name ${JSON.stringify(raw.name)}`,
        {
          hint: `the first ${JSON.stringify(raw.name)} is at line ${firstLine}; ${noun} names ` +
            "must be unique",
        },
      ),
    );
  });
  return errors;
}
